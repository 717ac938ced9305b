//! The token sources against the emulator's OAuth endpoints: Azure AD and Salesforce client credentials, Partner
//! Center's rotating refresh token handed to the host, caching, forced refresh, and secrets never shown.

use std::sync::{Arc, Mutex};

use cosell_core::connect::{ClientCredentials, RefreshToken, Secret, TokenEndpoint, TokenSource};
use cosell_emulator::{Auth, AuthOptions};

const SECRET: &str = "s3cr3t-value-never-shown";

fn auth() -> Auth {
    Auth::start(AuthOptions {
        client_secret: SECRET.to_owned(),
        instance_url: Some("https://contoso.my.salesforce.example".to_owned()),
        ..AuthOptions::default()
    })
    .expect("the emulator starts")
}

fn azure(a: &Auth, secret: &str) -> ClientCredentials {
    ClientCredentials::new(
        "Dynamics 365",
        TokenEndpoint::AzureAd {
            authority: a.base_url(),
            tenant: "contoso.onmicrosoft.com".to_owned(),
            scope: "https://contoso.crm.dynamics.com/.default".to_owned(),
        },
        "cosell-client",
        Secret::new(secret),
    )
}

#[test]
fn client_credentials_are_fetched_once_and_refreshed_on_demand() {
    let a = auth();
    let source = azure(&a, SECRET);
    a.clear_requests();
    assert_eq!(source.token().expect("token"), "test-token");
    assert_eq!(source.token().expect("cached"), "test-token");
    assert_eq!(a.requests().len(), 1, "cached until it expires");
    a.set_access_token("second-token");
    assert_eq!(source.refresh().expect("refreshed"), "second-token");
    assert_eq!(source.token().expect("the new one"), "second-token");
    assert_eq!(a.requests().len(), 2);
}

#[test]
fn a_wrong_secret_is_refused_without_showing_it() {
    let a = auth();
    let wrong = "wrong-secret-also-never-shown";
    let source = azure(&a, wrong);
    let err = source.token().expect_err("refused");
    let text = format!("{err} {err:?} {source:?}");
    assert_eq!(err.kind(), "unauthorized", "{err}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains(wrong) && !text.contains(SECRET), "{text}");
    assert!(!format!("{:?}", Secret::new(SECRET)).contains(SECRET));
}

#[test]
fn salesforce_answers_with_the_instance_to_call() {
    let a = auth();
    let source = ClientCredentials::new(
        "Salesforce",
        TokenEndpoint::Salesforce {
            login_url: a.base_url(),
        },
        "cosell-client",
        Secret::new(SECRET),
    );
    assert_eq!(source.token().expect("token"), "test-token");
    assert_eq!(
        source.instance_url().as_deref(),
        Some("https://contoso.my.salesforce.example")
    );
}

#[test]
fn a_rotated_refresh_token_goes_to_the_host_before_it_is_used() {
    let a = auth();
    let stored: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = Arc::clone(&stored);
    let source = RefreshToken::new(
        a.base_url(),
        "contoso.onmicrosoft.com",
        RefreshToken::DEFAULT_SCOPE,
        "cosell-client",
        None,
        Secret::new(a.current_refresh_token()),
        // The host stores each rotated token in its vault; the test counts them.
        Box::new(move |_rotated: &Secret| {
            keep.lock()
                .map_err(|e| e.to_string())?
                .push("rotated".to_owned());
            Ok(())
        }),
    );
    assert_eq!(source.token().expect("first"), "test-token");
    source
        .refresh()
        .expect("second exchange uses the rotated token");
    source.refresh().expect("and the next one");
    assert_eq!(
        stored.lock().expect("lock").len(),
        3,
        "every rotation handed over"
    );
    // A host that cannot store the rotated token stops the exchange.
    let failing = RefreshToken::new(
        a.base_url(),
        "contoso.onmicrosoft.com",
        RefreshToken::DEFAULT_SCOPE,
        "cosell-client",
        None,
        Secret::new(a.current_refresh_token()),
        Box::new(|_| Err("the vault is read-only".to_owned())),
    );
    let err = failing.token().expect_err("not stored");
    assert!(err.to_string().contains("the vault is read-only"), "{err}");
}

#[test]
fn a_spent_refresh_token_is_refused() {
    let a = auth();
    let old = a.current_refresh_token();
    let first = RefreshToken::new(
        a.base_url(),
        "contoso.onmicrosoft.com",
        RefreshToken::DEFAULT_SCOPE,
        "cosell-client",
        None,
        Secret::new(old.clone()),
        Box::new(|_| Ok(())),
    );
    first.token().expect("exchanged; the token rotated");
    let replay = RefreshToken::new(
        a.base_url(),
        "contoso.onmicrosoft.com",
        RefreshToken::DEFAULT_SCOPE,
        "cosell-client",
        None,
        Secret::new(old),
        Box::new(|_| Ok(())),
    );
    let err = replay.token().expect_err("spent");
    assert_eq!(err.kind(), "unauthorized", "{err}");
}

#[test]
fn a_connector_authenticates_through_the_token_source_and_refreshes_once_on_401() {
    use cosell_core::connect::{Dynamics, DynamicsConfig};
    use cosell_emulator::{Dynamics as DynamicsEmulator, DynamicsOptions};
    let a = auth();
    let crm = DynamicsEmulator::start(DynamicsOptions::default()).expect("dynamics starts");
    // The first token is one the CRM does not accept; the refresh after its 401 gets a good one.
    a.set_access_token("expired-token");
    let source = azure(&a, SECRET);
    assert_eq!(source.token().expect("a token"), "expired-token");
    a.set_access_token("test-token");
    let d = Dynamics::new(
        DynamicsConfig {
            base_url: crm.base_url(),
            ..DynamicsConfig::default()
        },
        Box::new(source),
    )
    .expect("client");
    crm.clear_requests();
    assert!(
        !d.currency_id("EUR")
            .expect("EUR after one refresh")
            .is_empty()
    );
    let statuses: Vec<Option<u16>> = crm.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(401), Some(200)]);
}
