//! Listing referrals: paging with `@odata.nextLink`, `$filter`, `$orderby`, `$top`, `$skip`, `$count`, `$select`.

mod common;

use common::{Client, ids, seeded, start, start_with};
use cosell_emulator::{Options, REFERRALS_PATH};
use serde_json::{Value, json};

/// Seeds `count` referrals `r000`, `r001`, ... (New/Pending, every third Active/Accepted).
fn seed_many(pc: &cosell_emulator::PartnerCenter, count: usize) {
    pc.seed(
        (0..count)
            .map(|i| {
                let id = format!("r{i:03}");
                if i % 3 == 0 {
                    seeded(&id, "Active", "Accepted")
                } else {
                    seeded(&id, "New", "Pending")
                }
            })
            .collect(),
    );
}

/// Follows `@odata.nextLink` from a first answer; returns every page.
fn all_pages(client: &Client, query: &str) -> Vec<Value> {
    let mut pages = vec![client.list(query).json()];
    while let Some(next) = pages
        .last()
        .and_then(|page| page["@odata.nextLink"].as_str())
        .map(str::to_owned)
    {
        assert!(
            next.starts_with(&format!("{}{REFERRALS_PATH}?", client.base)),
            "{next}"
        );
        assert!(next.contains("$skiptoken="), "{next}");
        let answer = client.get(&next);
        assert_eq!(answer.status, 200, "{next}: {}", answer.body);
        pages.push(answer.json());
        assert!(pages.len() < 100, "paging does not end");
    }
    pages
}

#[test]
fn pages_of_at_most_page_size_linked_by_next_link() {
    let pc = start();
    seed_many(&pc, 250);
    let client = Client::new(&pc);
    let pages = all_pages(&client, "");
    let sizes: Vec<usize> = pages.iter().map(|page| ids(page).len()).collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    assert!(pages[2].get("@odata.nextLink").is_none());
    assert!(pages[0].get("@odata.count").is_none());
    let all: Vec<String> = pages.iter().flat_map(ids).collect();
    let expected: Vec<String> = (0..250).map(|i| format!("r{i:03}")).collect();
    assert_eq!(all, expected, "creation order, no gaps, no repeats");
}

#[test]
fn paging_keeps_the_filter_top_skip_and_count() {
    let pc = start_with(Options {
        page_size: 30,
        ..Options::default()
    });
    seed_many(&pc, 250);
    let client = Client::new(&pc);

    let pages = all_pages(&client, "$filter=status%20eq%20%27New%27&$count=true");
    let sizes: Vec<usize> = pages.iter().map(|page| ids(page).len()).collect();
    assert_eq!(sizes, vec![30, 30, 30, 30, 30, 16]);
    assert!(pages.iter().all(|page| page["@odata.count"] == 166));
    assert!(
        pages
            .iter()
            .flat_map(|page| page["value"].as_array().cloned().unwrap_or_default())
            .all(|r| r["status"] == "New")
    );

    let pages = all_pages(&client, "$top=70&$skip=5");
    let all: Vec<String> = pages.iter().flat_map(ids).collect();
    assert_eq!(all.len(), 70);
    assert_eq!(all.first().map(String::as_str), Some("r005"));
    assert_eq!(all.last().map(String::as_str), Some("r074"));

    assert!(ids(&client.list("$skip=250").json()).is_empty());
    let small = client.list("$top=3&$count=true").json();
    assert_eq!(
        (ids(&small).len(), small["@odata.count"].as_u64()),
        (3, Some(250))
    );
    assert!(small.get("@odata.nextLink").is_none());
}

#[test]
fn filters_on_each_documented_property() {
    let pc = start();
    let mut special = seeded("special", "Closed", "Won");
    special["engagementId"] = json!("9e1f2a3b-0000-4000-8000-00000000e001");
    special["externalReferenceId"] = json!("7f6e5d4c-1234-4321-abcd-00000000d365");
    special["direction"] = json!("Incoming");
    special["name"] = json!("O'Brien & Sons - Azure");
    special["qualification"] = json!("MarketingQualified");
    special["customerProfile"]["address"]["country"] = json!("DE");
    pc.seed(vec![
        seeded("a", "New", "Pending"),
        special,
        seeded("b", "Active", "Accepted"),
        seeded("c", "New", "Received"),
    ]);
    let client = Client::new(&pc);
    let filter = |expression: &str| {
        let answer = client.list(&format!("$filter={}", encode(expression)));
        assert_eq!(answer.status, 200, "{expression}: {}", answer.body);
        ids(&answer.json())
    };
    assert_eq!(filter("id eq 'special'"), ["special"]);
    assert_eq!(
        filter("engagementId eq '9e1f2a3b-0000-4000-8000-00000000e001'"),
        ["special"]
    );
    assert_eq!(filter("status eq 'New'"), ["a", "c"]);
    assert_eq!(filter("substatus eq 'Received'"), ["c"]);
    assert_eq!(
        filter("externalReferenceId eq '7f6e5d4c-1234-4321-abcd-00000000d365'"),
        ["special"]
    );
    assert_eq!(filter("direction eq 'Incoming'"), ["special"]);
    assert_eq!(filter("name eq 'O''Brien & Sons - Azure'"), ["special"]);
    assert_eq!(filter("status eq 'New' and substatus eq 'Pending'"), ["a"]);
    assert_eq!(
        filter("status eq 'Closed' and qualification eq 'MarketingQualified'"),
        ["special"]
    );
    assert_eq!(
        filter("customerProfile/address/country eq 'DE' and direction eq 'Incoming'"),
        ["special"]
    );
    assert!(
        filter("status eq 'new'").is_empty(),
        "values compare case-sensitively"
    );
    assert!(filter("id eq 'missing'").is_empty());
    // `+` for spaces, as HTML forms encode them.
    let answer = client.list("$filter=status+eq+%27Active%27");
    assert_eq!(ids(&answer.json()), ["b"]);
}

#[test]
fn unsupported_query_parts_are_invalid_requests_naming_them() {
    let pc = start();
    seed_many(&pc, 3);
    let client = Client::new(&pc);
    let cases = [
        ("$filter=status eq 'New' or status eq 'Active'", "'or'"),
        ("$filter=team/any(t:t/email eq 'x@y.com')", "team/any("),
        ("$filter=status ne 'New'", "only 'eq'"),
        (
            "$filter=updatedDateTime ge 2024-01-01T00:00:00Z",
            "filter_on_updated",
        ),
        (
            "$filter=createdDateTime ge 2024-01-01T00:00:00Z",
            "createdDateTime",
        ),
        ("$filter=status eq New", "'New'"),
        ("$orderby=name", "'name'"),
        ("$orderby=updatedDateTime up", "updatedDateTime up"),
        ("$top=-1", "$top"),
        ("$skip=x", "$skip"),
        ("$count=yes", "$count"),
        ("$expand=team", "'$expand'"),
        ("$skiptoken=abc", "$skiptoken"),
        ("$top=1&$top=2", "more than once"),
    ];
    for (query, expected) in cases {
        let encoded: String = query
            .split('&')
            .map(|pair| {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                format!("{name}={}", encode(value))
            })
            .collect::<Vec<_>>()
            .join("&");
        let answer = client.list(&encoded);
        assert_eq!(
            (answer.status, answer.error_code()),
            (400, "invalidRequest".to_owned()),
            "{query}"
        );
        assert!(
            answer.error_message().contains(expected),
            "{query}: {}",
            answer.error_message()
        );
    }
    // Parameters that are not OData options are ignored.
    assert_eq!(client.list("api-version=1&flag").status, 200);
}

#[test]
fn updated_date_time_filters_behind_the_switch() {
    let pc = start_with(Options {
        filter_on_updated: true,
        ..Options::default()
    });
    pc.seed(vec![
        json!({"id": "old", "updatedDateTime": "2024-01-01T00:00:00.0000000Z"}),
        json!({"id": "mid", "updatedDateTime": "2024-02-01T00:00:00.0000000Z"}),
        json!({"id": "new", "updatedDateTime": "2024-03-01T00:00:00.0000000Z"}),
    ]);
    let client = Client::new(&pc);
    let filter = |expression: &str| {
        ids(&client
            .list(&format!("$filter={}", encode(expression)))
            .json())
    };
    assert_eq!(
        filter("updatedDateTime ge 2024-02-01T00:00:00Z"),
        ["mid", "new"]
    );
    assert_eq!(
        filter("updatedDateTime gt 2024-02-01T00:00:00.0000000Z"),
        ["new"]
    );
    assert_eq!(
        filter("updatedDateTime le 2024-02-01T00:00:00Z"),
        ["old", "mid"]
    );
    assert_eq!(
        filter("updatedDateTime lt 2024-02-01T01:00:00+00:30"),
        ["old", "mid"]
    );
    assert_eq!(
        filter("updatedDateTime lt 2024-02-01T01:00:00+02:00"),
        ["old"]
    );
    assert_eq!(
        filter("updatedDateTime gt 2024-01-01T00:00:00Z and id eq 'new'"),
        ["new"]
    );
    // A change by Microsoft moves a referral past the cursor.
    assert!(pc.edit("old", |r| r["name"] = json!("touched")));
    assert_eq!(filter("updatedDateTime gt 2024-03-01T00:00:00Z"), ["old"]);
    let quoted = client.list(&format!(
        "$filter={}",
        encode("updatedDateTime ge '2024-02-01T00:00:00Z'")
    ));
    assert_eq!(
        quoted.status, 400,
        "DateTimeOffset literals are unquoted in OData v4"
    );
}

#[test]
fn orderby_created_and_updated() {
    let pc = start();
    seed_many(&pc, 5);
    let client = Client::new(&pc);
    assert!(pc.edit("r002", |r| r["name"] = json!("first touch")));
    assert!(pc.edit("r000", |r| r["name"] = json!("second touch")));
    let order = |orderby: &str| ids(&client.list(&format!("$orderby={}", encode(orderby))).json());
    assert_eq!(
        order("updatedDateTime desc"),
        ["r000", "r002", "r004", "r003", "r001"]
    );
    assert_eq!(
        order("updatedDateTime"),
        ["r001", "r003", "r004", "r002", "r000"]
    );
    assert_eq!(
        order("updatedDateTime asc"),
        ["r001", "r003", "r004", "r002", "r000"]
    );
    assert_eq!(
        order("createdDateTime desc"),
        ["r004", "r003", "r002", "r001", "r000"]
    );
    assert_eq!(
        order("createdDateTime asc,updatedDateTime desc"),
        ["r000", "r001", "r002", "r003", "r004"]
    );
    let page = client.list("$orderby=updatedDateTime%20desc&$top=2").json();
    assert_eq!(ids(&page), ["r000", "r002"]);
}

#[test]
fn select_keeps_the_named_properties() {
    let pc = start();
    seed_many(&pc, 2);
    let client = Client::new(&pc);
    let page = client.list("$select=id,status").json();
    assert_eq!(
        page["value"],
        json!([{"id": "r000", "status": "Active"}, {"id": "r001", "status": "New"}])
    );
}

/// Percent-encodes a query value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}
