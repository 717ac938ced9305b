"""cosell.Mapping: built-in profiles, mapping files (JSON and TOML), dicts, overrides and their validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import CRMS, FIXTURES, check_exception

import cosell
from cosell import Mapping, MappingError

CUSTOM_JSON = FIXTURES / "mapping_custom.json"
CUSTOM_TOML = FIXTURES / "mapping_custom.toml"


def test_builtin_names_lists_both_crms() -> None:
    assert Mapping.builtin_names() == ["salesforce", "dynamics365"]


@pytest.mark.parametrize("name", CRMS)
def test_builtin_profile_serves_its_crm(name: str) -> None:
    m = Mapping.builtin(name)
    assert m.crm == name
    names = m.field_names()
    for field in ("deal_value", "currency", "close_date", "notes", "status", "name", "solutions"):
        assert field in names
    assert len(names) == len(set(names))
    assert repr(m) == f'Mapping(crm="{name}", fields={len(names)})'


def test_builtin_profiles_name_their_crm_fields() -> None:
    sf = Mapping.builtin("salesforce").to_dict()
    dy = Mapping.builtin("dynamics365").to_dict()
    assert sf["fields"]["deal_value"]["crm"] == "Amount"
    assert sf["fields"]["deal_value"]["partner_center"] == "/details/dealValue"
    assert dy["fields"]["deal_value"]["crm"] == "estimatedvalue"
    assert sf["system_fields"]["referral_id"] == "Referral_Identifier__c"
    assert dy["system_fields"]["referral_id"] == "cosell_referralidentifier"


def test_unknown_builtin_is_a_mapping_error_listing_the_profiles() -> None:
    with pytest.raises(MappingError) as info:
        Mapping.builtin("hubspot")
    e = info.value
    check_exception(e)
    assert isinstance(e, ValueError)
    assert e.kind == "mapping"
    assert e.detail == "unknown_profile"
    assert "hubspot" in str(e)
    assert "salesforce" in str(e) and "dynamics365" in str(e)


def test_field_names_of_leads_and_bad_entity() -> None:
    m = Mapping.builtin("salesforce")
    lead = m.field_names("lead")
    assert lead and lead != m.field_names("opportunity")
    assert "deal_value" not in lead  # not on leads in the built-in profile
    assert m.field_names("opportunity") == m.field_names()
    with pytest.raises(ValueError, match="account"):
        m.field_names("account")


# --- the fixture files -------------------------------------------------------------------------------------------


def _check_custom(m: Mapping) -> None:
    assert m.crm == "dynamics365"
    spec = m.to_dict()
    assert spec["rules"]["leads"] is False
    assert spec["fields"]["notes"]["crm"] == "cosell_notes"
    assert spec["fields"]["notes"]["conflict"] == "newest"
    q = spec["fields"]["qualification"]
    assert q["partner_center"] == "/qualification"
    assert q["crm"] == "cosell_qualification"
    assert q["direction"] == "to_crm"
    assert "qualification" in m.field_names()


@pytest.mark.parametrize("path", [CUSTOM_JSON, CUSTOM_TOML], ids=["json", "toml"])
def test_from_file_reads_json_and_toml(path: Path) -> None:
    _check_custom(Mapping.from_file(path))  # a PathLike
    _check_custom(Mapping.from_file(str(path)))  # a str


def test_json_null_removes_an_inherited_field() -> None:
    # TOML has no null, so only the JSON fixture removes referral_link.
    assert "referral_link" not in Mapping.from_file(CUSTOM_JSON).field_names()
    assert "referral_link" in Mapping.from_file(CUSTOM_TOML).field_names()
    assert "referral_link" in Mapping.builtin("dynamics365").field_names()


def test_from_json_from_toml_and_from_dict_equal_from_file() -> None:
    by_file = Mapping.from_file(CUSTOM_JSON).to_dict()
    text = CUSTOM_JSON.read_text(encoding="utf-8")
    assert Mapping.from_json(text).to_dict() == by_file
    assert Mapping.from_dict(json.loads(text)).to_dict() == by_file
    toml_text = CUSTOM_TOML.read_text(encoding="utf-8")
    assert Mapping.from_toml(toml_text).to_dict() == Mapping.from_file(CUSTOM_TOML).to_dict()


def test_a_mapping_file_changes_what_a_plan_writes(workload) -> None:
    m = Mapping.from_file(CUSTOM_JSON)
    referral = workload.referrals_v1[workload.open_index()]
    with cosell.Engine(":memory:", m) as engine:
        plan = engine.plan(referral, None)
    assert plan.summary == "create_crm"
    fields = plan.crm_patch["fields"]
    assert fields["cosell_qualification"] == referral["qualification"]
    assert fields["cosell_notes"] == referral["details"]["notes"]
    assert "description" not in fields
    assert "cosell_referrallink" not in fields


def test_missing_file_is_a_mapping_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(MappingError) as info:
        Mapping.from_file(missing)
    check_exception(info.value)
    assert str(missing) in str(info.value)


@pytest.mark.parametrize(
    ("loader", "text"),
    [(Mapping.from_json, "{"), (Mapping.from_json, "[1, 2]"), (Mapping.from_toml, "x = "), (Mapping.from_json, "{}")],
    ids=["json-syntax", "json-array", "toml-syntax", "no-crm"],
)
def test_unreadable_mapping_text_is_a_mapping_error(loader, text: str) -> None:
    with pytest.raises(MappingError) as info:
        loader(text)
    check_exception(info.value)
    assert info.value.kind == "mapping"
    assert info.value.detail


def test_from_dict_refuses_non_str_keys() -> None:
    with pytest.raises(TypeError, match="mapping"):
        Mapping.from_dict({"extends": "salesforce", "fields": {1: {}}})


# --- overrides ---------------------------------------------------------------------------------------------------


def test_override_returns_a_new_mapping_and_leaves_the_original() -> None:
    base = Mapping.builtin("salesforce")
    before = base.to_dict()
    changed = base.override({"deal_value": {"crm": "Expected_Revenue__c"}})
    assert changed is not base
    assert changed.to_dict()["fields"]["deal_value"]["crm"] == "Expected_Revenue__c"
    # the rest of the rule is inherited
    assert changed.to_dict()["fields"]["deal_value"]["partner_center"] == "/details/dealValue"
    assert base.to_dict() == before
    assert base.to_dict()["fields"]["deal_value"]["crm"] == "Amount"


def test_override_accepts_json_text_and_a_partial_mapping_with_fields() -> None:
    base = Mapping.builtin("salesforce")
    a = base.override({"deal_value": {"conflict": "review"}})
    b = base.override('{"deal_value": {"conflict": "review"}}')
    c = base.override({"fields": {"deal_value": {"conflict": "review"}}})
    assert a.to_dict() == b.to_dict() == c.to_dict()
    assert a.to_dict()["fields"]["deal_value"]["conflict"] == "review"


def test_override_with_null_removes_a_field() -> None:
    m = Mapping.builtin("salesforce").override({"notes": None})
    assert "notes" not in m.field_names()
    assert "notes" in Mapping.builtin("salesforce").field_names()


def test_override_can_add_a_field() -> None:
    m = Mapping.builtin("salesforce").override(
        {"qualification": {"partner_center": "/qualification", "crm": "Qualification__c", "type": "text"}}
    )
    assert "qualification" in m.field_names()


@pytest.mark.parametrize(
    ("overrides", "rule", "words"),
    [
        ({"close_date": {"crm_format": "julian"}}, "close_date", ["julian"]),
        ({"deal_value": {"type": "number"}}, "deal_value", ["number", "decimal"]),
        ({"deal_value": {"conflict": "coinflip"}}, "deal_value", ["coinflip", "review"]),
        ({"deal_value": {"direction": "sideways"}}, "deal_value", ["sideways", "to_crm"]),
        ({"deal_value": {"colour": "red"}}, "deal_value", ["colour"]),
        ({"deal_value": {"partner_center": "details/dealValue"}}, "deal_value", ["pointer", "details/dealValue"]),
        ({"deal_value": {"partner_center": "/details/~2x"}}, "deal_value", ["pointer", "~"]),
        (
            {"expected": {"partner_center": "/expected", "crm": "Amount", "type": "decimal"}},
            "expected",
            ["duplicate", "deal_value", "Amount"],
        ),
        (
            {"value2": {"partner_center": "/details/dealValue", "crm": "Value2__c", "type": "decimal"}},
            "value2",
            ["duplicate", "deal_value", "/details/dealValue"],
        ),
        ({"foo": {"crm": "Foo__c"}}, "foo", ["type"]),
    ],
    ids=[
        "unknown-date-transform",
        "unknown-type",
        "unknown-conflict-policy",
        "unknown-direction",
        "unknown-key",
        "pointer-without-slash",
        "pointer-bad-escape",
        "duplicate-crm-field",
        "duplicate-pc-pointer",
        "incomplete-rule",
    ],
)
def test_invalid_override_is_a_mapping_error_naming_the_rule(overrides, rule: str, words: list[str]) -> None:
    base = Mapping.builtin("salesforce")
    with pytest.raises(MappingError) as info:
        base.override(overrides)
    e = info.value
    check_exception(e)
    assert isinstance(e, ValueError)
    assert e.kind == "mapping"
    message = str(e)
    assert f"`{rule}`" in message, message
    for w in words:
        assert w in message, message
    # the original is untouched
    assert base.to_dict() == Mapping.builtin("salesforce").to_dict()


def test_invalid_override_is_reported_in_the_mapping_error_detail() -> None:
    with pytest.raises(MappingError) as info:
        Mapping.builtin("salesforce").override({"deal_value": {"partner_center": "no-slash"}})
    assert info.value.detail == "invalid_rule"


def test_override_with_unparseable_text_is_a_mapping_error() -> None:
    with pytest.raises(MappingError):
        Mapping.builtin("salesforce").override("{")


def test_override_with_unparseable_text_is_at_least_a_value_error() -> None:
    with pytest.raises(ValueError) as info:
        Mapping.builtin("salesforce").override("{")
    check_exception(info.value)


# --- to_dict / to_json ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CRMS)
def test_to_dict_round_trips_through_from_dict_and_from_json(name: str) -> None:
    m = Mapping.builtin(name)
    d = m.to_dict()
    assert "extends" not in d  # resolved
    assert d["crm"] == name
    assert set(d) >= {"crm", "fields", "rules", "entities", "system_fields"}
    again = Mapping.from_dict(d)
    assert again.to_dict() == d
    assert again.field_names() == m.field_names()
    assert Mapping.from_json(m.to_json()).to_dict() == d
    assert json.loads(m.to_json()) == d


def test_to_dict_of_an_override_round_trips() -> None:
    m = Mapping.builtin("dynamics365").override({"deal_value": {"conflict": "review"}, "notes": None})
    assert Mapping.from_dict(m.to_dict()).to_dict() == m.to_dict()


def test_to_dict_returns_a_fresh_copy() -> None:
    m = Mapping.builtin("salesforce")
    d = m.to_dict()
    d["fields"]["deal_value"]["crm"] = "Hacked__c"
    del d["fields"]["notes"]
    assert m.to_dict()["fields"]["deal_value"]["crm"] == "Amount"
    assert "notes" in m.field_names()


def test_mapping_is_immutable() -> None:
    m = Mapping.builtin("salesforce")
    with pytest.raises(AttributeError):
        m.crm = "dynamics365"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        m.extra = 1  # type: ignore[attr-defined]
    names = m.field_names()
    names.append("bogus")
    assert "bogus" not in m.field_names()
    assert m.crm == "salesforce"


def test_engine_accepts_a_mapping_or_a_profile_name() -> None:
    with cosell.Engine(":memory:", "dynamics365") as a, cosell.Engine(":memory:", Mapping.builtin("dynamics365")) as b:
        assert a.crm == b.crm == "dynamics365"
        assert a.mapping.to_dict() == b.mapping.to_dict()
    with pytest.raises(MappingError):
        cosell.Engine(":memory:", "hubspot")
