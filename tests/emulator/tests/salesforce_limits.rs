//! Salesforce: the daily API limit (403 `REQUEST_LIMIT_EXCEEDED`), `Sforce-Limit-Info` behind its option, and
//! injected faults on the Salesforce wire format.

mod common;

use common::{
    Client, SF, sf_error, sf_id, sf_opportunity, start_salesforce, start_salesforce_with,
};
use cosell_emulator::{Faults, SalesforceOptions};
use serde_json::json;

#[test]
fn the_api_limit_answers_403_once_used_up() {
    let sf = start_salesforce();
    let id = sf_id(1);
    sf.seed("Opportunity", vec![sf_opportunity(&id, "A", "r1")]);
    let client = Client::at(sf.base_url());
    let url = format!("{SF}/sobjects/Opportunity/{id}");
    sf.set_api_calls_left(Some(2));
    assert_eq!(client.get(&url).status, 200);
    assert_eq!(sf.api_calls_left(), Some(1));
    assert_eq!(
        client
            .get(&format!("{SF}/sobjects/Opportunity/{}", sf_id(2)))
            .status,
        404
    );
    for _ in 0..2 {
        let answer = client.get(&url);
        assert_eq!(answer.status, 403);
        assert_eq!(
            answer.json(),
            json!([{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}])
        );
        assert!(answer.header("Retry-After").is_none());
        assert!(answer.header("Sforce-Limit-Info").is_none());
    }
    assert_eq!(sf.api_calls_left(), Some(0));
    sf.set_api_calls_left(None);
    assert_eq!(client.get(&url).status, 200);
}

#[test]
fn limit_info_header_only_behind_its_option() {
    let sf = start_salesforce_with(SalesforceOptions {
        limit_info: Some(15000),
        ..SalesforceOptions::default()
    });
    let client = Client::at(sf.base_url());
    let answer = client.get(&format!("{SF}/query?q=SELECT+Id+FROM+Lead"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("Sforce-Limit-Info"),
        Some("api-usage=1/15000")
    );
    let answer = client.get(&format!("{SF}/query?q=SELECT+Id+FROM+Lead"));
    assert_eq!(
        answer.header("Sforce-Limit-Info"),
        Some("api-usage=2/15000")
    );
}

#[test]
fn faults_use_salesforce_error_bodies() {
    let sf = start_salesforce();
    let id = sf_id(1);
    sf.seed("Opportunity", vec![sf_opportunity(&id, "A", "r1")]);
    let client = Client::at(sf.base_url());
    let url = format!("{SF}/sobjects/Opportunity/{id}");
    sf.set_faults(Faults {
        throttle: 1,
        unavailable: 1,
        drop_connection: 1,
        retry_after_secs: 2,
        ..Faults::default()
    });
    let answer = client.get(&url);
    assert_eq!(
        (answer.status, answer.header("Retry-After")),
        (429, Some("2"))
    );
    let answer = client.get(&url);
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (503, "SERVER_UNAVAILABLE".to_owned())
    );
    assert_eq!(answer.header("Retry-After"), Some("2"));
    assert!(client.send("GET", &url, &[], None).is_err(), "dropped");
    assert_eq!(client.get(&url).status, 200);
    // Faults come before authentication.
    sf.set_faults(Faults {
        unavailable: 1,
        ..Faults::default()
    });
    let mut anonymous = Client::at(sf.base_url());
    anonymous.token = None;
    assert_eq!(anonymous.get(&url).status, 503);

    // A lost create answer: the record is stored, the connection closes.
    sf.set_faults(Faults {
        lose_create_response: 1,
        ..Faults::default()
    });
    let body =
        json!({"Name": "Lost", "CloseDate": "2027-01-31", "StageName": "Prospecting"}).to_string();
    assert!(
        client
            .send(
                "POST",
                &format!("{SF}/sobjects/Opportunity"),
                &[],
                Some(&body)
            )
            .is_err()
    );
    assert!(sf.rows("Opportunity").iter().any(|r| r["Name"] == "Lost"));
    let statuses: Vec<Option<u16>> = sf.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [Some(429), Some(503), None, Some(200), Some(503), None]
    );
}
