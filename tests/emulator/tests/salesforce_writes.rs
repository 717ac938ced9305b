//! Salesforce: updates (`If-Unmodified-Since`, read-only fields, stamps) and upserts by external id.

mod common;

use common::{Client, SF, sf_error, sf_id, sf_opportunity, start_salesforce};
use serde_json::json;

#[test]
fn updates_answer_204_and_stamp_distinct_seconds() {
    let sf = start_salesforce();
    let id = sf_id(1);
    sf.seed("Opportunity", vec![sf_opportunity(&id, "Contoso", "ref-1")]);
    let client = Client::at(sf.base_url());
    let url = format!("{SF}/sobjects/Opportunity/{id}");
    let mut stamps = Vec::new();
    for amount in [1, 2, 3] {
        let answer = client.must(
            "PATCH",
            &url,
            &[],
            Some(&json!({"Amount": amount}).to_string()),
        );
        assert_eq!(answer.status, 204, "{}", answer.body);
        assert!(answer.body.is_empty());
        let record = sf.row("Opportunity", &id).expect("stored");
        assert_eq!(record["Amount"], amount);
        assert_eq!(record["SystemModstamp"], record["LastModifiedDate"]);
        stamps.push(
            record["LastModifiedDate"]
                .as_str()
                .expect("a date")
                .to_owned(),
        );
    }
    assert!(
        stamps.iter().all(|s| s.ends_with(".000+0000")),
        "{stamps:?}"
    );
    // Lexical order is time order in this format; each write is in a later second.
    assert!(
        stamps.windows(2).all(|w| w[0][..19] < w[1][..19]),
        "{stamps:?}"
    );
    // Closing derives IsClosed/IsWon.
    client.must("PATCH", &url, &[], Some(r#"{"StageName": "Closed Won"}"#));
    let record = sf.row("Opportunity", &id).expect("stored");
    assert_eq!(
        (record["IsClosed"].clone(), record["IsWon"].clone()),
        (json!(true), json!(true))
    );
}

#[test]
fn if_unmodified_since_guards_updates() {
    let sf = start_salesforce();
    let id = sf_id(1);
    sf.seed("Opportunity", vec![sf_opportunity(&id, "Contoso", "ref-1")]);
    let client = Client::at(sf.base_url());
    let url = format!("{SF}/sobjects/Opportunity/{id}");
    // The seeded LastModifiedDate is 2026-10-20T10:15:42: the same second passes.
    let seen = "Tue, 20 Oct 2026 10:15:42 GMT";
    let answer = client.must(
        "PATCH",
        &url,
        &[("If-Unmodified-Since", seen)],
        Some(r#"{"Amount": 1}"#),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    // Now the record is later than what was seen.
    let answer = client.must(
        "PATCH",
        &url,
        &[("If-Unmodified-Since", seen)],
        Some(r#"{"Amount": 2}"#),
    );
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (412, "PRECONDITION_FAILED".to_owned())
    );
    assert_eq!(sf.row("Opportunity", &id).expect("stored")["Amount"], 1);
    // A CRM user's edit also moves LastModifiedDate.
    assert!(sf.edit("Opportunity", &id, |r| r["Name"] = json!("Contoso Ltd")));
    let answer = client.must(
        "PATCH",
        &url,
        &[("If-Unmodified-Since", seen)],
        Some(r#"{"Amount": 3}"#),
    );
    assert_eq!(answer.status, 412);
    // An invalid date is 400.
    for bad in [
        "yesterday",
        "2026-10-20T10:15:42Z",
        "Wed, 20 Oct 2026 10:15:42 GMT",
    ] {
        let answer = client.must(
            "PATCH",
            &url,
            &[("If-Unmodified-Since", bad)],
            Some(r#"{"Amount": 4}"#),
        );
        assert_eq!(answer.status, 400, "{bad}");
    }
    let answer = client.must(
        "PATCH",
        &url,
        &[("If-Unmodified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")],
        Some(r#"{"Amount": 5}"#),
    );
    assert_eq!(answer.status, 204);
}

#[test]
fn read_only_fields_are_refused() {
    let sf = start_salesforce();
    let id = sf_id(1);
    sf.seed("Opportunity", vec![sf_opportunity(&id, "Contoso", "ref-1")]);
    let client = Client::at(sf.base_url());
    let url = format!("{SF}/sobjects/Opportunity/{id}");
    for field in [
        "Id",
        "LastModifiedDate",
        "SystemModstamp",
        "CreatedDate",
        "IsClosed",
        "IsWon",
    ] {
        let body = json!({field: "x", "Amount": 9}).to_string();
        let answer = client.must("PATCH", &url, &[], Some(&body));
        assert_eq!(
            (answer.status, sf_error(&answer)),
            (400, "INVALID_FIELD_FOR_INSERT_UPDATE".to_owned())
        );
        assert_eq!(answer.json()[0]["fields"], json!([field]));
    }
    assert_eq!(
        sf.row("Opportunity", &id).expect("stored")["Amount"],
        48000.0
    );
    // Unknown fields are stored (no schema).
    assert_eq!(
        client
            .must("PATCH", &url, &[], Some(r#"{"Custom__c": "y"}"#))
            .status,
        204
    );
    assert_eq!(
        client
            .must(
                "PATCH",
                &format!("{SF}/sobjects/Opportunity/{}", sf_id(2)),
                &[],
                Some("{}")
            )
            .status,
        404
    );
}

#[test]
fn upsert_creates_then_updates() {
    let sf = start_salesforce();
    let client = Client::at(sf.base_url());
    let url = format!("{SF}/sobjects/Opportunity/Referral_Identifier__c/5b0e-ref");
    let body = json!({"Name": "From PC", "CloseDate": "2027-01-31", "StageName": "Prospecting"})
        .to_string();
    let answer = client.must("PATCH", &url, &[], Some(&body));
    assert_eq!(answer.status, 201, "{}", answer.body);
    let id = answer.json()["id"].as_str().expect("an id").to_owned();
    assert_eq!(
        answer.json(),
        json!({"id": id, "success": true, "errors": [], "created": true})
    );
    assert_eq!(
        sf.row("Opportunity", &id).expect("stored")["Referral_Identifier__c"],
        "5b0e-ref"
    );

    let answer = client.must("PATCH", &url, &[], Some(r#"{"Amount": 10}"#));
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json(),
        json!({"id": id, "success": true, "errors": [], "created": false})
    );
    assert_eq!(sf.row("Opportunity", &id).expect("stored")["Amount"], 10);
    assert_eq!(sf.rows("Opportunity").len(), 1);

    // Reading by external id.
    let answer = client.get(&url);
    assert_eq!(
        (answer.status, answer.json()["Id"].clone()),
        (200, json!(id))
    );
    // A create without the required fields.
    let answer = client.must(
        "PATCH",
        &format!("{SF}/sobjects/Opportunity/Referral_Identifier__c/other"),
        &[],
        Some(r#"{"Amount": 1}"#),
    );
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (400, "REQUIRED_FIELD_MISSING".to_owned())
    );
    // A field that is not an external id.
    let answer = client.must(
        "PATCH",
        &format!("{SF}/sobjects/Opportunity/Name/x"),
        &[],
        Some("{}"),
    );
    assert_eq!(answer.status, 404);
}

#[test]
fn upsert_update_only_and_several_matches() {
    let sf = start_salesforce();
    let (a, b) = (sf_id(1), sf_id(2));
    sf.seed(
        "Opportunity",
        vec![
            sf_opportunity(&a, "A", "dup"),
            sf_opportunity(&b, "B", "dup"),
        ],
    );
    let client = Client::at(sf.base_url());
    let answer = client.must(
        "PATCH",
        &format!("{SF}/sobjects/Opportunity/Referral_Identifier__c/dup"),
        &[],
        Some(r#"{"Amount": 1}"#),
    );
    assert_eq!(answer.status, 300);
    assert_eq!(
        answer.json(),
        json!([
            format!("{SF}/sobjects/Opportunity/{a}"),
            format!("{SF}/sobjects/Opportunity/{b}")
        ])
    );
    assert_eq!(
        sf.row("Opportunity", &a).expect("stored")["Amount"],
        48000.0
    );

    let answer = client.must(
        "PATCH",
        &format!("{SF}/sobjects/Opportunity/Referral_Identifier__c/none?updateOnly=true"),
        &[],
        Some(r#"{"Name": "n", "CloseDate": "2027-01-31", "StageName": "Prospecting"}"#),
    );
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (404, "NOT_FOUND".to_owned())
    );
    assert_eq!(sf.rows("Opportunity").len(), 2);
}
