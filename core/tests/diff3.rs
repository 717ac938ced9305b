//! The three-way diff of one canonical field, directly and through whole plans: every outcome, the no-base case,
//! and typed equality (numbers, sets, dates, lossy enums compared in the coarser CRM space).

// `e`, `r`, `c`, `p`, `a`: engine, referral, CRM record, plan, applied — the same in every test.
#![allow(clippy::many_single_char_names)]

mod common;

use common::{
    RID, bump_crm, bump_referral, dy_opportunity, engine, link, plan, referral, sf_opportunity,
    stored_link, with_status,
};
use cosell_core::diff::{Diff3, diff3};
use cosell_core::mapping::FieldRule;
use cosell_core::model::{CrmEntity, CrmSystem};
use cosell_core::plan::{Side, Summary};
use cosell_core::value::{Value, ValueType};
use cosell_core::{CommitResults, Mapping};
use serde_json::json;

fn rule(profile: &str, entity: CrmEntity, name: &str) -> FieldRule {
    Mapping::builtin(profile)
        .expect("profile")
        .field(entity, name)
        .expect("field")
        .clone()
}

fn v(ty: ValueType, j: &serde_json::Value) -> Value {
    Value::from_json(ty, j).expect("typed value")
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

#[test]
fn every_outcome_with_a_base() {
    let notes = rule("salesforce", CrmEntity::Opportunity, "notes");
    let (a, b, c) = (text("a"), text("b"), text("c"));
    assert_eq!(diff3(&notes, Some(&a), &a, &a), Diff3::Unchanged);
    assert_eq!(diff3(&notes, Some(&a), &b, &a), Diff3::TakePartnerCenter);
    assert_eq!(diff3(&notes, Some(&a), &a, &b), Diff3::TakeCrm);
    assert_eq!(diff3(&notes, Some(&a), &b, &b), Diff3::Converged);
    assert_eq!(diff3(&notes, Some(&a), &b, &c), Diff3::Conflict);
    // Clearing a value is a change like any other.
    assert_eq!(
        diff3(&notes, Some(&a), &Value::Null, &a),
        Diff3::TakePartnerCenter
    );
    assert_eq!(diff3(&notes, Some(&a), &a, &Value::Null), Diff3::TakeCrm);
}

#[test]
fn without_a_base_agreement_converges_and_difference_conflicts() {
    let notes = rule("salesforce", CrmEntity::Opportunity, "notes");
    assert_eq!(
        diff3(&notes, None, &text("x"), &text("x")),
        Diff3::Converged
    );
    assert_eq!(diff3(&notes, None, &text("x"), &text("y")), Diff3::Conflict);
    assert_eq!(
        diff3(&notes, None, &Value::Null, &text("")),
        Diff3::Converged,
        "empty text and no value are the same"
    );
}

#[test]
fn decimals_compare_by_value() {
    let deal = rule("salesforce", CrmEntity::Opportunity, "deal_value");
    let int = v(ValueType::Decimal, &json!(120_000));
    let float = v(ValueType::Decimal, &json!(120_000.0));
    let text_number = v(ValueType::Decimal, &json!("120000.00"));
    assert!(deal.same(&int, &float));
    assert!(deal.same(&int, &text_number));
    assert_eq!(diff3(&deal, Some(&int), &float, &int), Diff3::Unchanged);
    assert_eq!(diff3(&deal, None, &int, &float), Diff3::Converged);
    let other = v(ValueType::Decimal, &json!(120_000.01));
    assert_eq!(diff3(&deal, Some(&int), &int, &other), Diff3::TakeCrm);
}

#[test]
fn sets_ignore_order_and_duplicates() {
    let sol = rule("salesforce", CrmEntity::Opportunity, "solutions");
    let a = v(ValueType::Set, &json!(["SOL-2", "SOL-1"]));
    let b = v(ValueType::Set, &json!(["SOL-1", "SOL-2", "SOL-1"]));
    assert!(sol.same(&a, &b));
    assert_eq!(diff3(&sol, Some(&a), &b, &a), Diff3::Unchanged);
    let c = v(ValueType::Set, &json!(["SOL-1"]));
    assert_eq!(diff3(&sol, Some(&a), &a, &c), Diff3::TakeCrm);
}

#[test]
fn dates_compare_as_dates() {
    let close = rule("salesforce", CrmEntity::Opportunity, "close_date");
    let pc = v(ValueType::Date, &json!("2027-03-15T00:00:00Z"));
    let crm = v(ValueType::Date, &json!("2027-03-15"));
    assert!(close.same(&pc, &crm));
    assert_eq!(diff3(&close, None, &pc, &crm), Diff3::Converged);
    assert_eq!(diff3(&close, Some(&crm), &pc, &crm), Diff3::Unchanged);
    let next_day = v(ValueType::Date, &json!("2027-03-16"));
    assert_eq!(diff3(&close, Some(&crm), &pc, &next_day), Diff3::TakeCrm);
}

#[test]
fn lossy_status_is_compared_in_the_coarser_crm_space() {
    let status = rule("salesforce", CrmEntity::Opportunity, "status");
    let pending = Value::Enum("New/Pending".into());
    let received = Value::Enum("New/Received".into());
    let active = Value::Enum("Active/Accepted".into());
    assert!(status.same(&pending, &received), "both are Prospecting");
    assert_eq!(
        status.compare_key(&received),
        Value::Enum("Prospecting".into())
    );
    assert_eq!(
        diff3(&status, Some(&pending), &received, &pending),
        Diff3::Unchanged
    );
    assert_eq!(diff3(&status, None, &received, &pending), Diff3::Converged);
    assert_eq!(
        diff3(&status, Some(&pending), &active, &pending),
        Diff3::TakePartnerCenter
    );
    // Dynamics: New/* and Active/Accepted are all statecode 0 / statuscode 1.
    let dy = rule("dynamics365", CrmEntity::Opportunity, "status");
    assert!(dy.same(&pending, &active));
    let lost = Value::Enum("Closed/Lost".into());
    let declined = Value::Enum("Closed/Declined".into());
    assert_eq!(
        diff3(&dy, Some(&active), &declined, &lost),
        Diff3::Converged
    );
}

// ------------------------------------------------------------------ the same facts through whole plans

#[test]
fn typed_equality_holds_for_real_records() {
    let e = engine("salesforce");
    let mut r = referral();
    r["details"]["dealValue"] = json!(120_000);
    r["details"]["closingDateTime"] = json!("2027-03-15T00:00:00Z");
    r["details"]["requirements"]["solutions"] = json!([{"id": "SOL-B"}, {"id": "SOL-A"}]);
    let mut c = sf_opportunity(&r);
    c["Amount"] = json!(120_000.0);
    c["CloseDate"] = json!("2027-03-15");
    c["Products__c"] = json!("SOL-A; SOL-B;");
    let p = plan(&e, Some(&r), Some(&c));
    assert_eq!(p.summary, Summary::Link, "{p}");
    assert!(p.fields.iter().all(|f| f.diff == Diff3::Converged), "{p}");
}

#[test]
fn pending_vs_received_is_not_a_change() {
    let mut e = engine("salesforce");
    let r = with_status(referral(), "New", "Pending");
    let c = sf_opportunity(&r);
    assert_eq!(c["StageName"], json!("Prospecting"));
    link(&mut e, &r, &c);
    let mut r2 = with_status(r.clone(), "New", "Received");
    bump_referral(&mut r2);
    let p = plan(&e, Some(&r2), Some(&c));
    assert!(p.actions.is_empty(), "{p}");
    // Plans list only the fields that changed; when status is listed, it is unchanged.
    if let Some(f) = p.fields.iter().find(|f| f.field == "status") {
        assert_eq!(f.diff, Diff3::Unchanged, "{p}");
    }
    e.commit(&p, &CommitResults::default()).expect("commit");
    assert_eq!(stored_link(&e, RID).base["status"], json!("New/Pending"));
}

#[test]
fn received_referral_links_to_a_prospecting_opportunity() {
    let mut e = engine("salesforce");
    let r = with_status(referral(), "New", "Received");
    let c = sf_opportunity(&r);
    let p = plan(&e, Some(&r), Some(&c));
    assert_eq!(p.summary, Summary::Link, "{p}");
    e.commit(&p, &CommitResults::default()).expect("commit");
    // The base keeps Partner Center's finer value.
    assert_eq!(stored_link(&e, RID).base["status"], json!("New/Received"));
}

#[test]
fn a_coarse_crm_status_keeps_the_current_pc_value_that_maps_to_it() {
    // Partner Center declines while the CRM closes as lost: both are "Closed Lost" — converged, nothing written
    // back, and Partner Center's finer value is kept.
    let mut e = engine("salesforce");
    let r = referral();
    let c = sf_opportunity(&r);
    link(&mut e, &r, &c);
    let mut r2 = with_status(r.clone(), "Closed", "Declined");
    bump_referral(&mut r2);
    let mut c2 = c.clone();
    c2["StageName"] = json!("Closed Lost");
    bump_crm(CrmSystem::Salesforce, &mut c2);
    let p = plan(&e, Some(&r2), Some(&c2));
    assert!(!p.writes(Side::PartnerCenter), "{p}");
    let status = p
        .fields
        .iter()
        .find(|f| f.field == "status")
        .expect("status");
    assert_eq!(status.diff, Diff3::Converged);
    assert_eq!(status.result, json!("Closed/Declined"));
    e.commit(&p, &CommitResults::default()).expect("commit");
    assert_eq!(
        stored_link(&e, RID).base["status"],
        json!("Closed/Declined")
    );
}

#[test]
fn a_coarse_crm_status_change_is_written_as_its_table_value() {
    let mut e = engine("salesforce");
    let r = referral();
    let c = sf_opportunity(&r);
    link(&mut e, &r, &c);
    let mut c2 = c.clone();
    c2["StageName"] = json!("Closed Lost");
    bump_crm(CrmSystem::Salesforce, &mut c2);
    let p = plan(&e, Some(&r), Some(&c2));
    let ops = p.partner_center_patch().expect("patch");
    let pairs: Vec<(&str, &serde_json::Value)> =
        ops.iter().map(|o| (o.path.as_str(), &o.value)).collect();
    assert_eq!(
        pairs,
        [
            ("/status", &json!("Closed")),
            ("/substatus", &json!("Lost"))
        ]
    );
}

#[test]
fn dynamics_open_states_are_one_coarse_value() {
    let mut e = engine("dynamics365");
    let r = with_status(referral(), "New", "Pending");
    let c = dy_opportunity(&r);
    link(&mut e, &r, &c);
    let mut r2 = with_status(r.clone(), "Active", "Accepted");
    bump_referral(&mut r2);
    let p = plan(&e, Some(&r2), Some(&c));
    assert!(
        p.actions.is_empty(),
        "accepting does not change statecode/statuscode: {p}"
    );
}
