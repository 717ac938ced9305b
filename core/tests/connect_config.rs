//! The one configuration: parsed from TOML and JSON with unknown keys refused, checked (the CRM's section, https
//! except to loopback), secrets named but never held, and clients built from it talking to the emulators.

use cosell_core::connect::{Config, Secret};
use cosell_emulator::{Auth, AuthOptions, Dynamics as DynamicsEmulator, DynamicsOptions};

const TOML: &str = r#"
crm = "dynamics365"

[partner_center]
tenant = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-0000000000aa"
refresh_token_env = "COSELL_PC_REFRESH_TOKEN"

[dynamics]
base_url = "https://contoso.crm.dynamics.com"
tenant = "contoso.onmicrosoft.com"
client_id = "00000000-0000-0000-0000-0000000000bb"
client_secret_env = "COSELL_D365_CLIENT_SECRET"

[http]
timeout_secs = 10
connect_timeout_secs = 5
max_attempts = 3
backoff_ms = 100
max_wait_secs = 30
"#;

#[test]
fn a_configuration_parses_with_its_defaults() {
    let c = Config::from_toml_str(TOML).expect("valid");
    assert_eq!(c.crm, "dynamics365");
    assert_eq!(
        c.partner_center.base_url,
        "https://api.partner.microsoft.com"
    );
    assert_eq!(
        c.partner_center.webhooks_base_url,
        "https://api.partnercenter.microsoft.com"
    );
    assert_eq!(
        c.dynamics.as_ref().map(|d| d.api_version.as_str()),
        Some("v9.2")
    );
    assert_eq!(c.http_config().max_attempts, 3);
    let json = serde_json::to_string(&c).expect("to JSON");
    assert_eq!(Config::from_json_str(&json).expect("the same from JSON"), c);
}

#[test]
fn mistakes_are_named() {
    let misspelt = TOML.replace("client_secret_env", "client_secret_envv");
    let err = Config::from_toml_str(&misspelt).expect_err("unknown key");
    assert!(err.to_string().contains("client_secret_envv"), "{err}");
    let no_section = TOML.replace("crm = \"dynamics365\"", "crm = \"salesforce\"");
    let err = Config::from_toml_str(&no_section).expect_err("no [salesforce]");
    assert!(err.to_string().contains("[salesforce]"), "{err}");
    let other = TOML.replace("crm = \"dynamics365\"", "crm = \"hubspot\"");
    assert!(
        Config::from_toml_str(&other)
            .expect_err("unknown CRM")
            .to_string()
            .contains("hubspot")
    );
    let clear = TOML.replace(
        "https://contoso.crm.dynamics.com",
        "http://contoso.crm.dynamics.com",
    );
    let err = Config::from_toml_str(&clear).expect_err("http to a remote host");
    assert!(err.to_string().contains("dynamics.base_url"), "{err}");
    let local = TOML.replace("https://contoso.crm.dynamics.com", "http://127.0.0.1:8080");
    Config::from_toml_str(&local).expect("http to loopback (the emulators) is fine");
}

#[test]
fn a_missing_secret_is_named_never_shown() {
    let c = Config::from_toml_str(TOML).expect("valid");
    let err = c.dynamics(&|_| None).expect_err("no secret");
    assert!(
        err.to_string().contains("COSELL_D365_CLIENT_SECRET"),
        "{err}"
    );
}

#[test]
fn clients_built_from_the_configuration_talk_to_the_emulators() {
    let secret = "d365-client-secret-never-shown";
    let auth = Auth::start(AuthOptions {
        client_secret: secret.to_owned(),
        ..AuthOptions::default()
    })
    .expect("auth emulator");
    let crm = DynamicsEmulator::start(DynamicsOptions::default()).expect("dynamics emulator");
    let text = format!(
        r#"
crm = "dynamics365"
[partner_center]
tenant = "t"
client_id = "cosell-client"
refresh_token_env = "PC_REFRESH"
[dynamics]
base_url = "{crm}"
authority = "{auth}"
tenant = "contoso.onmicrosoft.com"
client_id = "cosell-client"
client_secret_env = "D365_SECRET"
"#,
        crm = crm.base_url(),
        auth = auth.base_url()
    );
    let c = Config::from_toml_str(&text).expect("valid");
    let lookup = |name: &str| (name == "D365_SECRET").then(|| Secret::new(secret));
    let d = c.dynamics(&lookup).expect("client");
    assert!(
        !d.currency_id("EUR")
            .expect("EUR through a real token")
            .is_empty()
    );
    assert!(!format!("{c:?} {d:?}").contains(secret));
}
