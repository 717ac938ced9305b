//! Commit preparation: a plan and what the host applied become one store commit (the link's new base, versions
//! and status, audit rows, queued and applied reviews). The base advances only for fields whose writes succeeded.

use super::{CommitResults, SideOutcome, audit};
use crate::error::{CommitError, Error};
use crate::model::Version;
use crate::plan::{self, Action, Plan, Side};
use crate::store::{AuditEntry, Link, LinkCommit, LinkStatus, NewReview, ReviewStatus, Store};

pub(super) fn stale(plan: &Plan) -> CommitError {
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

pub(super) struct Prepared {
    pub(super) commit: Option<LinkCommit>,
    pub(super) loose_audit: Vec<AuditEntry>,
    pub(super) audit_rows: usize,
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
pub(super) fn prepare(
    plan: &Plan,
    results: &CommitResults,
    old: Option<Link>,
    now: &str,
    store: &Store,
) -> Result<Prepared, Error> {
    let pc = outcome_of(plan, Side::PartnerCenter, results.partner_center.as_ref())?;
    let crm = outcome_of(plan, Side::Crm, results.crm.as_ref())?;
    let (pc_ok, crm_ok) = (applied(pc), applied(crm));
    let mut audit = audit::entries(plan, pc, crm, results.cause.as_deref(), now, false);
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
    if !link_exists_after {
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
