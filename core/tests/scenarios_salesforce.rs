//! End-to-end scenarios against the built-in Salesforce profile: create and update in both directions, the
//! preconditions of each write, lead handling and echo suppression after every commit.

// `e`, `r`, `c`, `p`, `a`: engine, referral, CRM record, plan, applied — the same in every test.
#![allow(clippy::many_single_char_names)]

mod common;

use common::{
    RID, SF_LEAD, SF_OPP, apply, audit_of, bump_crm, bump_referral, crm_fields,
    crm_only_opportunity, engine, incoming_new_referral, link, pc_ops, plan, referral, sf_lead,
    sf_opportunity, stored_link, sync, try_plan, with_status,
};
use cosell_core::model::{CrmEntity, CrmSystem};
use cosell_core::plan::{Action, Summary};
use cosell_core::store::LinkStatus;
use serde_json::{Value, json};

const SF: CrmSystem = CrmSystem::Salesforce;

fn keys(m: &serde_json::Map<String, Value>) -> Vec<&str> {
    let mut k: Vec<&str> = m.keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[test]
fn referral_only_creates_an_opportunity_upserted_by_referral_id() {
    let mut e = engine("salesforce");
    let r = referral();
    let p = plan(&e, Some(&r), None);
    assert_eq!(p.summary, Summary::CreateCrm, "{p}");
    assert!(p.refusals.is_empty(), "{p}");
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
    assert_eq!(*id, None, "Salesforce ids are chosen by Salesforce");
    assert_eq!(
        upsert_key.as_ref(),
        Some(&("Referral_Identifier__c".to_owned(), RID.to_owned()))
    );
    let f = &write.fields;
    assert_eq!(f["Name"], json!("Contoso - Azure migration"));
    assert_eq!(f["Amount"], json!(120_000));
    assert_eq!(f["CurrencyIsoCode"], json!("USD"));
    assert_eq!(
        f["CloseDate"],
        json!("2027-03-15"),
        "date part of closingDateTime"
    );
    assert_eq!(f["StageName"], json!("Qualification"));
    assert_eq!(f["Description"], json!("Needs landing zone"));
    assert_eq!(f["Products__c"], json!("SOL-12345-ABC"));
    assert_eq!(f["How_can_Microsoft_help__c"], json!("QuotesOrLicensing"));
    assert_eq!(
        f["Referral_Link__c"],
        json!(format!(
            "https://partner.microsoft.com/dashboard/referrals/v2/leads/{RID}"
        ))
    );
    assert_eq!(f["Referral_Identifier__c"], json!(RID));
    assert_eq!(f["Sync_with_Partner_Center__c"], json!(true));
    assert!(
        f["Audit__c"]
            .as_str()
            .is_some_and(|s| s.contains("created from Partner Center referral")),
        "{f:?}"
    );
    let account = write
        .lookups
        .iter()
        .find(|l| l.bind == "AccountId")
        .expect("account lookup");
    assert_eq!(account.entity, "Account");
    assert!(account.create);
    assert_eq!(account.keys["Name"], json!("Contoso Ltd"));
    assert_eq!(account.keys["BillingPostalCode"], json!("98101"));
    assert_eq!(account.keys["BillingCountry"], json!("US"));
    let contact = write
        .lookups
        .iter()
        .find(|l| l.bind == "ContactId")
        .expect("contact lookup");
    assert_eq!(contact.keys["Email"], json!("sam@contoso.example"));

    // The host upserts; Salesforce answers with the new id. The link points at it, and re-planning is empty.
    let a = apply(SF, &p, Some(&r), None);
    let report = e.commit(&p, &a.results).expect("commit");
    assert_eq!(report.status, Some(LinkStatus::Synced));
    let l = stored_link(&e, RID);
    assert_eq!(l.crm_entity, CrmEntity::Opportunity);
    assert_eq!(l.crm_id.as_deref(), Some("0060000000000NEW01"));
    assert_eq!(l.base["deal_value"], json!(120_000));
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo after create: {again}");
    let audit = audit_of(&e, RID);
    assert!(
        audit
            .iter()
            .any(|row| row.entry.action == "create_crm" && row.entry.outcome == "applied"),
        "{audit:?}"
    );
}

#[test]
fn incoming_referral_not_accepted_becomes_a_lead() {
    let mut e = engine("salesforce");
    let r = incoming_new_referral();
    let p = plan(&e, Some(&r), None);
    let Some(Action::CreateCrmRecord { entity, write, .. }) = p.actions.first() else {
        panic!("create expected: {p}");
    };
    assert_eq!(*entity, CrmEntity::Lead);
    assert_eq!(p.crm_entity, CrmEntity::Lead);
    assert_eq!(write.fields["Status"], json!("Open - Not Contacted"));
    assert_eq!(write.fields["Company"], json!("Contoso Ltd"));
    assert_eq!(write.fields["Country"], json!("US"));
    assert!(
        !write.fields.contains_key("Name"),
        "name is not mapped on leads"
    );
    let a = apply(SF, &p, Some(&r), None);
    e.commit(&p, &a.results).expect("commit");
    assert_eq!(stored_link(&e, RID).crm_entity, CrmEntity::Lead);
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo after lead create: {again}");
}

#[test]
fn accepted_incoming_referral_becomes_an_opportunity() {
    let e = engine("salesforce");
    let r = with_status(incoming_new_referral(), "Active", "Accepted");
    let p = plan(&e, Some(&r), None);
    assert!(
        matches!(
            p.actions.as_slice(),
            [Action::CreateCrmRecord {
                entity: CrmEntity::Opportunity,
                ..
            }]
        ),
        "{p}"
    );
}

#[test]
fn opportunity_only_creates_a_co_sell_referral() {
    let mut e = engine("salesforce");
    let c = crm_only_opportunity(SF);
    let p = plan(&e, None, Some(&c));
    assert_eq!(p.summary, Summary::CreateReferral, "{p}");
    assert!(p.refusals.is_empty(), "{p}");
    let [
        Action::CreateReferral { body },
        Action::StampReferralId { field, .. },
    ] = p.actions.as_slice()
    else {
        panic!("a create and the stamp of its id expected: {p}");
    };
    assert_eq!(
        field, "Referral_Identifier__c",
        "the new id is written back to the record"
    );
    assert_eq!(body["externalReferenceId"], json!("006000000000000099"));
    assert_eq!(body["name"], json!("Contoso - Azure migration"));
    assert_eq!(body["customerProfile"]["address"]["country"], json!("US"));
    assert_eq!(body["customerProfile"]["name"], json!("Contoso Ltd"));
    assert_eq!(
        body["customerProfile"]["team"][0]["email"],
        json!("sam@contoso.example")
    );
    assert_eq!(body["details"]["dealValue"], json!(120_000));
    assert_eq!(body["details"]["currency"], json!("USD"));
    assert_eq!(body["details"]["notes"], json!("Needs landing zone"));
    assert_eq!(
        body["details"]["requirements"]["solutions"],
        json!([{"id": "SOL-12345-ABC"}])
    );
    assert_eq!(
        body["inviteContext"]["assistanceRequestCode"],
        json!("QuotesOrLicensing")
    );
    assert_eq!(body["type"], json!("Shared"), "referral default");
    assert_eq!(
        body["consent"]["consentToShareReferralWithMicrosoftSellers"],
        json!(true)
    );
    assert_eq!(
        body["target"],
        json!([{"type": "BusinessProfileLocation", "id": "msft"}])
    );
    assert_eq!(body["status"], json!("Active"));
    assert_eq!(body["substatus"], json!("Accepted"));

    let a = apply(SF, &p, None, Some(&c));
    let report = e.commit(&p, &a.results).expect("commit");
    assert_eq!(report.status, Some(LinkStatus::Synced));
    let l = stored_link(&e, "c0ffee00-0000-4000-8000-000000000001");
    assert_eq!(l.crm_id.as_deref(), Some("006000000000000099"));
    assert_eq!(l.base["notes"], json!("Needs landing zone"));
}

#[test]
fn replan_after_creating_a_referral_is_empty() {
    let mut e = engine("salesforce");
    let c = crm_only_opportunity(SF);
    let (_, a, _) = sync(&mut e, None, Some(&c));
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo after create_referral: {again}");
}

#[test]
fn created_referral_pair_converges_after_the_referral_id_is_stamped() {
    let mut e = engine("salesforce");
    let c = crm_only_opportunity(SF);
    let (_, a, _) = sync(&mut e, None, Some(&c));
    let (stamp, b, _) = sync(&mut e, a.referral.as_ref(), a.crm.as_ref());
    assert!(
        stamp.writes(cosell_core::plan::Side::Crm) || stamp.is_empty(),
        "{stamp}"
    );
    assert!(
        !stamp.writes(cosell_core::plan::Side::PartnerCenter),
        "nothing goes back to Partner Center: {stamp}"
    );
    let crm = b.crm.expect("crm");
    assert_eq!(
        crm["Referral_Identifier__c"],
        json!("c0ffee00-0000-4000-8000-000000000001")
    );
    let again = plan(&e, b.referral.as_ref(), Some(&crm));
    assert!(again.is_empty(), "{again}");
}

#[test]
fn create_referral_without_the_created_id_is_a_commit_error() {
    let mut e = engine("salesforce");
    let c = crm_only_opportunity(SF);
    let p = plan(&e, None, Some(&c));
    let mut a = apply(SF, &p, None, Some(&c));
    a.results.partner_center = Some(cosell_core::SideOutcome::Applied {
        id: None,
        version: cosell_core::model::Version::default(),
    });
    let err = e.commit(&p, &a.results).expect_err("no id");
    assert!(err.to_string().contains("id was not given"), "{err}");
}

#[test]
fn pc_edit_updates_only_changed_opportunity_fields_with_if_unmodified_since() {
    let mut e = engine("salesforce");
    let r = referral();
    let c = sf_opportunity(&r);
    link(&mut e, &r, &c);
    let mut r2 = r.clone();
    r2["details"]["dealValue"] = json!(150_000.5);
    r2["details"]["closingDateTime"] = json!("2027-04-30T00:00:00Z");
    bump_referral(&mut r2);
    let p = plan(&e, Some(&r2), Some(&c));
    assert_eq!(p.summary, Summary::UpdateCrm, "{p}");
    let [
        Action::UpdateCrmRecord {
            entity,
            id,
            write,
            if_match,
            if_unmodified_since,
        },
    ] = p.actions.as_slice()
    else {
        panic!("one update expected: {p}");
    };
    assert_eq!(*entity, CrmEntity::Opportunity);
    assert_eq!(id, SF_OPP);
    assert_eq!(*if_match, None);
    assert_eq!(
        if_unmodified_since.as_deref(),
        Some("2026-10-20T10:15:42.000+0000")
    );
    assert_eq!(
        keys(&write.fields),
        ["Amount", "Audit__c", "CloseDate", "Sync_Status__c"]
    );
    assert_eq!(write.fields["Amount"], json!(150_000.5));
    assert_eq!(write.fields["CloseDate"], json!("2027-04-30"));
    assert!(write.lookups.is_empty());
    let (_, a, report) = {
        let a = apply(SF, &p, Some(&r2), Some(&c));
        let report = e.commit(&p, &a.results).expect("commit");
        (p.clone(), a, report)
    };
    assert_eq!(report.status, Some(LinkStatus::Synced));
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo: {again}");
}

#[test]
fn crm_edit_patches_partner_center_with_if_match_etag() {
    let mut e = engine("salesforce");
    let r = referral();
    let c = sf_opportunity(&r);
    link(&mut e, &r, &c);
    let mut c2 = c.clone();
    c2["Name"] = json!("Contoso - Azure migration (phase 2)");
    c2["Products__c"] = json!("SOL-99999-XYZ;SOL-12345-ABC");
    bump_crm(SF, &mut c2);
    let p = plan(&e, Some(&r), Some(&c2));
    assert_eq!(p.summary, Summary::UpdatePartnerCenter, "{p}");
    let [
        Action::UpdateReferral {
            id,
            patch,
            if_match,
        },
    ] = p.actions.as_slice()
    else {
        panic!("one referral update expected: {p}");
    };
    assert_eq!(id, RID);
    assert_eq!(if_match.as_deref(), Some("\"e1\""));
    assert!(patch.iter().all(|op| op.op == "replace" || op.op == "add"));
    let paths: Vec<&str> = patch.iter().map(|o| o.path.as_str()).collect();
    assert_eq!(paths, ["/name", "/details/requirements/solutions"], "{p}");
    assert_eq!(patch[0].value, json!("Contoso - Azure migration (phase 2)"));
    // Existing solution objects keep their other properties; the new id is appended.
    assert_eq!(
        patch[1].value,
        json!([{"id": "SOL-12345-ABC", "name": null, "type": "Name"}, {"id": "SOL-99999-XYZ"}])
    );
    let a = apply(SF, &p, Some(&r), Some(&c2));
    e.commit(&p, &a.results).expect("commit");
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo: {again}");
}

#[test]
fn crm_edit_of_a_missing_pc_field_is_an_add_op() {
    let mut e = engine("salesforce");
    let mut r = referral();
    r["details"]
        .as_object_mut()
        .expect("details")
        .remove("closingDateTime");
    let mut c = sf_opportunity(&r);
    c["CloseDate"] = Value::Null;
    link(&mut e, &r, &c);
    let mut c2 = c.clone();
    c2["CloseDate"] = json!("2027-05-01");
    bump_crm(SF, &mut c2);
    let p = plan(&e, Some(&r), Some(&c2));
    let ops = pc_ops(&p);
    assert_eq!(ops.len(), 1, "{p}");
    assert_eq!(ops[0].op, "add");
    assert_eq!(ops[0].path, "/details/closingDateTime");
    assert_eq!(ops[0].value, json!("2027-05-01T00:00:00Z"));
    let a = apply(SF, &p, Some(&r), Some(&c2));
    e.commit(&p, &a.results).expect("commit");
    assert!(plan(&e, a.referral.as_ref(), a.crm.as_ref()).is_empty());
}

#[test]
fn edits_on_both_sides_update_both() {
    let mut e = engine("salesforce");
    let r = referral();
    let c = sf_opportunity(&r);
    link(&mut e, &r, &c);
    let mut r2 = r.clone();
    r2["details"]["notes"] = json!("PC notes");
    bump_referral(&mut r2);
    let mut c2 = c.clone();
    c2["Amount"] = json!(99_000.0);
    bump_crm(SF, &mut c2);
    let (p, a, report) = sync(&mut e, Some(&r2), Some(&c2));
    assert_eq!(p.summary, Summary::UpdateBoth, "{p}");
    assert_eq!(crm_fields(&p)["Description"], json!("PC notes"));
    assert_eq!(pc_ops(&p)[0].path, "/details/dealValue");
    assert_eq!(pc_ops(&p)[0].value, json!(99_000));
    assert_eq!(report.status, Some(LinkStatus::Synced));
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo: {again}");
    assert_eq!(
        a.referral.expect("referral")["details"]["dealValue"],
        json!(99_000)
    );
    assert_eq!(a.crm.expect("crm")["Description"], json!("PC notes"));
}

#[test]
fn accepting_a_referral_that_lives_as_a_lead_converts_it() {
    let mut e = engine("salesforce");
    let r = incoming_new_referral();
    // The lead was created by an earlier sync.
    let p = plan(&e, Some(&r), None);
    let a = apply(SF, &p, Some(&r), None);
    e.commit(&p, &a.results).expect("commit create");
    let lead = a.crm.expect("lead");
    let lead_id = lead["Id"].as_str().expect("id").to_owned();

    let mut accepted = with_status(r.clone(), "Active", "Accepted");
    bump_referral(&mut accepted);
    let p = plan(&e, Some(&accepted), Some(&lead));
    assert_eq!(p.summary, Summary::ConvertLead, "{p}");
    let kinds: Vec<&str> = p
        .actions
        .iter()
        .map(|a| match a {
            Action::CreateCrmRecord { .. } => "create",
            Action::CloseCrmLead { .. } => "close_lead",
            Action::Relink { .. } => "relink",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["create", "close_lead", "relink"], "{p}");
    let Action::CreateCrmRecord {
        entity,
        upsert_key,
        write,
        ..
    } = &p.actions[0]
    else {
        unreachable!()
    };
    assert_eq!(*entity, CrmEntity::Opportunity);
    assert_eq!(
        upsert_key.as_ref().map(|k| k.1.as_str()),
        Some(RID),
        "upsert by referral id"
    );
    assert_eq!(write.fields["StageName"], json!("Qualification"));
    let Action::CloseCrmLead { id, write } = &p.actions[1] else {
        unreachable!()
    };
    assert_eq!(id, &lead_id);
    assert_eq!(write.fields["Status"], json!("Closed - Converted"));

    let a = apply(SF, &p, Some(&accepted), Some(&lead));
    let report = e.commit(&p, &a.results).expect("commit conversion");
    assert_eq!(report.status, Some(LinkStatus::Synced));
    let l = stored_link(&e, RID);
    assert_eq!(l.crm_entity, CrmEntity::Opportunity);
    assert_eq!(l.crm_id.as_deref(), Some("0060000000000NEW01"));
    let audit = audit_of(&e, RID);
    let actions: Vec<&str> = audit.iter().map(|r| r.entry.action.as_str()).collect();
    assert!(actions.contains(&"create_crm"), "{actions:?}");
    assert!(actions.contains(&"close_lead"), "{actions:?}");
    let again = plan(&e, a.referral.as_ref(), a.crm.as_ref());
    assert!(again.is_empty(), "echo after conversion: {again}");
}

#[test]
fn lead_status_table_reads_unknown_statuses_as_received() {
    let mut e = engine("salesforce");
    let r = incoming_new_referral();
    let mut lead = sf_lead(&r);
    lead["Status"] = json!("Working - Contacted");
    let p = plan(&e, Some(&r), Some(&lead));
    assert_eq!(p.summary, Summary::Link, "{p}");
    e.commit(&p, &cosell_core::CommitResults::default())
        .expect("commit");
    assert_eq!(
        stored_link(&e, RID).crm_id.as_deref(),
        Some(SF_LEAD),
        "linked to the lead"
    );
}

#[test]
fn first_sync_of_an_agreeing_pair_links_without_writes() {
    let mut e = engine("salesforce");
    let r = referral();
    let c = sf_opportunity(&r);
    let p = plan(&e, Some(&r), Some(&c));
    assert_eq!(p.summary, Summary::Link, "{p}");
    assert!(p.actions.is_empty());
    assert!(p.base_changes);
    let report = e
        .commit(&p, &cosell_core::CommitResults::default())
        .expect("commit");
    assert_eq!(report.status, Some(LinkStatus::Synced));
    let l = stored_link(&e, RID);
    assert_eq!(l.crm_id.as_deref(), Some(SF_OPP));
    assert_eq!(l.base["status"], json!("Active/Accepted"));
    assert_eq!(l.base["solutions"], json!(["SOL-12345-ABC"]));
    assert_eq!(
        l.crm_version.modified.as_deref(),
        Some("2026-10-20T10:15:42.000+0000")
    );
    assert!(
        audit_of(&e, RID)
            .iter()
            .any(|row| row.entry.action == "link"),
        "link audited"
    );
    assert!(plan(&e, Some(&r), Some(&c)).is_empty());
}

/// The quick-start of `core/src/lib.rs`: an agreeing pair whose Opportunity does not carry
/// `Referral_Identifier__c` yet.
#[test]
fn quick_start_pair_links_without_actions() {
    let mut e = engine("salesforce");
    let referral = r#"{"id": "r-1", "name": "Contoso", "status": "Active", "substatus": "Accepted",
                       "details": {"dealValue": 1000, "currency": "USD", "notes": "hi"}, "eTag": "\"1\""}"#;
    let opportunity = r#"{"attributes": {"type": "Opportunity"}, "Id": "006A", "Name": "Contoso",
                          "Amount": 1000.0, "CurrencyIsoCode": "USD", "Description": "hi",
                          "StageName": "Qualification", "Sync_with_Partner_Center__c": true,
                          "Referral_Identifier__c": "r-1",
                          "LastModifiedDate": "2026-11-01T00:00:00.000+0000"}"#;
    let p = e
        .plan_json(Some(referral), Some(opportunity))
        .expect("plan");
    assert!(p.actions.is_empty(), "{p}");
    e.commit(&p, &cosell_core::CommitResults::default())
        .expect("commit");
    assert!(
        e.plan_json(Some(referral), Some(opportunity))
            .expect("plan")
            .is_empty()
    );
}

#[test]
fn bench_workload_links_and_syncs_as_the_manifest_says() {
    common::check_workload(SF, 200);
}

/// Converts the lead of an incoming referral (accepted in Partner Center) and returns the engine, the accepted
/// referral and the closed lead as Salesforce now returns it.
fn converted_lead() -> (cosell_core::Engine, Value, Value) {
    let mut e = engine("salesforce");
    let r = incoming_new_referral();
    let (_, created, _) = sync(&mut e, Some(&r), None);
    let lead = created.crm.expect("lead");
    let mut accepted = with_status(r, "Active", "Accepted");
    bump_referral(&mut accepted);
    let p = plan(&e, Some(&accepted), Some(&lead));
    assert_eq!(p.summary, Summary::ConvertLead, "{p}");
    let a = apply(SF, &p, Some(&accepted), Some(&lead));
    e.commit(&p, &a.results).expect("commit conversion");
    let mut closed = lead;
    if let Some(Action::CloseCrmLead { write, .. }) = p.actions.get(1) {
        common::apply_crm_write(SF, &mut closed, write);
    }
    bump_crm(SF, &mut closed);
    (e, a.referral.expect("referral"), closed)
}

#[test]
fn a_converted_lead_is_never_shared_as_a_new_referral() {
    let (e, _, closed) = converted_lead();
    assert_eq!(closed["Status"], json!("Closed - Converted"));
    let p = plan(&e, None, Some(&closed));
    assert!(
        !p.actions
            .iter()
            .any(|a| matches!(a, Action::CreateReferral { .. })),
        "{p}"
    );
}

#[test]
fn a_converted_lead_is_not_converted_twice() {
    let (e, referral, closed) = converted_lead();
    // The referral's link now names the opportunity: the old lead is not this pair any more.
    let err =
        try_plan(&e, Some(&referral), Some(&closed)).expect_err("the lead is no longer the pair");
    let msg = err.to_string().to_lowercase();
    assert!(msg.contains("lead") && msg.contains("opportunity"), "{msg}");
}
