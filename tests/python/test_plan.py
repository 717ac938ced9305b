"""cosell.Plan: the readable dry-run, its data, its JSON form and its patches."""

from __future__ import annotations

import copy
import json

import pytest
from conftest import AMOUNT, NOW, apply_json_patch, apply_plan, edit_crm_value, edit_referral_value, link

import cosell
from cosell import Plan


@pytest.fixture
def update_crm(engine, referral, crm_record):
    """A linked pair whose deal value changed in Partner Center: ``(plan, referral, crm_record)``."""
    link(engine, referral, crm_record)
    r2 = edit_referral_value(referral, 1000)
    return engine.plan(r2, crm_record), r2, crm_record


@pytest.fixture
def update_pc(engine, crm, referral, crm_record):
    """A linked pair whose deal value changed in the CRM: ``(plan, referral, crm_record)``."""
    link(engine, referral, crm_record)
    c2 = edit_crm_value(crm, crm_record, 2000)
    return engine.plan(referral, c2), referral, c2


def test_str_is_a_readable_dry_run_with_before_and_after(update_crm, referral) -> None:
    plan, r2, _ = update_crm
    text = str(plan)
    old, new = referral["details"]["dealValue"], r2["details"]["dealValue"]
    assert text.startswith(f"plan {plan.id[:8]}")
    assert referral["id"] in text
    assert plan.crm_id in text
    assert "update_crm" in text
    line = next(li for li in text.splitlines() if "deal_value" in li)
    assert str(old) in line and str(new) in line, line
    assert line.index(str(old)) < line.rindex(str(new)), line  # before, then after
    assert "CRM" in line and "PC" in line and "base" in line, line


def test_str_of_a_link_plan_says_no_actions(engine, referral, crm_record) -> None:
    text = str(engine.plan(referral, crm_record))
    assert "link" in text
    assert "actions: none" in text


def test_repr_names_id_summary_and_ids(update_crm) -> None:
    plan, r2, c = update_crm
    text = repr(plan)
    assert text.startswith("Plan(")
    assert plan.id in text
    assert "update_crm" in text
    assert r2["id"] in text
    assert plan.crm_id in text


def test_properties_of_an_update_of_the_crm(update_crm, crm) -> None:
    plan, r2, c = update_crm
    assert plan.summary == "update_crm"
    assert plan.crm == crm
    assert plan.referral_id == r2["id"]
    assert plan.crm_entity == "opportunity"
    assert plan.link_id == 1
    assert len(plan.id) == 16 and int(plan.id, 16) >= 0
    assert plan.planned_at == "2026-11-24T10:00:00.000000Z"
    assert not plan.is_empty
    assert plan.writes_crm and not plan.writes_partner_center
    assert plan.partner_center_patch is None
    assert plan.conflicts == []
    assert plan.refusals == []
    assert [a["action"] for a in plan.actions] == ["update_crm_record"]
    assert [f["field"] for f in plan.fields] == ["deal_value"]
    f = plan.fields[0]
    assert f["partner_center"] == r2["details"]["dealValue"]
    assert f["result"] == r2["details"]["dealValue"]
    assert f["write"] == "crm"


def test_crm_patch_holds_only_the_changed_fields(update_crm, crm) -> None:
    plan, r2, c = update_crm
    patch = plan.crm_patch
    assert set(patch) >= {"fields"}
    fields = patch["fields"]
    assert fields[AMOUNT[crm]] == r2["details"]["dealValue"]
    # no untouched mapped field is written (only the value and the engine's own audit/status fields)
    name = "Name" if crm == "salesforce" else "name"
    assert name not in fields
    action = plan.actions[0]
    assert action["id"] == c["Id" if crm == "salesforce" else "opportunityid"]
    if crm == "salesforce":
        assert action["if_unmodified_since"] == c["LastModifiedDate"]
    else:
        assert action["if_match"] == c["@odata.etag"]


def test_partner_center_patch_is_json_patch_replace(update_pc, crm) -> None:
    plan, r, c2 = update_pc
    assert plan.summary == "update_partner_center"
    assert plan.writes_partner_center and not plan.writes_crm
    assert plan.crm_patch is None
    ops = plan.partner_center_patch
    assert ops == [{"op": "replace", "path": "/details/dealValue", "value": int(c2[AMOUNT[crm]])}]
    action = plan.actions[0]
    assert action["action"] == "update_referral"
    assert action["if_match"] == r["eTag"]
    patched = copy.deepcopy(r)
    apply_json_patch(patched, ops)
    assert patched["details"]["dealValue"] == c2[AMOUNT[crm]]


def test_conflicts_name_the_field_both_values_and_the_policy(engine, crm, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    r2 = edit_referral_value(referral, 1000)
    c2 = edit_crm_value(crm, crm_record, 3000)
    plan = engine.plan(r2, c2)
    assert plan.summary == "conflict"
    [conflict] = plan.conflicts
    assert conflict["field"] == "deal_value"
    assert conflict["base"] == referral["details"]["dealValue"]
    assert conflict["partner_center"] == r2["details"]["dealValue"]
    assert conflict["crm"] == c2[AMOUNT[crm]]
    assert conflict["policy"] == "crm"  # the built-in policy of deal_value
    assert conflict["winner"] == "crm"
    assert plan.writes_partner_center
    assert "conflict" in str(plan)


def test_review_conflict_has_no_winner_and_writes_nothing(crm, referral, crm_record) -> None:
    mapping = cosell.Mapping.builtin(crm).override({"deal_value": {"conflict": "review"}})
    with cosell.Engine(":memory:", mapping) as engine:
        engine.set_time(NOW)
        link(engine, referral, crm_record)
        plan = engine.plan(edit_referral_value(referral, 1000), edit_crm_value(crm, crm_record, 3000))
    [conflict] = plan.conflicts
    assert conflict["policy"] == "review" and conflict["winner"] is None
    assert not plan.writes_crm and not plan.writes_partner_center
    assert not plan.is_empty  # the review is queued when it is committed
    assert "review" in str(plan)


def test_refusals_carry_a_code_and_a_message(engine, crm, crm_record) -> None:
    c = copy.deepcopy(crm_record)
    flag = "Sync_with_Partner_Center__c" if crm == "salesforce" else "cosell_syncwithpartnercenter"
    c[flag] = False
    c.pop("Referral_Identifier__c" if crm == "salesforce" else "cosell_referralidentifier")
    plan = engine.plan(None, c)
    assert plan.summary == "refused"
    assert plan.referral_id is None
    [refusal] = plan.refusals
    assert refusal["code"] == "sync_flag_off"
    assert "Sync with Partner Center" in refusal["message"]
    assert "sync_flag_off" in str(plan)


def test_is_empty_after_commit_and_link_plan_is_not_empty(engine, referral, crm_record) -> None:
    first = engine.plan(referral, crm_record)
    assert first.summary == "link"
    assert not first.is_empty  # the base is recorded
    assert not first.writes_crm and not first.writes_partner_center
    assert first.link_id is None
    engine.commit(first)
    again = engine.plan(referral, crm_record)
    assert again.summary == "nothing"
    assert again.is_empty
    assert again.actions == [] and again.fields == [] and again.conflicts == [] and again.refusals == []
    assert again.crm_patch is None and again.partner_center_patch is None


def test_to_dict_has_everything(update_crm, crm) -> None:
    plan, r2, c = update_crm
    d = plan.to_dict()
    assert {
        "id",
        "planned_at",
        "crm",
        "referral_id",
        "link_id",
        "link_revision",
        "crm_entity",
        "crm_id",
        "partner_center_version",
        "crm_version",
        "summary",
        "actions",
        "fields",
        "conflicts",
        "refusals",
        "base_changes",
        "base",
    } <= set(d)
    assert d["id"] == plan.id
    assert d["summary"] == plan.summary
    assert d["crm"] == crm
    assert d["actions"] == plan.actions
    assert d["fields"] == plan.fields
    assert d["partner_center_version"]["etag"] == r2["eTag"]
    assert d["base"] == {"deal_value": r2["details"]["dealValue"]}
    # a fresh copy each time
    d["summary"] = "changed"
    assert plan.to_dict()["summary"] == "update_crm"


def test_to_json_from_json_round_trip_and_equality(update_pc) -> None:
    plan = update_pc[0]
    text = plan.to_json()
    assert json.loads(text) == plan.to_dict()
    again = Plan.from_json(text)
    assert again == plan
    assert not (again != plan)
    assert again is not plan
    assert hash(again) == hash(plan)
    assert again.to_dict() == plan.to_dict()
    assert str(again) == str(plan)
    assert again.partner_center_patch == plan.partner_center_patch
    assert {plan, again} == {plan}


def test_plans_differ_from_other_plans_and_other_types(engine, workload, crm) -> None:
    a = engine.plan(*workload.pairs(crm)[0])
    b = engine.plan(*workload.pairs(crm)[1])
    assert a != b
    assert a != a.to_dict()
    assert a != a.to_json()
    assert a == engine.plan(*workload.pairs(crm)[0])  # deterministic: same pair, same store, same time


def test_a_plan_from_json_commits_like_the_original(engine, update_crm) -> None:
    plan, r2, c = update_crm
    restored = Plan.from_json(plan.to_json())
    applied = apply_plan(restored, r2, c)
    report = engine.commit(restored, **applied.commit_kwargs)
    assert report["summary"] == "update_crm" and report["status"] == "synced"
    assert engine.plan(applied.referral, applied.crm_record).is_empty


@pytest.mark.parametrize("text", ["{}", "[]", "not json", '{"id": 5}'])
def test_from_json_refuses_what_is_not_a_plan(text: str) -> None:
    with pytest.raises(ValueError, match="plan JSON"):
        Plan.from_json(text)


def test_plan_is_immutable(update_crm) -> None:
    plan = update_crm[0]
    with pytest.raises(AttributeError):
        plan.summary = "nothing"  # type: ignore[misc]
    patch = plan.crm_patch
    patch["fields"].clear()
    assert plan.crm_patch["fields"]
    plan.fields.clear()
    assert plan.fields
