//! End-to-end scenarios against the built-in Dynamics 365 profile: deterministic record ids, symbolic lookups,
//! close through WinOpportunity/LoseOpportunity, `If-Match` preconditions, leads and echo suppression.

// `e`, `r`, `c`, `p`, `a`: engine, referral, CRM record, plan, applied — the same in every test.
#![allow(clippy::many_single_char_names)]

mod common;

use common::{
    DY_LEAD, DY_OPP, RID, apply, audit_of, bump_crm, bump_referral, crm_fields,
    crm_only_opportunity, dy_lead, dy_opportunity, engine, incoming_new_referral, link, pc_ops,
    plan, referral, stored_link, sync, with_status,
};
use cosell_core::model::{CrmEntity, CrmSystem};
use cosell_core::plan::{Action, Summary};
use cosell_core::store::LinkStatus;
use serde_json::{Value, json};

const DY: CrmSystem = CrmSystem::Dynamics365;

/// `uuid.uuid5(uuid.NAMESPACE_URL, "referral:" + RID)` computed with Python.
const OPP_ID_FROM_PYTHON: &str = "3b3f124b-ac94-5d3e-8dd9-6c954716e522";
/// `uuid.uuid5(uuid.NAMESPACE_URL, "lead-referral:" + RID)` computed with Python.
const LEAD_ID_FROM_PYTHON: &str = "fb22aae7-912a-514b-9e47-265126addc8c";

fn keys(m: &serde_json::Map<String, Value>) -> Vec<&str> {
    let mut k: Vec<&str> = m.keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn referral_only_creates_an_opportunity_with_a_uuid5_id_and_symbolic_lookups() {
    let mut e = engine("dynamics365");
    let mut r = referral();
    r["details"]["currency"] = json!("EUR");
    let p = plan(&e, Some(&r), None);
    assert_eq!(p.summary, Summary::CreateCrm, "{p}");
    let [
        Action::CreateCrmRecord {
            entity,
            id,
            upsert_key,
            write,
        },
    ] = p.actions.as_slice()
    else {
        panic!("one create expected: {p}");
    };
    assert_eq!(*entity, CrmEntity::Opportunity);
    assert_eq!(id.as_deref(), Some(OPP_ID_FROM_PYTHON));
    assert_eq!(p.crm_id.as_deref(), Some(OPP_ID_FROM_PYTHON));
    assert_eq!(*upsert_key, None);
    let f = &write.fields;
    assert_eq!(f["name"], json!("Contoso - Azure migration"));
    assert_eq!(f["estimatedvalue"], json!(120_000));
    assert_eq!(f["estimatedclosedate"], json!("2027-03-15"));
    assert_eq!(f["description"], json!("Needs landing zone"));
    assert_eq!(f["statecode"], json!(0));
    assert_eq!(f["statuscode"], json!(1));
    assert_eq!(f["cosell_products"], json!("SOL-12345-ABC"));
    assert_eq!(f["cosell_referralidentifier"], json!(RID));
    assert_eq!(f["cosell_syncwithpartnercenter"], json!(true));
    assert!(
        !f.contains_key("transactioncurrencyid"),
        "the currency is a lookup, not a field write: {f:?}"
    );
    let currency = write
        .lookups
        .iter()
        .find(|l| l.bind == "transactioncurrencyid")
        .expect("currency lookup");
    assert_eq!(currency.entity, "transactioncurrencies");
    assert_eq!(currency.keys.len(), 1);
    assert_eq!(currency.keys["isocurrencycode"], json!("EUR"));
    assert!(!currency.create, "currencies are never created");
    let account = write
        .lookups
        .iter()
        .find(|l| l.bind == "customerid_account")
        .expect("account lookup");
    assert_eq!(account.entity, "accounts");
    assert!(account.create);
    assert_eq!(account.keys["name"], json!("Contoso Ltd"));
    assert_eq!(account.keys["address1_postalcode"], json!("98101"));
    assert!(write.state_change.is_none());

    let a = apply(DY, &p, Some(&r), None);
    e.commit(&p, &a.results).expect("commit");
    let l = stored_link(&e, RID);
    assert_eq!(l.crm_id.as_deref(), Some(OPP_ID_FROM_PYTHON));
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo after create: {again}");
}

#[test]
fn incoming_new_referral_becomes_a_lead_with_its_own_uuid5() {
    let mut e = engine("dynamics365");
    let r = incoming_new_referral();
    let p = plan(&e, Some(&r), None);
    let [
        Action::CreateCrmRecord {
            entity, id, write, ..
        },
    ] = p.actions.as_slice()
    else {
        panic!("one create expected: {p}");
    };
    assert_eq!(*entity, CrmEntity::Lead);
    assert_eq!(id.as_deref(), Some(LEAD_ID_FROM_PYTHON));
    assert_eq!(write.fields["subject"], json!("Contoso - Azure migration"));
    assert_eq!(write.fields["estimatedamount"], json!(120_000));
    assert_eq!(write.fields["companyname"], json!("Contoso Ltd"));
    assert_eq!(write.fields["statecode"], json!(0));
    let a = apply(DY, &p, Some(&r), None);
    e.commit(&p, &a.results).expect("commit");
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo after lead create: {again}");
}

#[test]
fn closed_referral_is_not_created_in_dynamics() {
    let e = engine("dynamics365");
    let r = with_status(referral(), "Closed", "Won");
    let p = plan(&e, Some(&r), None);
    assert_eq!(p.summary, Summary::Refused);
    assert!(p.actions.is_empty());
    assert_eq!(p.refusals[0].code, "referral_closed");
    assert!(p.refusals[0].message.contains("Won"), "{p}");
}

#[test]
fn opportunity_only_creates_a_referral() {
    let mut e = engine("dynamics365");
    let c = crm_only_opportunity(DY);
    let p = plan(&e, None, Some(&c));
    assert_eq!(p.summary, Summary::CreateReferral, "{p}");
    let [
        Action::CreateReferral { body },
        Action::StampReferralId { field, .. },
    ] = p.actions.as_slice()
    else {
        panic!("{p}");
    };
    assert_eq!(
        field, "cosell_referralidentifier",
        "the new id is written back to the record"
    );
    assert_eq!(
        body["externalReferenceId"],
        json!("aaaaaaaa-1234-4321-abcd-00000000d365")
    );
    assert_eq!(
        body["details"]["currency"],
        json!("USD"),
        "read via the expanded lookup"
    );
    assert_eq!(body["details"]["dealValue"], json!(120_000));
    assert_eq!(
        body["details"]["closingDateTime"],
        json!("2027-03-15T00:00:00Z")
    );
    assert_eq!(body["customerProfile"]["address"]["country"], json!("US"));
    assert_eq!(
        body["customerProfile"]["address"]["postalCode"],
        json!("98101")
    );
    assert_eq!(body["type"], json!("Shared"));
    assert_eq!(
        body["status"],
        json!("Active"),
        "open statecode 0 reads as Active/Accepted"
    );
    let a = apply(DY, &p, None, Some(&c));
    let report = e.commit(&p, &a.results).expect("commit");
    assert_eq!(report.status, Some(LinkStatus::Synced));
    let l = stored_link(&e, "c0ffee00-0000-4000-8000-000000000001");
    assert_eq!(
        l.crm_id.as_deref(),
        Some("aaaaaaaa-1234-4321-abcd-00000000d365")
    );
}

#[test]
fn pc_edit_updates_only_changed_fields_with_if_match_etag() {
    let mut e = engine("dynamics365");
    let r = referral();
    let c = dy_opportunity(&r);
    link(&mut e, &r, &c);
    let mut r2 = r.clone();
    r2["details"]["currency"] = json!("EUR");
    r2["details"]["notes"] = json!("Landing zone + data platform");
    bump_referral(&mut r2);
    let p = plan(&e, Some(&r2), Some(&c));
    assert_eq!(p.summary, Summary::UpdateCrm, "{p}");
    let [
        Action::UpdateCrmRecord {
            id,
            write,
            if_match,
            if_unmodified_since,
            ..
        },
    ] = p.actions.as_slice()
    else {
        panic!("{p}");
    };
    assert_eq!(id, DY_OPP);
    assert_eq!(if_match.as_deref(), Some("W/\"100000\""));
    assert_eq!(*if_unmodified_since, None);
    assert_eq!(
        keys(&write.fields),
        ["cosell_audit", "cosell_syncstatus", "description"]
    );
    assert_eq!(write.lookups.len(), 1);
    assert_eq!(write.lookups[0].bind, "transactioncurrencyid");
    assert_eq!(write.lookups[0].keys["isocurrencycode"], json!("EUR"));
    let a = apply(DY, &p, Some(&r2), Some(&c));
    e.commit(&p, &a.results).expect("commit");
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo: {again}");
}

#[test]
fn closing_won_or_lost_is_a_symbolic_state_change() {
    for (sub, action, state, status) in [("Won", "win", 1, 3), ("Lost", "lose", 2, 4)] {
        let mut e = engine("dynamics365");
        let r = referral();
        let c = dy_opportunity(&r);
        link(&mut e, &r, &c);
        let mut r2 = with_status(r.clone(), "Closed", sub);
        bump_referral(&mut r2);
        let p = plan(&e, Some(&r2), Some(&c));
        let w = p.crm_patch().expect("crm write");
        assert!(
            !w.fields.contains_key("statecode") && !w.fields.contains_key("statuscode"),
            "no statecode write: {w:?}"
        );
        let sc = w.state_change.as_ref().expect("state change");
        assert_eq!(sc.action, action);
        assert_eq!(sc.statecode, json!(state));
        assert_eq!(sc.statuscode, json!(status));
        let a = apply(DY, &p, Some(&r2), Some(&c));
        e.commit(&p, &a.results).expect("commit");
        let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
        assert!(again.is_empty(), "echo after close {sub}: {again}");
    }
}

#[test]
fn crm_edit_patches_partner_center_with_if_match() {
    let mut e = engine("dynamics365");
    let r = referral();
    let c = dy_opportunity(&r);
    link(&mut e, &r, &c);
    let mut c2 = c.clone();
    c2["estimatedvalue"] = json!(200_000.0);
    c2["transactioncurrencyid"]["isocurrencycode"] = json!("EUR");
    bump_crm(DY, &mut c2);
    let p = plan(&e, Some(&r), Some(&c2));
    assert_eq!(p.summary, Summary::UpdatePartnerCenter, "{p}");
    let Some(Action::UpdateReferral { if_match, .. }) = p.actions.first() else {
        panic!("{p}");
    };
    assert_eq!(if_match.as_deref(), Some("\"e1\""));
    let ops = pc_ops(&p);
    assert!(ops.iter().all(|o| o.op == "replace"), "{ops:?}");
    let mut paths: Vec<&str> = ops.iter().map(|o| o.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/details/currency", "/details/dealValue"]);
    let a = apply(DY, &p, Some(&r), Some(&c2));
    e.commit(&p, &a.results).expect("commit");
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo: {again}");
}

#[test]
fn crm_closed_won_patches_partner_center_closed_won() {
    let mut e = engine("dynamics365");
    let r = referral();
    let c = dy_opportunity(&r);
    link(&mut e, &r, &c);
    let mut c2 = c.clone();
    c2["statecode"] = json!(1);
    c2["statuscode"] = json!(3);
    bump_crm(DY, &mut c2);
    let (p, a, _) = sync(&mut e, Some(&r), Some(&c2));
    let ops = pc_ops(&p);
    assert_eq!(ops.len(), 2, "{p}");
    assert_eq!(
        (ops[0].path.as_str(), &ops[0].value),
        ("/status", &json!("Closed"))
    );
    assert_eq!(
        (ops[1].path.as_str(), &ops[1].value),
        ("/substatus", &json!("Won"))
    );
    let r2 = a.referral.expect("referral");
    assert_eq!(r2["status"], json!("Closed"));
    let again = plan(&e, Some(&r2), a.crm.as_ref());
    assert!(again.is_empty(), "echo: {again}");
}

#[test]
fn accepting_a_referral_that_lives_as_a_lead_converts_it_with_known_ids() {
    let mut e = engine("dynamics365");
    let r = incoming_new_referral();
    let lead = dy_lead(&r);
    link(&mut e, &r, &lead);
    assert_eq!(stored_link(&e, RID).crm_entity, CrmEntity::Lead);
    let mut accepted = with_status(r.clone(), "Active", "Accepted");
    bump_referral(&mut accepted);
    let p = plan(&e, Some(&accepted), Some(&lead));
    assert_eq!(p.summary, Summary::ConvertLead, "{p}");
    assert!(
        matches!(
            p.actions.as_slice(),
            [
                Action::CreateCrmRecord {
                    entity: CrmEntity::Opportunity,
                    ..
                },
                Action::CloseCrmLead { .. },
                Action::Relink {
                    entity: CrmEntity::Opportunity,
                    ..
                }
            ]
        ),
        "{p}"
    );
    let Action::Relink { id, .. } = &p.actions[2] else {
        unreachable!()
    };
    assert_eq!(id.as_deref(), Some(OPP_ID_FROM_PYTHON));
    let Action::CloseCrmLead { id, write } = &p.actions[1] else {
        unreachable!()
    };
    assert_eq!(id, DY_LEAD);
    // Qualifying a lead in Dynamics is statecode 1 / statuscode 3.
    let closes = write.state_change.as_ref().map_or_else(
        || {
            (
                write.fields["statecode"].clone(),
                write.fields["statuscode"].clone(),
            )
        },
        |s| (s.statecode.clone(), s.statuscode.clone()),
    );
    assert_eq!(closes, (json!(1), json!(3)));
    assert_eq!(p.crm_entity, CrmEntity::Opportunity);

    let a = apply(DY, &p, Some(&accepted), Some(&lead));
    e.commit(&p, &a.results).expect("commit");
    let l = stored_link(&e, RID);
    assert_eq!(l.crm_entity, CrmEntity::Opportunity);
    assert_eq!(l.crm_id.as_deref(), Some(OPP_ID_FROM_PYTHON));
    let audit = audit_of(&e, RID);
    let actions: Vec<&str> = audit.iter().map(|r| r.entry.action.as_str()).collect();
    assert!(
        actions.contains(&"create_crm") && actions.contains(&"close_lead"),
        "{actions:?}"
    );
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo after conversion: {again}");
}

#[test]
fn linked_record_deleted_is_orphaned_and_never_recreated() {
    let mut e = engine("dynamics365");
    let r = referral();
    let c = dy_opportunity(&r);
    link(&mut e, &r, &c);
    let p = plan(&e, Some(&r), None);
    assert_eq!(p.summary, Summary::Orphan, "{p}");
    assert!(
        matches!(p.actions.as_slice(), [Action::MarkOrphaned { .. }]),
        "{p}"
    );
    let report = e
        .commit(&p, &cosell_core::CommitResults::default())
        .expect("commit");
    assert_eq!(report.status, Some(LinkStatus::Orphaned));
    let l = stored_link(&e, RID);
    assert_eq!(l.status, LinkStatus::Orphaned);
    assert_eq!(l.last_error_kind.as_deref(), Some("orphaned"));
    let audit = audit_of(&e, RID);
    let row = audit
        .iter()
        .find(|row| row.entry.action == "orphan")
        .expect("orphan audited");
    assert!(
        row.entry
            .reason
            .as_deref()
            .is_some_and(|s| s.contains("deleted")),
        "{row:?}"
    );
    // Later plans never recreate the record, whatever changes on Partner Center.
    let mut r2 = r.clone();
    r2["details"]["notes"] = json!("changed after the delete");
    bump_referral(&mut r2);
    let later = plan(&e, Some(&r2), None);
    assert!(
        !later
            .actions
            .iter()
            .any(|a| matches!(a, Action::CreateCrmRecord { .. })),
        "{later}"
    );
    assert_eq!(later.summary, Summary::Refused);
    assert_eq!(later.refusals[0].code, "orphaned");
    assert!(later.refusals[0].message.contains("never recreated"));
}

#[test]
fn crm_fields_helper_sees_the_dynamics_write() {
    // Guard for the shared host: a Dynamics PC edit carries only its own CRM fields.
    let mut e = engine("dynamics365");
    let r = referral();
    let c = dy_opportunity(&r);
    link(&mut e, &r, &c);
    let mut r2 = r.clone();
    r2["name"] = json!("Renamed");
    bump_referral(&mut r2);
    let p = plan(&e, Some(&r2), Some(&c));
    assert_eq!(crm_fields(&p)["name"], json!("Renamed"));
}

#[test]
fn bench_workload_links_and_syncs_as_the_manifest_says() {
    common::check_workload(DY, 200);
}
