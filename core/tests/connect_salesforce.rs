//! The Salesforce connector against the emulator (`tests/emulator`), which speaks the REST API's wire format
//! (DOMAIN.md §5): sObject reads, upserts by `Referral_Identifier__c` that a retry cannot duplicate (several matches
//! named), updates guarded by `If-Unmodified-Since`, SOQL paging, the updated/deleted feeds, and the API budget
//! running out.

mod common;

use common::fields;

use cosell_core::connect::{ConnectError, Salesforce, SalesforceConfig, StaticToken};
use cosell_core::model::CrmEntity;
use cosell_emulator::{Faults, Salesforce as Emulator, SalesforceOptions};
use serde_json::{Map, Value, json};

const TOKEN: &str = "00Dxx0000001gPL!AR8AQ.sf-test";
const OPP: CrmEntity = CrmEntity::Opportunity;
const RID: &str = "6513270e-269e-4d37-b2a7-4de452e6b438";

fn emulator() -> Emulator {
    Emulator::start(SalesforceOptions {
        token: TOKEN.to_owned(),
        ..SalesforceOptions::default()
    })
    .expect("the emulator starts")
}

fn client(e: &Emulator) -> Salesforce {
    Salesforce::new(
        SalesforceConfig {
            instance_url: e.base_url(),
            http: common::fast_http(),
            ..SalesforceConfig::default()
        },
        Box::new(StaticToken::new(TOKEN)),
    )
    .expect("client")
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

fn opportunity() -> Map<String, Value> {
    fields(json!({
        "Name": "Contoso - analytics migration",
        "Amount": 48000.0,
        "CurrencyIsoCode": "USD",
        "CloseDate": "2027-09-12",
        "StageName": "Qualification",
        "Description": "landing zone",
        "Sync_with_Partner_Center__c": true,
    }))
}

#[test]
fn an_upsert_by_referral_id_creates_once_and_reads_back() {
    let e = emulator();
    let sf = client(&e);
    let first = sf
        .upsert_by_referral(OPP, RID, &opportunity())
        .expect("create");
    assert!(first.created);
    let again = sf
        .upsert_by_referral(OPP, RID, &opportunity())
        .expect("update");
    assert!(!again.created);
    assert_eq!(again.id, first.id);
    assert_eq!(
        e.rows("Opportunity").len(),
        1,
        "a repeated upsert never duplicates"
    );
    let got = sf.get(OPP, &first.id).expect("get");
    let value = parse(&got.text);
    assert_eq!(value["Referral_Identifier__c"], json!(RID));
    assert_eq!(value["Name"], json!("Contoso - analytics migration"));
    let missing = sf.get(OPP, "006000000000000AAA").expect_err("missing");
    assert_eq!(missing.kind(), "not_found", "{missing}");
}

#[test]
fn several_records_with_the_referral_id_are_named() {
    let e = emulator();
    let sf = client(&e);
    let mut a = opportunity();
    a.insert("Referral_Identifier__c".into(), json!(RID));
    let mut seeded = Value::Object(a);
    e.seed(
        "Opportunity",
        vec![seeded.clone(), {
            seeded["Name"] = json!("a duplicate made by hand");
            seeded
        }],
    );
    let ids: Vec<String> = e
        .rows("Opportunity")
        .iter()
        .map(|r| r["Id"].as_str().expect("Id").to_owned())
        .collect();
    let err = sf
        .upsert_by_referral(OPP, RID, &opportunity())
        .expect_err("ambiguous");
    let message = err.to_string();
    assert!(
        matches!(err, ConnectError::Service { status: 300, .. }),
        "{message}"
    );
    for id in &ids {
        assert!(message.contains(id.as_str()), "names {id}: {message}");
    }
}

#[test]
fn updates_are_guarded_by_the_last_modified_date() {
    let e = emulator();
    let sf = client(&e);
    let id = sf
        .upsert_by_referral(OPP, RID, &opportunity())
        .expect("create")
        .id;
    let read = parse(&sf.get(OPP, &id).expect("get").text);
    let seen = read["LastModifiedDate"]
        .as_str()
        .expect("LastModifiedDate")
        .to_owned();
    let updated = sf
        .update(OPP, &id, &fields(json!({"Amount": 52000.0})), Some(&seen))
        .expect("update");
    let after = parse(&updated.text);
    assert_eq!(after["Amount"].as_f64(), Some(52000.0));
    assert_ne!(after["LastModifiedDate"], read["LastModifiedDate"]);
    // A seller edits it meanwhile: the write based on the older read is refused.
    e.edit("Opportunity", &id, |r| {
        r["Description"] = json!("edited by the seller");
    });
    let err = sf
        .update(
            OPP,
            &id,
            &fields(json!({"Amount": 1.0})),
            after["LastModifiedDate"].as_str(),
        )
        .expect_err("changed meanwhile");
    assert!(
        matches!(err, ConnectError::PreconditionFailed { .. }),
        "{err}"
    );
    assert_eq!(
        e.row("Opportunity", &id).expect("row")["Amount"].as_f64(),
        Some(52000.0)
    );
}

#[test]
fn soql_follows_next_records_urls() {
    let e = emulator();
    let sf = client(&e);
    let rows: Vec<Value> = (0..450)
        .map(|n| {
            let mut r = opportunity();
            r.insert("Name".into(), json!(format!("Deal {n}")));
            r.insert("Referral_Identifier__c".into(), json!(format!("r-{n}")));
            Value::Object(r)
        })
        .collect();
    e.seed("Opportunity", rows);
    e.clear_requests();
    let all = sf
        .query("SELECT Id, Name FROM Opportunity WHERE Sync_with_Partner_Center__c = true")
        .expect("query");
    assert_eq!(all.len(), 450);
    assert_eq!(e.requests().len(), 3, "pages of 200");
}

#[test]
fn the_feeds_report_changes_and_deletions() {
    let e = emulator();
    let sf = client(&e);
    let id = sf
        .upsert_by_referral(OPP, RID, &opportunity())
        .expect("create")
        .id;
    // A window of an hour each side of the record's stamp (the emulator's clock is the wall clock, or ahead of it).
    let row = e.row("Opportunity", &id).expect("row");
    let stamp = time::OffsetDateTime::parse(
        row["SystemModstamp"].as_str().expect("stamp"),
        time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
        ),
    )
    .expect("a Salesforce time");
    let iso = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .expect("formats")
    };
    let hour = time::Duration::hours(1);
    let (start, end) = (iso(stamp - hour), iso(stamp + hour));
    let updated = sf.updated(OPP, &start, &end).expect("updated");
    assert!(updated.ids.contains(&id), "{updated:?}");
    assert!(e.delete("Opportunity", &id));
    let deleted = sf.deleted(OPP, &start, &end).expect("deleted");
    assert!(deleted.records.iter().any(|(d, _)| *d == id), "{deleted:?}");
}

#[test]
fn a_spent_api_budget_stops_instead_of_retrying() {
    let e = emulator();
    let sf = client(&e);
    e.set_api_calls_left(Some(0));
    e.clear_requests();
    let err = sf.get(OPP, "006000000000000AAA").expect_err("limit");
    assert!(matches!(err, ConnectError::ApiLimit { .. }), "{err}");
    assert_eq!(e.requests().len(), 1, "not retried");
    e.set_api_calls_left(None);
    e.set_faults(Faults {
        unavailable: 2,
        ..Faults::default()
    });
    assert_eq!(
        sf.get(OPP, "006000000000000AAA")
            .expect_err("missing after the faults")
            .kind(),
        "not_found"
    );
}
