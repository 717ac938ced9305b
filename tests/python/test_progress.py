"""plan_many's progress: a callback with (done, total), a tqdm bar with progress=True, and a warning without tqdm."""

from __future__ import annotations

import sys
import warnings

import pytest


@pytest.fixture
def pairs(workload, crm):
    return workload.pairs(crm)[:250]


def test_callback_gets_done_and_total_after_each_chunk(engine, pairs) -> None:
    calls: list[tuple[int, int | None]] = []
    plans = engine.plan_many(pairs, chunk_size=100, progress=lambda done, total: calls.append((done, total)))
    assert len(plans) == 250
    assert calls == [(100, 250), (200, 250), (250, 250)]


def test_callback_total_is_none_for_a_generator(engine, pairs) -> None:
    calls: list[tuple[int, int | None]] = []
    plans = engine.plan_many((p for p in pairs), chunk_size=64, progress=lambda d, t: calls.append((d, t)))
    assert len(plans) == 250
    assert [d for d, _ in calls] == [64, 128, 192, 250]
    assert {t for _, t in calls} == {None}


def test_callback_done_increases_to_the_total(engine, pairs) -> None:
    calls: list[tuple[int, int | None]] = []
    engine.plan_many(pairs, progress=lambda d, t: calls.append((d, t)))  # the default chunk (500): one call
    assert calls == [(250, 250)]
    calls.clear()
    engine.plan_many(pairs, chunk_size=1, progress=lambda d, t: calls.append((d, t)))
    assert [d for d, _ in calls] == list(range(1, 251))
    assert all(t == 250 for _, t in calls)


def test_callback_is_not_called_for_no_pairs(engine) -> None:
    calls: list[tuple[int, int | None]] = []
    assert engine.plan_many([], progress=lambda d, t: calls.append((d, t))) == []
    assert calls == []


def test_callback_is_called_with_errors_returned(engine, pairs) -> None:
    bad = [(pairs[0][0], "not json")] + pairs[1:10]
    calls: list[tuple[int, int | None]] = []
    results = engine.plan_many(bad, chunk_size=4, on_error="return", progress=lambda d, t: calls.append((d, t)))
    assert len(results) == 10
    assert calls == [(4, 10), (8, 10), (10, 10)]


def test_an_exception_in_the_callback_stops_plan_many(engine, pairs) -> None:
    def stop(done: int, total: int | None) -> None:
        if done >= 100:
            raise KeyboardInterrupt  # even a BaseException comes through as itself

    with pytest.raises(KeyboardInterrupt):
        engine.plan_many(pairs, chunk_size=50, progress=stop)
    assert engine.plan(*pairs[0]).summary == "link"  # the engine is still usable


def test_progress_false_or_none_shows_nothing(engine, pairs, capsys) -> None:
    assert len(engine.plan_many(pairs, progress=False)) == 250
    assert len(engine.plan_many(pairs, progress=None)) == 250
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_a_bad_progress_is_a_type_error(engine, pairs) -> None:
    with pytest.raises(TypeError, match="progress"):
        engine.plan_many(pairs, progress=5)  # type: ignore[arg-type]


def test_progress_true_shows_a_tqdm_bar(engine, pairs, capsys) -> None:
    pytest.importorskip("tqdm")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "tqdm is missing" warning
        plans = engine.plan_many(pairs, chunk_size=100, progress=True)
    assert len(plans) == 250
    err = capsys.readouterr().err
    assert "250/250" in err
    assert "pair" in err  # the unit


def test_progress_true_with_a_generator_shows_a_count(engine, pairs, capsys) -> None:
    pytest.importorskip("tqdm")
    plans = engine.plan_many(iter(pairs), chunk_size=100, progress=True)
    assert len(plans) == 250
    err = capsys.readouterr().err
    assert "250" in err and "pair" in err


def test_progress_true_closes_the_bar_when_planning_fails(engine, pairs, capsys) -> None:
    tqdm = pytest.importorskip("tqdm")
    before = len(tqdm.tqdm._instances) if hasattr(tqdm.tqdm, "_instances") else 0

    def broken():
        yield pairs[0]
        raise RuntimeError("broken input")

    with pytest.raises(RuntimeError, match="broken input"):
        engine.plan_many(broken(), progress=True)
    after = len(tqdm.tqdm._instances) if hasattr(tqdm.tqdm, "_instances") else 0
    assert after == before


def test_without_tqdm_progress_true_warns_and_still_plans(engine, pairs, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.warns(UserWarning, match="tqdm") as record:
        plans = engine.plan_many(pairs, progress=True)
    assert len(plans) == 250
    assert "pip install tqdm" in str(record[0].message)
    assert record[0].filename == __file__  # the warning points at the caller
    assert capsys.readouterr().err == ""
