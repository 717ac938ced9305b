//! Dynamics collections: `$filter` (`eq`, `and`, GUIDs unquoted), `$select`, `$top`, `$orderby`, paging with
//! `Prefer: odata.maxpagesize` and `@odata.nextLink`.

mod common;

use common::{API, Client, guid, opportunity, start_dynamics};
use serde_json::{Value, json};

/// The values of a column in a collection answer.
fn column(page: &Value, name: &str) -> Vec<String> {
    page["value"]
        .as_array()
        .expect("a value array")
        .iter()
        .map(|row| row[name].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[test]
fn the_connector_look_ups_work() {
    let crm = start_dynamics();
    let client = Client::at(crm.base_url());
    let answer = client.get(&format!(
        "{API}/transactioncurrencies?$filter=isocurrencycode%20eq%20'EUR'&$select=transactioncurrencyid"
    ));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let page = answer.json();
    assert_eq!(
        column(&page, "transactioncurrencyid"),
        ["e003f3b4-6a43-5610-9ff2-576ddea35e7f"]
    );
    assert!(page["value"][0].get("isocurrencycode").is_none());
    assert_eq!(
        page["@odata.context"],
        format!(
            "{}{API}/$metadata#transactioncurrencies(transactioncurrencyid)",
            crm.base_url()
        )
    );

    let (a, b) = (guid(1), guid(2));
    crm.seed(
        "accounts",
        vec![
            json!({"accountid": a, "name": "Contoso", "address1_postalcode": "98101"}),
            json!({"accountid": b, "name": "Contoso", "address1_postalcode": "10001"}),
        ],
    );
    let page = client
        .get(&format!("{API}/accounts?$filter=name%20eq%20'Contoso'%20and%20address1_postalcode%20eq%20'98101'"))
        .json();
    assert_eq!(column(&page, "accountid"), [a]);
    // String equality ignores case, as in Dataverse.
    assert_eq!(
        column(
            &client
                .get(&format!("{API}/accounts?$filter=name eq 'contoso'"))
                .json(),
            "accountid"
        )
        .len(),
        2
    );

    let mut opp = opportunity(&guid(3), "Deal");
    opp["_customerid_value"] = json!(b);
    crm.seed("opportunities", vec![opp, opportunity(&guid(4), "Other")]);
    let page = client
        .get(&format!(
            "{API}/opportunities?$filter=cosell_referralidentifier eq 'ref-Deal'"
        ))
        .json();
    assert_eq!(column(&page, "opportunityid"), [guid(3)]);
    let page = client
        .get(&format!(
            "{API}/opportunities?$filter=_customerid_value eq {}",
            b.to_uppercase()
        ))
        .json();
    assert_eq!(column(&page, "opportunityid"), [guid(3)]);
    let page = client
        .get(&format!(
            "{API}/opportunities?$filter=statecode eq 0&$select=name&$orderby=name desc"
        ))
        .json();
    assert_eq!(column(&page, "name"), ["Other", "Deal"]);
}

#[test]
fn bad_queries_are_400() {
    let crm = start_dynamics();
    let client = Client::at(crm.base_url());
    for query in [
        "$filter=_customerid_value eq '00000000-0000-0000-0000-000000000001'",
        "$filter=name eq 'a' or name eq 'b'",
        "$filter=contains(name,'a')",
        "$skip=2",
        "$select=transactioncurrencyid",
        "fetchXml=x",
    ] {
        let answer = client.get(&format!("{API}/opportunities?{query}"));
        assert_eq!(answer.status, 400, "{query}: {}", answer.body);
        assert!(!answer.error_message().is_empty());
    }
}

#[test]
fn pages_follow_next_links() {
    let crm = start_dynamics();
    crm.seed(
        "opportunities",
        (1..=5)
            .map(|n| opportunity(&guid(n), &format!("O{n}")))
            .collect(),
    );
    let client = Client::at(crm.base_url());
    let mut url = format!("{API}/opportunities?$select=name&$filter=statecode eq 0");
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let answer = client.must("GET", &url, &[("Prefer", "odata.maxpagesize=2")], None);
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(
            answer.header("Preference-Applied"),
            Some("odata.maxpagesize=2")
        );
        let page = answer.json();
        assert!(page["value"].as_array().is_some_and(|rows| rows.len() <= 2));
        names.extend(column(&page, "name"));
        pages += 1;
        match page["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(
                    next.starts_with(&format!("{}{API}/opportunities?", crm.base_url())),
                    "{next}"
                );
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names, ["O1", "O2", "O3", "O4", "O5"]);
    // $top caps the whole result; $count counts every match.
    let page = client
        .get(&format!("{API}/opportunities?$top=3&$count=true"))
        .json();
    assert_eq!(column(&page, "name"), ["O1", "O2", "O3"]);
    assert_eq!(page["@odata.count"], 5);
    assert!(page.get("@odata.nextLink").is_none());
}

#[test]
fn the_options_page_size_is_the_default() {
    let crm = cosell_emulator::Dynamics::start(cosell_emulator::DynamicsOptions {
        page_size: 3,
        ..cosell_emulator::DynamicsOptions::default()
    })
    .expect("starts");
    let client = Client::at(crm.base_url());
    let page = client.get(&format!("{API}/transactioncurrencies")).json();
    assert_eq!(page["value"].as_array().map(Vec::len), Some(3));
    assert!(page["@odata.nextLink"].is_string());
}
