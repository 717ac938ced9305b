//! Dynamics writes: PATCH (update, upsert, If-Match, If-None-Match, read-only columns), lookups bound with
//! `@odata.bind`, POST creates, DELETE.

mod common;

use common::{API, Client, guid, opportunity, start_dynamics};
use serde_json::json;

const EUR: &str = "e003f3b4-6a43-5610-9ff2-576ddea35e7f";

#[test]
fn patch_updates_and_bumps_the_version() {
    let crm = start_dynamics();
    let id = guid(1);
    crm.seed("opportunities", vec![opportunity(&id, "Contoso")]);
    let before = crm.row("opportunities", &id).expect("seeded");
    let client = Client::at(crm.base_url());
    let url = format!("{API}/opportunities({id})");
    let answer = client.must(
        "PATCH",
        &url,
        &[],
        Some(r#"{"estimatedvalue": 2500.5, "description": "d"}"#),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(
        answer.header("OData-EntityId"),
        Some(format!("{}{url}", crm.base_url()).as_str())
    );
    let after = crm.row("opportunities", &id).expect("stored");
    assert_eq!(after["estimatedvalue"], 2500.5);
    assert_eq!(after["name"], "Contoso");
    let (v0, v1) = (
        before["versionnumber"].as_u64().unwrap_or(0),
        after["versionnumber"].as_u64().unwrap_or(0),
    );
    assert!(v1 > v0);
    assert_eq!(after["@odata.etag"], format!("W/\"{v1}\""));
    let modified = after["modifiedon"].as_str().expect("modifiedon");
    assert!(
        modified.len() == 20 && modified.ends_with('Z') && modified.as_bytes()[10] == b'T',
        "{modified}"
    );

    // Prefer: return=representation answers 200 with the row, shaped by $select.
    let answer = client.must(
        "PATCH",
        &format!("{url}?$select=name"),
        &[("Prefer", "return=representation")],
        Some(r#"{"name": "Contoso 2"}"#),
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let row = answer.json();
    assert_eq!(row["name"], "Contoso 2");
    assert!(row.get("estimatedvalue").is_none());
    assert!(row["versionnumber"].is_null() || row.get("versionnumber").is_none());
    assert_eq!(
        row["@odata.etag"],
        crm.row("opportunities", &id).expect("row")["@odata.etag"]
    );
}

#[test]
fn a_stale_if_match_is_412_with_the_dataverse_body() {
    let crm = start_dynamics();
    let id = guid(2);
    crm.seed("opportunities", vec![opportunity(&id, "Contoso")]);
    let client = Client::at(crm.base_url());
    let url = format!("{API}/opportunities({id})");
    let etag = crm.row("opportunities", &id).expect("row")["@odata.etag"]
        .as_str()
        .expect("etag")
        .to_owned();
    assert!(crm.edit("opportunities", &id, |row| row["description"] =
        json!("by a user")));
    let answer = client.must(
        "PATCH",
        &url,
        &[("If-Match", &etag)],
        Some(r#"{"name": "x"}"#),
    );
    assert_eq!(answer.status, 412);
    assert_eq!(
        answer.json(),
        json!({"error": {"code": "", "message": "The version of the existing record doesn't match the RowVersion property provided."}})
    );
    let current = crm.row("opportunities", &id).expect("row")["@odata.etag"]
        .as_str()
        .expect("etag")
        .to_owned();
    let answer = client.must(
        "PATCH",
        &url,
        &[("If-Match", &current)],
        Some(r#"{"name": "x"}"#),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    assert_eq!(
        client
            .must("DELETE", &url, &[("If-Match", &current)], None)
            .status,
        412
    );
}

#[test]
fn patch_upserts_unless_if_match_and_if_none_match_creates_only() {
    let crm = start_dynamics();
    let client = Client::at(crm.base_url());
    let (a, b) = (guid(10), guid(11));
    // If-Match: * on a missing row: 404, nothing created.
    let answer = client.must(
        "PATCH",
        &format!("{API}/opportunities({a})"),
        &[("If-Match", "*")],
        Some(r#"{"name": "A"}"#),
    );
    assert_eq!(
        (answer.status, answer.error_code()),
        (404, "0x80040217".to_owned())
    );
    assert!(crm.row("opportunities", &a).is_none());
    // A plain PATCH creates it with that id.
    let answer = client.must(
        "PATCH",
        &format!("{API}/opportunities({a})"),
        &[],
        Some(r#"{"name": "A"}"#),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    let row = crm.row("opportunities", &a).expect("upserted");
    assert_eq!(
        (
            row["name"].clone(),
            row["statecode"].clone(),
            row["statuscode"].clone()
        ),
        (json!("A"), json!(0), json!(1))
    );
    assert_eq!(
        row["_transactioncurrencyid_value"],
        cosell_emulator::USD_CURRENCY_ID,
        "the base currency"
    );
    assert!(row["createdon"].is_string());
    // If-Match: * on an existing row updates.
    let answer = client.must(
        "PATCH",
        &format!("{API}/opportunities({a})"),
        &[("If-Match", "*")],
        Some(r#"{"name": "A2"}"#),
    );
    assert_eq!(answer.status, 204);
    // If-None-Match: * creates only.
    let answer = client.must(
        "PATCH",
        &format!("{API}/opportunities({a})"),
        &[("If-None-Match", "*")],
        Some(r#"{"name": "A3"}"#),
    );
    assert_eq!(answer.status, 412);
    assert_eq!(crm.row("opportunities", &a).expect("row")["name"], "A2");
    let answer = client.must(
        "PATCH",
        &format!("{API}/opportunities({b})"),
        &[("If-None-Match", "*")],
        Some(r#"{"name": "B"}"#),
    );
    assert_eq!(answer.status, 204);
    assert_eq!(crm.row("opportunities", &b).expect("created")["name"], "B");
}

#[test]
fn lookups_are_bound_with_odata_bind() {
    let crm = start_dynamics();
    let (opp, account) = (guid(20), guid(21));
    crm.seed(
        "accounts",
        vec![json!({"accountid": account, "name": "Contoso", "address1_postalcode": "98101"})],
    );
    crm.seed("opportunities", vec![opportunity(&opp, "Contoso")]);
    let client = Client::at(crm.base_url());
    let url = format!("{API}/opportunities({opp})");
    let body = json!({"transactioncurrencyid@odata.bind": format!("/transactioncurrencies({EUR})"),
                      "customerid_account@odata.bind": format!("/accounts({account})")});
    let answer = client.must("PATCH", &url, &[], Some(&body.to_string()));
    assert_eq!(answer.status, 204, "{}", answer.body);
    let row = crm.row("opportunities", &opp).expect("row");
    assert_eq!(row["_transactioncurrencyid_value"], EUR);
    assert_eq!(row["_customerid_value"], account.as_str());
    let read = client
        .get(&format!(
            "{url}?$select=name&$expand=transactioncurrencyid($select=isocurrencycode)"
        ))
        .json();
    assert_eq!(read["transactioncurrencyid"]["isocurrencycode"], "EUR");

    for (body, expected) in [
        (
            json!({"customerid_account@odata.bind": format!("/accounts({})", guid(99))}),
            "account With Id",
        ),
        (
            json!({"customerid_account@odata.bind": format!("/transactioncurrencies({EUR})")}),
            "must be a reference",
        ),
        (
            json!({"bogus@odata.bind": format!("/accounts({account})")}),
            "undeclared property 'bogus'",
        ),
        (
            json!({"_customerid_value": account}),
            "Use Navigation properties",
        ),
        (json!({"customerid": account}), "is a lookup"),
        (json!({"versionnumber": 5}), "read-only"),
        (json!({"modifiedon": "2026-01-01T00:00:00Z"}), "read-only"),
        (json!({"opportunityid": guid(98)}), "read-only"),
        (json!({"@odata.etag": "W/\"1\""}), "annotation"),
    ] {
        let answer = client.must("PATCH", &url, &[], Some(&body.to_string()));
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        assert!(
            answer.error_message().contains(expected),
            "{body}: {}",
            answer.body
        );
    }
    assert_eq!(
        crm.row("opportunities", &opp).expect("row")["versionnumber"],
        row["versionnumber"],
        "refused writes change nothing"
    );
    assert_eq!(client.must("PATCH", &url, &[], Some("[1]")).status, 400);
    assert_eq!(
        client.must("PATCH", &url, &[], Some("not json")).status,
        400
    );
}

#[test]
fn post_creates_with_entity_id_or_representation() {
    let crm = start_dynamics();
    let client = Client::at(crm.base_url());
    let answer = client.must(
        "POST",
        &format!("{API}/opportunities"),
        &[],
        Some(r#"{"name": "New one", "estimatedvalue": 10}"#),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    let entity = answer
        .header("OData-EntityId")
        .expect("OData-EntityId")
        .to_owned();
    let prefix = format!("{}{API}/opportunities(", crm.base_url());
    let id = entity
        .strip_prefix(&prefix)
        .and_then(|rest| rest.strip_suffix(')'))
        .expect("an entity URL")
        .to_owned();
    assert_eq!(
        crm.row("opportunities", &id).expect("created")["name"],
        "New one"
    );

    let given = guid(30);
    let body = json!({"opportunityid": given, "name": "Given id"});
    let answer = client.must(
        "POST",
        &format!("{API}/opportunities?$select=name"),
        &[("Prefer", "return=representation")],
        Some(&body.to_string()),
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let row = answer.json();
    assert_eq!(
        (row["opportunityid"].as_str(), row["name"].as_str()),
        (Some(given.as_str()), Some("Given id"))
    );
    assert!(
        row["@odata.etag"]
            .as_str()
            .is_some_and(|e| e.starts_with("W/\""))
    );
    // The same id again: 412.
    let answer = client.must(
        "POST",
        &format!("{API}/opportunities"),
        &[],
        Some(&body.to_string()),
    );
    assert_eq!(answer.status, 412);
    // Leads and accounts too.
    assert_eq!(
        client
            .must(
                "POST",
                &format!("{API}/leads"),
                &[],
                Some(r#"{"subject": "L"}"#)
            )
            .status,
        204
    );
    assert_eq!(
        client
            .must(
                "POST",
                &format!("{API}/accounts"),
                &[],
                Some(r#"{"name": "A"}"#)
            )
            .status,
        204
    );
    assert_eq!(crm.rows("leads").len(), 1);
    // Closed state on create is refused.
    let answer = client.must(
        "POST",
        &format!("{API}/opportunities"),
        &[],
        Some(r#"{"name": "W", "statecode": 1}"#),
    );
    assert_eq!(answer.status, 400);
}

#[test]
fn delete_removes_the_row() {
    let crm = start_dynamics();
    let id = guid(40);
    crm.seed("accounts", vec![json!({"accountid": id, "name": "Gone"})]);
    let client = Client::at(crm.base_url());
    assert_eq!(
        client
            .must("DELETE", &format!("{API}/accounts({id})"), &[], None)
            .status,
        204
    );
    assert!(crm.row("accounts", &id).is_none());
    assert_eq!(
        client
            .must("DELETE", &format!("{API}/accounts({id})"), &[], None)
            .status,
        404
    );
}
