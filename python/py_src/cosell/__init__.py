"""cosell: two-way sync of Microsoft Partner Center co-sell referrals with Dynamics 365 and Salesforce.

The engine plans each linked pair with a three-way merge against the base both sides last agreed on, and records
what was applied, with a full audit, in a SQLite file::

    import cosell

    mapping = cosell.Mapping.builtin("salesforce")
    with cosell.Engine("state.db", mapping) as engine:
        plan = engine.plan(referral, opportunity)    # dicts or JSON text
        print(plan)                                  # the readable dry-run
        ...                                          # apply plan.crm_patch / plan.partner_center_patch
        engine.commit(plan, crm_version=..., partner_center_etag=...)
        df = engine.store.audit_frame()              # pandas, one row per field change

See ``cosell.Engine`` for the whole API and ``cosell.errors`` for the exceptions.
"""

from __future__ import annotations

from ._native import SCHEMA_VERSION, Mapping, Plan, __version__
from .engine import CommitReport, Engine, Store
from .errors import (
    BusyError,
    CommitError,
    CosellError,
    InvalidStateError,
    MappingError,
    NotFoundError,
    RecordError,
    ResultMismatchError,
    StalePlanError,
    StoreError,
    StoreInputError,
)

__all__ = [
    "SCHEMA_VERSION",
    "BusyError",
    "CommitError",
    "CommitReport",
    "CosellError",
    "Engine",
    "InvalidStateError",
    "Mapping",
    "MappingError",
    "NotFoundError",
    "Plan",
    "RecordError",
    "ResultMismatchError",
    "StalePlanError",
    "Store",
    "StoreError",
    "StoreInputError",
    "__version__",
]
