"""The exceptions of cosell: one base class, one subclass per kind of failure.

Every exception has ``kind`` (``"mapping"``, ``"record"``, ``"store"``, ``"commit"``, or ``"internal"``) and
``detail``, the finer stable name (``"invalid_field"``, ``"stale_plan"``, ``"newer_schema"``, ...), so that code can
branch on them without parsing messages. Errors about the caller's input are also ``ValueError`` (or
``LookupError`` for a missing row), so generic handlers keep working::

    try:
        engine.plan(referral, record)
    except cosell.RecordError as e:      # also a ValueError
        print(e.detail, e)               # invalid_field  referral 6513...: field /details/dealValue: expected ...
"""

from __future__ import annotations

__all__ = [
    "BusyError",
    "CommitError",
    "CosellError",
    "InvalidStateError",
    "MappingError",
    "NotFoundError",
    "RecordError",
    "ResultMismatchError",
    "StalePlanError",
    "StoreError",
    "StoreInputError",
]


class CosellError(Exception):
    """The base class of every cosell error."""

    kind: str
    """``mapping``, ``record``, ``store``, ``commit`` or ``internal``."""
    detail: str
    """The stable name of the specific error, e.g. ``invalid_field``, ``stale_plan``, ``newer_schema``."""

    def __init__(self, message: str, kind: str = "", detail: str = "") -> None:
        super().__init__(message)
        self.kind = kind
        self.detail = detail


class MappingError(CosellError, ValueError):
    """A mapping that cannot be loaded or is invalid: the message names the rule and what is wrong."""


class RecordError(CosellError, ValueError):
    """A record that cannot be read: the message names the record, the field and what was expected."""


class StoreError(CosellError):
    """The state store failed: cannot open, newer schema, corrupt, read-only, full, ..."""


class BusyError(StoreError):
    """Another process held the store's write lock for longer than the busy timeout (5 s); retry later."""


class NotFoundError(StoreError, LookupError):
    """No such row (a review or link id that does not exist)."""


class StoreInputError(StoreError, ValueError):
    """A value given to the store is invalid, such as a time that is not RFC 3339."""


class InvalidStateError(StoreError):
    """The operation does not fit the current state: a review that is not open, a transaction already open, a
    record another link already holds."""


class CommitError(CosellError):
    """A commit that does not fit its plan."""


class StalePlanError(CommitError):
    """The pair changed since the plan was made (another commit came first): read both records again and re-plan."""


class ResultMismatchError(CommitError, ValueError):
    """The results given to ``commit`` do not match the plan: a side it writes has no result, or a side it does not
    write has one."""
