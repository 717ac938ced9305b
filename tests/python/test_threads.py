"""Threads: one Engine shared by many threads, the GIL released while planning, two engines on one file."""

from __future__ import annotations

import collections
import sys
import threading
from pathlib import Path
from typing import Any

from conftest import apply_plan, edit_crm_value, edit_referral_value, make_engine

import cosell

JOIN_TIMEOUT = 120  # seconds: only reached on a deadlock


def _run(threads: list[threading.Thread]) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    alive = [t.name for t in threads if t.is_alive()]
    assert not alive, f"deadlock: {alive} still running"


def test_one_engine_shared_by_eight_threads(store_path: Path, workload, crm) -> None:
    n_threads, per_thread = 8, 12
    pairs = workload.open_pairs(crm)[: n_threads * per_thread]
    assert len(pairs) == n_threads * per_thread
    engine = make_engine(store_path, crm)
    errors: list[BaseException] = []
    final: dict[int, list[tuple[Any, Any]]] = {}
    start = threading.Barrier(n_threads)

    def work(k: int) -> None:
        try:
            mine = pairs[k * per_thread : (k + 1) * per_thread]
            start.wait(JOIN_TIMEOUT)
            # link half one by one, half as a batch
            half = per_thread // 2
            for r, c in mine[:half]:
                engine.commit(engine.plan(r, c))
            plans = engine.plan_many(mine[half:], chunk_size=2)
            assert [p.summary for p in plans] == ["link"] * (per_thread - half)
            engine.commit_many([(p, None) for p in plans])
            # every pair changes, alternately on one side or the other
            now = []
            for i, (r, c) in enumerate(mine):
                if i % 2:
                    r, c = edit_referral_value(r, 100 + k), c
                else:
                    r, c = r, edit_crm_value(crm, c, 200 + k)
                plan = engine.plan(r, c)
                assert plan.summary == ("update_crm" if i % 2 else "update_partner_center"), str(plan)
                applied = apply_plan(plan, r, c)
                engine.commit(plan, **applied.commit_kwargs)
                now.append((applied.referral, applied.crm_record))
            again = engine.plan_many(now)
            assert all(p.is_empty for p in again), [str(p) for p in again if not p.is_empty]
            final[k] = now
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    try:
        _run([threading.Thread(target=work, args=(k,), name=f"worker-{k}") for k in range(n_threads)])
        assert not errors, errors
        assert engine.store.link_counts()["synced"] == n_threads * per_thread
        # 2 audit rows per pair: link, update
        counts = collections.Counter(a["action"] for a in engine.store.audit())
        assert counts == {
            "link": n_threads * per_thread,
            "update_crm": n_threads * per_thread // 2,
            "update_partner_center": n_threads * per_thread // 2,
        }
        # each thread's records are what the store holds
        for k, now in final.items():
            for r, c in now:
                stored = engine.store.link_by_referral(r["id"])
                assert stored["base"]["deal_value"] == r["details"]["dealValue"]
    finally:
        engine.close()


def test_threads_planning_the_same_pair_commit_once(store_path: Path, referral, crm_record, crm) -> None:
    """Eight threads race to link the same pair: exactly one commit wins, the others get StalePlanError."""
    engine = make_engine(store_path, crm)
    outcomes: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def race() -> None:
        plan = engine.plan(referral, crm_record)
        start.wait(JOIN_TIMEOUT)
        try:
            engine.commit(plan)
            result = "committed"
        except cosell.StalePlanError:
            result = "stale"
        except BaseException as e:  # noqa: BLE001
            result = repr(e)
        with lock:
            outcomes.append(result)

    try:
        _run([threading.Thread(target=race) for _ in range(8)])
        assert sorted(outcomes) == ["committed"] + ["stale"] * 7, outcomes
        assert engine.store.link_counts()["synced"] == 1
        assert len(engine.store.audit()) == 1
    finally:
        engine.close()


def test_the_gil_is_released_during_plan_many(workload) -> None:
    """While one thread runs a large plan_many, a pure-Python thread keeps counting.

    The switch interval is raised to 1 s so that the interpreter does not force the main thread to hand the GIL
    over during the call: if plan_many held the GIL for the whole call (no Python code runs in the main thread
    while it plans a list of str pairs), the counter could not move at all between the two reads. The counting
    thread gives the GIL up by itself (time.sleep(0)) after every 1,000 increments, so the main thread never waits
    for the switch interval."""
    import time

    lines = list(zip(workload.lines("referrals_v1"), workload.lines("salesforce_v1")))
    big = (lines * (20_000 // len(lines) + 1))[:20_000]
    counter = [0]
    stop = threading.Event()
    started = threading.Event()

    def count() -> None:
        started.set()
        while not stop.is_set():
            for _ in range(1000):
                counter[0] += 1
            time.sleep(0)  # a voluntary GIL release, not a wait

    old = sys.getswitchinterval()
    engine = make_engine(":memory:", "salesforce")
    counter_thread = threading.Thread(target=count, name="counter")
    try:
        sys.setswitchinterval(1.0)
        counter_thread.start()
        assert started.wait(JOIN_TIMEOUT)
        before = counter[0]
        plans = engine.plan_many(big)
        during = counter[0] - before
    finally:
        stop.set()
        sys.setswitchinterval(old)
        counter_thread.join(JOIN_TIMEOUT)
        engine.close()
    assert not counter_thread.is_alive()
    assert len(plans) == 20_000
    assert during >= 1000, f"the counter moved by {during} during plan_many: the GIL was held"


def test_two_engines_on_one_file_in_two_threads(store_path: Path, workload, crm) -> None:
    pairs = workload.pairs(crm)[:80]
    # create the store first so that both threads open an existing file
    make_engine(store_path, crm).close()
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def work(k: int) -> None:
        try:
            with make_engine(store_path, crm) as engine:
                mine = pairs[k::2]
                start.wait(JOIN_TIMEOUT)
                for i in range(0, len(mine), 5):
                    batch = mine[i : i + 5]
                    with engine.transaction():
                        for r, c in batch:
                            engine.commit(engine.plan(r, c))
                # this engine sees the other's links too (eventually, and certainly its own)
                for r, c in mine:
                    assert engine.plan(r, c).is_empty
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    _run([threading.Thread(target=work, args=(k,)) for k in range(2)])
    assert not errors, errors
    with make_engine(store_path, crm) as engine:
        assert engine.store.link_counts()["synced"] == 80
        assert len(engine.store.audit()) == 80
        for r, c in pairs:
            assert engine.plan(r, c).is_empty
