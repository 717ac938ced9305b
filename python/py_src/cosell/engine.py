"""The engine and its store: plan pairs against their stored bases, commit what was applied, read the audit."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from collections.abc import Mapping as AbcMapping
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Union, cast, overload

from . import _native
from ._native import Mapping, Plan
from .errors import CosellError

if TYPE_CHECKING:
    import pandas

__all__ = ["AUDIT_COLUMNS", "CommitReport", "Engine", "Store"]

Record = Union[AbcMapping[str, Any], str, bytes, None]
"""A referral or CRM record: a dict as the service returns it, its JSON text (``str`` or ``bytes``), or ``None``
when the record does not exist (not created yet, or deleted)."""

VersionLike = Union[str, AbcMapping[str, str]]
"""A record's version after a write: a dict with ``etag``, ``modified`` and/or ``stamp``, or a string (see
``Engine.commit``)."""

Progress = Union[bool, Callable[[int, Union[int, None]], object], None]
"""``True`` for a tqdm bar (when tqdm is installed), or a callable ``progress(done, total)``."""

TimeLike = Union[str, _dt.datetime, _dt.date]
"""An RFC 3339 time (``"2026-11-01T00:00:00Z"``), a date (``"2026-11-01"``, midnight UTC), or a ``datetime``
(naive ones are taken as UTC)."""

AUDIT_COLUMNS = (
    "audit_id",
    "at",
    "link_id",
    "referral_id",
    "crm_entity",
    "crm_id",
    "direction",
    "action",
    "outcome",
    "reason",
    "field",
    "before",
    "after",
    "error_kind",
    "error_message",
    "cause",
    "dry_run",
    "plan_id",
)
"""The columns of ``Store.audit_frame()``: those of the store's ``audit_log`` SQL view, in its order."""


class CommitReport(TypedDict):
    """What a commit recorded."""

    link_id: int | None
    """The link, when one exists after the commit."""
    status: str | None
    """Its status: ``synced``, ``pending``, ``error``, ``conflict`` or ``orphaned``."""
    summary: str
    """The plan's summary."""
    audit_rows: int
    """How many audit rows were written."""


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _json_text(value: Any) -> str:
    """JSON text as the store writes it (and the ``audit_log`` view shows it): compact, UTF-8 as is."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _time(value: TimeLike | None, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.timezone.utc)
        return value.astimezone(_dt.timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, _dt.date):
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, str):
        return f"{value}T00:00:00Z" if _DATE.match(value) else value
    raise TypeError(f"{name}: expected an RFC 3339 string, a date or a datetime, got {type(value).__name__}")


def _version(value: VersionLike, crm: str, name: str) -> dict[str, str]:
    if isinstance(value, AbcMapping):
        unknown = set(value) - {"etag", "modified", "stamp"}
        if unknown:
            raise ValueError(f"{name}: unknown keys {sorted(unknown)}; expected etag, modified and/or stamp")
        return dict(value)
    if isinstance(value, str):
        # Dynamics 365 and Partner Center guard writes with ETags; Salesforce with the LastModifiedDate.
        return {"modified": value} if crm == "salesforce" and name == "crm_version" else {"etag": value}
    raise TypeError(f"{name}: expected a str or a dict, got {type(value).__name__}")


def _side(
    *,
    crm: str,
    side: str,
    record_id: str | None,
    version: VersionLike | None,
    error: tuple[str, str] | None,
) -> dict[str, Any] | None:
    if error is not None:
        if record_id is not None or version is not None:
            raise ValueError(f"{side}: give either an error or the applied write's id/version, not both")
        kind, message = error
        return {"outcome": "failed", "kind": kind, "message": message}
    if record_id is None and version is None:
        return None
    outcome: dict[str, Any] = {"outcome": "applied"}
    if record_id is not None:
        outcome["id"] = record_id
    if version is not None:
        outcome["version"] = _version(version, crm, f"{side}_version" if side == "crm" else "partner_center_etag")
    return outcome


def _progress_callback(progress: Progress) -> tuple[Callable[[int, int | None], object] | None, Any]:
    """The callback for ``progress``, and a bar to close afterwards (or None)."""
    if progress is None or progress is False:
        return None, None
    if progress is True:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            warnings.warn("progress=True needs tqdm (pip install tqdm); no progress is shown", stacklevel=3)
            return None, None
        bar = tqdm(unit="pair")
        shown = 0

        def update(done: int, total: int | None) -> None:
            nonlocal shown
            if total is not None and bar.total != total:
                bar.total = total
            bar.update(done - shown)
            shown = done

        return update, bar
    if callable(progress):
        return progress, None
    raise TypeError(f"progress: expected True, False, None or a callable, got {type(progress).__name__}")


class Engine:
    """A mapping and a state store (a SQLite file, or ``":memory:"``): plans pairs against their stored bases and
    commits what the host applied.

    An ``Engine`` may be shared between threads: calls are serialized on the store's connection and release the
    GIL while they work. Use it as a context manager, or call ``close()``.
    """

    def __init__(self, path: str | os.PathLike[str], mapping: Mapping | str) -> None:
        """Opens (or creates) the store at ``path`` with ``mapping`` (a ``Mapping`` or a built-in profile name)."""
        if isinstance(mapping, str):
            mapping = Mapping.builtin(mapping)
        self._native = _native.Engine(os.fspath(path), mapping)
        self._store = Store(self._native)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"cosell.Engine({self.path!r}, crm={self.crm!r})"

    def close(self) -> None:
        """Closes the store (an open transaction is rolled back). Closing twice is harmless."""
        self._native.close()

    def set_time(self, at: TimeLike | None) -> None:
        """Stamps plans and audit rows with ``at`` from now on (``None``: the system clock again). For simulations,
        replays and tests; a live sync leaves the clock alone."""
        self._native.set_time(_time(at, "at"))

    @property
    def closed(self) -> bool:
        """True once closed."""
        return self._native.closed

    @property
    def path(self) -> str:
        """The store's path."""
        return self._native.path

    @property
    def crm(self) -> str:
        """The CRM the mapping serves: ``"salesforce"`` or ``"dynamics365"``."""
        return self._native.crm

    @property
    def mapping(self) -> Mapping:
        """The mapping."""
        return self._native.mapping

    @property
    def store(self) -> Store:
        """The store: audit, links and the review queue."""
        return self._store

    def plan(self, referral: Record, crm_record: Record) -> Plan:
        """Plans one pair against its stored base (nothing is written). Each record is a dict, JSON text, or
        ``None`` when it does not exist. Raises ``RecordError`` (a ``ValueError``) naming the record and field
        when a record cannot be read."""
        return self._native.plan(referral, crm_record)

    @overload
    def plan_many(
        self,
        pairs: Iterable[tuple[Record, Record]],
        *,
        progress: Progress = None,
        on_error: Literal["raise"] = "raise",
        chunk_size: int = 500,
    ) -> list[Plan]: ...

    @overload
    def plan_many(
        self,
        pairs: Iterable[tuple[Record, Record]],
        *,
        progress: Progress = None,
        on_error: Literal["return"],
        chunk_size: int = 500,
    ) -> list[Plan | CosellError]: ...

    def plan_many(
        self,
        pairs: Iterable[tuple[Record, Record]],
        *,
        progress: Progress = None,
        on_error: Literal["raise", "return"] = "raise",
        chunk_size: int = 500,
    ) -> list[Plan] | list[Plan | CosellError]:
        """Plans many ``(referral, crm_record)`` pairs: ``chunk_size`` per store snapshot, with the GIL released
        while planning, so there is no Python work per record beyond reading its text.

        With ``on_error="raise"`` the first pair that cannot be planned raises its exception (naming the pair's
        index) after the whole batch was planned; with ``"return"`` its exception takes its place in the list.
        ``progress=True`` shows a tqdm bar; a callable is called as ``progress(done, total)`` after each chunk."""
        if on_error not in ("raise", "return"):
            raise ValueError(f'on_error: expected "raise" or "return", got {on_error!r}')
        callback, bar = _progress_callback(progress)
        try:
            results = self._native.plan_many(pairs, chunk_size, callback)
        finally:
            if bar is not None:
                bar.close()
        if on_error == "return":
            return results
        for i, item in enumerate(results):
            if isinstance(item, CosellError):
                raise type(item)(f"pair {i}: {item}", item.kind, item.detail) from item
        return results  # no exception is left in it

    def commit(
        self,
        plan: Plan,
        *,
        crm_id: str | None = None,
        crm_version: VersionLike | None = None,
        crm_error: tuple[str, str] | None = None,
        partner_center_id: str | None = None,
        partner_center_etag: VersionLike | None = None,
        partner_center_error: tuple[str, str] | None = None,
        cause: str | None = None,
        results: AbcMapping[str, Any] | str | None = None,
    ) -> CommitReport:
        """Records what was applied for ``plan``: the new base (only for fields whose writes succeeded), each side's
        version, the link's status, the audit rows and queued reviews, in one transaction.

        For each side the plan writes, say what happened: ``crm_id`` (after a create) and ``crm_version`` (the
        record's version after the write: a dict with ``etag``/``modified``/``stamp``, or a string, taken as the
        ETag for Dynamics 365 and as ``LastModifiedDate`` for Salesforce; the parts not given are filled when the
        record is next read, without a change to commit); or ``crm_error=(kind, message)`` when the
        write failed. Likewise ``partner_center_id``, ``partner_center_etag`` and ``partner_center_error``. A plan
        that writes nothing needs none of them. ``results`` gives the same as one dict (the core's JSON form)
        instead (``cause`` then goes inside it). Raises ``ResultMismatchError`` when the results do not fit the plan, ``StalePlanError`` when the
        pair changed since it was planned."""
        if results is not None:
            given = [crm_id, crm_version, crm_error, partner_center_id, partner_center_etag, partner_center_error, cause]
            if any(v is not None for v in given):
                raise ValueError(
                    "results: give either results (with its own cause) or the keyword arguments, not both"
                )
            return cast(CommitReport, self._native.commit(plan, results))
        built: dict[str, Any] = {}
        crm = _side(crm=self.crm, side="crm", record_id=crm_id, version=crm_version, error=crm_error)
        if crm is not None:
            built["crm"] = crm
        pc = _side(
            crm=self.crm,
            side="partner_center",
            record_id=partner_center_id,
            version=partner_center_etag,
            error=partner_center_error,
        )
        if pc is not None:
            built["partner_center"] = pc
        if cause is not None:
            built["cause"] = cause
        return cast(CommitReport, self._native.commit(plan, built))

    def commit_many(self, items: Iterable[tuple[Plan, AbcMapping[str, Any] | str | None]]) -> list[CommitReport]:
        """Commits many ``(plan, results)`` pairs in one transaction, all or nothing; ``results`` in the core's
        JSON form (``{"crm": {"outcome": "applied", "version": {...}}, ...}``) or ``None`` for a plan that writes
        nothing."""
        return cast(list[CommitReport], self._native.commit_many(list(items)))

    def record_dry_run(self, plan: Plan, cause: str | None = None) -> int:
        """Records ``plan`` in the audit as a dry run (``dry_run`` set, outcome ``planned``); nothing else changes.
        Returns the rows written."""
        return self._native.record_dry_run(plan, cause)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Engine]:
        """A write transaction around a block: every commit inside becomes durable together when the block ends,
        and none does if it raises::

            with engine.transaction():
                for plan in plans:
                    engine.commit(plan)
        """
        self._native.begin_transaction()
        try:
            yield self
        except BaseException:
            if not self._native.closed:
                self._native.rollback_transaction()
            raise
        self._native.commit_transaction()

    def resolve_review(
        self, review_id: int, choice: Literal["partner_center", "crm"] | AbcMapping[str, Any], note: str | None = None
    ) -> dict[str, Any]:
        """Resolves a queued conflict by choosing ``"partner_center"``, ``"crm"`` or ``{"value": ...}``; the next
        plan of the pair writes it. Audited. Returns the review."""
        return self._native.resolve_review(review_id, choice, note)

    def dismiss_review(self, review_id: int, note: str | None = None) -> dict[str, Any]:
        """Dismisses a queued conflict: the field stays as it is on both sides. Audited. Returns the review."""
        return self._native.dismiss_review(review_id, note)


class Store:
    """The engine's state store, read side: the audit trail, the links and the review queue."""

    def __init__(self, native: _native.Engine) -> None:
        self._native = native

    def __repr__(self) -> str:
        return f"cosell.Store({self.path!r})"

    @property
    def path(self) -> str:
        """The store's path."""
        return self._native.path

    @property
    def schema_version(self) -> int:
        """The schema version of the store file."""
        return self._native.schema_version

    def audit(
        self,
        *,
        referral_id: str | None = None,
        link_id: int | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Audit entries, oldest first: one dict per decision, with its field ``changes``
        (``[{"field", "before", "after"}]``). ``since`` is inclusive, ``until`` exclusive."""
        query: dict[str, Any] = {}
        if referral_id is not None:
            query["referral_id"] = referral_id
        if link_id is not None:
            query["link_id"] = link_id
        if since is not None:
            query["since"] = _time(since, "since")
        if until is not None:
            query["until"] = _time(until, "until")
        if limit is not None:
            query["limit"] = limit
        return self._native.audit(query)

    def audit_frame(
        self,
        *,
        referral_id: str | None = None,
        link_id: int | None = None,
        since: TimeLike | None = None,
        until: TimeLike | None = None,
        limit: int | None = None,
    ) -> pandas.DataFrame:
        """The audit as a pandas DataFrame with one row per field change (a decision without field changes is one
        row with ``field``, ``before`` and ``after`` empty). The columns are ``AUDIT_COLUMNS``, those of the store's
        ``audit_log`` view; ``before`` and ``after`` are JSON text as in the view, ``at`` is a UTC timestamp and
        ``dry_run`` a bool. ``limit`` counts decisions, not rows. Needs pandas (``pip install 'cosell[pandas]'``)."""
        try:
            import pandas
        except ImportError as e:
            raise ImportError("audit_frame() needs pandas: pip install 'cosell[pandas]' (or pandas)") from e
        rows: list[tuple[Any, ...]] = []
        for entry in self.audit(referral_id=referral_id, link_id=link_id, since=since, until=until, limit=limit):
            head = (
                entry["id"],
                entry["at"],
                entry["link_id"],
                entry["referral_id"],
                entry["crm_entity"],
                entry["crm_id"],
                entry["direction"],
                entry["action"],
                entry["outcome"],
                entry["reason"],
            )
            tail = (
                entry["error_kind"],
                entry["error_message"],
                entry["cause"],
                bool(entry["dry_run"]),
                entry["plan_id"],
            )
            changes = entry["changes"] or [None]
            for c in changes:
                if c is None:
                    rows.append((*head, None, None, None, *tail))
                else:
                    rows.append((*head, c["field"], _json_text(c["before"]), _json_text(c["after"]), *tail))
        frame = pandas.DataFrame.from_records(rows, columns=list(AUDIT_COLUMNS))
        frame["at"] = pandas.to_datetime(frame["at"], utc=True, format="ISO8601")
        frame["dry_run"] = frame["dry_run"].astype(bool)
        return frame

    def reviews(self, status: str | None = None, referral_id: str | None = None) -> list[dict[str, Any]]:
        """The review queue: conflicts held for a person; optionally one status (``open``, ``resolved``,
        ``dismissed``, ``applied``) and one referral."""
        return self._native.reviews(status, referral_id)

    def link(self, link_id: int) -> dict[str, Any] | None:
        """The link with this id, or ``None``."""
        return self._native.link(link_id)

    def link_by_referral(self, referral_id: str) -> dict[str, Any] | None:
        """The link of a referral, or ``None``."""
        return self._native.link_by_referral(referral_id)

    def link_by_crm(self, crm_entity: str, crm_id: str) -> dict[str, Any] | None:
        """The link of a CRM record (``crm_entity`` ``"opportunity"`` or ``"lead"``), or ``None``."""
        return self._native.link_by_crm(crm_entity, crm_id)

    def links(self, status: str | None = None, limit: int = 100, after_id: int = 0) -> list[dict[str, Any]]:
        """Up to ``limit`` links with an id above ``after_id``, by id; optionally one status. Page through all of
        them by passing the last id as the next ``after_id``."""
        return self._native.links(status, limit, after_id)

    def link_counts(self) -> dict[str, int]:
        """The number of links in each status (every status, zeros included)."""
        return self._native.link_counts()
