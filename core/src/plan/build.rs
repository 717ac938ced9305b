//! The planner: the rules of DOMAIN.md §3.4 on top of a per-field three-way merge. Pure: same inputs, same plan.

use std::collections::HashMap;

use serde_json::{Map, Value as Json};

use super::{Action, Conflict, CrmWrite, FieldPlan, Plan, Refusal, Side, Summary, WriteTo};
use crate::diff::{Diff3, diff3_ref};
use crate::error::RecordError;
use crate::mapping::{ConflictPolicy, FieldRule, Mapping, SyncDirection, set_pointer};
use crate::model::{CrmEntity, CrmRecord, CrmSystem, Direction, Field, Referral, Status, Version};
use crate::store::{Link, LinkStatus};
use crate::value::{Value, ValueRef, parse_datetime};

/// What a person decided about a field held for review.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewState {
    /// Still open, queued with these values of each side: keep holding the field. While both sides still have
    /// them, the conflict is not raised again (the plan is empty, nothing is audited); once a side changes, it is
    /// raised with the new values and the open review is updated.
    Open {
        /// Partner Center's value when queued.
        partner_center: Json,
        /// The CRM's value when queued.
        crm: Json,
    },
    /// Resolved to this value: write it wherever it differs.
    Resolved(Json),
}

/// Everything a plan depends on. Absent records mean "does not exist" (deleted or never created).
#[derive(Debug, Clone, Copy)]
pub struct PlanInput<'a> {
    /// The referral, if it exists.
    pub referral: Option<&'a Referral>,
    /// The CRM record, if it exists.
    pub crm: Option<&'a CrmRecord>,
    /// The stored link, if the pair is linked.
    pub link: Option<&'a Link>,
    /// Fields of this link held for review, and their state.
    pub reviews: &'a HashMap<String, ReviewState>,
    /// The planning time as stored (RFC 3339 UTC, six fractional digits: [`crate::value::format_timestamp`]),
    /// for the audit text and the plan id. A batch of plans shares one.
    pub now: &'a str,
}

/// Namespace for Dynamics 365 opportunity ids: UUIDv5(URL namespace, "referral:" + referral id) — the same
/// derivation `bench/workload.py` uses, so existing records created that way are recognized.
fn crm_record_id(entity: CrmEntity, referral_id: &str) -> String {
    let name = match entity {
        CrmEntity::Opportunity => format!("referral:{referral_id}"),
        CrmEntity::Lead => format!("lead-referral:{referral_id}"),
    };
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, name.as_bytes()).to_string()
}

struct Builder<'a> {
    mapping: &'a Mapping,
    input: PlanInput<'a>,
    now: String,
    fields: Vec<FieldPlan>,
    conflicts: Vec<Conflict>,
    refusals: Vec<Refusal>,
    actions: Vec<Action>,
    /// The stored base (empty for an unlinked pair).
    old_base: &'a Map<String, Json>,
    /// Base values that change (the whole new base when `base_reset`).
    base: Map<String, Json>,
    base_reset: bool,
    base_changes: bool,
}

fn refusal(code: &str, field: Option<&str>, message: String) -> Refusal {
    Refusal {
        code: code.to_owned(),
        field: field.map(str::to_owned),
        message,
    }
}

/// Plans one pair.
pub fn plan(mapping: &Mapping, input: PlanInput<'_>) -> Result<Plan, RecordError> {
    check_pair(mapping, &input)?;
    let no_base = Map::new();
    let mut b = Builder {
        mapping,
        input,
        now: input.now.to_owned(),
        fields: Vec::new(),
        conflicts: Vec::new(),
        refusals: Vec::new(),
        actions: Vec::new(),
        old_base: input.link.map_or(&no_base, |l| &l.base),
        base: Map::new(),
        base_reset: false,
        base_changes: false,
    };
    let link = input.link;
    let entity = input
        .crm
        .map(CrmRecord::entity)
        .or(link.map(|l| l.crm_entity));
    let summary = match (input.referral, input.crm, link) {
        (_, _, Some(l)) if l.status == LinkStatus::Orphaned => {
            b.refusals.push(refusal("orphaned", None, format!(
                "the link is orphaned ({}); it is never recreated automatically: relink or remove it",
                l.last_error.as_deref().unwrap_or("a record was deleted")
            )));
            Summary::Refused
        }
        (Some(_), None, Some(l)) if l.crm_id.is_some() => b.orphan(Side::Crm),
        (None, Some(_), Some(l)) if l.referral_id.is_some() => b.orphan(Side::PartnerCenter),
        (Some(r), None, _) => b.create_crm(r),
        (None, Some(c), _) => b.create_referral(c),
        (Some(r), Some(c), _) => b.merge(r, c)?,
        (None, None, _) => {
            return Err(RecordError::Mismatch {
                detail: "nothing to plan: neither a referral nor a CRM record".into(),
            });
        }
    };
    let crm_entity = b
        .actions
        .iter()
        .find_map(|a| match a {
            Action::Relink { entity, .. } | Action::CreateCrmRecord { entity, .. } => Some(*entity),
            _ => None,
        })
        .or(entity)
        .unwrap_or(CrmEntity::Opportunity);
    let crm_id = b
        .actions
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::Relink { id, .. } | Action::CreateCrmRecord { id, .. } => Some(id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| {
            input
                .crm
                .map(|c| c.id().to_owned())
                .or(link.and_then(|l| l.crm_id.clone()))
        });
    let referral_id = input
        .referral
        .map(|r| r.id().to_owned())
        .or(link.and_then(|l| l.referral_id.clone()));
    let pcv = input
        .referral
        .map(|r| r.version().clone())
        .unwrap_or_default();
    let crmv = input.crm.map(|c| c.version().clone()).unwrap_or_default();
    let id = plan_id(&[
        referral_id.as_deref(),
        crm_id.as_deref(),
        pcv.etag.as_deref(),
        pcv.modified.as_deref(),
        crmv.etag.as_deref(),
        crmv.modified.as_deref(),
        crmv.stamp.as_deref(),
        Some(&b.now),
    ]);
    Ok(Plan {
        id,
        planned_at: b.now,
        crm: mapping.crm(),
        referral_id,
        link_id: link.and_then(|l| l.id),
        link_revision: link.map(|l| l.revision),
        crm_entity,
        crm_id,
        partner_center_version: pcv,
        crm_version: crmv,
        summary,
        actions: b.actions,
        fields: b.fields,
        conflicts: b.conflicts,
        refusals: b.refusals,
        base_changes: b.base_changes,
        base_reset: b.base_reset,
        base: b.base,
    })
}

/// The referral, the CRM record and the link must be about the same deal.
fn check_pair(mapping: &Mapping, input: &PlanInput<'_>) -> Result<(), RecordError> {
    if let (Some(r), Some(l)) = (input.referral, input.link) {
        if l.referral_id.as_deref().is_some_and(|id| id != r.id()) {
            return Err(RecordError::Mismatch {
                detail: format!(
                    "referral {} does not belong to link {:?} (linked to {:?})",
                    r.id(),
                    l.id,
                    l.referral_id
                ),
            });
        }
    }
    if let (Some(c), Some(l)) = (input.crm, input.link) {
        // A link names one CRM record: another record (another id, or the lead of a referral whose link now
        // points at its opportunity) is not this pair.
        let other = l
            .crm_id
            .as_deref()
            .is_some_and(|id| id != c.id() || l.crm_entity != c.entity());
        if other {
            return Err(RecordError::Mismatch {
                detail: format!(
                    "{} does not belong to this pair: the referral's link is to {} {}",
                    c.describe(),
                    l.crm_entity.as_str(),
                    l.crm_id.as_deref().unwrap_or("")
                ),
            });
        }
    }
    if let (Some(r), Some(c), Some(field)) = (
        input.referral,
        input.crm,
        &mapping.system_fields().referral_id,
    ) {
        if let Some(stamped) = c.top(field).as_str() {
            if !stamped.is_empty() && stamped.as_ref() != r.id() {
                return Err(RecordError::Mismatch {
                    detail: format!(
                        "{} carries {field} = {stamped}, not referral {}: these records are not a pair",
                        c.describe(),
                        r.id()
                    ),
                });
            }
        }
    }
    Ok(())
}

fn crm_flag(mapping: &Mapping, crm: &CrmRecord) -> bool {
    match &mapping.system_fields().sync_flag {
        None => true,
        Some(f) => match crm.top(f) {
            Field::Json(Json::Bool(true)) | Field::Raw("true") => true,
            other => other
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        },
    }
}

fn status_of(v: &Json) -> Option<Status> {
    v.as_str()
        .and_then(|s| s.split('/').next())
        .and_then(Status::parse)
}

impl Builder<'_> {
    fn orphan(&mut self, side: Side) -> Summary {
        let what = match side {
            Side::Crm => "the CRM record was deleted",
            Side::PartnerCenter => "the Partner Center referral no longer exists",
        };
        self.refusals.push(refusal(
            "orphaned",
            None,
            format!("{what}; the link is orphaned and nothing is recreated"),
        ));
        self.actions.push(Action::MarkOrphaned { side });
        Summary::Orphan
    }

    fn system_write(
        &self,
        write: &mut CrmWrite,
        crm: Option<&CrmRecord>,
        referral_id: Option<&str>,
        line: Option<&str>,
    ) {
        let sys = self.mapping.system_fields();
        if let (Some(f), Some(id)) = (&sys.referral_id, referral_id) {
            if crm.and_then(|c| c.top(f).as_str()).as_deref() != Some(id) {
                write.fields.insert(f.clone(), Json::String(id.to_owned()));
            }
        }
        let Some(line) = line else { return };
        if let Some(f) = &sys.sync_status {
            let status = format!("{} {line}", self.now);
            let current = crm.and_then(|c| c.top(f).as_str()).unwrap_or_default();
            // Compare without the time so that the same refusal is not written again and again.
            if current.split_once(' ').map(|x| x.1) != Some(line) || !write.is_empty() {
                write.fields.insert(f.clone(), Json::String(status));
            }
        }
        if let (Some(f), false) = (&sys.audit, write.is_empty()) {
            let current = crm.and_then(|c| c.top(f).as_str()).unwrap_or_default();
            let text = bounded_trail(
                &current,
                &format!("{} {line}", self.now),
                self.mapping.rules().audit_max_chars,
            );
            write.fields.insert(f.clone(), Json::String(text));
        }
    }

    /// A referral without a CRM record: create the lead or opportunity.
    fn create_crm(&mut self, r: &Referral) -> Summary {
        if r.is_closed() {
            self.refusals.push(refusal("referral_closed", None, format!(
                "referral {} is closed ({}); closed referrals are terminal and are not created in the CRM",
                r.id(),
                r.substatus().as_str()
            )));
            return Summary::Refused;
        }
        let entity = if self.mapping.rules().leads
            && r.direction() == Some(Direction::Incoming)
            && r.status() == Status::New
        {
            CrmEntity::Lead
        } else {
            CrmEntity::Opportunity
        };
        let write = self.crm_body(r, entity, None);
        let (id, upsert_key) = self.create_keys(entity, r.id());
        self.actions.push(Action::CreateCrmRecord {
            entity,
            id,
            upsert_key,
            write,
        });
        Summary::CreateCrm
    }

    fn create_keys(
        &self,
        entity: CrmEntity,
        referral_id: &str,
    ) -> (Option<String>, Option<(String, String)>) {
        match self.mapping.crm() {
            CrmSystem::Dynamics365 => (Some(crm_record_id(entity, referral_id)), None),
            CrmSystem::Salesforce => (
                None,
                self.mapping
                    .system_fields()
                    .referral_id
                    .clone()
                    .map(|f| (f, referral_id.to_owned())),
            ),
        }
    }

    /// The full CRM body for a new record from a referral (values taken from `values` where given, e.g. merged
    /// values of a converted lead, else from the referral), recording the new base.
    fn crm_body(
        &mut self,
        r: &Referral,
        entity: CrmEntity,
        values: Option<&Map<String, Json>>,
    ) -> CrmWrite {
        let mut write = CrmWrite::default();
        for rule in self.mapping.fields(entity) {
            let value = match values.and_then(|v| v.get(rule.name())) {
                Some(j) => Value::from_json(rule.value_type(), j).unwrap_or(Value::Null),
                None => match rule.read_partner_center(r) {
                    Ok(v) => v,
                    Err(e) => {
                        self.refusals.push(refusal(
                            "invalid_value",
                            Some(rule.name()),
                            e.to_string(),
                        ));
                        continue;
                    }
                },
            };
            if let Err(e) = rule.crm_write(&value, &mut write) {
                self.refusals
                    .push(refusal(&e.code, Some(rule.name()), e.message));
                continue;
            }
            if rule.direction() != SyncDirection::OnCreate {
                self.set_base(rule, &value);
            }
        }
        if let Some(f) = &self.mapping.system_fields().sync_flag {
            write.fields.insert(f.clone(), Json::Bool(true));
        }
        // A new record cannot close through an action: create it open, the next plan closes it.
        if let Some(sc) = write.state_change.take() {
            self.refusals.push(refusal(
                "close_after_create",
                Some("status"),
                format!(
                    "the record is created open and closed ({}) by the next sync",
                    sc.action
                ),
            ));
        }
        let line = format!("created from Partner Center referral {}", r.id());
        self.system_write(&mut write, None, Some(r.id()), Some(&line));
        write
    }

    fn set_base(&mut self, rule: &FieldRule, value: &Value) {
        let json = value.to_json();
        let current = if self.base_reset {
            None
        } else {
            self.old_base.get(rule.name())
        };
        if self.base_reset || current != Some(&json) {
            self.base.insert(rule.name().to_owned(), json);
            self.base_changes = true;
        }
    }

    /// A CRM record without a referral: share it with Partner Center when its sync flag is on and the co-sell
    /// requirements are met.
    fn create_referral(&mut self, c: &CrmRecord) -> Summary {
        // A record that names a referral was shared before (or is a converted lead): never share it twice.
        let stamped = self
            .mapping
            .system_fields()
            .referral_id
            .as_ref()
            .and_then(|f| c.top(f).as_str())
            .filter(|s| !s.trim().is_empty());
        if let Some(referral_id) = stamped {
            self.refusals.push(refusal(
                "referral_not_given",
                None,
                format!(
                    "{} names Partner Center referral {referral_id}; fetch that referral and plan the pair \
                     (a record is never shared twice)",
                    c.describe()
                ),
            ));
            return Summary::Refused;
        }
        if !crm_flag(self.mapping, c) {
            self.refusals.push(refusal(
                "sync_flag_off",
                None,
                format!(
                    "{} is not shared: its \"Sync with Partner Center\" flag is off",
                    c.describe()
                ),
            ));
            return Summary::Refused;
        }
        let mut body = Map::new();
        let mut base_values = Vec::new();
        for rule in self.mapping.fields(c.entity()) {
            if !rule.writes_partner_center() {
                continue;
            }
            match rule.read_crm(c) {
                Ok(v) => {
                    rule.set_partner_center(&v, &mut body);
                    if rule.direction() != SyncDirection::OnCreate {
                        base_values.push((rule.name().to_owned(), v));
                    }
                }
                Err(e) => {
                    self.refusals
                        .push(refusal("invalid_value", Some(rule.name()), e.to_string()));
                }
            }
        }
        for (pointer, value) in &self.mapping.rules().referral_defaults {
            if crate::model::pointer_in(&body, pointer).is_none() {
                set_pointer(&mut body, pointer, value.clone());
            }
        }
        body.insert(
            "externalReferenceId".into(),
            Json::String(c.id().to_owned()),
        );
        self.check_cosell(&body, c);
        if status_of(&body.get("status").cloned().unwrap_or(Json::Null)) == Some(Status::Closed) {
            self.refusals.push(refusal(
                "crm_closed",
                Some("status"),
                format!(
                    "{} is already closed; closed deals are not shared with Partner Center",
                    c.describe()
                ),
            ));
        }
        if !self.refusals.is_empty() {
            let reasons: Vec<&str> = self.refusals.iter().map(|r| r.message.as_str()).collect();
            let line = format!("not shared with Partner Center: {}", reasons.join("; "));
            let mut write = CrmWrite::default();
            self.system_write(&mut write, Some(c), None, Some(&line));
            if !write.is_empty() {
                self.actions.push(Action::UpdateCrmRecord {
                    entity: c.entity(),
                    id: c.id().to_owned(),
                    write,
                    if_match: c.version().etag.clone(),
                    if_unmodified_since: self.unmodified_since(c),
                });
            }
            return Summary::Refused;
        }
        for (name, v) in base_values {
            if let Some(rule) = self.mapping.field(c.entity(), &name) {
                self.set_base(&rule.clone(), &v);
            }
        }
        self.actions.push(Action::CreateReferral {
            body: Json::Object(body),
        });
        if let Some(field) = &self.mapping.system_fields().referral_id {
            self.actions.push(Action::StampReferralId {
                entity: c.entity(),
                id: c.id().to_owned(),
                field: field.clone(),
                if_match: c.version().etag.clone(),
                if_unmodified_since: self.unmodified_since(c),
            });
        }
        Summary::CreateReferral
    }

    fn check_cosell(&mut self, body: &Map<String, Json>, c: &CrmRecord) {
        let get = |p: &str| crate::model::pointer_in(body, p);
        let has_solution = get("/details/requirements/solutions")
            .and_then(Json::as_array)
            .is_some_and(|a| !a.is_empty());
        if !has_solution {
            self.refusals.push(refusal("missing_solution", Some("solutions"), format!(
                "Solution ID is required: add at least one Microsoft solution to {} before sharing it",
                c.describe()
            )));
        }
        let country = get("/customerProfile/address/country")
            .and_then(Json::as_str)
            .unwrap_or("");
        if !(country.len() == 2 && country.chars().all(|ch| ch.is_ascii_alphabetic())) {
            self.refusals.push(refusal("missing_country", Some("customer_country"), format!(
                "the customer account needs a two-letter country code (ISO 3166, e.g. \"US\"); found {country:?}"
            )));
        }
        let help = get("/inviteContext/assistanceRequestCode")
            .and_then(Json::as_str)
            .unwrap_or("");
        let contact = get("/customerProfile/team/0/email")
            .and_then(Json::as_str)
            .unwrap_or("");
        if !help.is_empty() && help != "Unknown" && contact.is_empty() {
            self.refusals.push(refusal("missing_contact", Some("contact_email"), format!(
                "help from Microsoft is requested ({help}), so a customer contact with an email address is required"
            )));
        }
    }

    fn unmodified_since(&self, c: &CrmRecord) -> Option<String> {
        (self.mapping.crm() == CrmSystem::Salesforce)
            .then(|| c.version().modified.clone())
            .flatten()
    }

    /// Both records exist: merge field by field against the base.
    fn merge(&mut self, r: &Referral, c: &CrmRecord) -> Result<Summary, RecordError> {
        let linked = self.input.link.is_some();
        let entity = c.entity();
        let accepted = matches!(r.status(), Status::Active)
            || (r.status() == Status::Closed && r.substatus().as_str() == "Won");
        if entity == CrmEntity::Lead && accepted {
            return Ok(self.convert_lead(r, c));
        }
        let flag = crm_flag(self.mapping, c);
        let hold = r.direction() == Some(Direction::Incoming) && r.status() == Status::New;
        let base_closed = self.old_base.get("status").and_then(status_of) == Some(Status::Closed);
        let mut crm_write = CrmWrite::default();
        let mut ops = Vec::new();
        let mut pc_held = Vec::new();
        for rule in self.mapping.fields(entity) {
            if rule.direction() == SyncDirection::OnCreate {
                continue;
            }
            let (diff, pcv, crmv, basev) = {
                let pc_ref = rule.read_partner_center_ref(r)?;
                let crm_ref = rule.read_crm_ref(c)?;
                let base_json = self.old_base.get(rule.name());
                let (base_ref, diff) = if let Some((pc_was, crm_was)) =
                    base_json.and_then(diverged_sides)
                {
                    // A dismissed conflict: each side is compared with its own value at dismissal.
                    let read = |j| ValueRef::from_json(rule.value_type(), j).ok();
                    let moved = |was: Option<ValueRef<'_>>, now: &ValueRef<'_>| {
                        !was.is_some_and(|w| rule.same_ref(&w, now))
                    };
                    let diff = match (moved(read(pc_was), &pc_ref), moved(read(crm_was), &crm_ref))
                    {
                        (false, false) => Diff3::Unchanged,
                        (true, false) => Diff3::TakePartnerCenter,
                        (false, true) => Diff3::TakeCrm,
                        (true, true) if rule.same_ref(&pc_ref, &crm_ref) => Diff3::Converged,
                        (true, true) => Diff3::Conflict,
                    };
                    (None, diff)
                } else {
                    let base_ref =
                        base_json.and_then(|j| ValueRef::from_json(rule.value_type(), j).ok());
                    let diff = diff3_ref(rule, base_ref.as_ref(), &pc_ref, &crm_ref);
                    (base_ref, diff)
                };
                if diff == Diff3::Unchanged {
                    continue; // the common case: nothing to write, nothing to record, nothing allocated
                }
                (
                    diff,
                    pc_ref.to_value(),
                    crm_ref.to_value(),
                    base_ref.map(|b| b.to_value()),
                )
            };
            let review = self.input.reviews.get(rule.name());
            let (mut result, mut write, mut reason) = match diff {
                Diff3::Unchanged | Diff3::Converged => (pcv.clone(), WriteTo::None, None),
                Diff3::TakePartnerCenter => (pcv.clone(), WriteTo::Crm, None),
                Diff3::TakeCrm => (crmv.clone(), WriteTo::PartnerCenter, None),
                Diff3::Conflict => self.settle(rule, r, c, &pcv, &crmv, basev.as_ref(), review),
            };
            // Direction: a field owned by one side never flows the other way.
            match (rule.direction(), write) {
                (SyncDirection::ToPartnerCenter, WriteTo::Crm) => {
                    (result, write, reason) = (
                        basev.clone().unwrap_or(Value::Null),
                        WriteTo::None,
                        Some(
                            "changed in Partner Center, but this field syncs from the CRM only"
                                .to_owned(),
                        ),
                    );
                }
                (SyncDirection::ToCrm, WriteTo::PartnerCenter) => {
                    (result, write, reason) = (
                        basev.clone().unwrap_or(Value::Null),
                        WriteTo::None,
                        Some(
                            "changed in the CRM, but this field syncs from Partner Center only"
                                .to_owned(),
                        ),
                    );
                }
                _ => {}
            }
            if write.includes(Side::PartnerCenter) {
                let refused = if !flag {
                    Some((
                        "sync_flag_off",
                        "the CRM record's \"Sync with Partner Center\" flag is off".to_owned(),
                    ))
                } else if r.is_closed() {
                    Some((
                        "referral_closed",
                        format!(
                            "referral is closed ({}); Partner Center does not allow edits to closed referrals",
                            r.substatus().as_str()
                        ),
                    ))
                } else if hold && rule.name() != "status" {
                    Some((
                        "on_hold",
                        "the referral is not accepted yet; CRM edits are sent once it is accepted"
                            .to_owned(),
                    ))
                } else {
                    Self::check_transition(rule, r, &result)
                };
                if let Some((code, msg)) = refused {
                    pc_held.push(refusal(code, Some(rule.name()), msg.clone()));
                    reason = Some(msg);
                    write = if write == WriteTo::Both {
                        WriteTo::Crm
                    } else {
                        WriteTo::None
                    };
                    if write == WriteTo::None {
                        result = basev.clone().unwrap_or(Value::Null);
                    }
                }
            }
            if write.includes(Side::Crm) {
                if let Err(e) = rule.crm_write(&result, &mut crm_write) {
                    self.refusals
                        .push(refusal(&e.code, Some(rule.name()), e.message.clone()));
                    reason = Some(e.message);
                    write = if write == WriteTo::Both {
                        WriteTo::PartnerCenter
                    } else {
                        WriteTo::None
                    };
                    if write == WriteTo::None {
                        result = basev.clone().unwrap_or(Value::Null);
                    }
                }
            }
            if write.includes(Side::PartnerCenter) {
                // A coarse value is written back only where it changes what Partner Center holds (`same`
                // compares in the coarser space of a lossy table).
                if !rule.same(&pcv, &result) {
                    ops.extend(rule.partner_center_ops(&result, r));
                }
            }
            // The base keeps what both sides hold; a field held back keeps its old base.
            let settled =
                write != WriteTo::None || matches!(diff, Diff3::Unchanged | Diff3::Converged);
            if settled || !linked {
                let keep = !(diff == Diff3::Conflict && write == WriteTo::None);
                if keep || basev.is_none() && rule.same(&pcv, &crmv) {
                    self.set_base(rule, &result);
                }
            }
            if basev.is_none()
                && diff == Diff3::Converged
                && write == WriteTo::None
                && reason.is_none()
            {
                continue; // first sync, both sides agree: the new base records it
            }
            self.fields.push(FieldPlan {
                field: rule.name().to_owned(),
                diff,
                base: basev.map_or(Json::Null, |v| v.to_json()),
                partner_center: pcv.to_json(),
                crm: crmv.to_json(),
                result: result.to_json(),
                write,
                reason,
            });
        }
        // Terminal: a pair that both sides agree is closed stays as it is.
        if base_closed
            && r.is_closed()
            && crm_write.is_empty()
            && ops.is_empty()
            && pc_held.is_empty()
        {
            return Ok(if self.base_changes {
                Summary::Converged
            } else {
                Summary::Nothing
            });
        }
        self.refusals.extend(pc_held);
        let line = self.change_line();
        let mut refusal_line = None;
        if !self.refusals.is_empty() {
            let msgs: Vec<&str> = self.refusals.iter().map(|x| x.message.as_str()).collect();
            refusal_line = Some(format!("held back: {}", msgs.join("; ")));
        }
        let status_line = line.as_deref().or(refusal_line.as_deref());
        let line = if crm_write.is_empty() && refusal_line.is_none() {
            None
        } else {
            status_line
        };
        self.system_write(&mut crm_write, Some(c), Some(r.id()), line);
        let wrote_crm = !crm_write.is_empty();
        let wrote_pc = !ops.is_empty();
        if wrote_crm {
            self.actions.push(Action::UpdateCrmRecord {
                entity,
                id: c.id().to_owned(),
                write: crm_write,
                if_match: c.version().etag.clone(),
                if_unmodified_since: self.unmodified_since(c),
            });
        }
        if wrote_pc {
            self.actions.push(Action::UpdateReferral {
                id: r.id().to_owned(),
                patch: ops,
                if_match: r.version().etag.clone(),
            });
        }
        let versions_moved = self.input.link.is_some_and(|l| {
            !same_version(&l.partner_center_version, r.version())
                || !same_version(&l.crm_version, c.version())
        });
        if versions_moved {
            self.base_changes = true;
        }
        Ok(if !self.conflicts.is_empty() {
            Summary::Conflict
        } else if wrote_crm && wrote_pc {
            Summary::UpdateBoth
        } else if wrote_pc {
            Summary::UpdatePartnerCenter
        } else if wrote_crm && self.fields.iter().any(|f| f.write.includes(Side::Crm)) {
            Summary::UpdateCrm
        } else if !self.refusals.is_empty() {
            Summary::Refused
        } else if !linked {
            Summary::Link
        } else if self.fields.iter().any(|f| f.diff == Diff3::Converged) {
            Summary::Converged
        } else if wrote_crm {
            Summary::UpdateCrm
        } else {
            Summary::Nothing
        })
    }

    /// A text line naming the fields this plan writes, for the CRM's status and audit fields.
    fn change_line(&self) -> Option<String> {
        let to_crm: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| f.write.includes(Side::Crm))
            .map(|f| f.field.as_str())
            .collect();
        let to_pc: Vec<&str> = self
            .fields
            .iter()
            .filter(|f| f.write.includes(Side::PartnerCenter))
            .map(|f| f.field.as_str())
            .collect();
        let mut parts = Vec::new();
        if !to_crm.is_empty() {
            parts.push(format!("from Partner Center: {}", to_crm.join(", ")));
        }
        if !to_pc.is_empty() {
            parts.push(format!("to Partner Center: {}", to_pc.join(", ")));
        }
        (!parts.is_empty()).then(|| format!("synced {}", parts.join("; ")))
    }

    /// Settles a conflict by the field's policy (direction first: an owned field has no conflict).
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        rule: &FieldRule,
        r: &Referral,
        c: &CrmRecord,
        pcv: &Value,
        crmv: &Value,
        basev: Option<&Value>,
        review: Option<&ReviewState>,
    ) -> (Value, WriteTo, Option<String>) {
        let policy = match rule.direction() {
            SyncDirection::ToCrm => ConflictPolicy::PartnerCenter,
            SyncDirection::ToPartnerCenter => ConflictPolicy::Crm,
            _ => rule.conflict(),
        };
        let winner = match (review, policy) {
            (Some(ReviewState::Resolved(v)), _) => {
                let chosen = Value::from_json(rule.value_type(), v).unwrap_or(Value::Null);
                let write = match (rule.same(&chosen, pcv), rule.same(&chosen, crmv)) {
                    (true, true) => WriteTo::None,
                    (true, false) => WriteTo::Crm,
                    (false, true) => WriteTo::PartnerCenter,
                    (false, false) => WriteTo::Both,
                };
                return (chosen, write, Some("resolved by review".into()));
            }
            (_, ConflictPolicy::PartnerCenter) => Some(Side::PartnerCenter),
            (_, ConflictPolicy::Crm) => Some(Side::Crm),
            (_, ConflictPolicy::Newest) => {
                let pc_t = r
                    .version()
                    .modified
                    .as_deref()
                    .and_then(|t| parse_datetime(t).ok());
                let crm_t = c
                    .version()
                    .modified
                    .as_deref()
                    .and_then(|t| parse_datetime(t).ok());
                match (pc_t, crm_t) {
                    (Some(p), Some(m)) if p >= m => Some(Side::PartnerCenter),
                    (Some(_), Some(_)) => Some(Side::Crm),
                    _ => None,
                }
            }
            (_, ConflictPolicy::Review) => None,
        };
        if winner.is_none()
            && let Some(ReviewState::Open {
                partner_center,
                crm,
            }) = review
        {
            let unchanged = |queued: &Json, now: &Value| {
                Value::from_json(rule.value_type(), queued).is_ok_and(|q| rule.same(&q, now))
            };
            if unchanged(partner_center, pcv) && unchanged(crm, crmv) {
                // Already in the review queue as it is: hold the field without raising the conflict again.
                return (basev.cloned().unwrap_or(Value::Null), WriteTo::None, None);
            }
        }
        self.conflicts.push(Conflict {
            field: rule.name().to_owned(),
            base: basev.map_or(Json::Null, Value::to_json),
            partner_center: pcv.to_json(),
            crm: crmv.to_json(),
            policy,
            winner,
        });
        match winner {
            Some(Side::PartnerCenter) => (
                pcv.clone(),
                WriteTo::Crm,
                Some(format!(
                    "conflict: Partner Center wins ({})",
                    policy_name(policy)
                )),
            ),
            Some(Side::Crm) => (
                crmv.clone(),
                WriteTo::PartnerCenter,
                Some(format!("conflict: CRM wins ({})", policy_name(policy))),
            ),
            None => (
                basev.cloned().unwrap_or(Value::Null),
                WriteTo::None,
                Some(if policy == ConflictPolicy::Newest {
                    "conflict: modification times unknown, queued for review".to_owned()
                } else {
                    "conflict: queued for review".to_owned()
                }),
            ),
        }
    }

    /// Partner Center refuses invalid status transitions: check before writing.
    fn check_transition(
        rule: &FieldRule,
        r: &Referral,
        target: &Value,
    ) -> Option<(&'static str, String)> {
        if rule.partner_center_pointers().first().map(String::as_str) != Some("/status") {
            return None;
        }
        let Value::Enum(s) = target else { return None };
        let next = s.split('/').next().and_then(Status::parse)?;
        if r.status().may_move_to(next) {
            return None;
        }
        Some((
            "invalid_transition",
            format!(
                "Partner Center does not allow moving a referral from {} to {}",
                r.status().as_str(),
                next.as_str()
            ),
        ))
    }

    /// The referral of a lead was accepted: create the opportunity, close the lead, re-point the link.
    fn convert_lead(&mut self, r: &Referral, lead: &CrmRecord) -> Summary {
        let mut values = Map::new();
        for rule in self.mapping.fields(CrmEntity::Lead) {
            if let (Ok(v), true) = (rule.read_crm(lead), rule.name() != "status") {
                if !v.is_empty() {
                    values.insert(rule.name().to_owned(), v.to_json());
                }
            }
        }
        // Partner Center's values win where the lead has none; the accepted status always comes from it.
        self.base.clear();
        self.base_reset = true;
        let write = self.crm_body(r, CrmEntity::Opportunity, Some(&values));
        let (id, upsert_key) = self.create_keys(CrmEntity::Opportunity, r.id());
        self.actions.push(Action::CreateCrmRecord {
            entity: CrmEntity::Opportunity,
            id: id.clone(),
            upsert_key,
            write,
        });
        let mut close = CrmWrite::default();
        if let Some(status) = self.mapping.field(CrmEntity::Lead, "status") {
            let accepted = Value::Enum("Active/Accepted".into());
            if let Err(e) = status.crm_write(&accepted, &mut close) {
                self.refusals
                    .push(refusal(&e.code, Some("status"), e.message));
            }
        }
        let line = format!(
            "converted: referral {} accepted, opportunity created",
            r.id()
        );
        self.system_write(&mut close, Some(lead), None, Some(&line));
        self.actions.push(Action::CloseCrmLead {
            id: lead.id().to_owned(),
            write: close,
        });
        self.actions.push(Action::Relink {
            entity: CrmEntity::Opportunity,
            id,
        });
        self.base_changes = true;
        Summary::ConvertLead
    }
}

/// The key under which a base entry records a dismissed conflict: `{"$diverged": {"partner_center": …,
/// "crm": …}}`, each side's value when the conflict was dismissed.
pub(crate) const DIVERGED: &str = "$diverged";

/// The two sides' values of a dismissed conflict, if this base entry records one.
fn diverged_sides(base: &Json) -> Option<(&Json, &Json)> {
    let d = base.as_object()?.get(DIVERGED)?;
    Some((d.get("partner_center")?, d.get("crm")?))
}

/// A plan's id: 64-bit FNV-1a over the pair, both versions and the planning time, as 16 hex digits.
/// Deterministic (the same inputs give the same id) and cheap; it names a plan in the audit, it is not a secret.
fn plan_id(parts: &[Option<&str>]) -> String {
    let mut h = crate::fnv::Fnv1a::new();
    for part in parts {
        h.write(part.unwrap_or("").as_bytes()).write(&[0x1f]);
    }
    format!("{:016x}", h.finish())
}

fn policy_name(p: ConflictPolicy) -> &'static str {
    match p {
        ConflictPolicy::PartnerCenter => "policy partner_center",
        ConflictPolicy::Crm => "policy crm",
        ConflictPolicy::Newest => "policy newest",
        ConflictPolicy::Review => "policy review",
    }
}

/// True when the record's version `seen` is the one stored for it. Only the parts known on both sides count: a
/// host may report only the part its write returns (an `ETag`, a `LastModifiedDate`), and a record read later also
/// carries the others; that is the same version, not a change to record. With no part in common it is a change.
fn same_version(stored: &Version, seen: &Version) -> bool {
    let parts = [
        (&stored.etag, &seen.etag),
        (&stored.modified, &seen.modified),
        (&stored.stamp, &seen.stamp),
    ];
    let mut common = false;
    for (a, b) in parts {
        if let (Some(a), Some(b)) = (a, b) {
            if a != b {
                return false;
            }
            common = true;
        }
    }
    common || (stored.is_empty() && seen.is_empty())
}

/// Appends a line to an audit trail and drops the oldest lines beyond `max` characters.
fn bounded_trail(current: &str, line: &str, max: usize) -> String {
    let mut lines: Vec<&str> = current.lines().filter(|l| !l.is_empty()).collect();
    lines.push(line);
    let mut total: usize = lines.iter().map(|l| l.chars().count() + 1).sum();
    let mut start = 0;
    while total > max && start + 1 < lines.len() {
        total -= lines[start].chars().count() + 1;
        start += 1;
    }
    let mut out = lines[start..].join("\n");
    if out.chars().count() > max {
        out = out.chars().take(max).collect();
    }
    out
}
