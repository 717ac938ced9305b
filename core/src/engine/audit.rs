//! The audit rows of a plan: one per action (with its field changes), one per conflict, one per refusal, and
//! one for a first sync or a convergence that writes nothing. The same rows are written for a commit (with each
//! side's outcome) and for a dry run (`dry_run = 1`, outcome `planned`).

use serde_json::Value as Json;

use super::SideOutcome;
use crate::plan::{Action, Plan, Side, Summary};
use crate::store::{AuditEntry, FieldChange};

/// The outcome text of an action on a side: `planned` for a dry run, else `applied` or `failed`.
fn side_outcome(dry_run: bool, outcome: Option<&SideOutcome>) -> &'static str {
    match (dry_run, outcome) {
        (true, _) => "planned",
        (false, Some(SideOutcome::Failed { .. })) => "failed",
        (false, _) => "applied",
    }
}

/// The audit rows of `plan`, given each side's outcome (`None` for a side the plan does not write).
pub(super) fn entries(
    plan: &Plan,
    pc: Option<&SideOutcome>,
    crm: Option<&SideOutcome>,
    cause: Option<&str>,
    now: &str,
    dry_run: bool,
) -> Vec<AuditEntry> {
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
        cause: cause.map(str::to_owned),
        dry_run,
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
        let mut e = entry(direction, name, side_outcome(dry_run, outcome));
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
        let outcome = match (dry_run, c.winner) {
            (true, _) => "planned",
            (false, Some(_)) => "applied",
            (false, None) => "queued",
        };
        let mut e = entry("none", "conflict", outcome);
        let (pc, crm) = (c.partner_center.to_string(), c.crm.to_string());
        e.reason = Some(match c.winner {
            Some(Side::PartnerCenter) => {
                format!(
                    "both sides changed (Partner Center {pc}, CRM {crm}); Partner Center's value wins by policy"
                )
            }
            Some(Side::Crm) => {
                format!(
                    "both sides changed (Partner Center {pc}, CRM {crm}); the CRM's value wins by policy"
                )
            }
            None => {
                format!("both sides changed (Partner Center {pc}, CRM {crm}); queued for review")
            }
        });
        // One row: from the base to the value that won (the base itself while the conflict waits for review).
        let after = match c.winner {
            Some(Side::PartnerCenter) => c.partner_center.clone(),
            Some(Side::Crm) => c.crm.clone(),
            None => c.base.clone(),
        };
        e.changes = vec![FieldChange {
            field: c.field.clone(),
            before: c.base.clone(),
            after,
        }];
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
            if dry_run { "planned" } else { "applied" },
        );
        e.reason = Some(if plan.summary == Summary::Link {
            "first sync: both sides agree; base recorded".to_owned()
        } else {
            "both sides changed the same way; base advanced".to_owned()
        });
        audit.push(e);
    }
    audit
}
