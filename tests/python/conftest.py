"""Shared fixtures of the cosell pytest suite.

* Realistic records of both sides, from the project's workload generator (``bench/workload.py``), run once per
  session into a temp dir: line ``i`` of each file describes the same deal.
* Engines on ``:memory:`` and on a file under ``tmp_path``, with a fixed clock.
* ``apply_plan``: a tiny host that applies a plan's writes to in-memory records the way Partner Center and the CRM
  would (and moves their versions), so a test can commit and re-plan and see an empty plan.
"""

from __future__ import annotations

import copy
import itertools
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import cosell

ROOT = Path(__file__).resolve().parents[2]
WORKLOAD = ROOT / "bench" / "workload.py"
FIXTURES = ROOT / "core" / "tests" / "fixtures"

CRMS = ("salesforce", "dynamics365")
"""The built-in profiles; fixtures parametrized over both use these ids."""

NOW = "2026-11-24T10:00:00Z"
"""The fixed time of every test engine."""

WORKLOAD_SIZE = 400

# The CRM field of the deal value in each built-in profile.
AMOUNT = {"salesforce": "Amount", "dynamics365": "estimatedvalue"}
NAME = {"salesforce": "Name", "dynamics365": "name"}


@dataclass
class Workload:
    """The records of one ``bench/workload.py`` run."""

    dir: Path
    manifest: dict[str, Any]
    referrals_v1: list[dict[str, Any]]
    referrals_v2: list[dict[str, Any]]
    crm_v1: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    crm_v2: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def lines(self, name: str) -> list[str]:
        """The raw JSON lines of ``name`` (``referrals_v1``, ``salesforce_v2``, ...), as text."""
        return (self.dir / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()

    def pairs(self, crm: str, version: int = 1) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Deep copies of the ``(referral, crm_record)`` pairs of one version."""
        refs = self.referrals_v1 if version == 1 else self.referrals_v2
        recs = (self.crm_v1 if version == 1 else self.crm_v2)[crm]
        return copy.deepcopy(list(zip(refs, recs)))

    def open_pairs(self, crm: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Deep copies of the v1 pairs whose referral is not closed (closed referrals refuse CRM edits)."""
        return [(r, c) for r, c in self.pairs(crm) if r["status"] != "Closed"]

    def open_index(self, n: int = 0) -> int:
        """The index of the ``n``-th deal that is open (Active/Accepted) and untouched in v2."""
        found = [
            i
            for i, r in enumerate(self.referrals_v1)
            if r["status"] == "Active"
            and r == self.referrals_v2[i]
            and self.crm_v1["salesforce"][i] == self.crm_v2["salesforce"][i]
        ]
        return found[n]


def _read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    """``bench/workload.py`` run once per session (``WORKLOAD_SIZE`` deals, the default seed)."""
    out = tmp_path_factory.mktemp("workload")
    subprocess.run(
        [sys.executable, str(WORKLOAD), str(WORKLOAD_SIZE), str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    load = Workload(
        dir=out,
        manifest=json.loads((out / "manifest.json").read_text(encoding="utf-8")),
        referrals_v1=_read(out / "referrals_v1.jsonl"),
        referrals_v2=_read(out / "referrals_v2.jsonl"),
    )
    for crm, prefix in (("salesforce", "salesforce"), ("dynamics365", "dynamics")):
        load.crm_v1[crm] = _read(out / f"{prefix}_v1.jsonl")
        load.crm_v2[crm] = _read(out / f"{prefix}_v2.jsonl")
    assert load.manifest["records"] == WORKLOAD_SIZE
    return load


@pytest.fixture(params=CRMS)
def crm(request: pytest.FixtureRequest) -> str:
    """Each built-in profile in turn."""
    return request.param


@pytest.fixture
def pair(workload: Workload, crm: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A fresh copy of an open, agreeing ``(referral, crm_record)`` pair of ``crm``."""
    i = workload.open_index()
    return copy.deepcopy(workload.referrals_v1[i]), copy.deepcopy(workload.crm_v1[crm][i])


@pytest.fixture
def referral(pair: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """The referral of ``pair``."""
    return pair[0]


@pytest.fixture
def crm_record(pair: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    """The CRM record of ``pair``."""
    return pair[1]


@pytest.fixture
def sf_pair(workload: Workload) -> tuple[dict[str, Any], dict[str, Any]]:
    """An open, agreeing Salesforce pair."""
    i = workload.open_index()
    return copy.deepcopy(workload.referrals_v1[i]), copy.deepcopy(workload.crm_v1["salesforce"][i])


@pytest.fixture
def dy_pair(workload: Workload) -> tuple[dict[str, Any], dict[str, Any]]:
    """An open, agreeing Dynamics 365 pair."""
    i = workload.open_index()
    return copy.deepcopy(workload.referrals_v1[i]), copy.deepcopy(workload.crm_v1["dynamics365"][i])


def make_engine(path: str | Path, mapping: cosell.Mapping | str, at: str | None = NOW) -> cosell.Engine:
    """An engine with a fixed clock (``at``)."""
    engine = cosell.Engine(path, mapping)
    if at is not None:
        engine.set_time(at)
    return engine


@pytest.fixture
def engine(crm: str):
    """An engine of ``crm`` on ``:memory:`` with the fixed clock ``NOW``."""
    with make_engine(":memory:", crm) as e:
        yield e


@pytest.fixture
def sf_engine():
    """A Salesforce engine on ``:memory:`` with the fixed clock ``NOW``."""
    with make_engine(":memory:", "salesforce") as e:
        yield e


@pytest.fixture
def dy_engine():
    """A Dynamics 365 engine on ``:memory:`` with the fixed clock ``NOW``."""
    with make_engine(":memory:", "dynamics365") as e:
        yield e


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    """A store file path under ``tmp_path`` (not created yet)."""
    return tmp_path / "state.db"


@pytest.fixture
def file_engine(store_path: Path, crm: str):
    """An engine of ``crm`` on a file store with the fixed clock ``NOW``."""
    with make_engine(store_path, crm) as e:
        yield e


# --- a tiny host ------------------------------------------------------------------------------------------------

_counter = itertools.count(1)


def bump_referral(r: dict[str, Any]) -> None:
    """Moves a referral's version, as Partner Center does on every write."""
    n = next(_counter)
    r["eTag"] = f'"bumped-{n:08d}"'
    r["updatedDateTime"] = f"2026-11-25T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}.0000000Z"


def bump_crm(crm: str, c: dict[str, Any]) -> None:
    """Moves a CRM record's version, as the CRM does on every write."""
    n = next(_counter)
    stamp = f"2026-11-25T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}"
    if crm == "salesforce":
        c["SystemModstamp"] = c["LastModifiedDate"] = stamp + ".000+0000"
    else:
        c["versionnumber"] = int(c.get("versionnumber") or 0) + 1_000_000 + n
        c["@odata.etag"] = f'W/"{c["versionnumber"]}"'
        c["modifiedon"] = stamp + "Z"


def referral_version(r: dict[str, Any]) -> dict[str, str]:
    """A referral's version as the engine reads it (its ``eTag`` and ``updatedDateTime``)."""
    return {"etag": r["eTag"], "modified": r["updatedDateTime"]}


def crm_version(crm: str, c: dict[str, Any]) -> dict[str, str]:
    """A CRM record's version as the engine reads it."""
    if crm == "salesforce":
        return {"modified": c["LastModifiedDate"], "stamp": c["SystemModstamp"]}
    return {"etag": c["@odata.etag"], "modified": c["modifiedon"], "stamp": str(c["versionnumber"])}


def _pointer(path: str) -> list[str]:
    return [s.replace("~1", "/").replace("~0", "~") for s in path.lstrip("/").split("/")]


def apply_json_patch(r: dict[str, Any], ops: list[dict[str, Any]]) -> None:
    """Applies Partner Center JSON Patch operations (``replace``/``add`` only) to a referral dict."""
    for op in ops:
        assert op["op"] in ("replace", "add"), f"Partner Center supports only replace/add, got {op['op']!r}"
        *parents, last = _pointer(op["path"])
        cur: Any = r
        for seg in parents:
            if isinstance(cur, list):
                cur = cur[int(seg)]
            else:
                if not isinstance(cur.get(seg), (dict, list)):
                    assert op["op"] == "add", f"replace of a missing path {op['path']}"
                    cur[seg] = {}
                cur = cur[seg]
        if isinstance(cur, list):
            if last == "-":
                cur.append(op["value"])
            elif int(last) < len(cur):
                cur[int(last)] = op["value"]
            else:
                cur.append(op["value"])
        else:
            if op["op"] == "replace":
                assert last in cur, f"replace of a missing path {op['path']}"
            cur[last] = op["value"]


def apply_crm_write(crm: str, c: dict[str, Any], write: dict[str, Any]) -> None:
    """Applies a plan's CRM write (fields, lookups bound and expanded, a state change) to a CRM record dict."""
    c.update(write.get("fields") or {})
    for lookup in write.get("lookups") or []:
        key = lookup["bind"] if crm == "dynamics365" else lookup["entity"]
        if not isinstance(c.get(key), dict):
            c[key] = {}
        c[key].update(lookup["match"])
    change = write.get("state_change")
    if change:
        c["statecode"] = change["statecode"]
        c["statuscode"] = change["statuscode"]


@dataclass
class Applied:
    """What the host did for a plan: the records as the services now return them, and ``commit`` kwargs."""

    referral: dict[str, Any] | None
    crm_record: dict[str, Any] | None
    commit_kwargs: dict[str, Any]

    @property
    def results(self) -> dict[str, Any]:
        """The same outcome in the core's JSON form (for ``commit(results=...)`` and ``commit_many``)."""
        out: dict[str, Any] = {}
        if "crm_version" in self.commit_kwargs:
            out["crm"] = {"outcome": "applied", "version": self.commit_kwargs["crm_version"]}
        if "partner_center_etag" in self.commit_kwargs:
            out["partner_center"] = {"outcome": "applied", "version": self.commit_kwargs["partner_center_etag"]}
        return out


def apply_plan(
    plan: cosell.Plan, referral: dict[str, Any] | None, crm_record: dict[str, Any] | None, crm: str | None = None
) -> Applied:
    """Acts as the host for an update plan: applies ``plan.crm_patch`` to (a copy of) the CRM record and
    ``plan.partner_center_patch`` to (a copy of) the referral, moves the versions of what was written and returns
    the new records with the ``commit`` keyword arguments (``crm_version`` / ``partner_center_etag``)."""
    crm = crm or plan.crm
    r = copy.deepcopy(referral)
    c = copy.deepcopy(crm_record)
    kwargs: dict[str, Any] = {}
    if plan.writes_crm:
        patch = plan.crm_patch
        assert patch is not None and c is not None, f"only updates are applied here: {plan}"
        apply_crm_write(crm, c, patch)
        bump_crm(crm, c)
        kwargs["crm_version"] = crm_version(crm, c)
    if plan.writes_partner_center:
        ops = plan.partner_center_patch
        assert ops is not None and r is not None, f"only updates are applied here: {plan}"
        apply_json_patch(r, ops)
        bump_referral(r)
        kwargs["partner_center_etag"] = referral_version(r)
    return Applied(r, c, kwargs)


def link(engine: cosell.Engine, referral: dict[str, Any], crm_record: dict[str, Any]) -> cosell.Plan:
    """Links an agreeing pair (first sync, nothing written) and returns the plan."""
    plan = engine.plan(referral, crm_record)
    assert plan.summary == "link", str(plan)
    assert not plan.writes_crm and not plan.writes_partner_center, str(plan)
    engine.commit(plan)
    return plan


def edit_referral_value(r: dict[str, Any], delta: int = 1000) -> dict[str, Any]:
    """A copy of ``r`` with its deal value changed in Partner Center (and its version moved)."""
    r = copy.deepcopy(r)
    r["details"]["dealValue"] += delta
    bump_referral(r)
    return r


def edit_crm_value(crm: str, c: dict[str, Any], delta: int = 2000) -> dict[str, Any]:
    """A copy of ``c`` with its deal value changed in the CRM (and its version moved)."""
    c = copy.deepcopy(c)
    c[AMOUNT[crm]] = float(c[AMOUNT[crm]] + delta)
    bump_crm(crm, c)
    return c


def check_exception(e: BaseException) -> None:
    """Nothing cosell raises may be pyo3's PanicException (a BaseException that escapes ``except Exception``)."""
    assert not isinstance(e, BaseException) or isinstance(e, Exception), f"{type(e).__mro__}: {e}"
    assert type(e).__name__ != "PanicException", repr(e)
