//! The readable dry-run: `println!("{plan}")` shows the actions, each field's before/after and the reasons.

use std::fmt;

use serde_json::Value as Json;

use super::{Action, Plan, WriteTo};
use crate::diff::Diff3;

fn show(v: &Json) -> String {
    match v {
        Json::Null => "(empty)".to_owned(),
        Json::String(s) => format!("{:?}", crate::error::shorten(s)),
        other => crate::error::shorten(&other.to_string()),
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "plan {} — referral {} ↔ {} {} {}: {}",
            &self.id[..8.min(self.id.len())],
            self.referral_id.as_deref().unwrap_or("(new)"),
            self.crm.as_str(),
            self.crm_entity.as_str(),
            self.crm_id.as_deref().unwrap_or("(new)"),
            self.summary.as_str()
        )?;
        if self.actions.is_empty() {
            writeln!(f, "  actions: none")?;
        }
        for a in &self.actions {
            match a {
                Action::CreateCrmRecord {
                    entity, id, write, ..
                } => writeln!(
                    f,
                    "  create CRM {} {} with {} field(s){}",
                    entity.as_str(),
                    id.as_deref().unwrap_or("(upsert by referral id)"),
                    write.fields.len(),
                    if write.lookups.is_empty() {
                        String::new()
                    } else {
                        format!(", {} lookup(s)", write.lookups.len())
                    }
                )?,
                Action::UpdateCrmRecord { id, write, .. } => {
                    let mut names: Vec<&str> = write.fields.keys().map(String::as_str).collect();
                    names.extend(write.lookups.iter().map(|l| l.bind.as_str()));
                    if let Some(sc) = &write.state_change {
                        names.push(if sc.action == "win" {
                            "(win)"
                        } else {
                            "(lose)"
                        });
                    }
                    writeln!(f, "  update CRM {id}: {}", names.join(", "))?;
                }
                Action::CloseCrmLead { id, .. } => {
                    writeln!(f, "  close CRM lead {id} (converted)")?;
                }
                Action::CreateReferral { .. } => writeln!(f, "  create Partner Center referral")?,
                Action::StampReferralId { id, field, .. } => {
                    writeln!(f, "  write the new referral id to CRM {id} ({field})")?;
                }
                Action::UpdateReferral { id, patch, .. } => {
                    let paths: Vec<String> = patch
                        .iter()
                        .map(|p| format!("{} {}", p.op, p.path))
                        .collect();
                    writeln!(f, "  update referral {id}: {}", paths.join(", "))?;
                }
                Action::Relink { entity, id } => {
                    writeln!(
                        f,
                        "  relink to {} {}",
                        entity.as_str(),
                        id.as_deref().unwrap_or("(created)")
                    )?;
                }
                Action::MarkOrphaned { side } => {
                    writeln!(f, "  mark orphaned ({side:?} record gone)")?;
                }
            }
        }
        for fp in &self.fields {
            if fp.diff == Diff3::Unchanged && fp.reason.is_none() {
                continue;
            }
            let arrow = match fp.write {
                WriteTo::None => "  ",
                WriteTo::Crm => "→ CRM",
                WriteTo::PartnerCenter => "→ PC",
                WriteTo::Both => "→ both",
            };
            writeln!(
                f,
                "  {:<14} {:<18} base {} | PC {} | CRM {} ⇒ {} {}{}",
                fp.field,
                format!("{:?}", fp.diff),
                show(&fp.base),
                show(&fp.partner_center),
                show(&fp.crm),
                show(&fp.result),
                arrow,
                fp.reason
                    .as_ref()
                    .map(|r| format!("  ({r})"))
                    .unwrap_or_default()
            )?;
        }
        for c in &self.conflicts {
            let outcome = match c.winner {
                Some(side) => format!("{side:?} wins"),
                None => "queued for review".to_owned(),
            };
            writeln!(
                f,
                "  conflict {}: PC {} vs CRM {} — {}",
                c.field,
                show(&c.partner_center),
                show(&c.crm),
                outcome
            )?;
        }
        for r in &self.refusals {
            writeln!(f, "  refused [{}]: {}", r.code, r.message)?;
        }
        Ok(())
    }
}
