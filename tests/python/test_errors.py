"""cosell.errors: the hierarchy, kind/detail, messages that name the record, field and expectation, and what
invalid inputs raise (never pyo3's PanicException)."""

from __future__ import annotations

import copy
import json
import math
import pickle
import sqlite3
from pathlib import Path

import pytest
from conftest import check_exception, link, make_engine

import cosell
from cosell import errors

CLASSES = [
    errors.CosellError,
    errors.MappingError,
    errors.RecordError,
    errors.StoreError,
    errors.BusyError,
    errors.NotFoundError,
    errors.StoreInputError,
    errors.InvalidStateError,
    errors.CommitError,
    errors.StalePlanError,
    errors.ResultMismatchError,
]


def test_every_public_error_is_exported_from_the_package() -> None:
    assert sorted(errors.__all__) == sorted(c.__name__ for c in CLASSES)
    for cls in CLASSES:
        assert getattr(cosell, cls.__name__) is cls


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_class_derives_from_cosell_error_and_exception(cls) -> None:
    assert issubclass(cls, cosell.CosellError)
    assert issubclass(cls, Exception)


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (errors.MappingError, (ValueError,)),
        (errors.RecordError, (ValueError,)),
        (errors.StoreInputError, (ValueError, errors.StoreError)),
        (errors.ResultMismatchError, (ValueError, errors.CommitError)),
        (errors.NotFoundError, (LookupError, errors.StoreError)),
        (errors.BusyError, (errors.StoreError,)),
        (errors.InvalidStateError, (errors.StoreError,)),
        (errors.StalePlanError, (errors.CommitError,)),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_the_hierarchy(cls, bases) -> None:
    for base in bases:
        assert issubclass(cls, base)


@pytest.mark.parametrize(
    "cls",
    [errors.StoreError, errors.BusyError, errors.InvalidStateError, errors.CommitError, errors.StalePlanError],
    ids=lambda c: c.__name__,
)
def test_failures_that_are_not_about_the_input_are_not_value_errors(cls) -> None:
    assert not issubclass(cls, ValueError)
    assert not issubclass(cls, LookupError)


def test_kind_and_detail_default_and_survive_pickling() -> None:
    e = errors.CosellError("message")
    assert (str(e), e.kind, e.detail) == ("message", "", "")
    e = errors.RecordError("bad field", "record", "invalid_field")
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is errors.RecordError
    assert (str(again), again.kind, again.detail) == ("bad field", "record", "invalid_field")


# --- messages ---------------------------------------------------------------------------------------------------


def test_a_bad_referral_field_names_the_record_the_field_and_the_expectation(engine, referral, crm_record) -> None:
    bad = copy.deepcopy(referral)
    bad["details"]["dealValue"] = "lots"
    with pytest.raises(cosell.RecordError) as info:
        engine.plan(bad, crm_record)
    e = info.value
    check_exception(e)
    assert e.kind == "record" and e.detail == "invalid_field"
    message = str(e)
    assert "Partner Center referral" in message
    assert referral["id"] in message
    assert "/details/dealValue" in message
    assert "deal_value" in message
    assert "expected a number" in message
    assert '"lots"' in message


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [("amount", "lots", "expected a number"), ("close", "soon", "expected a date")],
)
def test_a_bad_crm_field_names_the_record_the_field_and_the_expectation(
    engine, crm, crm_record, referral, field, value, expected
) -> None:
    names = {
        "salesforce": {"amount": "Amount", "close": "CloseDate"},
        "dynamics365": {"amount": "estimatedvalue", "close": "estimatedclosedate"},
    }[crm]
    bad = copy.deepcopy(crm_record)
    bad[names[field]] = value
    with pytest.raises(cosell.RecordError) as info:
        engine.plan(referral, bad)
    message = str(info.value)
    assert info.value.detail == "invalid_field"
    kind = "Salesforce Opportunity" if crm == "salesforce" else "Dynamics 365 opportunity"
    assert kind in message
    assert (crm_record["Id"] if crm == "salesforce" else crm_record["opportunityid"]) in message
    assert f"`{names[field]}`" in message
    assert expected in message
    assert value in message


@pytest.mark.parametrize(("engine_crm", "record_crm"), [("salesforce", "dynamics365"), ("dynamics365", "salesforce")])
def test_a_record_of_the_other_crm_is_a_record_error(workload, engine_crm, record_crm) -> None:
    i = workload.open_index()
    with make_engine(":memory:", engine_crm) as engine:
        for args in ((workload.referrals_v1[i], workload.crm_v1[record_crm][i]), (None, workload.crm_v1[record_crm][i])):
            with pytest.raises(cosell.RecordError) as info:
                engine.plan(*args)
            e = info.value
            check_exception(e)
            message = str(e)
            if engine_crm == "dynamics365":
                assert message.startswith("Dynamics 365 record")
                assert "opportunityid" in message
            else:
                assert message.startswith("Salesforce record")
                assert "attributes.type" in message
            assert "expected" in message


def test_a_referral_without_an_id_says_what_is_missing(engine, referral, crm_record) -> None:
    bad = copy.deepcopy(referral)
    del bad["id"]
    with pytest.raises(cosell.RecordError) as info:
        engine.plan(bad, crm_record)
    assert info.value.detail == "missing_field"
    assert "`id`" in str(info.value)


def test_a_referral_id_of_the_wrong_type(engine, referral, crm_record) -> None:
    bad = copy.deepcopy(referral)
    bad["id"] = 5
    with pytest.raises(cosell.RecordError, match="field `id`: expected a non-empty string, found 5"):
        engine.plan(bad, crm_record)


def test_json_text_that_does_not_parse(engine, referral) -> None:
    with pytest.raises(cosell.RecordError) as info:
        engine.plan(referral, "{not json")
    assert info.value.detail == "invalid_json"
    assert "not valid JSON" in str(info.value)


def test_nothing_to_plan(engine) -> None:
    with pytest.raises(cosell.RecordError, match="neither a referral nor a CRM record"):
        engine.plan(None, None)


# --- invalid Python inputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [object(), {1, 2}, 1.5j], ids=["object", "set", "complex"])
def test_a_record_that_is_no_json_value_is_a_type_error_naming_the_argument(engine, referral, crm_record, value):
    with pytest.raises(TypeError, match="^crm_record: ") as info:
        engine.plan(referral, value)
    check_exception(info.value)
    assert type(value).__name__ in str(info.value)
    with pytest.raises(TypeError, match="^referral: "):
        engine.plan(value, crm_record)
    with pytest.raises(TypeError, match=r"^pairs\[0\] referral: "):
        engine.plan_many([(value, crm_record)])


# A JSON value that is not an object (an int, a list) is a record of the wrong shape, so a RecordError (also a
# ValueError) naming what was expected; values that are not JSON at all (object(), sets) are TypeErrors.
@pytest.mark.parametrize("value", [42, [1, 2]], ids=["int", "list"])
def test_a_record_that_is_not_an_object_is_a_record_error(engine, referral, value) -> None:
    with pytest.raises(cosell.RecordError, match="expected a JSON object") as info:
        engine.plan(referral, value)
    check_exception(info.value)
    assert info.value.detail == "not_an_object"


def test_a_dict_with_a_non_str_key_is_a_type_error(engine, referral, crm_record) -> None:
    bad = copy.deepcopy(referral)
    bad["details"][7] = "x"
    with pytest.raises(TypeError) as info:
        engine.plan(bad, crm_record)
    check_exception(info.value)
    assert str(info.value).startswith("referral.details: ")
    assert "int" in str(info.value) and "str" in str(info.value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_nan_and_infinity_are_value_errors_naming_the_field(engine, referral, crm_record, value) -> None:
    bad = copy.deepcopy(referral)
    bad["details"]["dealValue"] = value
    with pytest.raises(ValueError) as info:
        engine.plan(bad, crm_record)
    check_exception(info.value)
    assert str(info.value).startswith("referral.details.dealValue: ")
    assert "not a JSON number" in str(info.value)


def test_nan_in_json_text_is_a_record_error(engine, referral, crm_record) -> None:
    text = json.dumps({**referral, "details": {**referral["details"], "dealValue": math.nan}})
    assert "NaN" in text
    with pytest.raises(cosell.RecordError) as info:
        engine.plan(text, crm_record)
    assert info.value.detail == "invalid_json"


def test_a_self_referencing_dict_is_a_value_error_about_nesting(engine, referral, crm_record) -> None:
    bad = copy.deepcopy(referral)
    bad["loop"] = bad
    with pytest.raises(ValueError) as info:
        engine.plan(bad, crm_record)
    check_exception(info.value)
    assert "nested more than" in str(info.value)
    assert "contains itself" in str(info.value)
    assert str(info.value).startswith("referral")


def test_a_self_referencing_list_is_a_value_error_about_nesting(engine, referral, crm_record) -> None:
    bad = copy.deepcopy(crm_record)
    loop: list = []
    loop.append(loop)
    bad["loop"] = loop
    with pytest.raises(ValueError, match="nested more than") as info:
        engine.plan(referral, bad)
    check_exception(info.value)


def test_deep_but_finite_nesting_is_also_refused_cleanly(engine, referral, crm_record) -> None:
    bad = copy.deepcopy(referral)
    deep: dict = {}
    cur = deep
    for _ in range(500):
        cur["x"] = {}
        cur = cur["x"]
    bad["deep"] = deep
    with pytest.raises(ValueError, match="nested more than") as info:
        engine.plan(bad, crm_record)
    check_exception(info.value)


@pytest.mark.parametrize("data", [b"\xff\xfe{}", b'{"id": "\xc3"}'], ids=["bom-like", "truncated"])
def test_invalid_utf8_bytes_are_a_value_error(engine, crm_record, data) -> None:
    with pytest.raises(ValueError) as info:
        engine.plan(data, crm_record)
    check_exception(info.value)
    assert "referral" in str(info.value)
    assert "UTF-8" in str(info.value)


def test_a_lone_surrogate_is_a_value_error(engine, referral, crm_record) -> None:
    bad = copy.deepcopy(referral)
    bad["name"] = "bad \ud800 text"
    with pytest.raises(ValueError) as info:  # UnicodeEncodeError
        engine.plan(bad, crm_record)
    check_exception(info.value)


def test_a_non_plan_to_commit_is_a_type_error(engine) -> None:
    with pytest.raises(TypeError):
        engine.commit("plan")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        engine.record_dry_run({"id": "x"})  # type: ignore[arg-type]


# --- stores that cannot be opened -------------------------------------------------------------------------------


def test_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, this is not a database\n" * 200)
    with pytest.raises(cosell.StoreError) as info:
        cosell.Engine(path, "salesforce")
    e = info.value
    check_exception(e)
    assert type(e) is cosell.StoreError
    assert e.kind == "store" and e.detail == "not_a_store"
    assert str(path) in str(e)
    assert path.read_text().startswith("hello")  # untouched


def test_a_database_of_another_application(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    con.commit()
    con.close()
    with pytest.raises(cosell.StoreError) as info:
        cosell.Engine(path, "dynamics365")
    assert info.value.detail == "not_a_store"


def test_a_store_of_a_newer_schema(tmp_path: Path, referral, crm_record, crm) -> None:
    path = tmp_path / "newer.db"
    with make_engine(path, crm) as engine:
        link(engine, referral, crm_record)
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    with pytest.raises(cosell.StoreError) as info:
        cosell.Engine(path, crm)
    e = info.value
    check_exception(e)
    assert e.kind == "store" and e.detail == "newer_schema"
    assert "99" in str(e) and str(cosell.SCHEMA_VERSION) in str(e)
    assert "upgrade" in str(e)


def test_a_store_in_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "missing" / "state.db"
    with pytest.raises(cosell.StoreError) as info:
        cosell.Engine(path, "salesforce")
    check_exception(info.value)
    assert info.value.detail == "open"
    assert str(path) in str(info.value)


def test_a_nul_byte_in_the_path(tmp_path: Path) -> None:
    with pytest.raises((cosell.StoreError, ValueError)) as info:
        cosell.Engine(str(tmp_path / "a\x00b.db"), "salesforce")
    check_exception(info.value)


# --- a sweep: nothing raises a PanicException -------------------------------------------------------------------


def test_no_bad_input_raises_anything_but_an_exception(engine, referral, crm_record) -> None:
    plan = engine.plan(referral, crm_record)
    forged = plan.to_dict()
    forged["link_id"], forged["link_revision"] = 12345, 3
    forged_plan = cosell.Plan.from_json(json.dumps(forged))
    calls = [
        lambda: engine.plan(b"\xff", None),
        lambda: engine.plan("[", "]"),
        lambda: engine.plan({"id": ""}, crm_record),
        lambda: engine.plan({"id": "x" * 10_000}, None),
        lambda: engine.plan(referral, {"attributes": None, "Id": None, "@odata.etag": 5}),
        lambda: engine.plan_many([(referral, crm_record)], chunk_size=-1),
        lambda: engine.plan_many([None]),
        lambda: engine.plan_many([(referral, crm_record, None)]),
        lambda: engine.commit(plan, results={"crm": None, "partner_center": {"outcome": "applied"}}),
        lambda: engine.commit(plan, results=[1, 2]),
        lambda: engine.commit(forged_plan),
        lambda: engine.commit_many([(plan, None), (plan, None)]),
        lambda: engine.commit_many(5),
        lambda: engine.resolve_review(-1, {"value": math.nan}),
        lambda: engine.resolve_review(2**63, "crm"),
        lambda: engine.dismiss_review(0),
        lambda: engine.store.audit(limit=2**70),
        lambda: engine.store.audit(link_id=2**63),
        lambda: engine.store.links(limit=-1),
        lambda: engine.store.link(2**63),
        lambda: engine.store.link_by_crm("", ""),
        lambda: engine.store.reviews(status=""),
        lambda: engine.set_time("-0001-01-01T00:00:00Z"),
        lambda: engine.mapping.override({"x\x00": {}}),
        lambda: cosell.Mapping.from_dict({"extends": "salesforce", "fields": {"notes": {"crm": 5}}}),
        lambda: cosell.Mapping.from_toml("[[["),
        lambda: cosell.Plan.from_json('{"id": 1}'),
    ]
    for i, call in enumerate(calls):
        try:
            call()
        except BaseException as e:  # noqa: BLE001
            check_exception(e)
            if isinstance(e, cosell.CosellError):
                assert e.kind in ("mapping", "record", "store", "commit"), (i, e.kind)
                assert e.kind != "internal", (i, e)
    # the engine still works afterwards
    assert engine.plan(referral, crm_record).summary in ("link", "nothing")
