//! The engine: plans a pair against its stored base and commits what the host applied.
//!
//! This is the I/O-free API for hosts that read and write Partner Center and the CRM themselves: hand
//! [`Engine::plan`] the current records, apply the plan's actions, then hand [`Engine::commit`] what happened on
//! each side. The base advances only for what was applied; a side that failed keeps its old base and is audited
//! as failed, so re-planning retries exactly the missing writes. Re-planning after a successful commit (with the
//! records as they now are) gives an empty plan: that is the echo suppression.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use time::OffsetDateTime;

use crate::error::{CommitError, Error, RecordError};
use crate::mapping::Mapping;
use crate::model::{CrmEntity, CrmRecord, Referral, Version};
use crate::plan::{self, Action, Plan, PlanInput, ReviewState, Side, Summary};
use crate::store::{
    AuditEntry, AuditQuery, AuditRow, FieldChange, Link, LinkCommit, LinkStatus, NewReview, Review,
    ReviewChoice, ReviewStatus, Store, StoreError,
};
use crate::value::format_timestamp;

/// What happened when the host applied a plan's writes on one side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SideOutcome {
    /// The write(s) succeeded. `id` is the created record's id (required after a create without a client-chosen
    /// id); `version` is the record's version after the write.
    Applied {
        /// The record id, when created.
        #[serde(default)]
        id: Option<String>,
        /// The version after the write.
        #[serde(default)]
        version: Version,
    },
    /// The write failed; nothing of it is assumed applied.
    Failed {
        /// A stable error kind (`precondition_failed`, `throttled`, `validation`, ...).
        kind: String,
        /// The service's message.
        message: String,
    },
}

/// What the host reports back for a plan: one outcome per side the plan writes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CommitResults {
    /// Partner Center's outcome, when the plan writes it.
    #[serde(default)]
    pub partner_center: Option<SideOutcome>,
    /// The CRM's outcome, when the plan writes it.
    #[serde(default)]
    pub crm: Option<SideOutcome>,
    /// What triggered the sync (`event:<id>`, `manual`, `reconcile`), for the audit.
    #[serde(default)]
    pub cause: Option<String>,
}

/// What a commit recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommitReport {
    /// The link, when one exists after the commit.
    pub link_id: Option<i64>,
    /// Its status.
    pub status: Option<LinkStatus>,
    /// The plan's summary.
    pub summary: Summary,
    /// How many audit rows were written.
    pub audit_rows: usize,
}

/// The clock the engine stamps plans and audit rows with.
pub type Clock = Box<dyn Fn() -> OffsetDateTime + Send + Sync>;

/// A mapping and a store: plans pairs and commits their outcomes.
///
/// An `Engine` may be moved between threads but must not be used by two threads at once (it owns a `SQLite`
/// connection); share it behind a mutex.
pub struct Engine {
    store: Store,
    mapping: Mapping,
    clock: Clock,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("store", &self.store.path())
            .field("crm", &self.mapping.crm())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Opens (or creates) the store at `path` (`:memory:` for a throwaway one) with `mapping`.
    pub fn open(path: &str, mapping: Mapping) -> Result<Engine, Error> {
        Ok(Engine::new(Store::open(path)?, mapping))
    }

    /// An engine over an open store.
    pub fn new(store: Store, mapping: Mapping) -> Engine {
        Engine {
            store,
            mapping,
            clock: Box::new(OffsetDateTime::now_utc),
        }
    }

    /// Replaces the clock (tests and replays use a fixed one).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Engine {
        self.clock = clock;
        self
    }

    /// The mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store, for writes outside plans (cursors, inbox, intents).
    pub fn store_mut(&mut self) -> &mut Store {
        &mut self.store
    }

    fn now(&self) -> OffsetDateTime {
        (self.clock)()
    }

    /// Parses the records (JSON text; `None` = does not exist) and plans them. The text is validated whole; only
    /// the fields the mapping reads are materialized (see [`crate::model::Projection`]).
    pub fn plan_json(&self, referral: Option<&str>, crm: Option<&str>) -> Result<Plan, Error> {
        // Merging a pair of a referral and an opportunity reads fewer fields than creating a record or
        // converting a lead: parse each side with the projection its case needs.
        let p = self.mapping.projections();
        let system = self.mapping.crm();
        let crm = match crm {
            None => None,
            Some(text) if referral.is_some() => {
                let record = CrmRecord::parse_projected(system, text, &p.crm, true)?;
                if record.entity() == CrmEntity::Lead {
                    Some(CrmRecord::parse_projected(system, text, &p.crm, false)?)
                } else {
                    Some(record)
                }
            }
            Some(text) => Some(CrmRecord::parse_projected(system, text, &p.crm, false)?),
        };
        let merge = crm
            .as_ref()
            .is_some_and(|c| c.entity() == CrmEntity::Opportunity);
        let referral = referral
            .map(|r| Referral::parse_projected(r, &p.referral, merge))
            .transpose()?;
        self.plan(referral.as_ref(), crm.as_ref())
    }

    /// The stored link of a pair: by referral id, else by CRM record.
    pub fn find_link(
        &self,
        referral: Option<&Referral>,
        crm: Option<&CrmRecord>,
    ) -> Result<Option<Link>, Error> {
        if let Some(r) = referral {
            if let Some(l) = self.store.link_by_referral(r.id())? {
                return Ok(Some(l));
            }
        }
        if let Some(c) = crm {
            return Ok(self.store.link_by_crm(c.entity(), c.id())?);
        }
        Ok(None)
    }

    /// Plans a pair against its stored base. Either record may be absent (not created yet, or deleted).
    pub fn plan(
        &self,
        referral: Option<&Referral>,
        crm: Option<&CrmRecord>,
    ) -> Result<Plan, Error> {
        if let Some(c) = crm {
            if c.system() != self.mapping.crm() {
                return Err(RecordError::Mismatch {
                    detail: format!(
                        "{} given to an engine whose mapping is for {}",
                        c.describe(),
                        self.mapping.crm().as_str()
                    ),
                }
                .into());
            }
        }
        let link = self.find_link(referral, crm)?;
        let reviews = match &link {
            Some(l) if l.status == LinkStatus::Conflict => self.review_states(l)?,
            _ => HashMap::new(),
        };
        let input = PlanInput {
            referral,
            crm,
            link: link.as_ref(),
            reviews: &reviews,
            now: self.now(),
        };
        Ok(plan::plan(&self.mapping, input)?)
    }

    fn review_states(&self, link: &Link) -> Result<HashMap<String, ReviewState>, Error> {
        let Some(rid) = &link.referral_id else {
            return Ok(HashMap::new());
        };
        let mut out = HashMap::new();
        for r in self.store.reviews(None, Some(rid))? {
            match r.status {
                ReviewStatus::Open => {
                    out.insert(r.field, ReviewState::Open);
                }
                ReviewStatus::Resolved => {
                    out.insert(
                        r.field,
                        ReviewState::Resolved(r.resolution.unwrap_or(Json::Null)),
                    );
                }
                ReviewStatus::Dismissed | ReviewStatus::Applied => {}
            }
        }
        Ok(out)
    }

    /// Plans many pairs (JSON text), each against its stored base, on one read snapshot of the store. One
    /// failing pair does not stop the others: each gets its own result.
    pub fn plan_many<'a>(
        &self,
        pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
    ) -> Result<Vec<Result<Plan, Error>>, Error> {
        Ok(self.store.read_snapshot(|_| {
            pairs
                .into_iter()
                .map(|(r, c)| self.plan_json(r, c))
                .collect()
        })?)
    }

    /// Records what the host applied for `plan`: the new base (only for fields whose writes succeeded), each
    /// side's version, the link's status, the audit rows and queued reviews, in one transaction.
    pub fn commit(&mut self, plan: &Plan, results: &CommitResults) -> Result<CommitReport, Error> {
        let mut reports = self.commit_many(&[(plan, results)])?;
        Ok(reports.remove(0))
    }

    /// Commits many plans in one transaction (all or nothing): the batch form of [`Engine::commit`].
    pub fn commit_many(
        &mut self,
        items: &[(&Plan, &CommitResults)],
    ) -> Result<Vec<CommitReport>, Error> {
        let now = format_timestamp(self.now());
        let mut commits = Vec::with_capacity(items.len());
        let mut loose_audit = Vec::new();
        let mut reports = Vec::with_capacity(items.len());
        let mut slots = Vec::with_capacity(items.len());
        for (plan, results) in items {
            let old = match plan.link_id {
                Some(id) => {
                    let link = self.store.link(id)?;
                    if link.as_ref().map(|l| l.revision) != plan.link_revision {
                        return Err(stale(plan).into());
                    }
                    link
                }
                None => None,
            };
            let prepared = prepare(plan, results, old, &now, &self.store)?;
            reports.push(CommitReport {
                link_id: None,
                status: prepared.commit.as_ref().map(|c| c.link.status),
                summary: plan.summary,
                audit_rows: prepared.audit_rows,
            });
            if let Some(c) = prepared.commit {
                slots.push(Some(commits.len()));
                commits.push(c);
            } else {
                slots.push(None);
                loose_audit.extend(prepared.loose_audit);
            }
        }
        let ids = if commits.is_empty() {
            Vec::new()
        } else {
            // The store re-checks each link's revision inside the transaction: a commit by another process
            // between the read above and this write is refused too.
            self.store.commit(&commits).map_err(|e| match e {
                StoreError::StaleLink { id, .. } => {
                    match items.iter().find(|(p, _)| p.link_id == Some(id)) {
                        Some((plan, _)) => Error::from(stale(plan)),
                        None => Error::from(e),
                    }
                }
                other => Error::from(other),
            })?
        };
        if !loose_audit.is_empty() {
            self.store.append_audit(&loose_audit)?;
        }
        for (report, slot) in reports.iter_mut().zip(slots) {
            report.link_id = slot.and_then(|i| ids.get(i).copied());
        }
        Ok(reports)
    }

    /// The audit rows matching `query`.
    pub fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRow>, Error> {
        Ok(self.store.audit(query)?)
    }

    /// The review queue (optionally one status, one referral).
    pub fn reviews(
        &self,
        status: Option<ReviewStatus>,
        referral_id: Option<&str>,
    ) -> Result<Vec<Review>, Error> {
        Ok(self.store.reviews(status, referral_id)?)
    }

    /// Resolves a queued conflict by choosing a side or a value; the next plan of the pair writes it. Audited.
    pub fn resolve_review(
        &mut self,
        id: i64,
        choice: ReviewChoice,
        note: Option<&str>,
    ) -> Result<Review, Error> {
        let at = format_timestamp(self.now());
        Ok(self.store.resolve_review(id, choice, &at, note)?)
    }

    /// Dismisses a queued conflict (the field stays as it is on both sides). Audited.
    ///
    /// The link's base then records both sides' values for that field, so the conflict is not queued again
    /// while neither side changes; once one side changes, that change syncs as usual. (The review and the
    /// base are two transactions: after a crash between them the conflict is queued again, nothing is lost.)
    pub fn dismiss_review(&mut self, id: i64, note: Option<&str>) -> Result<Review, Error> {
        let at = format_timestamp(self.now());
        let review = self.store.dismiss_review(id, &at, note)?;
        let Some(mut link) = review
            .link_id
            .map(|l| self.store.link(l))
            .transpose()?
            .flatten()
        else {
            return Ok(review);
        };
        let mut sides = serde_json::Map::new();
        sides.insert("partner_center".into(), review.partner_center.clone());
        sides.insert("crm".into(), review.crm.clone());
        let mut marker = serde_json::Map::new();
        marker.insert(plan::DIVERGED.into(), Json::Object(sides));
        link.base.insert(review.field.clone(), Json::Object(marker));
        let others = match &link.referral_id {
            Some(rid) => self.store.reviews(None, Some(rid))?.iter().any(|r| {
                r.id != review.id && matches!(r.status, ReviewStatus::Open | ReviewStatus::Resolved)
            }),
            None => false,
        };
        if link.status == LinkStatus::Conflict && !others {
            link.status = LinkStatus::Synced;
        }
        link.updated_at = at;
        self.store.commit(&[LinkCommit::new(link)])?;
        Ok(review)
    }
}

fn stale(plan: &Plan) -> CommitError {
    CommitError::StalePlan {
        plan_id: plan.id.clone(),
        referral: referral_name(plan),
    }
}

fn referral_name(plan: &Plan) -> String {
    plan.referral_id
        .clone()
        .unwrap_or_else(|| "(none)".to_owned())
}

struct Prepared {
    commit: Option<LinkCommit>,
    loose_audit: Vec<AuditEntry>,
    audit_rows: usize,
}

fn outcome_of<'a>(
    plan: &Plan,
    side: Side,
    given: Option<&'a SideOutcome>,
) -> Result<Option<&'a SideOutcome>, CommitError> {
    let writes = plan.writes(side);
    let name = match side {
        Side::PartnerCenter => "Partner Center",
        Side::Crm => "the CRM",
    };
    match (writes, given) {
        (true, None) => Err(CommitError::ResultMismatch {
            plan_id: plan.id.clone(),
            referral: referral_name(plan),
            detail: format!("the plan writes {name} but no result was given for it"),
        }),
        (false, Some(_)) => Err(CommitError::ResultMismatch {
            plan_id: plan.id.clone(),
            referral: referral_name(plan),
            detail: format!("a result was given for {name}, which the plan does not write"),
        }),
        _ => Ok(given),
    }
}

fn applied(o: Option<&SideOutcome>) -> bool {
    !matches!(o, Some(SideOutcome::Failed { .. }))
}

/// Builds the store commit for one plan and its results.
fn prepare(
    plan: &Plan,
    results: &CommitResults,
    old: Option<Link>,
    now: &str,
    store: &Store,
) -> Result<Prepared, Error> {
    let pc = outcome_of(plan, Side::PartnerCenter, results.partner_center.as_ref())?;
    let crm = outcome_of(plan, Side::Crm, results.crm.as_ref())?;
    let (pc_ok, crm_ok) = (applied(pc), applied(crm));
    let entry = |direction: &str, action: &str, outcome: &str| AuditEntry {
        at: now.to_owned(),
        link_id: plan.link_id,
        referral_id: plan.referral_id.clone(),
        crm_entity: Some(plan.crm_entity),
        crm_id: plan.crm_id.clone(),
        direction: direction.to_owned(),
        action: action.to_owned(),
        outcome: outcome.to_owned(),
        reason: None,
        changes: Vec::new(),
        error_kind: None,
        error_message: None,
        cause: results.cause.clone(),
        dry_run: false,
        plan_id: Some(plan.id.clone()),
    };
    let mut audit = Vec::new();
    for action in &plan.actions {
        let (direction, name, side) = match action {
            Action::CreateCrmRecord { .. } => ("to_crm", "create_crm", Side::Crm),
            Action::UpdateCrmRecord { .. } => ("to_crm", "update_crm", Side::Crm),
            Action::CloseCrmLead { .. } => ("to_crm", "close_lead", Side::Crm),
            Action::StampReferralId { .. } => ("to_crm", "stamp_referral_id", Side::Crm),
            Action::CreateReferral { .. } => {
                ("to_partner_center", "create_referral", Side::PartnerCenter)
            }
            Action::UpdateReferral { .. } => (
                "to_partner_center",
                "update_partner_center",
                Side::PartnerCenter,
            ),
            Action::Relink { .. } => ("none", "relink", Side::Crm),
            Action::MarkOrphaned { .. } => ("none", "orphan", Side::Crm),
        };
        let outcome = match side {
            Side::Crm => crm,
            Side::PartnerCenter => pc,
        };
        let mut e = entry(
            direction,
            name,
            if applied(outcome) {
                "applied"
            } else {
                "failed"
            },
        );
        if let Some(SideOutcome::Failed { kind, message }) = outcome {
            e.error_kind = Some(kind.clone());
            e.error_message = Some(message.clone());
        }
        let write_side = if matches!(action, Action::Relink { .. } | Action::MarkOrphaned { .. }) {
            None
        } else {
            Some(side)
        };
        if let Some(ws) = write_side {
            e.changes = plan
                .fields
                .iter()
                .filter(|f| f.write.includes(ws))
                .map(|f| FieldChange {
                    field: f.field.clone(),
                    before: match ws {
                        Side::Crm => f.crm.clone(),
                        Side::PartnerCenter => f.partner_center.clone(),
                    },
                    after: f.result.clone(),
                })
                .collect();
        }
        match action {
            // A create has no per-field decisions: its fields are the new base.
            Action::CreateCrmRecord { .. } | Action::CreateReferral { .. } => {
                e.changes = plan
                    .base
                    .iter()
                    .filter(|(_, value)| !value.is_null())
                    .map(|(field, value)| FieldChange {
                        field: field.clone(),
                        before: Json::Null,
                        after: value.clone(),
                    })
                    .collect();
            }
            Action::UpdateCrmRecord { write, .. } if e.changes.is_empty() => {
                let fields: Vec<&str> = write.fields.keys().map(String::as_str).collect();
                e.reason = Some(format!("engine fields only: {}", fields.join(", ")));
            }
            Action::StampReferralId { field, .. } => {
                e.reason = Some(format!("the new referral id written to {field}"));
            }
            Action::MarkOrphaned { .. } => {
                e.reason = plan.refusals.first().map(|r| r.message.clone());
            }
            _ => {}
        }
        audit.push(e);
    }
    for c in &plan.conflicts {
        let mut e = entry(
            "none",
            "conflict",
            if c.winner.is_some() {
                "applied"
            } else {
                "queued"
            },
        );
        e.reason = Some(match c.winner {
            Some(Side::PartnerCenter) => {
                "both sides changed; Partner Center's value wins by policy".to_owned()
            }
            Some(Side::Crm) => "both sides changed; the CRM's value wins by policy".to_owned(),
            None => "both sides changed; queued for review".to_owned(),
        });
        e.changes = vec![
            FieldChange {
                field: c.field.clone(),
                before: c.base.clone(),
                after: c.partner_center.clone(),
            },
            FieldChange {
                field: c.field.clone(),
                before: c.base.clone(),
                after: c.crm.clone(),
            },
        ];
        audit.push(e);
    }
    for r in &plan.refusals {
        if r.code == "orphaned" && plan.summary == Summary::Orphan {
            continue;
        }
        let mut e = entry("none", "skip", "refused");
        e.reason = Some(match &r.field {
            Some(f) => format!("[{}] {f}: {}", r.code, r.message),
            None => format!("[{}] {}", r.code, r.message),
        });
        e.error_kind = Some(r.code.clone());
        audit.push(e);
    }
    if plan.actions.is_empty() && matches!(plan.summary, Summary::Link | Summary::Converged) {
        let mut e = entry(
            "none",
            if plan.summary == Summary::Link {
                "link"
            } else {
                "converged"
            },
            "applied",
        );
        e.reason = Some(if plan.summary == Summary::Link {
            "first sync: both sides agree; base recorded".to_owned()
        } else {
            "both sides changed the same way; base advanced".to_owned()
        });
        audit.push(e);
    }
    let audit_rows = audit.len();

    // Which link exists after the commit.
    let creates_crm = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::CreateCrmRecord { .. }));
    let creates_pc = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::CreateReferral { .. }));
    let orphaned = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::MarkOrphaned { .. }));
    let created_id = |o: Option<&SideOutcome>| match o {
        Some(SideOutcome::Applied { id, .. }) => id.clone(),
        _ => None,
    };
    let new_version = |o: Option<&SideOutcome>, seen: &Version| match o {
        Some(SideOutcome::Applied { version, .. }) if !version.is_empty() => version.clone(),
        _ => seen.clone(),
    };
    let crm_id = if creates_crm && crm_ok {
        created_id(crm).or(plan.crm_id.clone())
    } else {
        None
    };
    let referral_id = if creates_pc && pc_ok {
        created_id(pc)
    } else {
        None
    };
    if creates_pc && pc_ok && referral_id.is_none() {
        return Err(CommitError::ResultMismatch {
            plan_id: plan.id.clone(),
            referral: referral_name(plan),
            detail: "the referral was created, but its id was not given".to_owned(),
        }
        .into());
    }
    let lead_conversion = plan
        .actions
        .iter()
        .any(|a| matches!(a, Action::Relink { .. }));
    let link_exists_after = old.is_some()
        || (plan.referral_id.is_some() && plan.crm_id.is_some() && !creates_crm && !creates_pc)
        || (creates_crm && crm_ok)
        || (creates_pc && pc_ok);
    let needs_commit = old.is_some() || !plan.is_empty() || link_exists_after;
    if !link_exists_after || !needs_commit {
        return Ok(Prepared {
            commit: None,
            loose_audit: audit,
            audit_rows,
        });
    }
    let mut link = old.unwrap_or_else(|| Link {
        id: None,
        referral_id: plan.referral_id.clone(),
        crm_entity: plan.crm_entity,
        crm_id: plan.crm_id.clone(),
        base: serde_json::Map::new(),
        partner_center_version: Version::default(),
        crm_version: Version::default(),
        status: LinkStatus::Synced,
        last_error_kind: None,
        last_error: None,
        last_plan: None,
        created_at: now.to_owned(),
        updated_at: now.to_owned(),
        revision: 0,
    });
    let old_base = std::mem::take(&mut link.base);
    let mut base = if plan.base_reset {
        serde_json::Map::new()
    } else {
        old_base.clone()
    };
    base.extend(plan.base.iter().map(|(k, v)| (k.clone(), v.clone())));
    for f in &plan.fields {
        let failed = (f.write.includes(Side::Crm) && !crm_ok)
            || (f.write.includes(Side::PartnerCenter) && !pc_ok);
        if failed {
            match old_base.get(&f.field) {
                Some(v) => base.insert(f.field.clone(), v.clone()),
                None => base.remove(&f.field),
            };
        }
    }
    if (creates_crm && !crm_ok) || (creates_pc && !pc_ok) {
        base = old_base;
    }
    link.base = base;
    if let Some(id) = referral_id {
        link.referral_id = Some(id);
    } else if link.referral_id.is_none() {
        link.referral_id.clone_from(&plan.referral_id);
    }
    if (lead_conversion || creates_crm) && crm_ok {
        link.crm_entity = plan.crm_entity;
        link.crm_id = crm_id.or(plan.crm_id.clone());
    } else if link.crm_id.is_none() {
        link.crm_id.clone_from(&plan.crm_id);
    }
    // A side that failed keeps the version as seen: the base of the fields it should have taken stays old, so
    // the next plan sees them as changed again and retries.
    link.partner_center_version = new_version(pc, &plan.partner_center_version);
    link.crm_version = new_version(crm, &plan.crm_version);
    let queued: Vec<&plan::Conflict> = plan
        .conflicts
        .iter()
        .filter(|c| c.winner.is_none())
        .collect();
    let failure = [pc, crm].into_iter().flatten().find_map(|o| match o {
        SideOutcome::Failed { kind, message } => Some((kind.clone(), message.clone())),
        SideOutcome::Applied { .. } => None,
    });
    let resolved_fields: Vec<&str> = plan
        .fields
        .iter()
        .filter(|f| f.reason.as_deref() == Some("resolved by review"))
        .filter(|f| {
            (crm_ok || !f.write.includes(Side::Crm))
                && (pc_ok || !f.write.includes(Side::PartnerCenter))
        })
        .map(|f| f.field.as_str())
        .collect();
    let mut applied_reviews = Vec::new();
    let mut still_open = false;
    if let (Some(rid), true) = (&link.referral_id, link.status == LinkStatus::Conflict) {
        for r in store.reviews(None, Some(rid))? {
            match r.status {
                ReviewStatus::Resolved if resolved_fields.contains(&r.field.as_str()) => {
                    applied_reviews.push(r.id);
                }
                ReviewStatus::Open | ReviewStatus::Resolved => still_open = true,
                _ => {}
            }
        }
    }
    link.status = if orphaned {
        LinkStatus::Orphaned
    } else if failure.is_some() {
        LinkStatus::Error
    } else if !queued.is_empty() || still_open {
        LinkStatus::Conflict
    } else {
        LinkStatus::Synced
    };
    match (&failure, orphaned) {
        (Some((kind, message)), _) => {
            link.last_error_kind = Some(kind.clone());
            link.last_error = Some(message.clone());
        }
        (None, true) => {
            link.last_error_kind = Some("orphaned".to_owned());
            link.last_error = plan.refusals.first().map(|r| r.message.clone());
        }
        (None, false) => {
            link.last_error_kind = None;
            link.last_error = None;
        }
    }
    link.last_plan =
        if plan.actions.is_empty() && plan.refusals.is_empty() && plan.conflicts.is_empty() {
            None
        } else {
            Some(plan.to_json())
        };
    now.clone_into(&mut link.updated_at);
    let new_reviews = queued
        .iter()
        .map(|c| NewReview {
            referral_id: link.referral_id.clone(),
            field: c.field.clone(),
            base: c.base.clone(),
            partner_center: c.partner_center.clone(),
            crm: c.crm.clone(),
        })
        .collect();
    for e in &mut audit {
        if e.referral_id.is_none() {
            e.referral_id.clone_from(&link.referral_id);
        }
        if e.crm_id.is_none() {
            e.crm_id.clone_from(&link.crm_id);
        }
    }
    Ok(Prepared {
        commit: Some(LinkCommit {
            link,
            audit,
            new_reviews,
            applied_reviews,
            completed_intents: Vec::new(),
            event_done: None,
        }),
        loose_audit: Vec::new(),
        audit_rows,
    })
}
