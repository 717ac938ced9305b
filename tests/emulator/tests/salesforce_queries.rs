//! Salesforce: SOQL queries (`WHERE`, `ORDER BY`, `LIMIT`), paging with `nextRecordsUrl`, refused SOQL.

mod common;

use common::{
    Client, SF, sf_error, sf_id, sf_opportunity, start_salesforce, start_salesforce_with,
};
use cosell_emulator::SalesforceOptions;
use serde_json::{Value, json};

fn names(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| r["Name"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[test]
fn where_order_by_and_limit() {
    let sf = start_salesforce();
    let mut rows = Vec::new();
    for n in 1..=4 {
        let mut row = sf_opportunity(&sf_id(n), &format!("Deal {n}"), &format!("ref-{n}"));
        row["Sync_with_Partner_Center__c"] = json!(n != 2);
        row["Amount"] = json!(n * 100);
        rows.push(row);
    }
    sf.seed("Opportunity", rows);
    assert!(sf.edit("Opportunity", &sf_id(3), |r| r["Description"] =
        json!("edited")));
    let client = Client::at(sf.base_url());

    let answer = client.get(&format!(
        "{SF}/query?q=SELECT+Id,+Name+FROM+Opportunity+WHERE+Sync_with_Partner_Center__c+=+true+ORDER+BY+Amount+DESC"
    ));
    assert_eq!(answer.status, 200, "{}", answer.body);
    let page = answer.json();
    assert_eq!(
        (page["totalSize"].clone(), page["done"].clone()),
        (json!(3), json!(true))
    );
    assert!(page.get("nextRecordsUrl").is_none());
    assert_eq!(names(&page), ["Deal 4", "Deal 3", "Deal 1"]);
    assert_eq!(
        page["records"][0],
        json!({"attributes": {"type": "Opportunity", "url": format!("{SF}/sobjects/Opportunity/{}", sf_id(4))},
               "Id": sf_id(4), "Name": "Deal 4"})
    );

    // Text equality ignores case; datetimes compare as instants; spaces as %20; lower-case keywords.
    let answer = client.get(&format!(
        "{SF}/query?q=select name from opportunity where Referral_Identifier__c = 'REF-1'"
    ));
    assert_eq!(names(&answer.json()), ["Deal 1"]);
    let answer = client.get(&format!(
        "{SF}/query?q=SELECT Name FROM Opportunity WHERE SystemModstamp %3E 2026-10-20T10:15:42Z AND Amount %3E= 100"
    ));
    assert_eq!(names(&answer.json()), ["Deal 3"]);
    let answer = client.get(&format!(
        "{SF}/query?q=SELECT Name FROM Opportunity ORDER BY Name DESC LIMIT 2"
    ));
    assert_eq!(names(&answer.json()), ["Deal 4", "Deal 3"]);
    assert_eq!(answer.json()["totalSize"], 2);
}

#[test]
fn pages_follow_next_records_url() {
    let sf = start_salesforce_with(SalesforceOptions {
        page_size: 2,
        ..SalesforceOptions::default()
    });
    sf.seed(
        "Opportunity",
        (1..=5)
            .map(|n| sf_opportunity(&sf_id(n), &format!("Deal {n}"), "r"))
            .collect(),
    );
    let client = Client::at(sf.base_url());
    let mut page = client
        .get(&format!(
            "{SF}/query?q=SELECT Name FROM Opportunity ORDER BY Name"
        ))
        .json();
    let mut seen = Vec::new();
    loop {
        assert_eq!(page["totalSize"], 5);
        seen.extend(names(&page));
        if page["done"] == json!(true) {
            assert!(page.get("nextRecordsUrl").is_none());
            break;
        }
        let next = page["nextRecordsUrl"]
            .as_str()
            .expect("a nextRecordsUrl")
            .to_owned();
        assert!(next.starts_with(&format!("{SF}/query/01g")), "{next}");
        page = client.get(&next).json();
    }
    assert_eq!(seen, ["Deal 1", "Deal 2", "Deal 3", "Deal 4", "Deal 5"]);
    let answer = client.get(&format!("{SF}/query/01gnonsense-2"));
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (400, "INVALID_QUERY_LOCATOR".to_owned())
    );
}

#[test]
fn unsupported_soql_is_malformed_query() {
    let sf = start_salesforce();
    let client = Client::at(sf.base_url());
    for (q, part) in [
        (
            "SELECT Id FROM Opportunity WHERE Name = 'a' OR Name = 'b'",
            "OR",
        ),
        ("SELECT Account.Name FROM Opportunity", "Account.Name"),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate = TODAY",
            "TODAY",
        ),
        ("SELECT Id Opportunity", "Opportunity"),
    ] {
        let answer = client.get(&format!("{SF}/query?q={}", q.replace(' ', "+")));
        assert_eq!(
            (answer.status, sf_error(&answer)),
            (400, "MALFORMED_QUERY".to_owned()),
            "{q}"
        );
        let message = answer.json()[0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.contains(part), "{q}: {message}");
    }
    let answer = client.get(&format!("{SF}/query?q=SELECT+Id+FROM+Widget"));
    assert_eq!(
        (answer.status, sf_error(&answer)),
        (400, "INVALID_TYPE".to_owned())
    );
    assert_eq!(client.get(&format!("{SF}/query")).status, 400);
}
