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

mod audit;
mod commit;

use commit::{prepare, stale};

use crate::error::{Error, RecordError};
use crate::mapping::Mapping;
use crate::model::{CrmEntity, CrmRecord, Referral, Version};
use crate::plan::{self, Plan, PlanInput, ReviewState, Summary};
use crate::store::{
    AuditQuery, AuditRow, Link, LinkCommit, LinkReader, LinkStatus, Review, ReviewChoice,
    ReviewStatus, Store, StoreError,
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

/// What the host reports back for a plan: one outcome per side the plan writes. In JSON, unknown keys are refused
/// (a misspelt side must not read as "nothing written"):
/// `{"crm": {"outcome": "applied", "id": "006...", "version": {"etag": ..., "modified": ..., "stamp": ...}},
/// "partner_center": {"outcome": "failed", "kind": "throttled", "message": "..."}, "cause": "manual"}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
        Engine::new(Store::open(path)?, mapping)
    }

    /// An engine over an open store. The store is claimed for the mapping's CRM the first time, and refused when
    /// it holds another CRM's links ([`StoreError::InvalidState`]).
    pub fn new(mut store: Store, mapping: Mapping) -> Result<Engine, Error> {
        store.claim_crm(mapping.crm().as_str())?;
        Ok(Engine {
            store,
            mapping,
            clock: Box::new(OffsetDateTime::now_utc),
        })
    }

    /// Replaces the clock (tests and replays use a fixed one).
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Engine {
        self.clock = clock;
        self
    }

    /// Replaces the clock of an engine in use (simulations, replays and tests stamp plans and audit rows with the
    /// time they choose).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// The mapping.
    pub fn mapping(&self) -> &Mapping {
        &self.mapping
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `f` in one store transaction ([`Store::transaction`]): the commits `f` makes become durable
    /// together when it returns `Ok`, and none does when it returns an error or panics. Each
    /// [`Engine::commit_many`] inside still succeeds or fails as a whole, and plans inside read the
    /// transaction's own writes.
    ///
    /// For bulk work such as the first sync of a whole CRM: plan and commit a thousand pairs at a time
    /// inside, so memory stays flat while each index page is written once per transaction.
    pub fn transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Engine) -> Result<T, Error>,
    ) -> Result<T, Error> {
        crate::store::transaction_of(self, |e| &mut e.store, f)
    }

    /// Opens a transaction that stays open across calls: the explicit form of [`Engine::transaction`] (see
    /// [`Store::begin_transaction`]). End it with [`Engine::commit_transaction`] or
    /// [`Engine::rollback_transaction`].
    pub fn begin_transaction(&mut self) -> Result<(), Error> {
        Ok(self.store.begin_transaction()?)
    }

    /// Commits the transaction [`Engine::begin_transaction`] opened.
    pub fn commit_transaction(&mut self) -> Result<(), Error> {
        Ok(self.store.commit_transaction()?)
    }

    /// Rolls back the transaction [`Engine::begin_transaction`] opened.
    pub fn rollback_transaction(&mut self) -> Result<(), Error> {
        Ok(self.store.rollback_transaction()?)
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
        self.plan_json_at(referral, crm, &format_timestamp(self.now()))
    }

    /// [`Engine::plan_json`] with the planning time given (a batch shares one).
    fn plan_json_at(
        &self,
        referral: Option<&str>,
        crm: Option<&str>,
        now: &str,
    ) -> Result<Plan, Error> {
        let (referral, crm) = self.parse_pair(referral, crm)?;
        let link = self.find_link(referral.as_ref(), crm.as_ref())?;
        self.plan_with_link(referral.as_ref(), crm.as_ref(), link.as_ref(), now)
    }

    /// Parses a pair with the projection its case needs: merging a referral with an opportunity reads fewer
    /// fields than creating a record or converting a lead.
    fn parse_pair(
        &self,
        referral: Option<&str>,
        crm: Option<&str>,
    ) -> Result<(Option<Referral>, Option<CrmRecord>), Error> {
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
        Ok((referral, crm))
    }

    /// The stored link of a pair: by referral id, else by CRM record.
    pub fn find_link(
        &self,
        referral: Option<&Referral>,
        crm: Option<&CrmRecord>,
    ) -> Result<Option<Link>, Error> {
        find_link(&mut self.store.link_reader()?, referral, crm)
    }

    /// Plans a pair against its stored base. Either record may be absent (not created yet, or deleted).
    pub fn plan(
        &self,
        referral: Option<&Referral>,
        crm: Option<&CrmRecord>,
    ) -> Result<Plan, Error> {
        let link = self.find_link(referral, crm)?;
        self.plan_with_link(referral, crm, link.as_ref(), &format_timestamp(self.now()))
    }

    /// Plans a pair against a link already read from the store.
    fn plan_with_link(
        &self,
        referral: Option<&Referral>,
        crm: Option<&CrmRecord>,
        link: Option<&Link>,
        now: &str,
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
        let reviews = match link {
            Some(l) if l.status == LinkStatus::Conflict => self.review_states(l)?,
            _ => HashMap::new(),
        };
        let input = PlanInput {
            referral,
            crm,
            link,
            reviews: &reviews,
            now,
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
                    out.insert(
                        r.field,
                        ReviewState::Open {
                            partner_center: r.partner_center,
                            crm: r.crm,
                        },
                    );
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

    /// Plans many pairs (JSON text), each against its stored base, on one read snapshot of the store (one WAL
    /// read lock for the batch instead of one per look-up) and one planning time. One failing pair does not stop
    /// the others: each gets its own result, the same as [`Engine::plan_json`] on that pair. Pairs are parsed and planned one at a time,
    /// while each record is still in the CPU cache: reading the whole batch's links in one query was measured
    /// slower.
    pub fn plan_many<'a>(
        &self,
        pairs: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>,
    ) -> Result<Vec<Result<Plan, Error>>, Error> {
        // One planning time for the batch: its plans and audit rows say when the batch was planned.
        let now = format_timestamp(self.now());
        let plans = self.store.read_snapshot(|store| {
            let mut reader = store.link_reader()?;
            Ok::<_, StoreError>(
                pairs
                    .into_iter()
                    .map(|(r, c)| {
                        let (referral, crm) = self.parse_pair(r, c)?;
                        let link = find_link(&mut reader, referral.as_ref(), crm.as_ref())?;
                        self.plan_with_link(referral.as_ref(), crm.as_ref(), link.as_ref(), &now)
                    })
                    .collect(),
            )
        })??;
        Ok(plans)
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
            if plan.crm != self.mapping.crm() {
                return Err(RecordError::Mismatch {
                    detail: format!(
                        "plan {} is for {}, but this engine's mapping is for {}",
                        plan.id,
                        plan.crm.as_str(),
                        self.mapping.crm().as_str()
                    ),
                }
                .into());
            }
            let old = match plan.link_id {
                Some(id) => {
                    let link = self.store.link(id)?;
                    if link.as_ref().map(|l| l.revision) != plan.link_revision
                        || link.as_ref().is_some_and(|l| !same_pair(l, plan))
                    {
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
                // A new link whose referral or CRM record another commit linked first: that plan is stale too.
                // The store's message names the key; find the first-sync plan it is about.
                StoreError::InvalidState {
                    what: "link",
                    ref detail,
                } => {
                    let names = |p: &Plan| {
                        p.referral_id
                            .as_deref()
                            .is_some_and(|id| detail.contains(id))
                            || p.crm_id.as_deref().is_some_and(|id| detail.contains(id))
                    };
                    match items.iter().find(|(p, _)| p.link_id.is_none() && names(p)) {
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

    /// Records a plan as a dry run: its decisions become audit rows with `dry_run = 1` and outcome `planned`
    /// (refusals stay `refused`), so a preview is on file; nothing else in the store changes. Returns the number
    /// of rows written.
    pub fn record_dry_run(&mut self, plan: &Plan, cause: Option<&str>) -> Result<usize, Error> {
        let now = format_timestamp(self.now());
        let entries = audit::entries(plan, None, None, cause, &now, true);
        self.store.append_audit(&entries)?;
        Ok(entries.len())
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
    ///
    /// A value must be one the field's type accepts (a decimal for `deal_value`, a date for `close_date`, ...):
    /// anything else is refused with [`StoreError::InvalidInput`] naming the review, the field and the type, and the
    /// review stays open. The value is stored in its canonical form.
    pub fn resolve_review(
        &mut self,
        id: i64,
        choice: ReviewChoice,
        note: Option<&str>,
    ) -> Result<Review, Error> {
        let choice = match choice {
            ReviewChoice::Value(value) => ReviewChoice::Value(self.checked_resolution(id, &value)?),
            side => side,
        };
        let at = format_timestamp(self.now());
        Ok(self.store.resolve_review(id, choice, &at, note)?)
    }

    /// The canonical form of `value` as the resolution of review `id`, or why its field's type refuses it.
    fn checked_resolution(&self, id: i64, value: &Json) -> Result<Json, Error> {
        let review = self.store.review(id)?;
        let entity = match review.link_id {
            Some(link) => self
                .store
                .link(link)?
                .map_or(CrmEntity::Opportunity, |l| l.crm_entity),
            None => CrmEntity::Opportunity,
        };
        let Some(rule) = self.mapping.field(entity, &review.field) else {
            // The mapping no longer has the field: nothing to check the value against.
            return Ok(value.clone());
        };
        crate::value::Value::from_json(rule.value_type(), value)
            .map(|v| v.to_json())
            .map_err(|problem| {
                StoreError::InvalidInput {
                    what: "review resolution",
                    detail: format!(
                        "review {id} (field `{}`): {problem}; expected a {} value",
                        review.field,
                        rule.value_type().as_str()
                    ),
                }
                .into()
            })
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

/// True when `plan` was made for the pair `link` holds: a plan names its link by row id and revision, which another
/// store (a plan read back from JSON and committed to the wrong file) may have too. Ids are compared where both are
/// known, the CRM id only for the same entity (a lead conversion plans the new opportunity against the lead's link).
fn same_pair(link: &Link, plan: &Plan) -> bool {
    let referral_ok = match (&link.referral_id, &plan.referral_id) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    };
    let crm_ok = match (&link.crm_id, &plan.crm_id) {
        (Some(a), Some(b)) if link.crm_entity == plan.crm_entity => a == b,
        _ => true,
    };
    referral_ok && crm_ok
}

/// The stored link of a pair: by referral id, else by CRM record.
fn find_link(
    reader: &mut LinkReader<'_>,
    referral: Option<&Referral>,
    crm: Option<&CrmRecord>,
) -> Result<Option<Link>, Error> {
    if let Some(r) = referral {
        if let Some(l) = reader.by_referral(r.id())? {
            return Ok(Some(l));
        }
    }
    if let Some(c) = crm {
        return Ok(reader.by_crm(c.entity(), c.id())?);
    }
    Ok(None)
}
