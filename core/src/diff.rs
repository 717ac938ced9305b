//! Three-way diff of one canonical field: the stored base against Partner Center's and the CRM's current values.
//!
//! Equality is the field's own ([`FieldRule::same`]): typed, and in the coarser space of a lossy enum table.

use serde::{Deserialize, Serialize};

use crate::mapping::FieldRule;
use crate::value::{Value, ValueRef};

/// What happened to a field since the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Diff3 {
    /// Neither side changed.
    Unchanged,
    /// Only Partner Center changed: take its value.
    TakePartnerCenter,
    /// Only the CRM changed: take its value.
    TakeCrm,
    /// Both changed to the same value (or, without a base, both already agree): nothing to write.
    Converged,
    /// Both changed to different values (or, without a base, they differ).
    Conflict,
}

/// Diffs one field. `base` is `None` when the pair has never been synced (or the field is new to the mapping).
pub fn diff3(rule: &FieldRule, base: Option<&Value>, pc: &Value, crm: &Value) -> Diff3 {
    diff3_ref(
        rule,
        base.map(Value::as_ref).as_ref(),
        &pc.as_ref(),
        &crm.as_ref(),
    )
}

/// [`diff3`] on borrowed values: the planner's hot path, which allocates nothing for an unchanged field.
pub fn diff3_ref(
    rule: &FieldRule,
    base: Option<&ValueRef<'_>>,
    pc: &ValueRef<'_>,
    crm: &ValueRef<'_>,
) -> Diff3 {
    let Some(base) = base else {
        return if rule.same_ref(pc, crm) {
            Diff3::Converged
        } else {
            Diff3::Conflict
        };
    };
    match (!rule.same_ref(base, pc), !rule.same_ref(base, crm)) {
        (false, false) => Diff3::Unchanged,
        (true, false) => Diff3::TakePartnerCenter,
        (false, true) => Diff3::TakeCrm,
        (true, true) if rule.same_ref(pc, crm) => Diff3::Converged,
        (true, true) => Diff3::Conflict,
    }
}
