#!/usr/bin/env python3
"""The standard workload (bench/workload.py) through the Python package, as core/benches/workload.rs runs it in Rust.

    python bench/python/workload_bench.py DIR [--rust RESULTS.jsonl] [--runs 3]

For each CRM: link the v1 pairs into a new store file (plan_many and commit_many 500 pairs at a time, 20,000 per
transaction), then plan the v2 pairs. Prints one JSON line per measurement (median of ``--runs`` runs, with the
slowest and fastest):

* ``py_link``: first sync of the v1 pairs, committed; reading the JSON lines included.
* ``py_plan_text`` / ``py_plan_bytes``: ``Engine.plan_many`` over the v2 JSON lines as ``str`` / ``bytes``, 500 per
  call. ``per_s`` is the time inside ``plan_many``; ``per_s_with_input`` adds reading the lines, as the Rust
  ``plan`` line's ``per_s_with_input`` does.
* ``py_plan_dicts``: the same with each record given as a dict (``json.loads`` done before, outside the timing;
  the dict's conversion to JSON inside ``plan_many`` is timed).
* ``py_plan_per_call``: ``Engine.plan`` called once per pair (first 20,000 pairs, ``str``), and ``overhead_us``:
  how much longer one call takes than one pair of ``plan_many``.
* ``py_peak_rss``: the process's peak resident memory, in MB.
* ``py_overhead``: with ``--rust``, the Rust ``plan`` figure of the same ``make bench`` run divided by
  ``py_plan_text`` (both with reading the input; target at most 1.5), and the same for ``py_plan_bytes``.

The plan counts are checked against manifest.json; any difference fails the run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cosell

CHUNK = 500
LINK_BATCH = 20_000
PER_CALL_MAX = 20_000
CRMS = (("salesforce", "salesforce"), ("dynamics", "dynamics365"))


def chunks(directory: Path, version: str, crm: str, binary: bool) -> Iterator[list[tuple[Any, Any]]]:
    """The pairs of one version, CHUNK at a time, as str or bytes lines (newline stripped)."""
    mode = "rb" if binary else "r"
    enc = None if binary else "utf-8"
    with open(directory / f"referrals_{version}.jsonl", mode, encoding=enc) as refs, open(
        directory / f"{crm}_{version}.jsonl", mode, encoding=enc
    ) as recs:
        chunk: list[tuple[Any, Any]] = []
        for r, c in zip(refs, recs):
            chunk.append((r.rstrip(), c.rstrip()))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk


def link(directory: Path, crm: str, mapping: cosell.Mapping, store: Path) -> tuple[int, float]:
    """Links the v1 pairs into a new store; returns (pairs, seconds), closing the store included."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    start = time.perf_counter()
    linked = 0
    engine = cosell.Engine(store, mapping)
    source = chunks(directory, "v1", crm, binary=False)
    done = False
    while not done:
        with engine.transaction():
            in_tx = 0
            while in_tx < LINK_BATCH:
                chunk = next(source, None)
                if chunk is None:
                    done = True
                    break
                plans = engine.plan_many(chunk)
                for p in plans:
                    if p.summary != "link":
                        raise SystemExit(f"{crm}: a v1 pair plans {p.summary}, not link:\n{p}")
                engine.commit_many([(p, None) for p in plans])
                in_tx += len(plans)
            linked += in_tx
    engine.close()
    return linked, time.perf_counter() - start


def plan_all(
    directory: Path, crm: str, mapping: cosell.Mapping, store: Path, form: str
) -> tuple[int, float, float, Counter[str]]:
    """Plans the v2 pairs; returns (pairs, seconds in plan_many, seconds with reading, summary counts)."""
    engine = cosell.Engine(store, mapping)
    counts: Counter[str] = Counter()
    inside = 0.0
    start = time.perf_counter()
    for chunk in chunks(directory, "v2", crm, binary=form == "bytes"):
        pairs: list[tuple[Any, Any]] = chunk
        if form == "dicts":
            pairs = [(json.loads(r), json.loads(c)) for r, c in chunk]
        t = time.perf_counter()
        plans = engine.plan_many(pairs)
        inside += time.perf_counter() - t
        counts.update(p.summary for p in plans)
    total = time.perf_counter() - start
    engine.close()
    return sum(counts.values()), inside, total, counts


def per_call(directory: Path, crm: str, mapping: cosell.Mapping, store: Path) -> tuple[int, float]:
    """Engine.plan once per pair on the first PER_CALL_MAX v2 pairs; returns (pairs, seconds inside the calls)."""
    engine = cosell.Engine(store, mapping)
    n = 0
    inside = 0.0
    for chunk in chunks(directory, "v2", crm, binary=False):
        t = time.perf_counter()
        for r, c in chunk:
            engine.plan(r, c)
        inside += time.perf_counter() - t
        n += len(chunk)
        if n >= PER_CALL_MAX:
            break
    engine.close()
    return n, inside


def median_run(runs: int, f: Callable[[], tuple[float, ...]]) -> tuple[tuple[float, ...], list[float]]:
    """Runs f `runs` times; returns the run with the median first element, and all first elements."""
    results = sorted((f() for _ in range(runs)), key=lambda r: r[0])
    return results[len(results) // 2], [r[0] for r in results]


def emit(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("--rust", type=Path, help="the JSON lines of the Rust benchmark of the same run")
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "3")))
    args = parser.parse_args()
    manifest = json.loads((args.dir / "manifest.json").read_text())
    expected = {
        "update_crm": manifest["pc_only"],
        "update_partner_center": manifest["crm_only"],
        "conflict": manifest["conflict"],
        "converged": manifest["both_same"],
        "nothing": manifest["unchanged"],
    }
    rust: dict[str, float] = {}
    if args.rust is not None:
        for line in args.rust.read_text().splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                if row.get("bench") == "plan":
                    rust[row["crm"]] = row["per_s_with_input"]
    ok = True
    with tempfile.TemporaryDirectory(prefix="cosell-pybench-") as tmp:
        for crm, profile in CRMS:
            mapping = cosell.Mapping.builtin(profile)
            store = Path(tmp) / f"{crm}.db"

            (n_secs, n_linked), link_times = median_run(
                args.runs, lambda: tuple(reversed(link(args.dir, crm, mapping, store)))
            )
            emit(
                {
                    "bench": "py_link",
                    "crm": crm,
                    "records": int(n_linked),
                    "seconds": round(n_secs, 3),
                    "per_s": round(n_linked / n_secs),
                    "runs": args.runs,
                    "per_s_min": round(n_linked / link_times[-1]),
                    "per_s_max": round(n_linked / link_times[0]),
                    "batch": LINK_BATCH,
                }
            )
            figures: dict[str, float] = {}
            for form in ("text", "bytes", "dicts"):
                counts_seen: list[Counter[str]] = []

                def run(form: str = form, seen: list[Counter[str]] = counts_seen) -> tuple[float, ...]:
                    n, inside, total, counts = plan_all(args.dir, crm, mapping, store, form)
                    seen.append(counts)
                    return inside, total, float(n)

                (inside, total, n), times = median_run(args.runs, run)
                if dict(counts_seen[-1]) != expected:
                    print(f"{crm} {form}: plan counts {dict(counts_seen[-1])} differ from {expected}", file=sys.stderr)
                    ok = False
                figures[form] = n / total
                emit(
                    {
                        "bench": f"py_plan_{form}",
                        "crm": crm,
                        "records": int(n),
                        "seconds": round(inside, 3),
                        "per_s": round(n / inside),
                        "seconds_with_input": round(total, 3),
                        "per_s_with_input": round(n / total),
                        "runs": args.runs,
                        "per_s_min": round(n / times[-1]),
                        "per_s_max": round(n / times[0]),
                        "counts": dict(counts_seen[-1]),
                    }
                )
                if form == "text":
                    many_us = inside / n * 1e6
            (calls_secs, calls), _ = median_run(
                args.runs, lambda: tuple(reversed(per_call(args.dir, crm, mapping, store)))
            )
            call_us = calls_secs / calls * 1e6
            emit(
                {
                    "bench": "py_plan_per_call",
                    "crm": crm,
                    "records": int(calls),
                    "seconds": round(calls_secs, 3),
                    "per_s": round(calls / calls_secs),
                    "us_per_call": round(call_us, 2),
                    "overhead_us": round(call_us - many_us, 2),
                }
            )
            if crm in rust:
                for form in ("text", "bytes"):
                    emit(
                        {
                            "bench": "py_overhead",
                            "crm": crm,
                            "input": form,
                            "rust_per_s": rust[crm],
                            "py_per_s": round(figures[form]),
                            "ratio": round(rust[crm] / figures[form], 3),
                        }
                    )
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    emit({"bench": "py_peak_rss", "mb": round(peak_kb / 1024, 1)})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
