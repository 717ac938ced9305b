//! Dynamics: injected faults (throttling, outages, drops, lost create answers) on the Dataverse wire format.

mod common;

use common::{API, Client, guid, opportunity, start_dynamics};
use cosell_emulator::Faults;

#[test]
fn throttling_and_outages_answer_with_retry_after() {
    let crm = start_dynamics();
    let id = guid(1);
    crm.seed("opportunities", vec![opportunity(&id, "X")]);
    let client = Client::at(crm.base_url());
    crm.set_faults(Faults {
        throttle: 1,
        unavailable: 1,
        retry_after_secs: 2,
        ..Faults::default()
    });
    let url = format!("{API}/opportunities({id})");
    let answer = client.get(&url);
    assert_eq!(
        (answer.status, answer.error_code()),
        (429, "0x80072322".to_owned())
    );
    assert_eq!(answer.header("Retry-After"), Some("2"));
    assert_eq!(answer.header("OData-Version"), Some("4.0"));
    let answer = client.get(&url);
    assert_eq!(answer.status, 503);
    assert_eq!(answer.header("Retry-After"), Some("2"));
    assert_eq!(client.get(&url).status, 200);
    assert_eq!(
        crm.pending_faults(),
        Faults {
            retry_after_secs: 2,
            ..Faults::default()
        }
    );
}

#[test]
fn drops_and_lost_creates() {
    let crm = start_dynamics();
    let client = Client::at(crm.base_url());
    crm.set_faults(Faults {
        drop_connection: 1,
        ..Faults::default()
    });
    assert!(
        client
            .send("GET", &format!("{API}/accounts"), &[], None)
            .is_err()
    );
    assert_eq!(client.get(&format!("{API}/accounts")).status, 200);

    crm.set_faults(Faults {
        lose_create_response: 1,
        ..Faults::default()
    });
    let id = guid(2);
    let body = format!(r#"{{"accountid": "{id}", "name": "Lost"}}"#);
    assert!(
        client
            .send("POST", &format!("{API}/accounts"), &[], Some(&body))
            .is_err()
    );
    assert_eq!(
        crm.row("accounts", &id).expect("stored anyway")["name"],
        "Lost"
    );
    // The retry finds it: 412 on POST, or an idempotent upsert with PATCH.
    assert_eq!(
        client
            .must("POST", &format!("{API}/accounts"), &[], Some(&body))
            .status,
        412
    );
    assert_eq!(
        client
            .must("PATCH", &format!("{API}/accounts({id})"), &[], Some(&body))
            .status,
        204
    );
    let statuses: Vec<Option<u16>> = crm.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [None, Some(200), None, Some(412), Some(204)]);
}
