"""cosell.Store: the audit and its filters, the links, the review queue, and the audit_log view of the file."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from conftest import (
    AMOUNT,
    NOW,
    apply_plan,
    check_exception,
    edit_crm_value,
    edit_referral_value,
    link,
    make_engine,
)

import cosell
from cosell import InvalidStateError, NotFoundError, StoreInputError
from cosell.engine import AUDIT_COLUMNS

# --- the audit and its filters ----------------------------------------------------------------------------------


@pytest.fixture
def history(engine, workload, crm):
    """An engine with three linked pairs, each linked on its own day of November 2026, and one update of the
    first pair on 2026-11-04. Returns ``(engine, referral ids)``."""
    pairs = workload.pairs(crm)[:3]
    for day, (r, c) in enumerate(pairs, start=1):
        engine.set_time(f"2026-11-0{day}T12:00:00Z")
        link(engine, r, c)
    engine.set_time("2026-11-04T12:00:00Z")
    r, c = pairs[0]
    r2 = edit_referral_value(r)
    plan = engine.plan(r2, c)
    engine.commit(plan, **apply_plan(plan, r2, c).commit_kwargs)
    return engine, [r["id"] for r, _ in pairs]


def test_audit_lists_decisions_oldest_first_with_their_changes(history) -> None:
    engine, ids = history
    rows = engine.store.audit()
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    assert [r["action"] for r in rows] == ["link", "link", "link", "update_crm"]
    assert [r["referral_id"] for r in rows] == [ids[0], ids[1], ids[2], ids[0]]
    assert [r["at"] for r in rows] == [
        "2026-11-01T12:00:00.000000Z",
        "2026-11-02T12:00:00.000000Z",
        "2026-11-03T12:00:00.000000Z",
        "2026-11-04T12:00:00.000000Z",
    ]
    last = rows[-1]
    assert set(last) == {
        "id",
        "at",
        "link_id",
        "referral_id",
        "crm_entity",
        "crm_id",
        "direction",
        "action",
        "outcome",
        "reason",
        "changes",
        "error_kind",
        "error_message",
        "cause",
        "dry_run",
        "plan_id",
    }
    assert last["direction"] == "to_crm" and last["outcome"] == "applied" and last["dry_run"] is False
    assert [c["field"] for c in last["changes"]] == ["deal_value"]
    assert last["changes"][0]["after"] - last["changes"][0]["before"] == 1000


def test_audit_filters_by_referral_and_link(history) -> None:
    engine, ids = history
    assert [r["id"] for r in engine.store.audit(referral_id=ids[0])] == [1, 4]
    assert [r["id"] for r in engine.store.audit(referral_id=ids[1])] == [2]
    assert engine.store.audit(referral_id="00000000-0000-0000-0000-000000000000") == []
    link_id = engine.store.link_by_referral(ids[2])["id"]
    assert [r["id"] for r in engine.store.audit(link_id=link_id)] == [3]
    assert engine.store.audit(link_id=999) == []
    assert [r["id"] for r in engine.store.audit(referral_id=ids[0], link_id=1)] == [1, 4]
    assert engine.store.audit(referral_id=ids[1], link_id=1) == []


def test_audit_limit_counts_decisions(history) -> None:
    engine, _ = history
    assert [r["id"] for r in engine.store.audit(limit=2)] == [1, 2]
    assert engine.store.audit(limit=0) == []
    assert len(engine.store.audit(limit=100)) == 4


@pytest.mark.parametrize(
    ("since", "until", "ids"),
    [
        ("2026-11-02", None, [2, 3, 4]),
        (None, "2026-11-03", [1, 2]),
        ("2026-11-02", "2026-11-04", [2, 3]),
        ("2026-11-02T12:00:00.000000Z", "2026-11-03T12:00:00.000000Z", [2]),
        (dt.date(2026, 11, 3), None, [3, 4]),
        (dt.datetime(2026, 11, 2, 13, 0), None, [3, 4]),  # naive: UTC
        (dt.datetime(2026, 11, 3, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=-2))), None, [4]),  # 13:00 UTC
        ("2026-12-01", None, []),
        (None, "2026-10-01", []),
    ],
    ids=[
        "since-date",
        "until-date",
        "both-dates",
        "exact-stored-format",
        "date-object",
        "naive-datetime",
        "aware-datetime",
        "after-everything",
        "before-everything",
    ],
)
def test_audit_time_filters(history, since, until, ids) -> None:
    engine, _ = history
    assert [r["id"] for r in engine.store.audit(since=since, until=until)] == ids


@pytest.fixture
def at_midnight(sf_engine, sf_pair):
    """One audit row stamped exactly 2026-11-01T00:00:00Z."""
    engine = sf_engine
    engine.set_time("2026-11-01T00:00:00Z")
    link(engine, *sf_pair)
    assert engine.store.audit()[0]["at"] == "2026-11-01T00:00:00.000000Z"
    return engine




@pytest.mark.parametrize(
    "since", ["2026-11-01", "2026-11-01T00:00:00Z", dt.date(2026, 11, 1), dt.datetime(2026, 11, 1)]
)
def test_audit_since_is_inclusive_at_the_bound(at_midnight, since) -> None:
    assert len(at_midnight.store.audit(since=since)) == 1


@pytest.mark.parametrize("until", ["2026-11-01", "2026-11-01T00:00:00Z", dt.date(2026, 11, 1)])
def test_audit_until_is_exclusive_at_the_bound(at_midnight, until) -> None:
    assert at_midnight.store.audit(until=until) == []


def test_audit_since_keeps_rows_later_in_the_same_second(sf_engine, sf_pair) -> None:
    sf_engine.set_time("2026-11-01T10:00:00.300000Z")
    link(sf_engine, *sf_pair)
    assert len(sf_engine.store.audit(since="2026-11-01T10:00:00Z")) == 1


def test_audit_bounds_in_the_stored_format_work(at_midnight) -> None:
    assert len(at_midnight.store.audit(since="2026-11-01T00:00:00.000000Z")) == 1
    assert at_midnight.store.audit(until="2026-11-01T00:00:00.000000Z") == []


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "2026-11-01T25:00:00Z", "2026-11-01T10:00:00", ""])
@pytest.mark.parametrize("which", ["since", "until"])
def test_a_bad_time_is_a_store_input_error(engine, which, bad) -> None:
    with pytest.raises(StoreInputError) as info:
        engine.store.audit(**{which: bad})
    e = info.value
    check_exception(e)
    assert isinstance(e, ValueError) and isinstance(e, cosell.StoreError)
    assert e.kind == "store" and e.detail == "invalid_input"
    assert which in str(e)


def test_audit_accepts_an_rfc3339_string_with_an_offset(history) -> None:
    engine, _ = history
    # 2026-11-02T14:00:00+01:00 is 13:00 UTC: after the second link (12:00)
    assert [r["id"] for r in engine.store.audit(since="2026-11-02T14:00:00+01:00")] == [3, 4]


def test_a_time_of_the_wrong_type_is_a_type_error(engine) -> None:
    with pytest.raises(TypeError, match="since"):
        engine.store.audit(since=1234)  # type: ignore[arg-type]


def test_a_bad_limit_is_refused(engine) -> None:
    with pytest.raises(StoreInputError, match="limit"):
        engine.store.audit(limit=-1)


# --- links ------------------------------------------------------------------------------------------------------


@pytest.fixture
def ten_links(engine, workload, crm):
    pairs = workload.pairs(crm)[:10]
    engine.commit_many([(p, None) for p in engine.plan_many(pairs)])
    return engine, pairs


def test_links_page_by_id(ten_links) -> None:
    engine, pairs = ten_links
    first = engine.store.links(limit=4)
    assert [l["id"] for l in first] == [1, 2, 3, 4]
    second = engine.store.links(limit=4, after_id=first[-1]["id"])
    assert [l["id"] for l in second] == [5, 6, 7, 8]
    third = engine.store.links(limit=4, after_id=second[-1]["id"])
    assert [l["id"] for l in third] == [9, 10]
    assert engine.store.links(limit=4, after_id=10) == []
    assert len(engine.store.links()) == 10  # default limit 100
    assert engine.store.links(limit=0) == []
    assert [l["referral_id"] for l in engine.store.links()] == [r["id"] for r, _ in pairs]


def test_a_link_as_a_dict(ten_links, crm) -> None:
    engine, pairs = ten_links
    r, c = pairs[0]
    got = engine.store.link(1)
    assert got["id"] == 1
    assert got["referral_id"] == r["id"]
    assert got["crm_entity"] == "opportunity"
    assert got["crm_id"] == (c["Id"] if crm == "salesforce" else c["opportunityid"])
    assert got["status"] == "synced"
    assert got["base"]["deal_value"] == r["details"]["dealValue"]
    assert got["partner_center_version"]["etag"] == r["eTag"]
    assert got["created_at"] == got["updated_at"] == "2026-11-24T10:00:00.000000Z"
    assert engine.store.link(999) is None


def test_links_filter_by_status(ten_links, crm) -> None:
    engine, pairs = ten_links
    r, c = pairs[2]
    plan = engine.plan(edit_referral_value(r), c)
    engine.commit(plan, crm_error=("validation", "400 Bad Request"))
    assert [l["id"] for l in engine.store.links(status="error")] == [3]
    assert len(engine.store.links(status="synced")) == 9
    assert engine.store.links(status="orphaned") == []
    with pytest.raises(StoreInputError, match="weird"):
        engine.store.links(status="weird")


def test_link_by_referral_and_by_crm(ten_links, crm) -> None:
    engine, pairs = ten_links
    r, c = pairs[4]
    crm_id = c["Id"] if crm == "salesforce" else c["opportunityid"]
    by_ref = engine.store.link_by_referral(r["id"])
    by_crm = engine.store.link_by_crm("opportunity", crm_id)
    assert by_ref == by_crm == engine.store.link(5)
    assert engine.store.link_by_referral("00000000-0000-0000-0000-000000000000") is None
    assert engine.store.link_by_crm("opportunity", "nope") is None
    assert engine.store.link_by_crm("lead", crm_id) is None
    with pytest.raises(StoreInputError, match="account"):
        engine.store.link_by_crm("account", crm_id)


def test_link_counts_has_every_status(engine, ten_links, crm) -> None:
    engine, pairs = ten_links
    assert engine.store.link_counts() == {"synced": 10, "pending": 0, "error": 0, "conflict": 0, "orphaned": 0}
    r, c = pairs[0]
    engine.commit(engine.plan(edit_referral_value(r), c), crm_error=("throttled", "429"))
    orphan = engine.plan(None, pairs[1][1])
    assert orphan.summary == "orphan"
    engine.commit(orphan)
    assert engine.store.link_counts() == {"synced": 8, "pending": 0, "error": 1, "conflict": 0, "orphaned": 1}


def test_store_repr_and_path(engine) -> None:
    assert repr(engine.store) == "cosell.Store(':memory:')"
    assert engine.store.path == ":memory:"


# --- reviews ----------------------------------------------------------------------------------------------------


@pytest.fixture
def review_engine(crm):
    mapping = cosell.Mapping.builtin(crm).override({"deal_value": {"conflict": "review"}})
    with make_engine(":memory:", mapping) as engine:
        yield engine


@pytest.fixture
def queued(review_engine, crm, referral, crm_record):
    """A conflict on deal_value queued for review: ``(engine, review, referral, crm_record)`` with the records as
    they now are."""
    engine = review_engine
    link(engine, referral, crm_record)
    r2 = edit_referral_value(referral, 1000)
    c2 = edit_crm_value(crm, crm_record, 3000)
    plan = engine.plan(r2, c2)
    assert plan.summary == "conflict"
    report = engine.commit(plan)
    assert report["status"] == "conflict"
    [review] = engine.store.reviews()
    return engine, review, r2, c2


def test_a_review_conflict_is_queued(queued, referral, crm) -> None:
    engine, review, r2, c2 = queued
    assert review["status"] == "open"
    assert review["field"] == "deal_value"
    assert review["referral_id"] == referral["id"]
    assert review["link_id"] == 1
    assert review["base"] == referral["details"]["dealValue"]
    assert review["partner_center"] == r2["details"]["dealValue"]
    assert review["crm"] == c2[AMOUNT[crm]]
    assert review["resolution"] is None and review["resolved_at"] is None
    assert engine.store.link_counts()["conflict"] == 1
    assert engine.store.reviews(status="open") == [review]
    assert engine.store.reviews(referral_id=referral["id"]) == [review]
    assert engine.store.reviews(status="resolved") == []
    assert engine.store.reviews(referral_id="someone-else") == []
    audit = engine.store.audit()[-1]
    assert audit["action"] == "conflict" and audit["outcome"] == "queued"
    # while it is open, re-planning holds the field back
    again = engine.plan(r2, c2)
    assert not again.writes_crm and not again.writes_partner_center


@pytest.mark.parametrize(
    ("choice", "side"),
    [("crm", "pc"), ("partner_center", "crm"), ({"value": 77777}, "both")],
    ids=["crm", "partner_center", "value"],
)
def test_resolve_review_writes_the_choice_on_the_next_plan(queued, crm, choice, side) -> None:
    engine, review, r2, c2 = queued
    resolved = engine.resolve_review(review["id"], choice, note="agreed with the customer")
    assert resolved["status"] == "resolved"
    assert resolved["note"] == "agreed with the customer"
    assert resolved["resolved_at"] == "2026-11-24T10:00:00.000000Z"
    want = {"crm": c2[AMOUNT[crm]], "partner_center": r2["details"]["dealValue"]}.get(str(choice), 77777)
    assert resolved["resolution"] == want
    plan = engine.plan(r2, c2)
    assert plan.writes_partner_center == (side in ("pc", "both"))
    assert plan.writes_crm == (side in ("crm", "both"))
    applied = apply_plan(plan, r2, c2)
    engine.commit(plan, **applied.commit_kwargs)
    assert engine.store.reviews()[0]["status"] == "applied"
    assert engine.store.link_counts()["synced"] == 1
    assert engine.plan(applied.referral, applied.crm_record).is_empty
    assert applied.referral["details"]["dealValue"] == want
    assert applied.crm_record[AMOUNT[crm]] == want
    actions = [a["action"] for a in engine.store.audit()]
    assert actions[:2] == ["link", "conflict"]
    assert actions[2] == "review_resolved"
    assert len(actions) == 3 + (2 if side == "both" else 1)


def test_dismiss_review_leaves_both_sides(queued) -> None:
    engine, review, r2, c2 = queued
    dismissed = engine.dismiss_review(review["id"], note="leave it")
    assert dismissed["status"] == "dismissed" and dismissed["note"] == "leave it"
    assert engine.store.link_counts()["synced"] == 1
    plan = engine.plan(r2, c2)
    assert not plan.writes_crm and not plan.writes_partner_center
    assert engine.store.reviews(status="dismissed") == [dismissed]
    assert engine.store.audit()[-1]["action"] == "review_dismissed"
    # a later change on one side syncs as usual
    r3 = edit_referral_value(r2, 500)
    assert engine.plan(r3, c2).summary == "update_crm"


def test_a_review_that_is_not_open_is_an_invalid_state(queued) -> None:
    engine, review, *_ = queued
    engine.dismiss_review(review["id"])
    with pytest.raises(InvalidStateError, match="not open") as info:
        engine.dismiss_review(review["id"])
    check_exception(info.value)
    with pytest.raises(InvalidStateError, match="not open"):
        engine.resolve_review(review["id"], "crm")


@pytest.mark.parametrize("call", ["resolve", "dismiss"])
def test_a_missing_review_is_not_found(review_engine, call) -> None:
    with pytest.raises(NotFoundError) as info:
        if call == "resolve":
            review_engine.resolve_review(999, "crm")
        else:
            review_engine.dismiss_review(999)
    e = info.value
    check_exception(e)
    assert isinstance(e, LookupError) and isinstance(e, cosell.StoreError)
    assert not isinstance(e, ValueError)
    assert e.kind == "store" and e.detail == "not_found"
    assert "999" in str(e)


@pytest.mark.parametrize("choice", ["bogus", {"val": 1}, ["crm"]])
def test_a_bad_choice_is_a_store_input_error(queued, choice) -> None:
    engine, review, *_ = queued
    with pytest.raises(StoreInputError, match="choice"):
        engine.resolve_review(review["id"], choice)
    assert engine.store.reviews()[0]["status"] == "open"


def test_a_bad_review_status_filter_is_refused(review_engine) -> None:
    with pytest.raises(StoreInputError, match="weird"):
        review_engine.store.reviews(status="weird")


# --- the audit_log view of the file -----------------------------------------------------------------------------


@pytest.fixture
def file_history(store_path: Path, workload, crm):
    """A file store with two links, one update and one dry run; closed. Returns the path."""
    pairs = workload.pairs(crm)[:2]
    with make_engine(store_path, crm) as engine:
        for r, c in pairs:
            link(engine, r, c)
        engine.set_time("2026-11-25T09:00:00Z")
        r, c = pairs[0]
        r2 = edit_referral_value(r)
        r2["details"]["notes"] = "changed in Partner Center"
        plan = engine.plan(r2, c)
        engine.commit(plan, **apply_plan(plan, r2, c).commit_kwargs)
        engine.record_dry_run(engine.plan(pairs[1][0], edit_crm_value(crm, pairs[1][1])), cause="preview")
        audit = engine.store.audit()
    return store_path, audit


def test_audit_log_view_with_sqlite3(file_history) -> None:
    path, audit = file_history
    con = sqlite3.connect(path)
    try:
        cur = con.execute("SELECT * FROM audit_log ORDER BY audit_id, field")
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
    finally:
        con.close()
    assert tuple(columns) == AUDIT_COLUMNS
    # one row per field change, one row for a decision without changes
    assert len(rows) == sum(max(1, len(a["changes"])) for a in audit)
    by_id = {a["id"]: a for a in audit}
    for row in rows:
        rec = dict(zip(columns, row))
        entry = by_id[rec["audit_id"]]
        assert rec["at"] == entry["at"]
        assert rec["action"] == entry["action"]
        assert rec["referral_id"] == entry["referral_id"]
        assert bool(rec["dry_run"]) == entry["dry_run"]
        if entry["changes"]:
            assert rec["field"] in {c["field"] for c in entry["changes"]}
        else:
            assert rec["field"] is None and rec["before"] is None and rec["after"] is None
    update = [dict(zip(columns, r)) for r in rows if r[columns.index("action")] == "update_crm"]
    assert {u["field"] for u in update} >= {"deal_value", "notes"}


def test_audit_log_view_with_pandas_read_sql(file_history) -> None:
    pandas = pytest.importorskip("pandas")
    path, audit = file_history
    con = sqlite3.connect(path)
    try:
        frame = pandas.read_sql("SELECT * FROM audit_log", con)
    finally:
        con.close()
    assert tuple(frame.columns) == AUDIT_COLUMNS
    assert len(frame) == sum(max(1, len(a["changes"])) for a in audit)
    assert set(frame["audit_id"]) == {a["id"] for a in audit}
    assert frame["dry_run"].sum() == 1
    dry = frame[frame["dry_run"] == 1].iloc[0]
    assert dry["cause"] == "preview" and dry["outcome"] == "planned"


def test_the_audit_is_append_only(file_history) -> None:
    path, _ = file_history
    con = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError):
            con.execute("UPDATE audit SET action = 'forged' WHERE id = 1")
        with pytest.raises(sqlite3.DatabaseError):
            con.execute("DELETE FROM audit WHERE id = 1")
    finally:
        con.close()


def test_store_schema_version(store_path: Path, crm) -> None:
    with make_engine(store_path, crm) as engine:
        assert engine.store.schema_version == cosell.SCHEMA_VERSION
    con = sqlite3.connect(store_path)
    try:
        assert con.execute("PRAGMA user_version").fetchone()[0] == cosell.SCHEMA_VERSION
    finally:
        con.close()


def test_now_is_the_fixture_time(engine, referral, crm_record) -> None:
    link(engine, referral, crm_record)
    assert engine.store.audit()[0]["at"] == NOW.replace("Z", ".000000Z")
