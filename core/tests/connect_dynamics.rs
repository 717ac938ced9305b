//! The Dynamics 365 connector against the emulator (`tests/emulator`), which speaks the Web API's wire format
//! (DOMAIN.md §4): reads with the currency expanded, creates at a client-chosen id that a retry cannot duplicate,
//! updates under `If-Match` that never recreate a deleted record, the currency and account look-ups, the close
//! actions, and change tracking with deletions.

mod common;

use common::fields;

use cosell_core::connect::{ConnectError, Dynamics, DynamicsConfig, StaticToken};
use cosell_core::model::CrmEntity;
use cosell_emulator::{Dynamics as Emulator, DynamicsOptions, Faults};
use serde_json::{Value, json};

const TOKEN: &str = "d365-test-token";
const OPP: CrmEntity = CrmEntity::Opportunity;

fn emulator() -> Emulator {
    Emulator::start(DynamicsOptions {
        token: TOKEN.to_owned(),
        ..DynamicsOptions::default()
    })
    .expect("the emulator starts")
}

fn client(e: &Emulator) -> Dynamics {
    Dynamics::new(
        DynamicsConfig {
            base_url: e.base_url(),
            http: common::fast_http(),
            ..DynamicsConfig::default()
        },
        Box::new(StaticToken::new(TOKEN)),
    )
    .expect("client")
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

const ID: &str = "982ef8cc-b574-594c-b5b6-91d57877fc2f";

fn new_opportunity(d: &Dynamics) -> Value {
    let usd = d.currency_id("USD").expect("USD");
    let created = d
        .create_with_id(
            OPP,
            ID,
            &fields(json!({
                "name": "Contoso - analytics migration",
                "estimatedvalue": 48000.0,
                "estimatedclosedate": "2027-09-12",
                "description": "landing zone",
                "transactioncurrencyid@odata.bind": format!("/transactioncurrencies({usd})"),
                "cosell_referralidentifier": "6513270e-269e-4d37-b2a7-4de452e6b438",
            })),
        )
        .expect("create");
    assert!(!created.already_existed);
    parse(&created.record.text)
}

#[test]
fn a_created_opportunity_reads_back_with_its_currency_and_etag() {
    let e = emulator();
    let d = client(&e);
    let row = new_opportunity(&d);
    assert_eq!(row["name"], json!("Contoso - analytics migration"));
    let got = d.get(OPP, ID).expect("get");
    let value = parse(&got.text);
    assert_eq!(
        value["transactioncurrencyid"]["isocurrencycode"],
        json!("USD")
    );
    assert!(
        got.etag.as_deref().is_some_and(|t| t.starts_with("W/\"")),
        "{:?}",
        got.etag
    );
    let err = d
        .get(OPP, "00000000-0000-0000-0000-000000000001")
        .expect_err("missing");
    assert_eq!(err.kind(), "not_found", "{err}");
}

#[test]
fn a_create_sent_again_after_its_answer_was_lost_does_not_duplicate() {
    let e = emulator();
    let d = client(&e);
    new_opportunity(&d);
    // The same create again (the host retries after a lost answer): the record exists, nothing new.
    let again = d
        .create_with_id(
            OPP,
            ID,
            &fields(json!({"name": "Contoso - analytics migration"})),
        )
        .expect("idempotent");
    assert!(again.already_existed);
    assert_eq!(e.rows("opportunities").len(), 1);
    // A dropped connection: the connector sends the create again by itself, and it is still made once.
    e.set_faults(Faults {
        drop_connection: 1,
        ..Faults::default()
    });
    let other = d.create_with_id(
        OPP,
        "11111111-2222-5333-8444-555555555555",
        &fields(json!({"name": "Fabrikam"})),
    );
    let ok = other.expect("created once, read back");
    assert_eq!(e.rows("opportunities").len(), 2);
    assert_eq!(parse(&ok.record.text)["name"], json!("Fabrikam"));
}

#[test]
fn updates_are_guarded_and_never_recreate_a_deleted_record() {
    let e = emulator();
    let d = client(&e);
    new_opportunity(&d);
    let read = d.get(OPP, ID).expect("get");
    let updated = d
        .update(
            OPP,
            ID,
            &fields(json!({"estimatedvalue": 52000.0})),
            read.etag.as_deref(),
        )
        .expect("update");
    assert_eq!(
        parse(&updated.text)["estimatedvalue"].as_f64(),
        Some(52000.0)
    );
    assert_ne!(updated.etag, read.etag);
    let stale = d
        .update(
            OPP,
            ID,
            &fields(json!({"estimatedvalue": 1.0})),
            read.etag.as_deref(),
        )
        .expect_err("stale etag");
    assert!(
        matches!(stale, ConnectError::PreconditionFailed { .. }),
        "{stale}"
    );
    // Deleted in the CRM: an update is NotFound, not an upsert that brings it back.
    assert!(e.delete("opportunities", ID));
    let gone = d
        .update(OPP, ID, &fields(json!({"name": "back?"})), None)
        .expect_err("deleted");
    assert_eq!(gone.kind(), "not_found", "{gone}");
    assert!(e.rows("opportunities").is_empty());
}

#[test]
fn currency_and_account_look_ups() {
    let e = emulator();
    let d = client(&e);
    let eur = d.currency_id("EUR").expect("EUR");
    e.clear_requests();
    assert_eq!(d.currency_id("EUR").expect("cached"), eur);
    assert!(e.requests().is_empty(), "looked up once");
    assert_eq!(
        d.currency_id("XXX").expect_err("unknown").kind(),
        "not_found"
    );
    assert_eq!(d.find_account("Contoso", "98101").expect("none yet"), None);
    let id = d
        .create_account("Contoso", "98101", Some("US"))
        .expect("created");
    assert_eq!(d.find_account("Contoso", "98101").expect("found"), Some(id));
    assert_eq!(
        d.find_account("Contoso", "10001")
            .expect("other postal code"),
        None
    );
}

#[test]
fn opportunities_close_through_the_actions() {
    let e = emulator();
    let d = client(&e);
    new_opportunity(&d);
    d.close_opportunity(ID, true, None, "Won with Microsoft")
        .expect("won");
    let row = e.row("opportunities", ID).expect("row");
    assert_eq!(row["statecode"], json!(1));
    assert_eq!(row["statuscode"], json!(3));
    let twice = d
        .close_opportunity(ID, false, Some(5), "lost")
        .expect_err("already closed");
    assert_eq!(twice.kind(), "service", "{twice}");
}

#[test]
fn change_tracking_reports_changes_and_deletions() {
    let e = emulator();
    let d = client(&e);
    new_opportunity(&d);
    let first = d
        .changes(OPP, &["name", "estimatedvalue"], None)
        .expect("first round");
    assert_eq!(first.changed.len(), 1);
    assert!(first.deleted.is_empty());
    // Nothing happened: an empty round.
    let quiet = d
        .changes(OPP, &["name"], Some(&first.delta_link))
        .expect("quiet");
    assert!(quiet.changed.is_empty() && quiet.deleted.is_empty());
    e.edit("opportunities", ID, |r| {
        r["name"] = json!("renamed in the CRM");
    });
    let edited = d
        .changes(OPP, &["name"], Some(&quiet.delta_link))
        .expect("edited");
    assert_eq!(edited.changed.len(), 1);
    assert_eq!(
        parse(&edited.changed[0])["name"],
        json!("renamed in the CRM")
    );
    e.delete("opportunities", ID);
    let deleted = d
        .changes(OPP, &["name"], Some(&edited.delta_link))
        .expect("deleted");
    assert_eq!(deleted.deleted, vec![ID.to_owned()]);
    // A delta link elsewhere is refused, not followed with the token.
    let foreign = d
        .changes(
            OPP,
            &["name"],
            Some("http://attacker.example/api/data/v9.2/opportunities?$deltatoken=1"),
        )
        .expect_err("foreign link");
    assert_eq!(foreign.kind(), "invalid_response");
}

#[test]
fn throttling_is_retried_within_bounds() {
    let e = emulator();
    let d = client(&e);
    new_opportunity(&d);
    e.clear_requests();
    e.set_faults(Faults {
        throttle: 2,
        ..Faults::default()
    });
    d.get(OPP, ID).expect("after two 429s");
    assert_eq!(e.requests().len(), 3);
}
