//! Salesforce: reading records (`?fields=`, 15/18-character ids, 404s), creating, deleting, authentication.

mod common;

use common::{Client, SF, sf_error, sf_id, sf_opportunity, start_salesforce};
use serde_json::json;

#[test]
fn a_record_reads_with_attributes_and_selected_fields() {
    let sf = start_salesforce();
    let id = sf_id(1);
    sf.seed("Opportunity", vec![sf_opportunity(&id, "Contoso", "ref-1")]);
    let client = Client::at(sf.base_url());
    let answer = client.get(&format!("{SF}/sobjects/Opportunity/{id}"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("Content-Type"),
        Some("application/json;charset=UTF-8")
    );
    let record = answer.json();
    assert_eq!(record["Name"], "Contoso");
    assert_eq!(record["Id"], id.as_str());
    assert_eq!(
        record["attributes"],
        json!({"type": "Opportunity", "url": format!("{SF}/sobjects/Opportunity/{id}")})
    );
    assert_eq!(record["LastModifiedDate"], "2026-10-20T10:15:42.000+0000");
    assert_eq!(record["IsClosed"], false);
    assert_eq!(Some(record), sf.row("Opportunity", &id));

    let answer = client.get(&format!(
        "{SF}/sobjects/Opportunity/{id}?fields=Name,Amount,NextStep"
    ));
    let record = answer.json();
    assert_eq!(record["Amount"], 48000.0);
    assert_eq!(record["NextStep"], serde_json::Value::Null);
    assert!(record.get("Description").is_none(), "{record}");
    assert_eq!(record["attributes"]["type"], "Opportunity");

    // Conditional GET by If-Modified-Since (HTTP-date).
    let url = format!("{SF}/sobjects/Opportunity/{id}");
    let answer = client.must(
        "GET",
        &url,
        &[("If-Modified-Since", "Tue, 20 Oct 2026 10:15:42 GMT")],
        None,
    );
    assert_eq!(answer.status, 304);
    let answer = client.must(
        "GET",
        &url,
        &[("If-Modified-Since", "Mon, 19 Oct 2026 10:15:42 GMT")],
        None,
    );
    assert_eq!(answer.status, 200);

    // The 15-character form addresses the same record.
    let answer = client.get(&format!("{SF}/sobjects/Opportunity/{}", &id[..15]));
    assert_eq!(
        (answer.status, answer.json()["Id"].clone()),
        (200, json!(id))
    );
}

#[test]
fn missing_records_and_paths_are_404_arrays() {
    let sf = start_salesforce();
    let client = Client::at(sf.base_url());
    let answer = client.get(&format!("{SF}/sobjects/Opportunity/{}", sf_id(9)));
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.json(),
        json!([{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}])
    );
    assert_eq!(
        client
            .get(&format!("{SF}/sobjects/Widget/{}", sf_id(9)))
            .status,
        404
    );
    assert_eq!(
        client
            .get(&format!(
                "/services/data/v59.0/sobjects/Opportunity/{}",
                sf_id(9)
            ))
            .status,
        404
    );
    let answer = client.must(
        "PUT",
        &format!("{SF}/sobjects/Opportunity/{}", sf_id(9)),
        &[],
        Some("{}"),
    );
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (405, "METHOD_NOT_ALLOWED".to_owned())
    );
}

#[test]
fn authentication_is_required() {
    let sf = start_salesforce();
    let id = sf_id(1);
    sf.seed("Opportunity", vec![sf_opportunity(&id, "Contoso", "ref-1")]);
    let mut client = Client::at(sf.base_url());
    for token in [None, Some("wrong".to_owned())] {
        client.token = token;
        let answer = client.get(&format!("{SF}/sobjects/Opportunity/{id}"));
        assert_eq!(answer.status, 401);
        assert_eq!(
            answer.json(),
            json!([{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}])
        );
    }
    assert_eq!(sf.requests().len(), 2);
}

#[test]
fn creates_answer_201_with_the_new_id() {
    let sf = start_salesforce();
    let client = Client::at(sf.base_url());
    let body = json!({"Name": "New deal", "CloseDate": "2027-01-31", "StageName": "Prospecting", "Amount": 5,
                      "Referral_Identifier__c": "ref-9"});
    let answer = client.must(
        "POST",
        &format!("{SF}/sobjects/Opportunity"),
        &[],
        Some(&body.to_string()),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let created = answer.json();
    let id = created["id"].as_str().expect("an id").to_owned();
    assert_eq!(created, json!({"id": id, "success": true, "errors": []}));
    assert_eq!(id.len(), 18);
    assert!(id.starts_with("006"), "{id}");
    let record = sf.row("Opportunity", &id).expect("stored");
    assert_eq!(record["Name"], "New deal");
    assert_eq!(record["CreatedDate"], record["LastModifiedDate"]);
    assert_eq!(record["SystemModstamp"], record["LastModifiedDate"]);
    assert!(
        record["LastModifiedDate"]
            .as_str()
            .is_some_and(|d| d.ends_with(".000+0000"))
    );

    let lead = json!({"LastName": "Lee", "Company": "Contoso"});
    let answer = client.must(
        "POST",
        &format!("{SF}/sobjects/Lead"),
        &[],
        Some(&lead.to_string()),
    );
    assert_eq!(answer.status, 201);
    assert!(
        answer.json()["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("00Q"))
    );
}

#[test]
fn creates_check_required_and_read_only_fields() {
    let sf = start_salesforce();
    let client = Client::at(sf.base_url());
    let answer = client.must(
        "POST",
        &format!("{SF}/sobjects/Opportunity"),
        &[],
        Some(r#"{"Name": "x"}"#),
    );
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()[0]["errorCode"], "REQUIRED_FIELD_MISSING");
    assert_eq!(
        answer.json()[0]["fields"],
        json!(["CloseDate", "StageName"])
    );
    let answer = client.must(
        "POST",
        &format!("{SF}/sobjects/Lead"),
        &[],
        Some(r#"{"LastName": "x"}"#),
    );
    assert_eq!(answer.json()[0]["fields"], json!(["Company"]));
    let body =
        r#"{"Name": "x", "CloseDate": "2027-01-31", "StageName": "Prospecting", "IsWon": true}"#;
    let answer = client.must(
        "POST",
        &format!("{SF}/sobjects/Opportunity"),
        &[],
        Some(body),
    );
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (400, "INVALID_FIELD_FOR_INSERT_UPDATE".to_owned())
    );
    assert_eq!(answer.json()[0]["fields"], json!(["IsWon"]));
    let answer = client.must(
        "POST",
        &format!("{SF}/sobjects/Opportunity"),
        &[],
        Some("[1]"),
    );
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (400, "JSON_PARSER_ERROR".to_owned())
    );
    assert!(sf.rows("Opportunity").is_empty());
}

#[test]
fn deletes_answer_204_then_entity_is_deleted() {
    let sf = start_salesforce();
    let id = sf_id(1);
    sf.seed("Opportunity", vec![sf_opportunity(&id, "Contoso", "ref-1")]);
    let client = Client::at(sf.base_url());
    let url = format!("{SF}/sobjects/Opportunity/{id}");
    assert_eq!(client.must("DELETE", &url, &[], None).status, 204);
    let answer = client.get(&url);
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (404, "ENTITY_IS_DELETED".to_owned())
    );
    assert_eq!(client.must("DELETE", &url, &[], None).status, 404);
    assert!(sf.row("Opportunity", &id).is_none());
}
