//! Plans: the pure, serializable decision for one pair (a referral and its CRM record). Printing a plan is the
//! dry-run; applying it is the host's or the connector's job, and [`crate::engine::Engine::commit`] records what
//! was applied.

mod build;
mod display;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::diff::Diff3;
use crate::mapping::ConflictPolicy;
use crate::model::{CrmEntity, CrmSystem, Version};

pub(crate) use build::DIVERGED;
pub use build::{PlanInput, ReviewState, plan};

/// One RFC 6902 operation for Partner Center (`replace` or `add` only: the service supports nothing else).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchOp {
    /// `replace` or `add`.
    pub op: String,
    /// The JSON pointer.
    pub path: String,
    /// The new value.
    pub value: Json,
}

/// A CRM lookup left symbolic for the connector or host to resolve (find by key fields, or create).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    /// The reference field to set (`transactioncurrencyid`, `customerid_account`, `AccountId`).
    pub bind: String,
    /// The related entity (`transactioncurrencies`, `accounts`, `Account`).
    pub entity: String,
    /// The key fields to match on, e.g. `{"isocurrencycode": "EUR"}` or `{"name": …, "address1_postalcode": …}`.
    #[serde(rename = "match")]
    pub keys: Map<String, Json>,
    /// Whether the related record may be created when none matches.
    pub create: bool,
}

/// A Dynamics 365 close, done through the WinOpportunity/LoseOpportunity actions rather than a field write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChange {
    /// `win` or `lose`.
    pub action: String,
    /// The target `statecode`.
    pub statecode: Json,
    /// The target `statuscode`.
    pub statuscode: Json,
}

/// What to write to one CRM record.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CrmWrite {
    /// Plain field values by CRM field name.
    pub fields: Map<String, Json>,
    /// Lookups to resolve and bind.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lookups: Vec<Lookup>,
    /// A close through an action (Dynamics 365).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_change: Option<StateChange>,
}

impl CrmWrite {
    /// True when nothing is written.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.lookups.is_empty() && self.state_change.is_none()
    }
}

/// A field that cannot be written as planned (its other fields still are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    /// The canonical field.
    pub field: String,
    /// A stable code (`value_too_long`, `not_in_table`, `invalid_transition`, ...).
    pub code: String,
    /// A sentence a salesperson understands.
    pub message: String,
}

impl FieldError {
    pub(crate) fn new(field: &str, code: &str, message: String) -> FieldError {
        FieldError {
            field: field.to_owned(),
            code: code.to_owned(),
            message,
        }
    }
}

/// A side of the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Partner Center.
    PartnerCenter,
    /// The CRM.
    Crm,
}

/// One remote operation of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Create a CRM record. Dynamics 365 records carry a client-chosen `id` (`UUIDv5` of the referral id, one
    /// namespace per entity); Salesforce records are upserted by the external id in `upsert_key`.
    CreateCrmRecord {
        /// Opportunity or lead.
        entity: CrmEntity,
        /// The id to create with (Dynamics 365).
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// `(field, value)` to upsert by (Salesforce `Referral_Identifier__c`).
        #[serde(skip_serializing_if = "Option::is_none")]
        upsert_key: Option<(String, String)>,
        /// The values.
        write: CrmWrite,
    },
    /// Update a CRM record with only the changed fields, guarded by its last seen version.
    UpdateCrmRecord {
        /// Opportunity or lead.
        entity: CrmEntity,
        /// The record id.
        id: String,
        /// The changes.
        write: CrmWrite,
        /// Dynamics 365: `If-Match` (the `@odata.etag` last seen).
        #[serde(skip_serializing_if = "Option::is_none")]
        if_match: Option<String>,
        /// Salesforce: `If-Unmodified-Since` (the `LastModifiedDate` last seen).
        #[serde(skip_serializing_if = "Option::is_none")]
        if_unmodified_since: Option<String>,
    },
    /// Close a lead whose referral was accepted (its opportunity is created by the action before this one).
    CloseCrmLead {
        /// The lead id.
        id: String,
        /// The lead's closing values (status).
        write: CrmWrite,
    },
    /// Create a Partner Center referral from a CRM record. `externalReferenceId` carries the CRM id, so a create
    /// whose answer was lost can be looked up before it is retried.
    CreateReferral {
        /// The full referral body.
        body: Json,
    },
    /// After `CreateReferral`: write the new referral's id (the create's result) to the CRM record's
    /// referral-id field, so the record is recognized as shared and never shared twice.
    StampReferralId {
        /// Opportunity or lead.
        entity: CrmEntity,
        /// The CRM record id.
        id: String,
        /// The CRM field that receives the referral id.
        field: String,
        /// Dynamics 365: `If-Match` (the `@odata.etag` last seen).
        #[serde(skip_serializing_if = "Option::is_none")]
        if_match: Option<String>,
        /// Salesforce: `If-Unmodified-Since` (the `LastModifiedDate` last seen).
        #[serde(skip_serializing_if = "Option::is_none")]
        if_unmodified_since: Option<String>,
    },
    /// Update a referral with a JSON Patch, guarded by `If-Match: <eTag>`.
    UpdateReferral {
        /// The referral id.
        id: String,
        /// The operations.
        patch: Vec<PatchOp>,
        /// The `eTag` last seen.
        #[serde(skip_serializing_if = "Option::is_none")]
        if_match: Option<String>,
    },
    /// Point the link at another CRM record (a lead converted to an opportunity).
    Relink {
        /// The new entity.
        entity: CrmEntity,
        /// The new record id (known for Dynamics 365; for Salesforce the create's result gives it).
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<String>,
    },
    /// The record on `side` was deleted: the link becomes `orphaned` and is never recreated automatically.
    MarkOrphaned {
        /// The side whose record is gone.
        side: Side,
    },
}

impl Action {
    /// The side this action writes, if any.
    pub fn side(&self) -> Option<Side> {
        match self {
            Action::CreateCrmRecord { .. }
            | Action::UpdateCrmRecord { .. }
            | Action::CloseCrmLead { .. }
            | Action::StampReferralId { .. } => Some(Side::Crm),
            Action::CreateReferral { .. } | Action::UpdateReferral { .. } => {
                Some(Side::PartnerCenter)
            }
            Action::Relink { .. } | Action::MarkOrphaned { .. } => None,
        }
    }
}

/// Which sides a field's planned result is written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WriteTo {
    /// Nothing is written.
    #[default]
    None,
    /// The CRM.
    Crm,
    /// Partner Center.
    PartnerCenter,
    /// Both (a resolved review value that differs from both sides).
    Both,
}

impl WriteTo {
    /// Whether this writes `side`.
    pub fn includes(self, side: Side) -> bool {
        matches!(
            (self, side),
            (WriteTo::Both, _)
                | (WriteTo::Crm, Side::Crm)
                | (WriteTo::PartnerCenter, Side::PartnerCenter)
        )
    }
}

/// The decision for one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldPlan {
    /// The canonical field.
    pub field: String,
    /// What changed since the base.
    pub diff: Diff3,
    /// The stored base value (null when none).
    pub base: Json,
    /// Partner Center's current value.
    pub partner_center: Json,
    /// The CRM's current value.
    pub crm: Json,
    /// The value both sides hold once the plan is applied (the new base).
    pub result: Json,
    /// Where `result` is written.
    pub write: WriteTo,
    /// Why, when not obvious (a policy, a rule that held the change back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A field changed on both sides to different values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// The canonical field.
    pub field: String,
    /// The base value.
    pub base: Json,
    /// Partner Center's value.
    pub partner_center: Json,
    /// The CRM's value.
    pub crm: Json,
    /// The policy that settled it.
    pub policy: ConflictPolicy,
    /// The side whose value won, or `None` when queued for review.
    pub winner: Option<Side>,
}

/// A rule that refused (part of) the sync, with a reason a salesperson understands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// A stable code: `sync_flag_off`, `referral_closed`, `missing_solution`, `missing_country`,
    /// `missing_contact`, `invalid_transition`, `on_hold`, `orphaned`, `value_too_long`, ...
    pub code: String,
    /// The canonical field concerned, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The explanation.
    pub message: String,
}

/// The overall shape of a plan, for counting and display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Summary {
    /// Nothing changed; nothing to do.
    Nothing,
    /// First sync of a pair that already agrees: the base is recorded, nothing is written.
    Link,
    /// Both sides changed the same way: the base advances, nothing is written.
    Converged,
    /// Only the CRM is updated.
    UpdateCrm,
    /// Only Partner Center is updated.
    UpdatePartnerCenter,
    /// Both sides are updated.
    UpdateBoth,
    /// At least one conflict (settled by policy or queued for review).
    Conflict,
    /// A CRM record is created.
    CreateCrm,
    /// A referral is created.
    CreateReferral,
    /// An accepted referral's lead becomes an opportunity.
    ConvertLead,
    /// A side's record is gone: the link is orphaned.
    Orphan,
    /// Rules refused the sync; nothing (or only the CRM status/audit fields) is written.
    Refused,
}

impl Summary {
    /// The `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Summary::Nothing => "nothing",
            Summary::Link => "link",
            Summary::Converged => "converged",
            Summary::UpdateCrm => "update_crm",
            Summary::UpdatePartnerCenter => "update_partner_center",
            Summary::UpdateBoth => "update_both",
            Summary::Conflict => "conflict",
            Summary::CreateCrm => "create_crm",
            Summary::CreateReferral => "create_referral",
            Summary::ConvertLead => "convert_lead",
            Summary::Orphan => "orphan",
            Summary::Refused => "refused",
        }
    }
}

/// The plan for one pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// A deterministic id: 16 hex digits hashed from the pair, both versions and the planning time.
    pub id: String,
    /// When it was planned (RFC 3339 UTC).
    pub planned_at: String,
    /// The CRM.
    pub crm: CrmSystem,
    /// The referral id (absent when the referral is still to be created).
    pub referral_id: Option<String>,
    /// The stored link, if the pair is linked.
    pub link_id: Option<i64>,
    /// The stored link's revision when planned: a commit refuses a plan whose link changed since.
    pub link_revision: Option<i64>,
    /// The CRM entity of the link after the plan (an opportunity after a lead conversion).
    pub crm_entity: CrmEntity,
    /// The CRM record id (absent when the record is still to be created without a client-chosen id).
    pub crm_id: Option<String>,
    /// Partner Center's version as seen: the precondition of its writes.
    pub partner_center_version: Version,
    /// The CRM's version as seen.
    pub crm_version: Version,
    /// The overall shape.
    pub summary: Summary,
    /// Remote operations, in order.
    pub actions: Vec<Action>,
    /// Per-field decisions, for the fields that changed on either side or were held back (fields unchanged on
    /// both sides are not listed).
    pub fields: Vec<FieldPlan>,
    /// Conflicts.
    pub conflicts: Vec<Conflict>,
    /// Rules that refused something.
    pub refusals: Vec<Refusal>,
    /// Whether the stored base changes when the plan is committed.
    pub base_changes: bool,
    /// The base values that change when every action succeeds (laid over the stored base), or the whole new
    /// base when `base_reset` is true (a lead converted to an opportunity starts a new base).
    pub base: Map<String, Json>,
    /// Whether `base` replaces the stored base instead of updating it.
    #[serde(default)]
    pub base_reset: bool,
}

impl Plan {
    /// True when committing would change nothing: no action, no base change, nothing refused or queued.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
            && !self.base_changes
            && self.conflicts.is_empty()
            && self.refusals.is_empty()
    }

    /// The CRM changes (of the update or create action), if any.
    pub fn crm_patch(&self) -> Option<&CrmWrite> {
        self.actions.iter().find_map(|a| match a {
            Action::UpdateCrmRecord { write, .. } | Action::CreateCrmRecord { write, .. } => {
                Some(write)
            }
            _ => None,
        })
    }

    /// The Partner Center JSON Patch, if the referral is updated.
    pub fn partner_center_patch(&self) -> Option<&[PatchOp]> {
        self.actions.iter().find_map(|a| match a {
            Action::UpdateReferral { patch, .. } => Some(patch.as_slice()),
            _ => None,
        })
    }

    /// Whether any action writes `side`.
    pub fn writes(&self, side: Side) -> bool {
        self.actions.iter().any(|a| a.side() == Some(side))
    }

    /// The plan as JSON.
    pub fn to_json(&self) -> Json {
        serde_json::to_value(self).unwrap_or(Json::Null)
    }
}
