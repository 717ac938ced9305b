//! Every Referrals API operation over HTTP: get, create, patch, put; authentication, headers and error bodies.

mod common;

use common::{Client, new_referral, seeded, start, start_with};
use cosell_emulator::{Options, REFERRALS_PATH};
use serde_json::json;

/// Whether a timestamp has the service's shape: UTC with 7 fractional digits.
fn is_service_time(value: &serde_json::Value) -> bool {
    let text = value.as_str().unwrap_or_default();
    text.len() == 28
        && text.ends_with('Z')
        && text.as_bytes()[19] == b'.'
        && text[20..27].bytes().all(|b| b.is_ascii_digit())
}

#[test]
fn get_answers_the_referral_with_its_etag() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    let answer = client.get_referral("r1");
    assert_eq!(answer.status, 200);
    let referral = answer.json();
    assert_eq!(referral["name"], "r1");
    assert_eq!(referral["customerProfile"]["address"]["country"], "US");
    assert_eq!(answer.header("ETag"), referral["eTag"].as_str());
    assert!(
        referral["eTag"]
            .as_str()
            .is_some_and(|tag| tag.starts_with('"') && tag.ends_with('"'))
    );
    assert!(
        is_service_time(&referral["createdDateTime"]),
        "{}",
        referral["createdDateTime"]
    );
    assert!(
        answer
            .header("Content-Type")
            .is_some_and(|value| value.starts_with("application/json"))
    );
    assert_eq!(Some(referral), pc.referral("r1"));
}

#[test]
fn an_unknown_referral_is_item_not_found() {
    let pc = start();
    let client = Client::new(&pc);
    let answer = client.get_referral("nope");
    assert_eq!(answer.status, 404);
    let body = answer.json();
    assert_eq!(body["error"]["code"], "itemNotFound");
    assert_eq!(body["error"]["target"], "referral");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("nope"))
    );
    for (method, body) in [("PATCH", "[]"), ("PUT", "{}")] {
        let answer = client.must(
            method,
            &format!("{REFERRALS_PATH}/nope"),
            &[("If-Match", "*")],
            Some(body),
        );
        assert_eq!(
            (answer.status, answer.error_code()),
            (404, "itemNotFound".to_owned()),
            "{method}"
        );
    }
    let answer = client.get("/v1.0/engagements/other");
    assert_eq!(
        (answer.status, answer.error_code()),
        (404, "itemNotFound".to_owned())
    );
    let answer = client.get(&format!("{REFERRALS_PATH}/r1/deeper"));
    assert_eq!(answer.status, 404);
}

#[test]
fn seeding_keeps_what_is_given_and_adds_what_is_missing() {
    let pc = start();
    pc.seed(vec![
        json!({"id": "given", "eTag": "\"tag\"", "createdDateTime": "2024-02-01T09:00:00.0000000Z",
               "updatedDateTime": "2024-03-01T10:15:42.0000000Z", "status": "Active", "substatus": "Accepted"}),
        json!({"name": "no id"}),
    ]);
    let stored = pc.referrals();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["eTag"], "\"tag\"");
    assert_eq!(stored[0]["updatedDateTime"], "2024-03-01T10:15:42.0000000Z");
    assert!(stored[1]["id"].as_str().is_some_and(|id| id.len() == 36));
    assert!(is_service_time(&stored[1]["updatedDateTime"]));
    assert!(stored[1]["eTag"].is_string());
    // Seeding an existing id replaces it in place.
    pc.seed(vec![json!({"id": "given", "name": "replaced"})]);
    let stored = pc.referrals();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0]["name"], "replaced");
}

#[test]
fn create_assigns_ids_times_status_and_etag() {
    let pc = start();
    let client = Client::new(&pc);
    let answer = client.create(&new_referral("Contoso - Azure migration"));
    assert_eq!(answer.status, 200);
    let created = answer.json();
    let id = created["id"].as_str().expect("an id");
    assert_eq!(id.len(), 36);
    assert!(
        created["engagementId"]
            .as_str()
            .is_some_and(|e| e.len() == 36 && e != id)
    );
    assert_eq!(
        (created["status"].as_str(), created["substatus"].as_str()),
        (Some("New"), Some("Pending"))
    );
    assert!(is_service_time(&created["createdDateTime"]));
    assert_eq!(created["createdDateTime"], created["updatedDateTime"]);
    assert_eq!(answer.header("ETag"), created["eTag"].as_str());
    assert_eq!(created["consent"]["consentToToShareInfoWithOthers"], true);
    assert_eq!(pc.referral(id), Some(created.clone()));

    // Given id, engagementId and a valid state are kept; server times are the server's.
    let mut given = new_referral("second");
    given["id"] = json!("my-id");
    given["engagementId"] = json!("eng-1");
    given["status"] = json!("Active");
    given["substatus"] = json!("Accepted");
    given["createdDateTime"] = json!("2000-01-01T00:00:00Z");
    let second = client.create(&given).json();
    assert_eq!(
        (second["id"].as_str(), second["engagementId"].as_str()),
        (Some("my-id"), Some("eng-1"))
    );
    assert_eq!(second["status"], "Active");
    assert!(second["createdDateTime"].as_str() > created["createdDateTime"].as_str());
    assert_eq!(pc.referrals().len(), 2);

    // The same id again conflicts.
    let again = client.create(&given);
    assert_eq!(
        (again.status, again.error_code()),
        (409, "invalidRequest".to_owned())
    );
}

#[test]
fn create_names_a_missing_required_property() {
    let pc = start();
    let client = Client::new(&pc);
    for key in ["type", "customerProfile", "consent", "details"] {
        let mut referral = new_referral("x");
        referral.as_object_mut().expect("an object").remove(key);
        let answer = client.create(&referral);
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "invalidRequest".to_owned()),
            "{key}"
        );
        assert!(
            answer.error_message().contains(&format!("'{key}'")),
            "{key}: {}",
            answer.error_message()
        );
    }
    let answer = client.must("POST", REFERRALS_PATH, &[], Some("{not json"));
    assert_eq!(
        (answer.status, answer.error_code()),
        (400, "invalidRequest".to_owned())
    );
    let answer = client.must("POST", REFERRALS_PATH, &[], Some("[]"));
    assert_eq!(answer.status, 400);
    let mut bad_state = new_referral("x");
    bad_state["status"] = json!("Active");
    bad_state["substatus"] = json!("Pending");
    let answer = client.create(&bad_state);
    assert_eq!(answer.status, 400);
    assert!(
        answer.error_message().contains("Pending"),
        "{}",
        answer.error_message()
    );
    assert!(pc.referrals().is_empty());
}

#[test]
fn patch_applies_the_domain_example() {
    let pc = start();
    pc.seed(vec![seeded("r1", "Active", "Accepted")]);
    let client = Client::new(&pc);
    let before = pc.referral("r1").expect("seeded");
    let etag = before["eTag"].as_str().expect("an eTag").to_owned();
    let ops = json!([
        {"op": "replace", "path": "/details/dealValue", "value": 25000},
        {"op": "replace", "path": "/details/closingDateTime", "value": "2024-06-30T00:00:00Z"},
        {"op": "replace", "path": "/status", "value": "Closed"},
        {"op": "replace", "path": "/substatus", "value": "Won"},
        {"op": "add", "path": "/team/-", "value": {"firstName": "Ana", "lastName": "Diaz",
            "email": "ana@partner.example", "phoneNumber": "5550100"}}
    ]);
    let answer = client.patch("r1", &[("If-Match", &etag)], &ops);
    assert_eq!(answer.status, 204);
    assert!(answer.body.is_empty());
    let after = pc.referral("r1").expect("still there");
    assert_eq!(answer.header("ETag"), after["eTag"].as_str());
    assert_ne!(after["eTag"], before["eTag"]);
    assert!(after["updatedDateTime"].as_str() > before["updatedDateTime"].as_str());
    assert_eq!(after["details"]["dealValue"], 25000);
    assert_eq!(after["details"]["closingDateTime"], "2024-06-30T00:00:00Z");
    assert_eq!(
        (after["status"].as_str(), after["substatus"].as_str()),
        (Some("Closed"), Some("Won"))
    );
    assert_eq!(after["team"].as_array().map(Vec::len), Some(2));
    assert_eq!(after["team"][1]["phoneNumber"], "5550100");
    assert_eq!(after["createdDateTime"], before["createdDateTime"]);
    let record = pc.requests().pop().expect("recorded");
    assert_eq!(
        (
            record.method.as_str(),
            record.status,
            record.if_match.as_deref()
        ),
        ("PATCH", Some(204), Some(&*etag))
    );
    assert_eq!(record.json(), Some(ops));
}

#[test]
fn patch_with_prefer_returns_the_referral_and_without_if_match_is_allowed() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    let ops = json!([{"op": "replace", "path": "/name", "value": "Renamed"}]);
    let answer = client.patch("r1", &[("Prefer", "return=representation")], &ops);
    assert_eq!(answer.status, 200);
    let body = answer.json();
    assert_eq!(body["name"], "Renamed");
    assert_eq!(answer.header("ETag"), body["eTag"].as_str());
    assert_eq!(Some(body), pc.referral("r1"));
}

#[test]
fn a_stale_if_match_is_precondition_failed_and_changes_nothing() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    let read = client.get_referral("r1");
    let etag = read.header("ETag").expect("an ETag").to_owned();
    // Microsoft changes it in between.
    assert!(pc.edit("r1", |referral| referral["details"]["notes"] =
        json!("changed by Microsoft")));
    let changed = pc.referral("r1").expect("there");
    assert_ne!(changed["eTag"].as_str(), Some(etag.as_str()));
    assert!(changed["updatedDateTime"].as_str() > read.json()["updatedDateTime"].as_str());

    let ops = json!([{"op": "replace", "path": "/name", "value": "mine"}]);
    let answer = client.patch("r1", &[("If-Match", &etag)], &ops);
    assert_eq!(answer.status, 412);
    assert_eq!(
        answer.json()["error"],
        json!({"code": "preconditionFailed", "message": "The eTag does not match.", "target": "referral"})
    );
    assert_eq!(pc.referral("r1"), Some(changed.clone()));

    let mut replacement = changed.clone();
    replacement["name"] = json!("mine");
    let answer = client.put("r1", &[("If-Match", &etag)], &replacement);
    assert_eq!(
        (answer.status, answer.error_code()),
        (412, "preconditionFailed".to_owned())
    );

    // With the current eTag it goes through; `*` matches any.
    let current = changed["eTag"].as_str().expect("an eTag");
    assert_eq!(
        client.patch("r1", &[("If-Match", current)], &ops).status,
        204
    );
    assert_eq!(client.patch("r1", &[("If-Match", "*")], &ops).status, 204);
    assert!(!pc.edit("unknown", |_| {}));
}

#[test]
fn patch_refuses_unsupported_operations_whole() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    let before = pc.referral("r1").expect("seeded");
    let cases = [
        (json!([{"op": "remove", "path": "/name"}]), "'remove'"),
        (
            json!([{"op": "move", "from": "/name", "path": "/x"}]),
            "'move'",
        ),
        (
            json!([{"op": "replace", "path": "/name", "value": "ok"}, {"op": "add", "path": "/nothing/x", "value": 1}]),
            "/nothing/x",
        ),
        (
            json!([{"op": "replace", "path": "/eTag", "value": "\"mine\""}]),
            "/eTag",
        ),
        (
            json!([{"op": "replace", "path": "/id", "value": "other"}]),
            "read-only",
        ),
        (
            json!([{"op": "replace", "path": "", "value": {}}]),
            "whole referral",
        ),
        (
            json!([{"op": "replace", "path": "name", "value": 1}]),
            "'/'",
        ),
        (
            json!({"op": "replace", "path": "/name", "value": 1}),
            "array",
        ),
    ];
    for (ops, expected) in cases {
        let answer = client.patch("r1", &[], &ops);
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "invalidRequest".to_owned()),
            "{ops}"
        );
        assert!(
            answer.error_message().contains(expected),
            "{ops}: {}",
            answer.error_message()
        );
    }
    assert_eq!(pc.referral("r1"), Some(before));
    // Escaped pointers reach keys with '/' and '~'.
    let ops = json!([{"op": "add", "path": "/tags", "value": {}}, {"op": "add", "path": "/tags/a~1b~0c", "value": true}]);
    assert_eq!(client.patch("r1", &[], &ops).status, 204);
    assert_eq!(
        pc.referral("r1").expect("there")["tags"],
        json!({"a/b~c": true})
    );
}

#[test]
fn the_transition_table_over_http() {
    let pc = start();
    pc.seed(vec![
        seeded("new", "New", "Pending"),
        seeded("active", "Active", "Accepted"),
        seeded("closed", "Closed", "Won"),
    ]);
    let client = Client::new(&pc);
    let set = |status: &str, substatus: &str| json!([{"op": "replace", "path": "/status", "value": status}, {"op": "replace", "path": "/substatus", "value": substatus}]);

    let answer = client.patch("active", &[], &set("New", "Pending"));
    assert_eq!(answer.status, 400);
    assert!(
        answer.error_message().contains("Active -> New"),
        "{}",
        answer.error_message()
    );
    let answer = client.patch("new", &[], &set("Active", "Pending"));
    assert_eq!(answer.status, 400);
    assert!(
        answer
            .error_message()
            .contains("New/Pending -> Active/Pending"),
        "{}",
        answer.error_message()
    );
    let answer = client.patch(
        "new",
        &[],
        &json!([{"op": "replace", "path": "/status", "value": "Bogus"}]),
    );
    assert_eq!(answer.status, 400);

    assert_eq!(
        client.patch("new", &[], &set("New", "Received")).status,
        204
    );
    assert_eq!(
        client.patch("new", &[], &set("Active", "Accepted")).status,
        204
    );
    assert_eq!(client.patch("new", &[], &set("Closed", "Lost")).status, 204);
    assert_eq!(
        client
            .patch("active", &[], &set("Closed", "Declined"))
            .status,
        204
    );

    // Closed is terminal: no edit at all, not even of another field.
    for id in ["closed", "new", "active"] {
        let answer = client.patch(
            id,
            &[],
            &json!([{"op": "replace", "path": "/name", "value": "late"}]),
        );
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "invalidRequest".to_owned()),
            "{id}"
        );
        assert!(
            answer.error_message().contains("Closed"),
            "{}",
            answer.error_message()
        );
    }
    let closed = pc.referral("closed").expect("there");
    let answer = client.put(
        "closed",
        &[("If-Match", closed["eTag"].as_str().expect("tag"))],
        &closed,
    );
    assert_eq!(answer.status, 400);
    // Microsoft can still change it.
    assert!(pc.edit("closed", |r| r["substatus"] = json!("Expired")));
}

#[test]
fn put_replaces_whole_and_requires_if_match() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    let current = pc.referral("r1").expect("seeded");
    let mut replacement = new_referral("replaced");
    replacement["status"] = json!("Active");
    replacement["substatus"] = json!("Accepted");

    let answer = client.put("r1", &[], &replacement);
    assert_eq!(
        (answer.status, answer.error_code()),
        (400, "invalidRequest".to_owned())
    );
    assert!(
        answer.error_message().contains("If-Match"),
        "{}",
        answer.error_message()
    );

    let etag = current["eTag"].as_str().expect("an eTag");
    let answer = client.put("r1", &[("If-Match", etag)], &replacement);
    assert_eq!(answer.status, 200);
    let stored = answer.json();
    assert_eq!(answer.header("ETag"), stored["eTag"].as_str());
    assert_eq!(stored["name"], "replaced");
    assert_eq!(
        (stored["id"].as_str(), stored["engagementId"].as_str()),
        (Some("r1"), Some("eng-r1"))
    );
    assert_eq!(stored["createdDateTime"], current["createdDateTime"]);
    assert!(stored["updatedDateTime"].as_str() > current["updatedDateTime"].as_str());
    assert_eq!(pc.referral("r1"), Some(stored.clone()));

    let tag = stored["eTag"].as_str().expect("an eTag");
    let mut other = stored.clone();
    other["id"] = json!("other");
    assert_eq!(client.put("r1", &[("If-Match", tag)], &other).status, 400);
    let mut backwards = stored.clone();
    backwards["status"] = json!("New");
    backwards["substatus"] = json!("Pending");
    let answer = client.put("r1", &[("If-Match", tag)], &backwards);
    assert_eq!(answer.status, 400);
    assert!(
        answer.error_message().contains("Active -> New"),
        "{}",
        answer.error_message()
    );
    let mut incomplete = stored.clone();
    incomplete
        .as_object_mut()
        .expect("object")
        .remove("consent");
    let answer = client.put("r1", &[("If-Match", tag)], &incomplete);
    assert!(
        answer.status == 400 && answer.error_message().contains("'consent'"),
        "{}",
        answer.body
    );
}

#[test]
fn every_request_needs_the_bearer_token() {
    let pc = start_with(Options {
        token: "secret".into(),
        ..Options::default()
    });
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let mut client = Client::new(&pc);
    for token in [None, Some("test-token"), Some("secretx")] {
        client.token = token.map(str::to_owned);
        let answer = client.get_referral("r1");
        assert_eq!(answer.status, 401, "{token:?}");
        assert_eq!(answer.error_code(), "unauthenticated");
        assert_eq!(answer.header("WWW-Authenticate"), Some("Bearer"));
        assert!(answer.header("request-id").is_some());
    }
    client.token = None;
    let answer = client.must(
        "GET",
        &format!("{REFERRALS_PATH}/r1"),
        &[("Authorization", "Basic c2VjcmV0")],
        None,
    );
    assert_eq!(answer.status, 401);
    let answer = client.must(
        "POST",
        REFERRALS_PATH,
        &[],
        Some(&new_referral("x").to_string()),
    );
    assert_eq!(answer.status, 401);
    assert!(pc.referrals().len() == 1);
    // The scheme is case-insensitive.
    let answer = client.must(
        "GET",
        &format!("{REFERRALS_PATH}/r1"),
        &[("Authorization", "bearer secret")],
        None,
    );
    assert_eq!(answer.status, 200);
    client.token = Some("secret".into());
    assert_eq!(client.get_referral("r1").status, 200);
    assert_eq!(
        pc.requests()
            .iter()
            .filter(|record| record.status == Some(401))
            .count(),
        5
    );
}

#[test]
fn correlation_headers_are_echoed_and_request_id_always_sent() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    let headers = [
        ("client-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e"),
        ("MS-CorrelationId", "7c9e6679-7425-40de-944b-e07fc1f90ae7"),
        ("MS-RequestId", "a1b2c3d4-0000-0000-0000-000000000001"),
    ];
    let answer = client.must("GET", &format!("{REFERRALS_PATH}/r1"), &headers, None);
    for (name, value) in headers {
        assert_eq!(answer.header(name), Some(value), "{name}");
    }
    let first = answer
        .header("request-id")
        .expect("a request-id")
        .to_owned();
    let second = client.get_referral("nope");
    assert!(second.header("client-request-id").is_none());
    assert!(
        second
            .header("request-id")
            .is_some_and(|id| id != first && id.len() == 36)
    );
    let record = pc.requests().remove(0);
    assert_eq!(
        record.header("ms-correlationid"),
        Some("7c9e6679-7425-40de-944b-e07fc1f90ae7")
    );
}

#[test]
fn other_methods_are_not_allowed() {
    let pc = start();
    pc.seed(vec![seeded("r1", "New", "Pending")]);
    let client = Client::new(&pc);
    let answer = client.must("DELETE", &format!("{REFERRALS_PATH}/r1"), &[], None);
    assert_eq!(
        (answer.status, answer.header("Allow")),
        (405, Some("GET, PATCH, PUT"))
    );
    let answer = client.must("PATCH", REFERRALS_PATH, &[], Some("[]"));
    assert_eq!(
        (answer.status, answer.header("Allow")),
        (405, Some("GET, POST"))
    );
    assert!(pc.referral("r1").is_some());
}

#[test]
fn timestamps_strictly_increase_with_every_write() {
    let pc = start();
    let client = Client::new(&pc);
    let id = client.create(&new_referral("fast")).json()["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let mut last = pc.referral(&id).expect("created")["updatedDateTime"]
        .as_str()
        .expect("a time")
        .to_owned();
    for round in 0..50 {
        let ops = json!([{"op": "replace", "path": "/details/dealValue", "value": round}]);
        assert_eq!(client.patch(&id, &[], &ops).status, 204);
        let now = pc.referral(&id).expect("there")["updatedDateTime"]
            .as_str()
            .expect("a time")
            .to_owned();
        assert!(now > last, "{now} after {last}");
        last = now;
    }
}

#[test]
fn idempotent_request_ids_when_switched_on() {
    for switched_on in [false, true] {
        let pc = start_with(Options {
            idempotent_request_id: switched_on,
            ..Options::default()
        });
        let client = Client::new(&pc);
        let body = new_referral("once").to_string();
        let headers = [("MS-RequestId", "5d6a1f1e-0000-4000-8000-000000000001")];
        let first = client.must("POST", REFERRALS_PATH, &headers, Some(&body));
        let second = client.must("POST", REFERRALS_PATH, &headers, Some(&body));
        assert_eq!((first.status, second.status), (200, 200));
        assert_eq!(first.json()["id"] == second.json()["id"], switched_on);
        assert_eq!(pc.referrals().len(), if switched_on { 1 } else { 2 });
    }
}
