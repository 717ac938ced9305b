//! The OAuth token endpoints: Azure AD client credentials and refresh-token grants (with rotation), Salesforce client
//! credentials, errors, faults, and the secret kept out of answers and the request log.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use cosell_emulator::{Auth, AuthOptions, Faults};
use serde_json::Value;

/// The Azure AD token path of a tenant.
const AAD: &str = "/contoso.onmicrosoft.com/oauth2/v2.0/token";
/// Salesforce's token path.
const SF: &str = "/services/oauth2/token";
/// A Dynamics scope.
const SCOPE: &str = "https://contoso.crm.dynamics.com/.default";

/// Status, headers and body of an answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|error| panic!("{error}: {}", self.body))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// POSTs a form (already encoded) to `base` + `path`.
fn post(base: &str, path: &str, form: &str) -> Result<Answer, ureq::Error> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut response = agent
        .post(format!("{base}{path}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form)?;
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                value.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    Ok(Answer {
        status: response.status().as_u16(),
        headers,
        body: response.body_mut().read_to_string()?,
    })
}

/// POSTs a form that must be answered.
fn must(auth: &Auth, path: &str, form: &str) -> Answer {
    post(&auth.base_url(), path, form).unwrap_or_else(|error| panic!("POST {path}: {error}"))
}

fn start() -> Auth {
    Auth::start(AuthOptions::default()).expect("the emulator starts")
}

fn client_credentials(secret: &str) -> String {
    format!(
        "grant_type=client_credentials&client_id=cosell-client&client_secret={secret}&scope={}",
        SCOPE.replace(':', "%3A").replace('/', "%2F")
    )
}

fn refresh(token: &str) -> String {
    format!(
        "grant_type=refresh_token&refresh_token={token}&client_id=cosell-client&client_secret=s3cr3t-value\
         &scope=https%3A%2F%2Fapi.partner.microsoft.com%2Fuser_impersonation+offline_access"
    )
}

/// No answer and no log line shows the secret.
fn assert_secret_hidden(auth: &Auth, answers: &[&Answer]) {
    for answer in answers {
        assert!(!answer.body.contains("s3cr3t"), "{}", answer.body);
    }
    for record in auth.requests() {
        assert!(!record.body.contains("s3cr3t"), "{}", record.body);
        assert!(
            record
                .headers
                .iter()
                .all(|(_, value)| !value.contains("s3cr3t"))
        );
    }
}

#[test]
fn azure_ad_client_credentials() {
    let auth = start();
    let answer = must(&auth, AAD, &client_credentials("s3cr3t-value"));
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json(),
        serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "test-token"})
    );
    assert_eq!(answer.header("Cache-Control"), Some("no-store, no-cache"));
    let record = &auth.requests()[0];
    assert_eq!(record.path, AAD);
    assert!(
        record.body.contains("client_secret=REDACTED"),
        "{}",
        record.body
    );
    assert!(record.body.contains("client_id=cosell-client"));
    assert_secret_hidden(&auth, &[&answer]);

    auth.set_access_token("second-token");
    let answer = must(&auth, AAD, &client_credentials("s3cr3t-value"));
    assert_eq!(answer.json()["access_token"], "second-token");
}

#[test]
fn azure_ad_errors() {
    let auth = start();
    let wrong = must(&auth, AAD, &client_credentials("wrong-value"));
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["error"], "invalid_client");
    assert!(
        wrong.json()["error_description"]
            .as_str()
            .is_some_and(|text| text.starts_with("AADSTS7000215"))
    );
    assert!(!wrong.body.contains("wrong-value"));

    let unknown = must(
        &auth,
        AAD,
        "grant_type=client_credentials&client_id=other&client_secret=s3cr3t-value&scope=x%2F.default",
    );
    assert_eq!(
        (unknown.status, unknown.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );

    let no_scope = must(
        &auth,
        AAD,
        "grant_type=client_credentials&client_id=cosell-client&client_secret=s3cr3t-value",
    );
    assert_eq!(
        (no_scope.status, no_scope.json()["error"].as_str()),
        (400, Some("invalid_scope"))
    );
    let not_default = must(
        &auth,
        AAD,
        "grant_type=client_credentials&client_id=cosell-client&client_secret=s3cr3t-value&scope=https%3A%2F%2Fx",
    );
    assert_eq!(not_default.json()["error"], "invalid_scope");

    let grant = must(&auth, AAD, "grant_type=password&client_id=cosell-client");
    assert_eq!(
        (grant.status, grant.json()["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let no_grant = must(&auth, AAD, "client_id=cosell-client");
    assert_eq!(
        (no_grant.status, no_grant.json()["error"].as_str()),
        (400, Some("invalid_request"))
    );

    assert_eq!(must(&auth, "/common/oauth2/token", "").status, 404);
    assert_secret_hidden(&auth, &[&wrong, &unknown, &no_scope, &grant]);
}

#[test]
fn refresh_tokens_rotate() {
    let auth = start();
    assert_eq!(auth.current_refresh_token(), "refresh-0");
    let first = must(&auth, AAD, &refresh("refresh-0"));
    assert_eq!(first.status, 200, "{}", first.body);
    let body = first.json();
    assert_eq!(body["access_token"], "test-token");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["refresh_token"], "refresh-1");
    assert_eq!(auth.current_refresh_token(), "refresh-1");

    // The used token is revoked.
    let reused = must(&auth, AAD, &refresh("refresh-0"));
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json()["error"], "invalid_grant");
    let description = reused.json()["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        description.starts_with("AADSTS70000") && description.contains("expired or been revoked")
    );

    // The new one works, without a secret too (a public client), and issues the current access token.
    auth.set_access_token("refreshed-token");
    let second = must(
        &auth,
        AAD,
        "grant_type=refresh_token&refresh_token=refresh-1&client_id=cosell-client&scope=offline_access",
    );
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.json()["refresh_token"], "refresh-2");
    assert_eq!(second.json()["access_token"], "refreshed-token");

    // A wrong secret is refused even with a valid refresh token, which stays valid.
    let wrong = must(
        &auth,
        AAD,
        &refresh("refresh-2").replace("s3cr3t-value", "nope"),
    );
    assert_eq!(
        (wrong.status, wrong.json()["error"].as_str()),
        (401, Some("invalid_client"))
    );
    assert_eq!(auth.current_refresh_token(), "refresh-2");
    assert_secret_hidden(&auth, &[&first, &reused, &second, &wrong]);
}

#[test]
fn salesforce_client_credentials() {
    let auth = Auth::start(AuthOptions {
        instance_url: Some("https://contoso.my.salesforce.com".into()),
        ..AuthOptions::default()
    })
    .expect("the emulator starts");
    let form = "grant_type=client_credentials&client_id=cosell-client&client_secret=s3cr3t-value";
    let answer = must(&auth, SF, form);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["access_token"], "test-token");
    assert_eq!(body["instance_url"], "https://contoso.my.salesforce.com");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "api");
    assert!(body["id"].as_str().is_some_and(|id| id.contains("/id/00D")));
    assert!(
        body["issued_at"]
            .as_str()
            .is_some_and(|at| at.len() >= 13 && at.bytes().all(|b| b.is_ascii_digit()))
    );
    assert!(body["signature"].is_string());
    assert!(body.get("expires_in").is_none());

    let wrong = must(&auth, SF, &form.replace("s3cr3t-value", "wrong"));
    assert_eq!(
        (wrong.status, wrong.json()["error"].as_str()),
        (400, Some("invalid_client"))
    );
    let grant = must(&auth, SF, "grant_type=password&client_id=cosell-client");
    assert_eq!(grant.json()["error"], "unsupported_grant_type");
    assert_secret_hidden(&auth, &[&answer, &wrong]);

    // Without an instance URL, the emulator's own.
    let local = start();
    let body = must(&local, SF, form).json();
    assert_eq!(body["instance_url"], local.base_url());
}

#[test]
fn faults_come_first() {
    let auth = start();
    auth.set_faults(Faults {
        throttle: 1,
        unavailable: 1,
        drop_connection: 1,
        retry_after_secs: 3,
        ..Faults::default()
    });
    let throttled = must(&auth, AAD, &refresh("refresh-0"));
    assert_eq!(throttled.status, 429);
    assert_eq!(throttled.header("Retry-After"), Some("3"));
    assert_eq!(throttled.json()["error"], "temporarily_unavailable");
    let unavailable = must(&auth, SF, "grant_type=client_credentials");
    assert_eq!(
        (unavailable.status, unavailable.header("Retry-After")),
        (503, Some("3"))
    );
    assert!(post(&auth.base_url(), AAD, &refresh("refresh-0")).is_err());
    assert_eq!(
        auth.pending_faults(),
        Faults {
            retry_after_secs: 3,
            ..Faults::default()
        }
    );
    // Faulted requests did not rotate the refresh token.
    assert_eq!(auth.current_refresh_token(), "refresh-0");
    assert_eq!(
        auth.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
        vec![Some(429), Some(503), None]
    );
    assert_secret_hidden(&auth, &[&throttled, &unavailable]);
    auth.clear_requests();
    assert!(auth.requests().is_empty());
    assert_eq!(must(&auth, AAD, &refresh("refresh-0")).status, 200);
}

#[test]
fn binary_serves_auth() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosell-emulator"))
        .args(["auth", "--port", "0", "--token", "T"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .expect("one line");
    let announced: Value = serde_json::from_str(&line).expect("the line is JSON");
    assert_eq!(announced["service"], "auth");
    let base = announced["base_url"]
        .as_str()
        .expect("a base_url")
        .to_owned();
    let answer = post(&base, AAD, &client_credentials("s3cr3t-value")).expect("an answer");
    assert_eq!(answer.json()["access_token"], "T");
    drop(child.stdin.take());
    let status = child.wait().expect("the binary exits");
    assert!(status.success());
}
