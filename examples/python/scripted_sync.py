"""A scripted sync run that fills a store with a realistic audit trail: the store the audit notebook analyses.

    .venv/bin/python examples/python/scripted_sync.py /tmp/cosell-scripted.db

Day 0 links ``pairs`` Salesforce opportunities to their Partner Center referrals (records from the project's
workload generator, ``bench/workload.py``). Then, over ``days`` simulated days, sellers and Partner Center edit the
deal value, close date, notes and status on either side (less at weekends; a won or lost deal is left alone), and
twice a day a sync round plans every pair, applies the plan's writes to the in-memory records the way the services
would (the CRM record takes ``crm_patch["fields"]``, the referral takes the JSON Patch of ``partner_center_patch``),
moves each record's version (``LastModifiedDate``/``SystemModstamp``, ``eTag``/``updatedDateTime``) and commits the
outcome. About 5% of CRM writes and 3% of Partner Center writes fail, and are retried by the next round. The
mapping puts ``deal_value`` on the ``review`` conflict policy, so when both sides change a deal's value the conflict
is queued; on weekday evenings a person works through the conflicts queued before that day, resolving most of them
(one side, or a value in between), dismissing a few and leaving some for later.

Everything is deterministic for a given seed, and stamped with the simulated clock (``Engine.set_time``).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import cosell

Json = dict[str, Any]

START = dt.datetime(2026, 11, 2, tzinfo=dt.timezone.utc)
"""Day 0, the day the pairs are linked; the edits run on the ``days`` days after it."""
ROUNDS = (dt.timedelta(hours=9, minutes=15), dt.timedelta(hours=15, minutes=45))
"""The sync rounds of a day (time of day of the first pair; each further pair is planned 20 s later)."""
REVIEW_TIME = dt.timedelta(hours=17, minutes=30)
"""When the day's open conflicts are looked at."""

Failures = tuple[tuple[tuple[str, str], float], ...]
"""Possible write errors, ((kind, message), weight)."""
CRM_FAILURES: Failures = (
    (("throttled", "429 Too Many Requests: REQUEST_LIMIT_EXCEEDED"), 0.7),
    (("unavailable", "503 Service Unavailable"), 0.3),
)
PC_FAILURES: Failures = (
    (("throttled", "429 Too Many Requests"), 0.5),
    (("server_error", "500 Internal Server Error"), 0.5),
)
CRM_FAILURE_RATE = 0.05
PC_FAILURE_RATE = 0.03

EDITABLE = ("deal_value", "close_date", "notes", "status")
EDIT_WEIGHTS = (0.35, 0.25, 0.3, 0.1)
EDIT_RATE = 0.12
"""The chance that one side edits one pair between two rounds."""
NEGOTIATION_RATE = 0.008
"""The chance that both sides change a pair's deal value between two rounds (a conflict for review)."""

NOTE_WORDS = (
    "customer call",
    "architecture review",
    "pricing discussion",
    "proof of concept scheduled",
    "security questionnaire sent",
    "procurement engaged",
    "Microsoft seller joined",
    "budget confirmed",
    "timeline slipped",
    "workshop booked",
)


def mapping() -> cosell.Mapping:
    """The mapping of the run: the built-in Salesforce profile, with conflicts on ``deal_value`` queued for review."""
    return cosell.Mapping.builtin("salesforce").override({"deal_value": {"conflict": "review"}})


# ---------------------------------------------------------------------------------------------------------------
# The records


def workload(pairs: int, seed: int) -> list[tuple[Json, Json]]:
    """``pairs`` (referral, opportunity) pairs in agreement, from ``bench/workload.py``."""
    script = Path(__file__).resolve().parents[2] / "bench" / "workload.py"
    with tempfile.TemporaryDirectory(prefix="cosell-workload-") as out:
        subprocess.run(
            [sys.executable, str(script), str(pairs), out, "--seed", str(seed)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        referrals = _read_jsonl(Path(out) / "referrals_v1.jsonl")
        opportunities = _read_jsonl(Path(out) / "salesforce_v1.jsonl")
    if len(referrals) != pairs or len(opportunities) != pairs:
        raise RuntimeError(f"{script}: expected {pairs} records per file")
    return list(zip(referrals, opportunities))


def _read_jsonl(path: Path) -> list[Json]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer {path!r}: must start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _child(node: Any, token: str) -> Any:
    if isinstance(node, list):
        return node[int(token)]
    if isinstance(node, dict):
        return node[token]
    raise KeyError(token)


def apply_json_patch(document: Json, ops: list[Json]) -> None:
    """Applies RFC 6902 ``add``, ``replace``, ``remove`` and ``test`` operations to ``document`` in place, as the
    Partner Center referral PATCH does."""
    for op in ops:
        kind = op["op"]
        tokens = _pointer(op["path"])
        if not tokens:
            raise ValueError(f"{kind} on the whole document is not supported")
        parent: Any = document
        for token in tokens[:-1]:
            parent = _child(parent, token)
        last = tokens[-1]
        if kind == "test":
            if _child(parent, last) != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif kind in ("add", "replace"):
            value = copy.deepcopy(op["value"])
            if isinstance(parent, list):
                if last == "-":
                    parent.append(value)
                elif kind == "add":
                    parent.insert(int(last), value)
                else:
                    parent[int(last)] = value
            elif isinstance(parent, dict):
                if kind == "replace" and last not in parent:
                    raise KeyError(f"replace: no value at {op['path']}")
                parent[last] = value
            else:
                raise KeyError(op["path"])
        elif kind == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                del parent[last]
        else:
            raise ValueError(f"unsupported JSON Patch op {kind!r}")


# ---------------------------------------------------------------------------------------------------------------
# The two services, as the host sees them


def _sf_time(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _pc_time(at: dt.datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


class Pair:
    """One linked deal: the referral in Partner Center and the opportunity in Salesforce."""

    def __init__(self, referral: Json, opportunity: Json) -> None:
        self.referral = referral
        self.opportunity = opportunity

    def touch_referral(self, rng: random.Random, at: dt.datetime) -> str:
        """Moves the referral's version, as Partner Center does on every change; returns the new eTag."""
        etag = f'"{rng.getrandbits(64):016x}"'
        self.referral["eTag"] = etag
        self.referral["updatedDateTime"] = _pc_time(at)
        return etag

    def touch_opportunity(self, at: dt.datetime) -> str:
        """Moves the opportunity's version, as Salesforce does on every change; returns the LastModifiedDate."""
        stamp = _sf_time(at)
        self.opportunity["LastModifiedDate"] = stamp
        self.opportunity["SystemModstamp"] = stamp
        return stamp

    @property
    def closed(self) -> bool:
        return self.referral["status"] == "Closed" or str(self.opportunity["StageName"]).startswith("Closed")


def _moved_date(rng: random.Random, day: str) -> str:
    date = dt.date.fromisoformat(day[:10]) + dt.timedelta(days=rng.choice((-14, 7, 14, 30, 45, 90)))
    return date.isoformat()


def _new_value(rng: random.Random, value: float) -> int:
    return max(500, round(value * rng.uniform(0.7, 1.4) / 500) * 500)


def _note(rng: random.Random, at: dt.datetime) -> str:
    return f"{at:%b %d}: {rng.choice(NOTE_WORDS)}"


def edit_partner_center(rng: random.Random, pair: Pair, field: str, at: dt.datetime) -> None:
    """A change made in Partner Center (by the partner or by Microsoft)."""
    details = pair.referral["details"]
    if field == "deal_value":
        details["dealValue"] = _new_value(rng, details["dealValue"])
    elif field == "close_date":
        details["closingDateTime"] = _moved_date(rng, details["closingDateTime"]) + "T00:00:00Z"
    elif field == "notes":
        details["notes"] = f"{details['notes']}\n{_note(rng, at)}"
    elif pair.referral["status"] == "New":
        pair.referral["status"], pair.referral["substatus"] = "Active", "Accepted"  # Microsoft accepted
    else:
        pair.referral["status"], pair.referral["substatus"] = "Closed", rng.choice(("Won", "Won", "Lost"))
    pair.touch_referral(rng, at)


def edit_crm(rng: random.Random, pair: Pair, field: str, at: dt.datetime) -> None:
    """A change made by a seller in Salesforce."""
    opp = pair.opportunity
    if field == "deal_value":
        opp["Amount"] = float(_new_value(rng, opp["Amount"]))
    elif field == "close_date":
        opp["CloseDate"] = _moved_date(rng, opp["CloseDate"])
    elif field == "notes":
        opp["Description"] = f"{opp['Description']}\n{_note(rng, at)}"
    elif opp["StageName"] == "Prospecting":
        opp["StageName"] = "Qualification"
    else:
        opp["StageName"] = rng.choice(("Closed Won", "Closed Won", "Closed Lost"))
    pair.touch_opportunity(at)


# ---------------------------------------------------------------------------------------------------------------
# The run


def _failure(rng: random.Random, rate: float, kinds: Failures) -> tuple[str, str] | None:
    """A failed write's (kind, message) with probability ``rate``, else ``None``."""
    if rng.random() >= rate:
        return None
    return rng.choices([error for error, _ in kinds], weights=[weight for _, weight in kinds])[0]


def sync_pair(engine: cosell.Engine, rng: random.Random, pair: Pair, at: dt.datetime) -> None:
    """Plans one pair at ``at``, applies the plan's writes to the records (or fails them) and commits the outcome."""
    engine.set_time(at)
    plan = engine.plan(pair.referral, pair.opportunity)
    if plan.is_empty:
        return
    crm_version: str | None = None
    crm_error: tuple[str, str] | None = None
    pc_etag: str | None = None
    pc_error: tuple[str, str] | None = None
    written_at = at + dt.timedelta(seconds=5)
    if plan.writes_crm:
        crm_error = _failure(rng, CRM_FAILURE_RATE, CRM_FAILURES)
        if crm_error is None:
            # The host PATCHes the opportunity with these fields; Salesforce moves its LastModifiedDate.
            patch = plan.crm_patch
            assert patch is not None
            pair.opportunity.update(copy.deepcopy(patch["fields"]))
            crm_version = pair.touch_opportunity(written_at)
    if plan.writes_partner_center:
        pc_error = _failure(rng, PC_FAILURE_RATE, PC_FAILURES)
        if pc_error is None:
            # The host PATCHes the referral with this JSON Patch (If-Match: its eTag); Partner Center moves the eTag.
            ops = plan.partner_center_patch
            assert ops is not None
            apply_json_patch(pair.referral, ops)
            pc_etag = pair.touch_referral(rng, written_at)
    engine.commit(
        plan,
        crm_version=crm_version,
        crm_error=crm_error,
        partner_center_etag=pc_etag,
        partner_center_error=pc_error,
        cause="scheduled sync",
    )


def review_conflicts(engine: cosell.Engine, rng: random.Random, at: dt.datetime) -> None:
    """A person works through the review queue at ``at``: conflicts queued before today are resolved (taking one
    side, or a value in between), a few dismissed, some left open; today's wait for tomorrow."""
    today = at.strftime("%Y-%m-%d")
    for review in engine.store.reviews("open"):
        if review["created_at"] >= today:
            continue
        at += dt.timedelta(minutes=3)
        engine.set_time(at)
        u = rng.random()
        if u < 0.3:
            engine.resolve_review(review["id"], "crm", note="the seller's amount is the latest quote")
        elif u < 0.55:
            engine.resolve_review(review["id"], "partner_center", note="Microsoft's figure is the agreed one")
        elif u < 0.75:
            low, high = sorted((float(review["partner_center"]), float(review["crm"])))
            value = round((low + high) / 2 / 500) * 500
            engine.resolve_review(review["id"], {"value": value}, note="split the difference")
        elif u < 0.85:
            engine.dismiss_review(review["id"], note="both figures stay as they are")
        # else: left open for another day


def _is_weekend(day: dt.datetime) -> bool:
    return day.weekday() >= 5


def build_store(db_path: str, pairs: int = 60, days: int = 14, seed: int = 7) -> None:
    """Builds a store at ``db_path`` (which must not exist yet) from a scripted sync of ``pairs`` Salesforce pairs
    over ``days`` simulated days, deterministically from ``seed``."""
    if os.path.exists(db_path):
        raise FileExistsError(f"{db_path}: already exists; the scripted run needs a new store")
    rng = random.Random(seed)
    world = [Pair(referral, opportunity) for referral, opportunity in workload(pairs, seed)]
    with cosell.Engine(db_path, mapping()) as engine:
        # Day 0: the first sync links every pair (both sides agree, nothing is written).
        with engine.transaction():
            for i, pair in enumerate(world):
                sync_pair(engine, rng, pair, START + ROUNDS[0] + dt.timedelta(seconds=20 * i))

        for day in range(1, days + 1):
            midnight = START + dt.timedelta(days=day)
            edit_rate = EDIT_RATE * (0.25 if _is_weekend(midnight) else 1.0)
            previous = midnight + dt.timedelta(hours=7)
            for start in ROUNDS:
                round_at = midnight + start
                # The edits made since the last round, at random times in between.
                span = int((round_at - previous).total_seconds()) - 60
                for pair in world:
                    if pair.closed:
                        continue  # won or lost: nobody edits it any more
                    negotiating = rng.random() < NEGOTIATION_RATE
                    for side in ("partner_center", "crm"):
                        if negotiating:
                            field = "deal_value"
                        elif rng.random() < edit_rate:
                            field = rng.choices(EDITABLE, weights=EDIT_WEIGHTS)[0]
                        else:
                            continue
                        edit_at = previous + dt.timedelta(seconds=rng.randrange(span))
                        if side == "partner_center":
                            edit_partner_center(rng, pair, field, edit_at)
                        else:
                            edit_crm(rng, pair, field, edit_at)
                # The sync round: every pair, one commit each, in one transaction.
                with engine.transaction():
                    for i, pair in enumerate(world):
                        sync_pair(engine, rng, pair, round_at + dt.timedelta(seconds=20 * i))
                previous = round_at + dt.timedelta(seconds=20 * len(world) + 60)
            if not _is_weekend(midnight):
                review_conflicts(engine, rng, midnight + REVIEW_TIME)
        engine.set_time(None)


def main(db_path: str) -> None:
    """Builds the store at ``db_path`` with the defaults and prints what it holds."""
    build_store(db_path)
    with cosell.Engine(db_path, mapping()) as engine:
        store = engine.store
        entries = store.audit()
        actions: dict[str, int] = {}
        changes = 0
        for entry in entries:
            actions[entry["action"]] = actions.get(entry["action"], 0) + 1
            changes += len(entry["changes"] or [])
        reviews: dict[str, int] = {}
        for review in store.reviews():
            reviews[review["status"]] = reviews.get(review["status"], 0) + 1
        print(f"{db_path}: {len(entries)} audit entries, {changes} field changes")
        print("  decisions:", ", ".join(f"{k} {v}" for k, v in sorted(actions.items())))
        print("  reviews:  ", ", ".join(f"{k} {v}" for k, v in sorted(reviews.items())) or "none")
        print("  links:    ", ", ".join(f"{k} {v}" for k, v in sorted(store.link_counts().items())))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} STORE.db")
    try:
        main(sys.argv[1])
    except FileExistsError as e:
        sys.exit(str(e))
