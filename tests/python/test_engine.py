"""cosell.Engine: plans, commits (echo suppression, failed sides, stale plans), batches, transactions, the clock."""

from __future__ import annotations

import collections
import copy
import datetime as dt
import json
from pathlib import Path

import pytest
from conftest import (
    AMOUNT,
    NOW,
    apply_plan,
    check_exception,
    crm_version,
    edit_crm_value,
    edit_referral_value,
    link,
    make_engine,
    referral_version,
)

import cosell
from cosell import (
    CosellError,
    InvalidStateError,
    RecordError,
    ResultMismatchError,
    StalePlanError,
)

PREFIX = {"salesforce": "salesforce", "dynamics365": "dynamics"}

# --- lifecycle --------------------------------------------------------------------------------------------------


def test_context_manager_closes_the_engine(crm, referral, crm_record) -> None:
    with cosell.Engine(":memory:", crm) as engine:
        assert not engine.closed
        assert engine.crm == crm
        assert engine.path == ":memory:"
        assert engine.mapping.crm == crm
        assert repr(engine) == f"cosell.Engine(':memory:', crm='{crm}')"
        assert engine.store.schema_version == cosell.SCHEMA_VERSION
    assert engine.closed
    with pytest.raises(InvalidStateError) as info:
        engine.plan(referral, crm_record)
    check_exception(info.value)
    assert info.value.kind == "store" and info.value.detail == "invalid_state"
    assert "closed" in str(info.value)


def test_context_manager_closes_on_exception(crm) -> None:
    with pytest.raises(KeyError), cosell.Engine(":memory:", crm) as engine:
        raise KeyError("boom")
    assert engine.closed


def test_every_call_on_a_closed_engine_raises_invalid_state(engine, referral, crm_record) -> None:
    plan = engine.plan(referral, crm_record)
    engine.close()
    engine.close()  # twice is harmless
    assert engine.closed
    calls = [
        lambda: engine.plan(referral, crm_record),
        lambda: engine.plan_many([(referral, crm_record)]),
        lambda: engine.commit(plan),
        lambda: engine.commit_many([(plan, None)]),
        lambda: engine.record_dry_run(plan),
        lambda: engine.set_time(NOW),
        lambda: engine.resolve_review(1, "crm"),
        lambda: engine.dismiss_review(1),
        lambda: engine.store.audit(),
        lambda: engine.store.audit_frame(),
        lambda: engine.store.reviews(),
        lambda: engine.store.links(),
        lambda: engine.store.link(1),
        lambda: engine.store.link_by_referral(referral["id"]),
        lambda: engine.store.link_counts(),
        lambda: engine.store.schema_version,
        lambda: engine.transaction().__enter__(),
    ]
    for call in calls:
        with pytest.raises(InvalidStateError) as info:
            call()
        check_exception(info.value)
    # what needs no store still works
    assert engine.path == ":memory:"
    assert engine.crm == plan.crm


def test_a_file_store_reopened_keeps_its_links(store_path: Path, crm, referral, crm_record) -> None:
    with make_engine(store_path, crm) as engine:
        link(engine, referral, crm_record)
        assert engine.path == str(store_path)
        assert engine.store.path == str(store_path)
    assert store_path.exists()
    with make_engine(store_path, crm) as engine:
        stored = engine.store.link_by_referral(referral["id"])
        assert stored is not None and stored["status"] == "synced"
        plan = engine.plan(referral, crm_record)
        assert plan.summary == "nothing" and plan.is_empty
        assert plan.link_id == stored["id"]
        assert len(engine.store.audit()) == 1


def test_engine_accepts_a_pathlike(tmp_path: Path, crm) -> None:
    path = tmp_path / "sub.db"
    with cosell.Engine(path, crm) as engine:
        assert engine.path == str(path)
    assert path.exists()


# --- plan inputs ------------------------------------------------------------------------------------------------


def test_dicts_str_and_bytes_give_the_same_plan(engine, referral, crm_record) -> None:
    by_dict = engine.plan(referral, crm_record)
    by_str = engine.plan(json.dumps(referral), json.dumps(crm_record))
    by_bytes = engine.plan(json.dumps(referral).encode(), json.dumps(crm_record).encode())
    by_utf8 = engine.plan(json.dumps(referral, ensure_ascii=False).encode("utf-8"), crm_record)
    mixed = engine.plan(json.dumps(referral), crm_record)
    assert by_dict == by_str == by_bytes == by_utf8 == mixed
    assert by_dict.summary == "link"


def test_plan_reads_the_workload_lines_as_text(engine, workload, crm) -> None:
    lines_r = workload.lines("referrals_v1")
    lines_c = workload.lines(f"{PREFIX[crm]}_v1")
    assert engine.plan(lines_r[3], lines_c[3]) == engine.plan(*workload.pairs(crm)[3])


def test_planning_writes_nothing(engine, referral, crm_record) -> None:
    engine.plan(referral, crm_record)
    engine.plan_many([(referral, crm_record)] * 3)
    assert engine.store.audit() == []
    assert engine.store.link_by_referral(referral["id"]) is None
    assert sum(engine.store.link_counts().values()) == 0


def test_plan_does_not_modify_the_records(engine, referral, crm_record) -> None:
    r, c = copy.deepcopy(referral), copy.deepcopy(crm_record)
    engine.plan(referral, crm_record)
    assert (referral, crm_record) == (r, c)


def test_a_referral_alone_plans_a_create(engine, referral) -> None:
    plan = engine.plan(referral, None)
    assert plan.summary == "create_crm"
    assert plan.writes_crm
    assert plan.actions[0]["action"] == "create_crm_record"


# --- the first sync and echo suppression ------------------------------------------------------------------------


def test_first_sync_links_the_pair(engine, crm, referral, crm_record) -> None:
    plan = engine.plan(referral, crm_record)
    assert plan.summary == "link" and plan.link_id is None
    report = engine.commit(plan)
    assert report == {"link_id": 1, "status": "synced", "summary": "link", "audit_rows": 1}
    stored = engine.store.link(1)
    assert stored["referral_id"] == referral["id"]
    assert stored["crm_id"] == plan.crm_id
    assert stored["status"] == "synced"
    assert stored["base"]["deal_value"] == referral["details"]["dealValue"]
    again = engine.plan(referral, crm_record)
    assert again.link_id == 1 and again.is_empty


def test_update_commit_then_replan_is_empty(engine, crm, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    # Partner Center changes: the CRM is updated
    r2 = edit_referral_value(referral, 1000)
    plan = engine.plan(r2, crm_record)
    assert plan.summary == "update_crm"
    applied = apply_plan(plan, r2, crm_record)
    assert applied.crm_record[AMOUNT[crm]] == r2["details"]["dealValue"]
    report = engine.commit(plan, crm_version=applied.commit_kwargs["crm_version"])
    assert report["status"] == "synced" and report["summary"] == "update_crm"
    again = engine.plan(applied.referral, applied.crm_record)
    assert again.is_empty, str(again)
    # then the CRM changes: Partner Center is updated
    c3 = edit_crm_value(crm, applied.crm_record, 5000)
    plan = engine.plan(applied.referral, c3)
    assert plan.summary == "update_partner_center"
    applied = apply_plan(plan, applied.referral, c3)
    engine.commit(plan, partner_center_etag=applied.commit_kwargs["partner_center_etag"])
    again = engine.plan(applied.referral, applied.crm_record)
    assert again.is_empty, str(again)
    assert engine.store.link(1)["base"]["deal_value"] == c3[AMOUNT[crm]]


def test_update_of_both_sides_commits_both_results(engine, crm, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    r2 = copy.deepcopy(referral)
    r2["details"]["notes"] = "changed in Partner Center"
    r2["eTag"] = '"r2"'
    c2 = edit_crm_value(crm, crm_record, 700)
    plan = engine.plan(r2, c2)
    assert plan.summary == "update_both"
    assert plan.writes_crm and plan.writes_partner_center
    applied = apply_plan(plan, r2, c2)
    engine.commit(plan, **applied.commit_kwargs)
    assert engine.plan(applied.referral, applied.crm_record).is_empty


def test_commit_with_results_dict_or_json_text(engine, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    r2 = edit_referral_value(referral)
    plan = engine.plan(r2, crm_record)
    applied = apply_plan(plan, r2, crm_record)
    results = {**applied.results, "cause": "manual"}
    engine.commit(plan, results=json.dumps(results))
    assert engine.plan(applied.referral, applied.crm_record).is_empty
    assert engine.store.audit()[-1]["cause"] == "manual"
    with pytest.raises(ValueError, match="not both"):
        engine.commit(plan, results=results, crm_version="x")


def test_commit_with_results_keeps_the_cause_argument(engine, referral, crm_record) -> None:
    try:
        engine.commit(engine.plan(referral, crm_record), results={}, cause="manual")
    except ValueError:
        return  # refusing the mix would be fine too
    assert engine.store.audit()[-1]["cause"] == "manual"


def test_commit_records_the_cause(engine, referral, crm_record) -> None:
    engine.commit(engine.plan(referral, crm_record), cause="event:123")
    assert engine.store.audit()[0]["cause"] == "event:123"


def test_commit_with_string_versions_then_replan_is_empty(engine, crm, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    r2 = edit_referral_value(referral)
    plan = engine.plan(r2, crm_record)
    applied = apply_plan(plan, r2, crm_record)
    c = applied.crm_record
    engine.commit(plan, crm_version=c["LastModifiedDate"] if crm == "salesforce" else c["@odata.etag"])
    again = engine.plan(applied.referral, applied.crm_record)
    assert again.summary == "nothing"
    assert again.is_empty, again.to_dict()


def test_a_failed_side_keeps_the_old_base_so_replan_retries(engine, crm, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    r2 = edit_referral_value(referral, 1000)
    plan = engine.plan(r2, crm_record)
    report = engine.commit(plan, crm_error=("throttled", "429 Too Many Requests"))
    assert report["status"] == "error"
    stored = engine.store.link(1)
    assert stored["status"] == "error"
    assert stored["last_error_kind"] == "throttled"
    assert stored["base"]["deal_value"] == referral["details"]["dealValue"]  # the old base
    failed = engine.store.audit()[-1]
    assert failed["outcome"] == "failed"
    assert failed["error_kind"] == "throttled"
    assert failed["error_message"] == "429 Too Many Requests"
    # re-planning the same records retries exactly the missing write
    retry = engine.plan(r2, crm_record)
    assert retry.summary == "update_crm"
    assert retry.crm_patch["fields"][AMOUNT[crm]] == r2["details"]["dealValue"]
    applied = apply_plan(retry, r2, crm_record)
    assert engine.commit(retry, **applied.commit_kwargs)["status"] == "synced"
    assert engine.plan(applied.referral, applied.crm_record).is_empty
    assert engine.store.link(1)["status"] == "synced"


def test_a_failed_partner_center_write_keeps_the_old_base(engine, crm, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    c2 = edit_crm_value(crm, crm_record, 2000)
    plan = engine.plan(referral, c2)
    engine.commit(plan, partner_center_error=("precondition_failed", "412"))
    assert engine.store.link(1)["base"]["deal_value"] == referral["details"]["dealValue"]
    assert engine.plan(referral, c2).partner_center_patch == plan.partner_center_patch


def test_error_and_version_for_one_side_are_refused(engine, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    plan = engine.plan(edit_referral_value(referral), crm_record)
    with pytest.raises(ValueError, match="not both"):
        engine.commit(plan, crm_version="x", crm_error=("throttled", "429"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},  # the plan writes the CRM: a CRM result is required
        {"partner_center_etag": '"x"'},  # and only the CRM
        {"crm_version": {"etag": "x"}, "partner_center_etag": '"x"'},
        {"results": {"crm": {"outcome": "applied"}, "bogus": 1}},
        {"results": "not json"},
        {"results": {"crm": {"outcome": "maybe"}}},
    ],
    ids=["missing", "wrong-side", "extra-side", "unknown-key", "not-json", "bad-outcome"],
)
def test_results_that_do_not_fit_the_plan_raise_result_mismatch(engine, referral, crm_record, kwargs) -> None:
    link(engine, referral, crm_record)
    plan = engine.plan(edit_referral_value(referral), crm_record)
    with pytest.raises(ResultMismatchError) as info:
        engine.commit(plan, **kwargs)
    e = info.value
    check_exception(e)
    assert isinstance(e, ValueError) and isinstance(e, cosell.CommitError)
    assert e.kind == "commit" and e.detail == "result_mismatch"
    # nothing was recorded
    assert [a["action"] for a in engine.store.audit()] == ["link"]
    assert engine.store.link(1)["revision"] == engine.plan(referral, crm_record).to_dict()["link_revision"]


def test_a_result_for_a_plan_that_writes_nothing_is_a_mismatch(engine, referral, crm_record) -> None:
    with pytest.raises(ResultMismatchError, match="Partner Center"):
        engine.commit(engine.plan(referral, crm_record), partner_center_etag='"x"')


def test_bad_version_arguments_are_refused(engine, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    plan = engine.plan(edit_referral_value(referral), crm_record)
    with pytest.raises(ValueError, match="unknown keys"):
        engine.commit(plan, crm_version={"etag": "x", "revision": "2"})
    with pytest.raises(TypeError, match="crm_version"):
        engine.commit(plan, crm_version=5)


def test_committing_the_same_plan_twice_is_stale(engine, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    r2 = edit_referral_value(referral)
    plan = engine.plan(r2, crm_record)
    applied = apply_plan(plan, r2, crm_record)
    engine.commit(plan, **applied.commit_kwargs)
    with pytest.raises(StalePlanError) as info:
        engine.commit(plan, **applied.commit_kwargs)
    e = info.value
    check_exception(e)
    assert isinstance(e, cosell.CommitError)
    assert not isinstance(e, ValueError)
    assert e.kind == "commit" and e.detail == "stale_plan"
    assert plan.id in str(e) and "plan again" in str(e)


def test_a_plan_made_before_another_commit_is_stale(engine, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    r2 = edit_referral_value(referral)
    older = engine.plan(r2, crm_record)
    newer = engine.plan(r2, crm_record)
    engine.commit(newer, crm_error=("throttled", "429"))
    with pytest.raises(StalePlanError):
        engine.commit(older, crm_error=("throttled", "429"))


def test_two_first_syncs_of_one_pair_the_second_is_stale(engine, referral, crm_record) -> None:
    a = engine.plan(referral, crm_record)
    b = engine.plan(referral, crm_record)
    engine.commit(a)
    with pytest.raises(StalePlanError):
        engine.commit(b)


def test_a_plan_of_another_crm_is_refused(referral, workload) -> None:
    i = workload.open_index()
    with make_engine(":memory:", "salesforce") as sf, make_engine(":memory:", "dynamics365") as dy:
        plan = dy.plan(referral, workload.crm_v1["dynamics365"][i])
        with pytest.raises(RecordError, match="dynamics365"):
            sf.commit(plan)


def test_a_plan_committed_to_another_store_is_refused(workload, crm) -> None:
    (r0, c0), (r1, c1) = workload.pairs(crm)[:2]
    with make_engine(":memory:", crm) as a, make_engine(":memory:", crm) as b:
        link(a, r0, c0)
        link(b, r1, c1)
        r2 = edit_referral_value(r0)
        plan = a.plan(r2, c0)
        applied = apply_plan(plan, r2, c0)
        before = b.store.link(1)
        try:
            b.commit(plan, **applied.commit_kwargs)
        except cosell.CosellError:
            pass
        assert b.store.link(1)["base"] == before["base"]


def test_lookups_and_state_changes_apply_and_echo(engine, crm, referral, crm_record) -> None:
    """A currency change (a lookup on Dynamics 365) and a close as won (a state change) round-trip."""
    link(engine, referral, crm_record)
    r2 = copy.deepcopy(referral)
    r2["details"]["currency"] = "EUR" if referral["details"]["currency"] != "EUR" else "USD"
    r2["status"], r2["substatus"] = "Closed", "Won"
    r2["eTag"] = '"closed"'
    plan = engine.plan(r2, crm_record)
    assert plan.summary == "update_crm"
    patch = plan.crm_patch
    if crm == "dynamics365":
        [lookup] = patch["lookups"]
        assert lookup["bind"] == "transactioncurrencyid"
        assert lookup["match"] == {"isocurrencycode": r2["details"]["currency"]}
        assert patch["state_change"] == {"action": "win", "statecode": 1, "statuscode": 3}
    else:
        assert patch["fields"]["CurrencyIsoCode"] == r2["details"]["currency"]
        assert patch["fields"]["StageName"] == "Closed Won"
    applied = apply_plan(plan, r2, crm_record)
    engine.commit(plan, **applied.commit_kwargs)
    assert engine.plan(applied.referral, applied.crm_record).is_empty


# --- commit_many ------------------------------------------------------------------------------------------------


def test_commit_many_commits_a_batch(engine, workload, crm) -> None:
    pairs = workload.pairs(crm)[:10]
    plans = engine.plan_many(pairs)
    reports = engine.commit_many([(p, None) for p in plans])
    assert [r["link_id"] for r in reports] == list(range(1, 11))
    assert {r["status"] for r in reports} == {"synced"}
    assert engine.store.link_counts()["synced"] == 10
    # results as dicts or JSON text
    edited = [(edit_referral_value(r), c) for r, c in pairs[:3]]
    plans = engine.plan_many(edited)
    items = []
    for plan, (r, c) in zip(plans, edited):
        applied = apply_plan(plan, r, c)
        items.append((plan, applied.results))
    items[1] = (items[1][0], json.dumps(items[1][1]))
    reports = engine.commit_many(iter(items))
    assert [r["summary"] for r in reports] == ["update_crm"] * 3


def test_commit_many_is_all_or_nothing(engine, workload, crm) -> None:
    pairs = workload.pairs(crm)[:4]
    first = engine.plan(*pairs[0])
    engine.commit(first)
    fresh = engine.plan_many(pairs[1:])
    audit_before = engine.store.audit()
    with pytest.raises(StalePlanError):
        engine.commit_many([(fresh[0], None), (fresh[1], None), (first, None)])  # the last is stale
    assert engine.store.audit() == audit_before
    assert engine.store.link_counts()["synced"] == 1
    for r, _ in pairs[1:]:
        assert engine.store.link_by_referral(r["id"]) is None
    with pytest.raises(ResultMismatchError):
        engine.commit_many([(fresh[0], None), (fresh[1], {"crm": {"outcome": "applied"}})])
    assert engine.store.link_counts()["synced"] == 1
    # the same batch without the bad item commits
    assert len(engine.commit_many([(p, None) for p in fresh])) == 3
    assert engine.store.link_counts()["synced"] == 4


def test_commit_many_refuses_items_that_are_not_pairs(engine, referral, crm_record) -> None:
    plan = engine.plan(referral, crm_record)
    with pytest.raises(ValueError, match=r"items\[1\]"):
        engine.commit_many([(plan, None), plan])
    assert engine.store.audit() == []


# --- record_dry_run ---------------------------------------------------------------------------------------------


def test_record_dry_run_audits_without_changing_anything(engine, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    r2 = edit_referral_value(referral)
    plan = engine.plan(r2, crm_record)
    n = engine.record_dry_run(plan, cause="preview")
    assert n == 1
    entry = engine.store.audit()[-1]
    assert entry["dry_run"] is True
    assert entry["outcome"] == "planned"
    assert entry["cause"] == "preview"
    assert entry["plan_id"] == plan.id
    assert entry["changes"] == [
        {"field": "deal_value", "before": referral["details"]["dealValue"], "after": r2["details"]["dealValue"]}
    ]
    # the link did not move: the plan is still current and commits
    assert engine.store.link(1)["base"]["deal_value"] == referral["details"]["dealValue"]
    applied = apply_plan(plan, r2, crm_record)
    engine.commit(plan, **applied.commit_kwargs)


def test_record_dry_run_of_a_first_sync_creates_no_link(engine, referral, crm_record) -> None:
    plan = engine.plan(referral, crm_record)
    assert engine.record_dry_run(plan) == 1
    assert engine.store.link_by_referral(referral["id"]) is None
    assert engine.store.audit()[0]["link_id"] is None
    assert engine.store.audit()[0]["cause"] is None


# --- transactions -----------------------------------------------------------------------------------------------


def test_transaction_commits_on_success(engine, workload, crm) -> None:
    pairs = workload.pairs(crm)[:5]
    with engine.transaction() as same:
        assert same is engine
        for r, c in pairs:
            engine.commit(engine.plan(r, c))
        # plans inside read the transaction's own writes
        assert engine.plan(*pairs[0]).is_empty
    assert engine.store.link_counts()["synced"] == 5


def test_transaction_rolls_back_on_exception(engine, workload, crm) -> None:
    pairs = workload.pairs(crm)[:5]
    engine.commit(engine.plan(*pairs[0]))
    with pytest.raises(RuntimeError, match="boom"), engine.transaction():
        for r, c in pairs[1:]:
            engine.commit(engine.plan(r, c))
        raise RuntimeError("boom")
    assert engine.store.link_counts()["synced"] == 1
    assert len(engine.store.audit()) == 1
    # the engine is usable again, and a new transaction can be opened
    with engine.transaction():
        engine.commit(engine.plan(*pairs[1]))
    assert engine.store.link_counts()["synced"] == 2


def test_transaction_rolls_back_on_a_cosell_error(engine, referral, crm_record) -> None:
    with pytest.raises(StalePlanError), engine.transaction():
        plan = engine.plan(referral, crm_record)
        engine.commit(plan)
        engine.commit(plan)
    assert engine.store.link_by_referral(referral["id"]) is None


def test_nested_transaction_is_an_invalid_state(engine) -> None:
    with engine.transaction():
        with pytest.raises(InvalidStateError, match="already open"):
            with engine.transaction():
                pass


def test_a_file_store_transaction_is_durable(store_path: Path, workload, crm) -> None:
    pairs = workload.pairs(crm)[:3]
    with make_engine(store_path, crm) as engine, engine.transaction():
        for r, c in pairs:
            engine.commit(engine.plan(r, c))
    with make_engine(store_path, crm) as engine:
        assert engine.store.link_counts()["synced"] == 3


def test_closing_inside_a_transaction_rolls_it_back(store_path: Path, referral, crm_record, crm) -> None:
    engine = make_engine(store_path, crm)
    with pytest.raises(InvalidStateError):  # the commit at the end of the block finds the engine closed
        with engine.transaction():
            engine.commit(engine.plan(referral, crm_record))
            engine.close()
    with make_engine(store_path, crm) as again:
        assert again.store.link_by_referral(referral["id"]) is None


# --- the clock --------------------------------------------------------------------------------------------------


def test_set_time_stamps_plans_and_audit_rows(engine, referral, crm_record) -> None:
    engine.set_time("2026-12-01T08:30:00Z")
    plan = engine.plan(referral, crm_record)
    assert plan.planned_at == "2026-12-01T08:30:00.000000Z"
    engine.commit(plan)
    assert engine.store.audit()[0]["at"] == "2026-12-01T08:30:00.000000Z"
    assert engine.store.link(1)["created_at"] == "2026-12-01T08:30:00.000000Z"


@pytest.mark.parametrize(
    ("at", "stamped"),
    [
        (dt.datetime(2026, 12, 1, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2026-12-01T08:30:00.000000Z"),
        (dt.datetime(2026, 12, 1, 8, 30, 0, 250000), "2026-12-01T08:30:00.250000Z"),  # naive: UTC
        (dt.date(2026, 12, 1), "2026-12-01T00:00:00.000000Z"),
        ("2026-12-01", "2026-12-01T00:00:00.000000Z"),
    ],
    ids=["aware-datetime", "naive-datetime", "date", "date-text"],
)
def test_set_time_accepts_datetimes_and_dates(engine, referral, crm_record, at, stamped) -> None:
    engine.set_time(at)
    engine.commit(engine.plan(referral, crm_record))
    assert engine.store.audit()[0]["at"] == stamped


def test_set_time_none_returns_to_the_system_clock(engine, referral, crm_record) -> None:
    engine.set_time(None)
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    plan = engine.plan(referral, crm_record)
    after = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    planned = dt.datetime.fromisoformat(plan.planned_at.replace("Z", "+00:00"))
    assert before <= planned <= after


@pytest.mark.parametrize("bad", ["tomorrow", "2026-02-30T00:00:00Z", "2026-11-01 10:00"])
def test_set_time_refuses_bad_times(engine, bad) -> None:
    with pytest.raises(cosell.StoreInputError) as info:
        engine.set_time(bad)
    check_exception(info.value)
    assert isinstance(info.value, ValueError)
    assert repr(bad) in str(info.value) or bad in str(info.value)
    with pytest.raises(TypeError):
        engine.set_time(1234)  # type: ignore[arg-type]


# --- plan_many --------------------------------------------------------------------------------------------------


@pytest.fixture
def linked(engine, workload, crm):
    """An engine with every v1 pair of the workload linked."""
    plans = engine.plan_many(workload.pairs(crm, 1))
    assert collections.Counter(p.summary for p in plans) == {"link": workload.manifest["records"]}
    assert all(not p.writes_crm and not p.writes_partner_center for p in plans)
    engine.commit_many([(p, None) for p in plans])
    assert engine.store.link_counts()["synced"] == workload.manifest["records"]
    return engine


EXPECTED = {
    "unchanged": "nothing",
    "pc_only": "update_crm",
    "crm_only": "update_partner_center",
    "conflict": "conflict",
    "both_same": "converged",
}


def test_plan_many_over_the_workload_matches_the_manifest(linked, workload, crm) -> None:
    plans = linked.plan_many(workload.pairs(crm, 2))
    assert len(plans) == workload.manifest["records"]
    counts = collections.Counter(p.summary for p in plans)
    assert counts == {summary: workload.manifest[kind] for kind, summary in EXPECTED.items()}
    # and pair by pair: the kind of each edit gives its summary
    for i, plan in enumerate(plans):
        pc_changed = workload.referrals_v1[i] != workload.referrals_v2[i]
        crm_changed = workload.crm_v1[crm][i] != workload.crm_v2[crm][i]
        if not pc_changed and not crm_changed:
            assert plan.summary == "nothing" and plan.is_empty
        elif pc_changed and not crm_changed:
            assert plan.summary == "update_crm"
        elif crm_changed and not pc_changed:
            assert plan.summary == "update_partner_center"
        else:
            assert plan.summary in ("conflict", "converged")
        assert plan.referral_id == workload.referrals_v2[i]["id"]


def test_plan_many_then_commit_many_then_replan_is_all_empty(linked, workload, crm) -> None:
    pairs = workload.pairs(crm, 2)
    plans = linked.plan_many(pairs)
    items, now = [], []
    for plan, (r, c) in zip(plans, pairs):
        applied = apply_plan(plan, r, c)
        items.append((plan, applied.results or None))
        now.append((applied.referral, applied.crm_record))
    linked.commit_many(items)
    again = linked.plan_many(now)
    assert all(p.is_empty for p in again), collections.Counter(p.summary for p in again if not p.is_empty)


def test_plan_many_equals_plan_one_by_one(linked, workload, crm) -> None:
    pairs = workload.pairs(crm, 2)[:60]
    assert linked.plan_many(pairs, chunk_size=7) == [linked.plan(r, c) for r, c in pairs]


def test_plan_many_accepts_generators_tuples_of_text_bytes_and_dicts(linked, workload, crm) -> None:
    n = 50
    dicts = workload.pairs(crm, 2)[:n]
    lines = list(zip(workload.lines("referrals_v2"), workload.lines(f"{PREFIX[crm]}_v2")))[:n]
    want = linked.plan_many(dicts)
    assert linked.plan_many(lines) == want  # a list of tuples of str
    assert linked.plan_many((r.encode(), c.encode()) for r, c in lines) == want  # a generator of bytes
    assert linked.plan_many([[r, c] for r, c in dicts]) == want  # lists as pairs
    assert linked.plan_many(tuple(zip(workload.referrals_v2[:n], workload.crm_v2[crm][:n]))) == want
    assert linked.plan_many(iter([])) == []
    mixed = [(lines[0][0], dicts[0][1]), (dicts[1][0].copy(), lines[1][1].encode())]
    assert linked.plan_many(mixed) == want[:2]


def test_plan_many_return_puts_the_error_in_place(engine, workload, crm) -> None:
    pairs = workload.pairs(crm)[:5]
    pairs[2][0]["details"]["dealValue"] = "lots"
    results = engine.plan_many(pairs, on_error="return")
    assert len(results) == 5
    assert [type(x) for x in results[:2] + results[3:]] == [cosell.Plan] * 4
    e = results[2]
    assert isinstance(e, RecordError)
    check_exception(e)
    assert e.detail == "invalid_field"
    assert "/details/dealValue" in str(e) and "lots" in str(e)


def test_plan_many_raise_names_the_pair(engine, workload, crm) -> None:
    pairs = workload.pairs(crm)[:5]
    pairs[3][0]["details"]["dealValue"] = "lots"
    with pytest.raises(RecordError) as info:
        engine.plan_many(pairs)
    e = info.value
    check_exception(e)
    assert str(e).startswith("pair 3: ")
    assert "/details/dealValue" in str(e) and pairs[3][0]["id"] in str(e)
    assert e.kind == "record" and e.detail == "invalid_field"
    assert isinstance(e.__cause__, RecordError)
    # the default is "raise"
    with pytest.raises(RecordError, match="^pair 3: "):
        engine.plan_many(pairs, on_error="raise")


def test_plan_many_raises_the_first_bad_pair(engine, workload, crm) -> None:
    pairs = workload.pairs(crm)[:6]
    pairs[4] = (pairs[4][0], "not json")
    pairs[1][0]["details"]["dealValue"] = "lots"
    with pytest.raises(RecordError, match="^pair 1: "):
        engine.plan_many(pairs, chunk_size=2)


def test_plan_many_refuses_bad_arguments(engine, referral, crm_record) -> None:
    with pytest.raises(ValueError, match="on_error"):
        engine.plan_many([(referral, crm_record)], on_error="ignore")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match=r"pairs\[1\]"):
        engine.plan_many([(referral, crm_record), (referral,)])
    with pytest.raises(ValueError, match=r"pairs\[0\]"):
        engine.plan_many(["ab"])
    with pytest.raises(TypeError):
        engine.plan_many(5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pairs\[0\]"):
        engine.plan_many([(object(), crm_record)])


def test_plan_many_propagates_an_error_from_the_iterable(engine, referral, crm_record) -> None:
    def pairs():
        yield referral, crm_record
        raise KeyError("from the generator")

    with pytest.raises(KeyError, match="from the generator"):
        engine.plan_many(pairs())


def test_versions_as_read_are_in_the_plan(engine, crm, referral, crm_record) -> None:
    d = engine.plan(referral, crm_record).to_dict()
    assert d["partner_center_version"] == referral_version(referral)
    want = crm_version(crm, crm_record)
    assert {k: str(v) for k, v in d["crm_version"].items()} == want


def test_no_exception_is_a_panic(engine, referral, crm_record) -> None:
    """Odd but legal inputs plan or raise an ordinary exception, never pyo3's PanicException."""
    odd_values = [10**30, -(10**30), 1e308, -0.0, 2**64, None, "", "x" * 100_000, 1e-320, [], {}, True]
    for value in odd_values:
        r = copy.deepcopy(referral)
        r["details"]["dealValue"] = value
        c = copy.deepcopy(crm_record)
        c[AMOUNT[engine.crm]] = value
        for pair in ((r, crm_record), (referral, c), (r, c)):
            try:
                engine.plan(*pair)
            except BaseException as e:  # noqa: BLE001
                check_exception(e)
                assert isinstance(e, CosellError), repr(e)
    for at in ("9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z"):
        engine.set_time(at)
        engine.plan(referral, crm_record)
