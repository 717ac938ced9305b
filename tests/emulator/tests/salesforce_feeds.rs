//! Salesforce: the `updated` and `deleted` change feeds and their date windows.

mod common;

use common::{Client, SF, sf_error, sf_id, sf_opportunity, start_salesforce};
use serde_json::json;

/// Formats seconds since the epoch as an ISO 8601 UTC datetime for a query string.
fn iso(seconds: i64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp(seconds).expect("a valid time");
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

#[test]
fn updated_lists_changed_ids_and_covers_up_to_now() {
    let sf = start_salesforce();
    let (a, b) = (sf_id(1), sf_id(2));
    // Seeded long ago (2026-10-20): outside the window asked below.
    sf.seed(
        "Opportunity",
        vec![sf_opportunity(&a, "A", "r1"), sf_opportunity(&b, "B", "r2")],
    );
    let client = Client::at(sf.base_url());
    let start = now() - 3600;
    let url = |start: i64, end: i64| {
        format!(
            "{SF}/sobjects/Opportunity/updated/?start={}&end={}",
            iso(start),
            iso(end)
        )
    };
    let answer = client.get(&url(start, now() + 3600));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["ids"], json!([]));
    let covered = answer.json()["latestDateCovered"]
        .as_str()
        .expect("a date")
        .to_owned();
    assert!(covered.ends_with(".000+0000"), "{covered}");

    assert!(sf.edit("Opportunity", &b, |r| r["Amount"] = json!(1)));
    let body =
        json!({"Name": "C", "CloseDate": "2027-01-31", "StageName": "Prospecting"}).to_string();
    let created = client
        .must(
            "POST",
            &format!("{SF}/sobjects/Opportunity"),
            &[],
            Some(&body),
        )
        .json();
    let c = created["id"].as_str().expect("an id").to_owned();
    let answer = client.get(&url(start, now() + 3600));
    assert_eq!(answer.json()["ids"], json!([b, c]));
    // The next window starts at latestDateCovered: nothing is lost or repeated.
    let covered = answer.json()["latestDateCovered"]
        .as_str()
        .expect("a date")
        .to_owned();
    assert!(sf.edit("Opportunity", &a, |r| r["Amount"] = json!(2)));
    let next = format!(
        "{SF}/sobjects/Opportunity/updated/?start={}&end={}",
        covered.replace('+', "%2B"),
        iso(now() + 7200)
    );
    assert_eq!(client.get(&next).json()["ids"], json!([a]));
    // The SOQL alternative sees the same stamps.
    let query = format!(
        "{SF}/query?q=SELECT+Id+FROM+Opportunity+WHERE+SystemModstamp+%3E%3D+{}",
        covered.replace('+', "%2B")
    );
    assert_eq!(client.get(&query).json()["records"][0]["Id"], json!(a));
}

#[test]
fn deleted_lists_deletions() {
    let sf = start_salesforce();
    let (a, b) = (sf_id(1), sf_id(2));
    sf.seed(
        "Opportunity",
        vec![sf_opportunity(&a, "A", "r1"), sf_opportunity(&b, "B", "r2")],
    );
    let client = Client::at(sf.base_url());
    assert!(sf.delete("Opportunity", &a));
    assert_eq!(
        client
            .must(
                "DELETE",
                &format!("{SF}/sobjects/Opportunity/{b}"),
                &[],
                None
            )
            .status,
        204
    );
    let url = format!(
        "{SF}/sobjects/Opportunity/deleted/?start={}&end={}",
        iso(now() - 3600),
        iso(now() + 3600)
    );
    let answer = client.get(&url);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let feed = answer.json();
    let ids: Vec<&str> = feed["deletedRecords"]
        .as_array()
        .expect("deletedRecords")
        .iter()
        .map(|d| d["id"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    assert!(
        feed["deletedRecords"][0]["deletedDate"]
            .as_str()
            .is_some_and(|d| d.ends_with(".000+0000"))
    );
    assert!(feed["earliestDateAvailable"].is_string() && feed["latestDateCovered"].is_string());
    // Leads have their own feed.
    let leads = client.get(&url.replace("Opportunity", "Lead")).json();
    assert_eq!(leads["deletedRecords"], json!([]));

    // After a purge, earliestDateAvailable moves to now: a start before it means a full resync.
    sf.purge_deleted();
    let feed = client.get(&url).json();
    assert_eq!(feed["deletedRecords"], json!([]));
    let earliest = feed["earliestDateAvailable"].as_str().expect("a date");
    assert!(earliest > iso(now() - 3600).as_str(), "{earliest}");
}

#[test]
fn windows_are_validated() {
    let sf = start_salesforce();
    let client = Client::at(sf.base_url());
    let feed = |kind: &str, start: i64, end: i64| {
        client.get(&format!(
            "{SF}/sobjects/Opportunity/{kind}/?start={}&end={}",
            iso(start),
            iso(end)
        ))
    };
    for (kind, days) in [("updated", 30), ("deleted", 15)] {
        let answer = feed(kind, now(), now() - 60);
        assert_eq!(
            (answer.status, sf_error(&answer)),
            (400, "INVALID_REPLICATION_DATE".to_owned()),
            "{kind}"
        );
        let answer = feed(kind, now() - (days + 1) * 86_400, now());
        assert_eq!(
            (answer.status, sf_error(&answer)),
            (400, "INVALID_REPLICATION_DATE".to_owned()),
            "{kind}"
        );
        assert_eq!(
            feed(kind, now() - (days - 1) * 86_400, now()).status,
            200,
            "{kind}"
        );
        let answer = client.get(&format!(
            "{SF}/sobjects/Opportunity/{kind}/?start=yesterday&end=today"
        ));
        assert_eq!(answer.status, 400);
        let answer = client.get(&format!("{SF}/sobjects/Opportunity/{kind}/"));
        assert_eq!(
            (answer.status, sf_error(&answer)),
            (400, "MISSING_ARGUMENT".to_owned())
        );
    }
}
