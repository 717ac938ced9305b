//! Dynamics change tracking: `Prefer: odata.track-changes`, delta links, deletions as `$deletedEntity`.

mod common;

use common::{API, Client, guid, opportunity, start_dynamics};
use serde_json::{Value, json};

/// Follows nextLinks from a first answer; returns every entry and the final deltaLink.
fn read_all(client: &Client, first: Value, prefer: &[(&str, &str)]) -> (Vec<Value>, String) {
    let mut page = first;
    let mut entries = Vec::new();
    loop {
        entries.extend(page["value"].as_array().cloned().unwrap_or_default());
        if let Some(delta) = page["@odata.deltaLink"].as_str() {
            return (entries, delta.to_owned());
        }
        let next = page["@odata.nextLink"]
            .as_str()
            .expect("a nextLink or a deltaLink")
            .to_owned();
        let answer = client.must("GET", &next, prefer, None);
        assert_eq!(answer.status, 200, "{}", answer.body);
        page = answer.json();
    }
}

#[test]
fn a_delta_round_shows_creates_edits_and_deletes() {
    let crm = start_dynamics();
    let (kept, edited, deleted) = (guid(1), guid(2), guid(3));
    crm.seed(
        "opportunities",
        vec![
            opportunity(&kept, "K"),
            opportunity(&edited, "E"),
            opportunity(&deleted, "D"),
        ],
    );
    let client = Client::at(crm.base_url());
    let answer = client.must(
        "GET",
        &format!("{API}/opportunities?$select=name,estimatedvalue"),
        &[("Prefer", "odata.track-changes")],
        None,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.header("Preference-Applied"),
        Some("odata.track-changes")
    );
    let page = answer.json();
    assert_eq!(page["value"].as_array().map(Vec::len), Some(3));
    assert_eq!(
        page["value"][0]["@odata.etag"]
            .as_str()
            .map(|e| e.starts_with("W/")),
        Some(true)
    );
    let delta = page["@odata.deltaLink"]
        .as_str()
        .expect("a deltaLink")
        .to_owned();
    assert!(
        delta.starts_with(&format!(
            "{}{API}/opportunities?$select=name,estimatedvalue&$deltatoken=",
            crm.base_url()
        )),
        "{delta}"
    );

    // Nothing changed: an empty delta and a new link.
    let empty = client.get(&delta).json();
    assert_eq!(empty["value"], json!([]));
    assert!(empty["@odata.deltaLink"].is_string());

    // A create through the API, an edit and a delete by a CRM user.
    let created = guid(4);
    let answer = client.must(
        "PATCH",
        &format!("{API}/opportunities({created})"),
        &[],
        Some(r#"{"name": "N"}"#),
    );
    assert_eq!(answer.status, 204);
    assert!(
        crm.edit("opportunities", &edited, |row| row["estimatedvalue"] =
            json!(99.0))
    );
    assert!(crm.delete("opportunities", &deleted));

    let answer = client.get(&delta);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let page = answer.json();
    assert!(
        page["@odata.context"]
            .as_str()
            .is_some_and(|c| c.ends_with("/$delta")),
        "{page}"
    );
    let entries = page["value"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 3, "{page}");
    assert_eq!(entries[0]["opportunityid"], created.as_str());
    assert_eq!(
        entries[0]["estimatedvalue"],
        json!(null),
        "full selected columns"
    );
    assert_eq!(entries[1]["opportunityid"], edited.as_str());
    assert_eq!(entries[1]["estimatedvalue"], 99.0);
    assert_eq!(
        entries[2],
        json!({"@odata.context": format!("{}{API}/$metadata#opportunities/$deletedEntity", crm.base_url()),
               "id": deleted, "reason": "deleted"})
    );
    // The new link starts after those changes.
    let next = page["@odata.deltaLink"].as_str().expect("a new deltaLink");
    assert_ne!(next, delta);
    assert_eq!(client.get(next).json()["value"], json!([]));
}

#[test]
fn tracked_reads_page_and_miss_nothing() {
    let crm = start_dynamics();
    crm.seed(
        "opportunities",
        (1..=5)
            .map(|n| opportunity(&guid(n), &format!("O{n}")))
            .collect(),
    );
    let client = Client::at(crm.base_url());
    let prefer = [("Prefer", "odata.track-changes,odata.maxpagesize=2")];
    let first = client.must(
        "GET",
        &format!("{API}/opportunities?$select=name"),
        &prefer,
        None,
    );
    assert_eq!(
        first.header("Preference-Applied"),
        Some("odata.track-changes,odata.maxpagesize=2")
    );
    let first = first.json();
    assert!(first["@odata.nextLink"].is_string());
    // A row already read is edited while paging: it shows in the next delta, not twice now.
    assert!(crm.edit("opportunities", &guid(1), |row| row["name"] = json!("O1b")));
    let (entries, delta) = read_all(&client, first, &prefer);
    let names: Vec<&str> = entries.iter().filter_map(|e| e["name"].as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let page = client.get(&delta).json();
    let names: Vec<&str> = page["value"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["O1b"]);
}

#[test]
fn tracking_refuses_filters_and_bad_tokens() {
    let crm = start_dynamics();
    let client = Client::at(crm.base_url());
    let prefer = [("Prefer", "odata.track-changes")];
    for query in [
        "$select=name&$filter=statecode eq 0",
        "$select=name&$top=5",
        "$orderby=name",
        "$expand=transactioncurrencyid",
    ] {
        let answer = client.must(
            "GET",
            &format!("{API}/opportunities?{query}"),
            &prefer,
            None,
        );
        assert_eq!(answer.status, 400, "{query}");
    }
    assert_eq!(
        client
            .get(&format!(
                "{API}/opportunities?$deltatoken=999999999!01/01/2030 00:00:00"
            ))
            .status,
        400
    );
    assert_eq!(
        client
            .get(&format!("{API}/opportunities?$deltatoken=garbage"))
            .status,
        400
    );
}
