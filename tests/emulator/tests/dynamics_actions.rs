//! Dynamics: closing opportunities with `WinOpportunity`/`LoseOpportunity`, and the state rules of PATCH.

mod common;

use common::{API, Client, guid, opportunity, start_dynamics};
use serde_json::json;

/// The body of a close action.
fn close(status: i64, id: &str) -> String {
    json!({"Status": status, "OpportunityClose": {"subject": "Closed by cosell",
           "opportunityid@odata.bind": format!("/opportunities({id})")}})
    .to_string()
}

#[test]
fn win_and_lose_close_opportunities() {
    let crm = start_dynamics();
    let (won, lost, outsold) = (guid(1), guid(2), guid(3));
    crm.seed(
        "opportunities",
        vec![
            opportunity(&won, "W"),
            opportunity(&lost, "L"),
            opportunity(&outsold, "O"),
        ],
    );
    let client = Client::at(crm.base_url());
    let version = crm.row("opportunities", &won).expect("row")["versionnumber"]
        .as_u64()
        .unwrap_or(0);
    let answer = client.must(
        "POST",
        &format!("{API}/WinOpportunity"),
        &[],
        Some(&close(3, &won)),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
    let row = crm.row("opportunities", &won).expect("row");
    assert_eq!(
        (row["statecode"].clone(), row["statuscode"].clone()),
        (json!(1), json!(3))
    );
    assert!(row["versionnumber"].as_u64().is_some_and(|v| v > version));
    for (id, status) in [(&lost, 4), (&outsold, 5)] {
        let answer = client.must(
            "POST",
            &format!("{API}/LoseOpportunity"),
            &[],
            Some(&close(status, id)),
        );
        assert_eq!(answer.status, 204, "{}", answer.body);
        let row = crm.row("opportunities", id).expect("row");
        assert_eq!(
            (row["statecode"].clone(), row["statuscode"].clone()),
            (json!(2), json!(status))
        );
    }
    // Closing a closed opportunity, or changing its state with PATCH: 400.
    assert_eq!(
        client
            .must(
                "POST",
                &format!("{API}/LoseOpportunity"),
                &[],
                Some(&close(4, &won))
            )
            .status,
        400
    );
    assert_eq!(
        client
            .must(
                "POST",
                &format!("{API}/WinOpportunity"),
                &[],
                Some(&close(3, &won))
            )
            .status,
        400
    );
    let answer = client.must(
        "PATCH",
        &format!("{API}/opportunities({won})"),
        &[],
        Some(r#"{"statecode": 0, "statuscode": 1}"#),
    );
    assert_eq!(answer.status, 400);
    // Other columns of a closed opportunity can still be written.
    let answer = client.must(
        "PATCH",
        &format!("{API}/opportunities({won})"),
        &[],
        Some(r#"{"description": "late note"}"#),
    );
    assert_eq!(answer.status, 204, "{}", answer.body);
}

#[test]
fn bad_closes_are_refused() {
    let crm = start_dynamics();
    let id = guid(10);
    crm.seed("opportunities", vec![opportunity(&id, "X")]);
    let client = Client::at(crm.base_url());
    let post = |action: &str, body: &str| {
        client
            .must("POST", &format!("{API}/{action}"), &[], Some(body))
            .status
    };
    assert_eq!(post("WinOpportunity", &close(4, &id)), 400);
    assert_eq!(post("LoseOpportunity", &close(3, &id)), 400);
    assert_eq!(post("WinOpportunity", r#"{"Status": 3}"#), 400);
    assert_eq!(post("WinOpportunity", &close(3, &guid(11))), 404);
    assert_eq!(
        client
            .must("GET", &format!("{API}/WinOpportunity"), &[], None)
            .status,
        405
    );
    assert_eq!(crm.row("opportunities", &id).expect("row")["statecode"], 0);
}

#[test]
fn patch_cannot_win_or_lose() {
    let crm = start_dynamics();
    let id = guid(20);
    crm.seed("opportunities", vec![opportunity(&id, "X")]);
    let client = Client::at(crm.base_url());
    let url = format!("{API}/opportunities({id})");
    for body in [
        r#"{"statecode": 1, "statuscode": 3}"#,
        r#"{"statecode": 2}"#,
        r#"{"statuscode": 4}"#,
        r#"{"statuscode": 9}"#,
    ] {
        let answer = client.must("PATCH", &url, &[], Some(body));
        assert_eq!(answer.status, 400, "{body}");
    }
    assert_eq!(
        client
            .must("PATCH", &url, &[], Some(r#"{"statuscode": 2}"#))
            .status,
        204,
        "On Hold stays open"
    );
}
