//! The readable dry-run: `println!("{plan}")` shows the actions, each field's before/after and the reasons.

use std::fmt;

use serde_json::Value as Json;

use super::{Action, Plan, Side, WriteTo};
use crate::diff::Diff3;

fn show(v: &Json) -> String {
    match v {
        Json::Null => "(empty)".to_owned(),
        Json::String(s) => format!("{:?}", crate::error::shorten(s)),
        other => crate::error::shorten(&other.to_string()),
    }
}

/// Text longer than [`show`] prints starts the same as others, then differs (notes that grew): where the first of
/// `v`'s `others` that differs from it stops agreeing with it, so that the change is visible.
fn show_near(v: &Json, others: &[&Json]) -> String {
    const LEAD: usize = 20;
    let Json::String(text) = v else {
        return show(v);
    };
    let shown = show(v);
    let first_difference = others.iter().find_map(|o| match o {
        Json::String(other) if other != text => Some(
            text.chars()
                .zip(other.chars())
                .take_while(|(a, b)| a == b)
                .count(),
        ),
        _ => None,
    });
    match first_difference {
        // Past what `show` keeps (80 characters): show the text from just before it.
        Some(at) if at >= 80 => {
            let tail: String = text.chars().skip(at - LEAD).collect();
            format!("\"…{}", &show(&Json::String(tail))[1..])
        }
        _ => shown,
    }
}

/// The diff's name as a dry-run reader says it.
fn diff_label(d: Diff3) -> &'static str {
    match d {
        Diff3::Unchanged => "unchanged",
        Diff3::TakePartnerCenter => "changed in PC",
        Diff3::TakeCrm => "changed in CRM",
        Diff3::Converged => "both, same",
        Diff3::Conflict => "conflict",
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::PartnerCenter => "Partner Center",
        Side::Crm => "CRM",
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
                    writeln!(f, "  mark orphaned ({} record gone)", side_name(*side))?;
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
            let (base, pc, crm) = (&fp.base, &fp.partner_center, &fp.crm);
            writeln!(
                f,
                "  {:<14} {:<15} base {} | PC {} | CRM {} ⇒ {} {}{}",
                fp.field,
                diff_label(fp.diff),
                show_near(base, &[pc, crm]),
                show_near(pc, &[base, crm]),
                show_near(crm, &[base, pc]),
                show_near(&fp.result, &[base]),
                arrow,
                fp.reason
                    .as_ref()
                    .map(|r| format!("  ({r})"))
                    .unwrap_or_default()
            )?;
        }
        for c in &self.conflicts {
            let outcome = match c.winner {
                Some(side) => format!("{} wins", side_name(side)),
                None => "queued for review".to_owned(),
            };
            writeln!(
                f,
                "  conflict {}: PC {} vs CRM {} — {}",
                c.field,
                show_near(&c.partner_center, &[&c.crm]),
                show_near(&c.crm, &[&c.partner_center]),
                outcome
            )?;
        }
        for r in &self.refusals {
            writeln!(f, "  refused [{}]: {}", r.code, r.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_that_differ_late_show_where_they_differ() {
        let start = "x".repeat(100);
        let base = Json::String(format!("{start} old ending"));
        let pc = Json::String(format!("{start} new ending"));
        let shown = show_near(&pc, &[&base]);
        assert!(shown.starts_with("\"…"), "{shown}");
        assert!(shown.contains("new ending"), "{shown}");
        // Short or early-differing texts are shown as `show` shows them.
        assert_eq!(show_near(&Json::String("a".into()), &[&base]), "\"a\"");
        let early = Json::String(format!("y{start}"));
        assert_eq!(show_near(&early, &[&pc]), show(&early));
        assert_eq!(show_near(&Json::from(5), &[&pc]), "5");
        assert_eq!(diff_label(Diff3::TakePartnerCenter), "changed in PC");
    }
}
