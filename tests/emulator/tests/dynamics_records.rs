//! Dynamics: reading rows (`$select`, `$expand`, conditional GET), 404s, authentication and common headers.

mod common;

use common::{API, Client, guid, opportunity, start_dynamics};
use serde_json::json;

#[test]
fn a_row_reads_with_etag_context_and_odata_version() {
    let crm = start_dynamics();
    let id = guid(1);
    crm.seed("opportunities", vec![opportunity(&id, "Contoso")]);
    let client = Client::at(crm.base_url());
    let answer = client.get(&format!("{API}/opportunities({id})"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("OData-Version"), Some("4.0"));
    let row = answer.json();
    assert_eq!(row["name"], "Contoso");
    assert_eq!(row["opportunityid"], id.as_str());
    let version = row["versionnumber"].as_u64().expect("a versionnumber");
    assert_eq!(row["@odata.etag"], format!("W/\"{version}\""));
    assert_eq!(answer.header("ETag"), row["@odata.etag"].as_str());
    assert_eq!(
        row["@odata.context"],
        format!("{}{API}/$metadata#opportunities/$entity", crm.base_url())
    );
    // Upper-case GUIDs address the same row.
    assert_eq!(
        client
            .get(&format!("{API}/opportunities({})", id.to_uppercase()))
            .status,
        200
    );
    // Conditional GET.
    let etag = row["@odata.etag"].as_str().expect("an etag");
    let answer = client.must(
        "GET",
        &format!("{API}/opportunities({id})"),
        &[("If-None-Match", etag)],
        None,
    );
    assert_eq!(answer.status, 304);
}

#[test]
fn select_and_expand_shape_the_row() {
    let crm = start_dynamics();
    let id = guid(2);
    crm.seed("opportunities", vec![opportunity(&id, "Fabrikam")]);
    let client = Client::at(crm.base_url());
    let answer = client.get(&format!(
        "{API}/opportunities({id})?$select=name,estimatedvalue,description&$expand=transactioncurrencyid($select=isocurrencycode)"
    ));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let row = answer.json();
    assert_eq!(row["name"], "Fabrikam");
    assert_eq!(
        row["description"],
        json!(null),
        "selected but empty columns are null"
    );
    assert!(row.get("cosell_referralidentifier").is_none());
    assert_eq!(row["opportunityid"], id.as_str());
    assert_eq!(
        row["_transactioncurrencyid_value"],
        cosell_emulator::USD_CURRENCY_ID
    );
    assert_eq!(
        row["transactioncurrencyid"],
        json!({"transactioncurrencyid": cosell_emulator::USD_CURRENCY_ID, "isocurrencycode": "USD"})
    );
    assert!(row["@odata.context"]
        .as_str()
        .is_some_and(|c| c.ends_with("#opportunities(name,estimatedvalue,description,transactioncurrencyid(isocurrencycode))/$entity")));
    // A lookup is not a column.
    let answer = client.get(&format!("{API}/opportunities({id})?$select=customerid"));
    assert_eq!(answer.status, 400);
    assert!(
        answer
            .error_message()
            .contains("Could not find a property named 'customerid'")
    );
}

#[test]
fn missing_rows_and_segments_are_404() {
    let crm = start_dynamics();
    let client = Client::at(crm.base_url());
    let id = guid(3);
    let answer = client.get(&format!("{API}/opportunities({id})"));
    assert_eq!(answer.status, 404);
    assert_eq!(
        answer.json(),
        json!({"error": {"code": "0x80040217", "message": format!("opportunity With Id = {id} Does Not Exist")}})
    );
    assert_eq!(answer.header("OData-Version"), Some("4.0"));
    assert_eq!(client.get(&format!("{API}/contacts({id})")).status, 404);
    assert_eq!(client.get(&format!("{API}/leads(not-a-guid)")).status, 400);
    assert_eq!(
        client
            .must(
                "PUT",
                &format!("{API}/opportunities({id})"),
                &[],
                Some("{}")
            )
            .status,
        405
    );
}

#[test]
fn requests_need_the_bearer_token() {
    let crm = start_dynamics();
    let mut client = Client::at(crm.base_url());
    client.token = None;
    let answer = client.get(&format!("{API}/accounts"));
    assert_eq!(answer.status, 401);
    assert!(!answer.error_message().is_empty());
    assert!(
        answer
            .header("WWW-Authenticate")
            .is_some_and(|v| v.starts_with("Bearer"))
    );
    client.token = Some("wrong".into());
    assert_eq!(client.get(&format!("{API}/accounts")).status, 401);
    client.token = Some("test-token".into());
    assert_eq!(client.get(&format!("{API}/accounts")).status, 200);
    assert_eq!(
        crm.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
        [Some(401), Some(401), Some(200)]
    );
}

#[test]
fn default_currencies_and_test_hooks() {
    let crm = start_dynamics();
    let codes: Vec<String> = crm
        .rows("transactioncurrencies")
        .iter()
        .map(|row| row["isocurrencycode"].as_str().unwrap_or("?").to_owned())
        .collect();
    for code in ["USD", "EUR", "CAD", "GBP"] {
        assert!(codes.contains(&code.to_owned()), "{codes:?}");
    }
    let id = guid(4);
    // A workload row: the expanded lookup is dropped, its _value kept.
    crm.seed(
        "opportunities",
        vec![json!({"@odata.etag": "W/\"100000\"", "opportunityid": id, "name": "W",
                    "_transactioncurrencyid_value": "e003f3b4-6a43-5610-9ff2-576ddea35e7f",
                    "transactioncurrencyid": {"transactioncurrencyid": "e003f3b4-6a43-5610-9ff2-576ddea35e7f",
                                              "isocurrencycode": "EUR"},
                    "versionnumber": 100_000, "modifiedon": "2026-10-20T10:15:42Z"})],
    );
    let row = crm.row("opportunities", &id).expect("seeded");
    assert!(row.get("transactioncurrencyid").is_none());
    assert_eq!(row["@odata.etag"], "W/\"100000\"");
    assert!(crm.edit("opportunities", &id, |row| row["name"] = json!("W2")));
    let row = crm.row("opportunities", &id).expect("edited");
    assert_eq!(row["name"], "W2");
    assert!(row["versionnumber"].as_u64().is_some_and(|v| v > 100_000));
    assert!(
        row["modifiedon"]
            .as_str()
            .is_some_and(|t| t.len() == 20 && t >= "2026-10-20T10:15:42Z"),
        "{row}"
    );
    assert!(crm.delete("opportunities", &id));
    assert!(!crm.delete("opportunities", &id));
    assert!(!crm.edit("opportunities", &id, |_| {}));
    assert!(crm.row("opportunities", &id).is_none());
}
