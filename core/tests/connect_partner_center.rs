//! The Partner Center connector against the emulator (`tests/emulator`), which speaks the Referrals API's wire
//! format (DOMAIN.md §2): every operation, paging, the eTag guard, error bodies, and each injected fault, counting
//! the calls the connector made so that every retry is bounded and nothing is sent twice that could apply twice.

mod common;

use cosell_core::connect::{
    ConnectError, ListQuery, PartnerCenter, PartnerCenterConfig, StaticToken,
};
use cosell_core::plan::PatchOp;
use cosell_emulator::{Faults, Options, PartnerCenter as Emulator};
use serde_json::{Value, json};

const TOKEN: &str = "test-token-4f1d";

fn emulator() -> Emulator {
    Emulator::start(Options {
        token: TOKEN.to_owned(),
        ..Options::default()
    })
    .expect("the emulator starts")
}

fn client(emulator: &Emulator, token: &str) -> PartnerCenter {
    PartnerCenter::new(
        PartnerCenterConfig {
            base_url: emulator.base_url(),
            http: common::fast_http(),
        },
        Box::new(StaticToken::new(token)),
    )
    .expect("client")
}

fn referral(n: usize) -> Value {
    json!({
        "id": format!("5b0e6c1d-aaaa-bbbb-cccc-{n:012}"),
        "engagementId": format!("9e1f2a3b-0000-4000-8000-{n:012}"),
        "name": format!("Contoso {n} - Azure migration"),
        "externalReferenceId": format!("006CRM{n:012}"),
        "status": if n % 2 == 0 { "Active" } else { "New" },
        "substatus": if n % 2 == 0 { "Accepted" } else { "Pending" },
        "type": "Shared",
        "qualification": "SalesQualified",
        "direction": "Outgoing",
        "customerProfile": {"name": format!("Contoso {n}"), "address": {"country": "US", "postalCode": "98101"}},
        "consent": {"consentToToShareInfoWithOthers": true, "consentToContact": true,
                    "consentToShareReferralWithMicrosoftSellers": true},
        "details": {"notes": "Needs landing zone", "dealValue": 120_000, "currency": "USD",
                    "closingDateTime": "2027-06-30T00:00:00Z",
                    "requirements": {"solutions": [{"id": "SOL-12345-ABC", "name": null, "type": "Name"}]}},
        "team": [],
    })
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

fn replace(path: &str, value: Value) -> PatchOp {
    PatchOp {
        op: "replace".to_owned(),
        path: path.to_owned(),
        value,
    }
}

#[test]
fn get_returns_the_referral_and_its_etag() {
    let e = emulator();
    e.seed(vec![referral(1)]);
    let pc = client(&e, TOKEN);
    let id = referral(1)["id"].as_str().expect("id").to_owned();
    let got = pc.get(&id).expect("get");
    let value = parse(&got.text);
    assert_eq!(value["name"], json!("Contoso 1 - Azure migration"));
    assert_eq!(got.etag.as_deref(), value["eTag"].as_str());
    assert!(got.etag.is_some());
    let missing = pc
        .get("00000000-0000-0000-0000-000000000000")
        .expect_err("missing");
    assert!(
        matches!(missing, ConnectError::NotFound { ref code, .. } if code == "itemNotFound"),
        "{missing}"
    );
}

#[test]
fn lists_follow_next_links_through_every_page() {
    let e = emulator();
    e.seed((0..250).map(referral).collect());
    let pc = client(&e, TOKEN);
    e.clear_requests();
    let all = pc.list_all(&ListQuery::default()).expect("list");
    assert_eq!(all.len(), 250);
    let ids: Vec<String> = all
        .iter()
        .map(|t| parse(t)["id"].as_str().expect("id").to_owned())
        .collect();
    let expected: Vec<String> = (0..250)
        .map(|n| referral(n)["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, expected, "every referral once, in order");
    assert_eq!(e.requests().len(), 3, "three pages of 100");
    let active = pc
        .list_all(&ListQuery {
            filter: Some("status eq 'Active'".to_owned()),
            ..ListQuery::default()
        })
        .expect("filtered");
    assert_eq!(active.len(), 125);
    let found = pc
        .find_by_external_reference("006CRM000000000007")
        .expect("by back-link");
    assert_eq!(found.len(), 1);
    // A next link elsewhere is refused, not followed with the token.
    let err = pc
        .next_page("http://attacker.example/v1.0/engagements/referrals?$skiptoken=1")
        .expect_err("foreign link");
    assert_eq!(err.kind(), "invalid_response");
}

#[test]
fn update_is_guarded_by_the_etag() {
    let e = emulator();
    e.seed(vec![referral(2)]);
    let pc = client(&e, TOKEN);
    let id = referral(2)["id"].as_str().expect("id").to_owned();
    let read = pc.get(&id).expect("get");
    let updated = pc
        .update(
            &id,
            &[replace("/details/dealValue", json!(150_000))],
            read.etag.as_deref(),
        )
        .expect("update");
    assert_eq!(parse(&updated.text)["details"]["dealValue"], json!(150_000));
    assert_ne!(updated.etag, read.etag, "a write moves the eTag");
    // The old eTag is stale now: 412, nothing written.
    let err = pc
        .update(
            &id,
            &[replace("/details/dealValue", json!(1))],
            read.etag.as_deref(),
        )
        .expect_err("stale");
    assert!(
        matches!(err, ConnectError::PreconditionFailed { .. }),
        "{err}"
    );
    assert_eq!(
        e.referral(&id).expect("stored")["details"]["dealValue"],
        json!(150_000)
    );
    // A change by Microsoft in between is caught the same way.
    e.edit(&id, |r| r["name"] = json!("renamed by Microsoft"));
    let err = pc
        .update(
            &id,
            &[replace("/name", json!("ours"))],
            updated.etag.as_deref(),
        )
        .expect_err("changed meanwhile");
    assert_eq!(err.kind(), "precondition_failed");
    // Only replace and add exist in Partner Center's JSON Patch: refused before sending.
    let remove: PatchOp =
        serde_json::from_value(json!({"op": "remove", "path": "/name", "value": null}))
            .expect("op");
    e.clear_requests();
    assert_eq!(
        pc.update(&id, &[remove], None).expect_err("remove").kind(),
        "config"
    );
    assert!(e.requests().is_empty());
}

#[test]
fn create_returns_the_created_referral_and_names_what_is_missing() {
    let e = emulator();
    let pc = client(&e, TOKEN);
    let mut body = referral(3);
    body.as_object_mut().expect("object").remove("id");
    let created = pc.create(&body).expect("create");
    let value = parse(&created.text);
    assert!(value["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(e.referrals().len(), 1);
    let mut incomplete = referral(4);
    incomplete
        .as_object_mut()
        .expect("object")
        .remove("consent");
    let err = pc.create(&incomplete).expect_err("no consent");
    assert!(
        matches!(err, ConnectError::Service { status: 400, ref code, ref message, .. } if code == "invalidRequest" && message.contains("consent")),
        "{err}"
    );
}

#[test]
fn throttling_and_unavailability_are_retried_within_bounds() {
    let e = emulator();
    e.seed(vec![referral(5)]);
    let pc = client(&e, TOKEN);
    let id = referral(5)["id"].as_str().expect("id").to_owned();
    e.clear_requests();
    e.set_faults(Faults {
        throttle: 2,
        unavailable: 1,
        ..Faults::default()
    });
    pc.get(&id).expect("succeeds after the faults");
    assert_eq!(e.requests().len(), 4, "three refused, one served");
    // More faults than attempts: a bounded failure naming the attempts.
    e.clear_requests();
    e.set_faults(Faults {
        throttle: 10,
        ..Faults::default()
    });
    let err = pc.get(&id).expect_err("still throttled");
    assert!(
        matches!(
            err,
            ConnectError::Throttled {
                attempts: 4,
                status: 429,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(e.requests().len(), 4);
    e.set_faults(Faults::default());
}

#[test]
fn a_dropped_read_is_retried_and_a_lost_create_is_found_not_repeated() {
    let e = emulator();
    e.seed(vec![referral(6)]);
    let pc = client(&e, TOKEN);
    let id = referral(6)["id"].as_str().expect("id").to_owned();
    e.set_faults(Faults {
        drop_connection: 1,
        ..Faults::default()
    });
    pc.get(&id).expect("the read is sent again");
    // The create reaches the service, but its answer is lost: not sent again; the caller looks it up.
    e.set_faults(Faults {
        lose_create_response: 1,
        ..Faults::default()
    });
    let mut body = referral(7);
    body.as_object_mut().expect("object").remove("id");
    let err = pc.create(&body).expect_err("answer lost");
    assert!(
        matches!(
            err,
            ConnectError::Transport {
                maybe_applied: true,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(e.referrals().len(), 2, "applied once, not repeated");
    let found = pc
        .find_by_external_reference("006CRM000000000007")
        .expect("look-up");
    assert_eq!(found.len(), 1);
}

#[test]
fn a_refused_token_is_refreshed_once_and_never_shown() {
    let e = emulator();
    e.seed(vec![referral(8)]);
    let secret = "wrong-secret-token-value";
    let pc = client(&e, secret);
    e.clear_requests();
    let err = pc
        .get(referral(8)["id"].as_str().expect("id"))
        .expect_err("refused");
    assert!(
        matches!(err, ConnectError::Unauthorized { status: 401, .. }),
        "{err}"
    );
    assert_eq!(e.requests().len(), 2, "one refresh, then the error");
    assert!(!err.to_string().contains(secret));
    assert!(!format!("{err:?}").contains(secret));
    assert!(!format!("{pc:?}").contains(secret));
}

#[test]
fn a_base_url_that_is_not_http_is_refused() {
    let err = PartnerCenter::new(
        PartnerCenterConfig {
            base_url: "ftp://example.com".to_owned(),
            http: common::fast_http(),
        },
        Box::new(StaticToken::new(TOKEN)),
    )
    .expect_err("not http");
    assert_eq!(err.kind(), "config");
}
