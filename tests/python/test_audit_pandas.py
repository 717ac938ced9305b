"""Store.audit() and Store.audit_frame(): the audit as dicts and as a pandas DataFrame shaped like the audit_log
view of the store file."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import sys
from pathlib import Path

import pytest
from conftest import apply_plan, edit_crm_value, edit_referral_value, link, make_engine

from cosell import engine as engine_module
from cosell.engine import AUDIT_COLUMNS

pandas = pytest.importorskip("pandas")


@pytest.fixture
def filled(store_path: Path, workload, crm):
    """A file store with: two links (2026-11-01), an update of three fields (deal value, non-ASCII notes and
    the solutions set) (2026-11-02), a failed write (2026-11-03) and a dry run (2026-11-04). Yields the open
    engine."""
    pairs = workload.pairs(crm)[:2]
    with make_engine(store_path, crm, at="2026-11-01T09:00:00Z") as engine:
        for r, c in pairs:
            link(engine, r, c)
        engine.set_time("2026-11-02T09:00:00Z")
        r, c = pairs[0]
        r2 = edit_referral_value(r)
        r2["details"]["notes"] = "Café — naïve “quotes”"  # non-ASCII text
        r2["details"]["requirements"]["solutions"].append({"id": "SOL-00001-ABC", "name": None, "type": "Name"})
        plan = engine.plan(r2, c)
        applied = apply_plan(plan, r2, c)
        engine.commit(plan, **applied.commit_kwargs)
        engine.set_time("2026-11-03T09:00:00Z")
        r, c = pairs[1]
        c2 = edit_crm_value(crm, c)
        engine.commit(engine.plan(r, c2), partner_center_error=("throttled", "429 Too Many Requests"))
        engine.set_time("2026-11-04T09:00:00Z")
        r, c = pairs[0]
        r3 = edit_referral_value(applied.referral)
        assert engine.record_dry_run(engine.plan(r3, applied.crm_record), cause="preview") == 1
        yield engine


def _view(path: str) -> tuple[list[str], list[tuple]]:
    con = sqlite3.connect(path)
    try:
        cur = con.execute("SELECT * FROM audit_log ORDER BY audit_id, rowid")
        return [d[0] for d in cur.description], cur.fetchall()
    finally:
        con.close()


def test_columns_equal_audit_columns_and_the_view(filled) -> None:
    frame = filled.store.audit_frame()
    columns, _ = _view(filled.path)
    assert list(frame.columns) == list(AUDIT_COLUMNS) == columns
    assert engine_module.AUDIT_COLUMNS is AUDIT_COLUMNS


def test_one_row_per_field_change(filled) -> None:
    frame = filled.store.audit_frame()
    audit = filled.store.audit()
    assert len(frame) == sum(max(1, len(a["changes"])) for a in audit)
    update = frame[frame["action"] == "update_crm"]
    update = update[~update["dry_run"]]
    assert sorted(update["field"]) == ["deal_value", "notes", "solutions"]
    assert update["audit_id"].nunique() == 1


def test_a_decision_without_changes_is_one_row_with_field_none(filled) -> None:
    frame = filled.store.audit_frame()
    links = frame[frame["action"] == "link"]
    assert len(links) == 2
    for col in ("field", "before", "after"):
        assert links[col].isna().all(), links[col]


def test_values_match_the_view_row_by_row(filled) -> None:
    frame = filled.store.audit_frame()
    columns, rows = _view(filled.path)
    assert len(frame) == len(rows)
    for (_, got), row in zip(frame.iterrows(), rows):
        want = dict(zip(columns, row))
        for col in ("audit_id", "link_id", "referral_id", "crm_entity", "crm_id", "direction", "action", "outcome"):
            assert got[col] == want[col], col
        for col in ("reason", "field", "error_kind", "error_message", "cause", "plan_id"):
            assert (pandas.isna(got[col]) and want[col] is None) or got[col] == want[col], col
        assert bool(got["dry_run"]) == bool(want["dry_run"])
        assert got["at"] == pandas.Timestamp(want["at"])
        for col in ("before", "after"):  # JSON text: the same values
            if want[col] is None:
                assert pandas.isna(got[col])
            else:
                assert json.loads(got[col]) == json.loads(want[col]), col


def test_before_and_after_are_the_json_text_of_the_view(filled) -> None:
    frame = filled.store.audit_frame()
    columns, rows = _view(filled.path)
    view = pandas.DataFrame.from_records(rows, columns=columns)
    assert list(frame["before"].fillna("<none>")) == list(view["before"].fillna("<none>"))
    assert list(frame["after"].fillna("<none>")) == list(view["after"].fillna("<none>"))


def test_at_is_tz_aware_utc_and_dry_run_is_bool(filled) -> None:
    frame = filled.store.audit_frame()
    assert isinstance(frame["at"].dtype, pandas.DatetimeTZDtype)
    assert str(frame["at"].dt.tz) == "UTC"
    assert frame["at"].iloc[0] == pandas.Timestamp("2026-11-01T09:00:00Z")
    assert frame["at"].is_monotonic_increasing
    assert frame["dry_run"].dtype == bool
    assert frame["dry_run"].sum() == 1
    dry = frame[frame["dry_run"]].iloc[0]
    assert dry["outcome"] == "planned" and dry["cause"] == "preview"


def test_failures_carry_their_kind_and_message(filled) -> None:
    frame = filled.store.audit_frame()
    failed = frame[frame["outcome"] == "failed"]
    assert len(failed) == 1
    row = failed.iloc[0]
    assert row["error_kind"] == "throttled"
    assert row["error_message"] == "429 Too Many Requests"
    assert row["direction"] == "to_partner_center"


@pytest.mark.parametrize(
    ("kwargs", "days"),
    [
        ({"since": "2026-11-02T09:00:00.000000Z"}, {2, 3, 4}),
        ({"until": "2026-11-03T09:00:00.000000Z"}, {1, 2}),
        ({"since": dt.date(2026, 11, 2), "until": dt.date(2026, 11, 4)}, {2, 3}),
        ({"since": dt.datetime(2026, 11, 3, 8, 0, tzinfo=dt.timezone.utc)}, {3, 4}),
        ({"since": "2026-11-02", "until": "2026-11-03"}, {2}),
        ({"limit": 2}, {1}),
    ],
    ids=["since", "until", "dates", "datetime", "date-text", "limit"],
)
def test_filters(filled, kwargs, days) -> None:
    frame = filled.store.audit_frame(**kwargs)
    assert set(frame["at"].dt.day) == days
    assert [e["id"] for e in filled.store.audit(**kwargs)] == sorted(set(frame["audit_id"]))


def test_filter_by_referral_and_link(filled, workload, crm) -> None:
    r, _ = workload.pairs(crm)[0]
    frame = filled.store.audit_frame(referral_id=r["id"])
    assert set(frame["referral_id"]) == {r["id"]}
    assert list(frame["action"]) == ["link"] + ["update_crm"] * 4
    assert list(frame["dry_run"]) == [False, False, False, False, True]
    link_id = filled.store.link_by_referral(r["id"])["id"]
    by_link = filled.store.audit_frame(link_id=link_id)
    assert list(by_link["audit_id"]) == list(frame["audit_id"])


def test_limit_counts_decisions_not_rows(filled) -> None:
    # the third decision has three field changes: limit=3 gives 5 rows
    frame = filled.store.audit_frame(limit=3)
    assert frame["audit_id"].nunique() == 3
    assert len(frame) == 5


def test_an_empty_audit_is_an_empty_frame_with_the_columns(engine) -> None:
    frame = engine.store.audit_frame()
    assert len(frame) == 0
    assert list(frame.columns) == list(AUDIT_COLUMNS)


def test_without_pandas_audit_frame_says_to_install_it(filled, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError) as info:
        filled.store.audit_frame()
    message = str(info.value)
    assert "pandas" in message
    assert "pip install" in message
    # audit() needs no pandas
    assert len(filled.store.audit()) == 5


def test_audit_is_a_list_of_dicts(filled) -> None:
    audit = filled.store.audit()
    assert isinstance(audit, list) and all(isinstance(a, dict) for a in audit)
    assert [a["id"] for a in audit] == [1, 2, 3, 4, 5]
    assert [a["action"] for a in audit] == ["link", "link", "update_crm", "update_partner_center", "update_crm"]
    update = audit[2]
    assert {c["field"] for c in update["changes"]} == {"deal_value", "notes", "solutions"}
    solutions = next(c for c in update["changes"] if c["field"] == "solutions")
    assert isinstance(solutions["after"], list) and "SOL-00001-ABC" in solutions["after"]
    notes = next(c for c in update["changes"] if c["field"] == "notes")
    assert notes["after"] == "Café — naïve “quotes”"
    assert isinstance(update["changes"][0]["before"], (int, float))
    assert audit[3]["outcome"] == "failed"
    assert audit[4]["dry_run"] is True
    # a fresh list each time
    audit[0]["action"] = "changed"
    assert filled.store.audit()[0]["action"] == "link"
