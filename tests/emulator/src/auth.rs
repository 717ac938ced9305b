//! OAuth token endpoints, as described in `docs/DOMAIN.md` §2.1, §4.7 and §5.7: Azure AD v2
//! (`POST /{tenant}/oauth2/v2.0/token`, client credentials and the refresh-token grant of Partner Center's "Secure
//! Application Model", with refresh-token rotation) and Salesforce (`POST /services/oauth2/token`, client
//! credentials). Every grant issues the same access token (`test-token` by default), the one the other emulators
//! accept.
//!
//! The client secret never appears in an answer, and is replaced by `REDACTED` in the request log.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::faults::{Faults, Injected};
use crate::odata;
use crate::server::{Incoming, Reply, RequestRecord, Response, Server, Service, lock};

/// The `Content-Type` of JSON answers.
const JSON_TYPE: &str = "application/json; charset=utf-8";

/// The path of Salesforce's token endpoint.
const SALESFORCE_TOKEN_PATH: &str = "/services/oauth2/token";

/// What replaces a secret in the request log.
const REDACTED: &str = "REDACTED";

/// How an [`Auth`] emulator behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthOptions {
    /// The registered client (application) id. Default `cosell-client`.
    pub client_id: String,
    /// The client secret. Default `s3cr3t-value`. Never answered, never logged.
    pub client_secret: String,
    /// The access token every grant issues. Default `test-token` (what the other emulators accept).
    pub access_token: String,
    /// `expires_in` of Azure AD answers, in seconds. Default 3599.
    pub expires_in: u64,
    /// The first valid refresh token. Default `refresh-0`; each refresh-token grant replaces it with `refresh-1`,
    /// `refresh-2`, ...
    pub refresh_token: String,
    /// `instance_url` of Salesforce answers; `None` (the default) answers this emulator's base URL.
    pub instance_url: Option<String>,
    /// The port to listen on at 127.0.0.1; 0 (the default) takes any free port.
    pub port: u16,
}

impl Default for AuthOptions {
    fn default() -> AuthOptions {
        AuthOptions {
            client_id: "cosell-client".to_owned(),
            client_secret: "s3cr3t-value".to_owned(),
            access_token: "test-token".to_owned(),
            expires_in: 3599,
            refresh_token: "refresh-0".to_owned(),
            instance_url: None,
            port: 0,
        }
    }
}

/// A running OAuth token endpoint emulator on 127.0.0.1. It stops, closing its connections, when dropped.
#[derive(Debug)]
pub struct Auth {
    /// The HTTP side.
    server: Server,
    /// The credentials and the tokens.
    service: Arc<Issuer>,
}

impl Auth {
    /// Starts the emulator on `127.0.0.1:{options.port}`.
    pub fn start(options: AuthOptions) -> io::Result<Auth> {
        let service = Arc::new(Issuer {
            tokens: Mutex::new(Tokens {
                access: options.access_token.clone(),
                refresh: options.refresh_token.clone(),
                rotations: 0,
            }),
            options,
        });
        let server = Server::start(
            service.options.port,
            &(Arc::clone(&service) as Arc<dyn Service>),
        )?;
        Ok(Auth { server, service })
    }

    /// `http://127.0.0.1:PORT`. Azure AD: `{base_url}/{tenant}/oauth2/v2.0/token`; Salesforce:
    /// `{base_url}/services/oauth2/token`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The only refresh token a refresh-token grant accepts now.
    pub fn current_refresh_token(&self) -> String {
        lock(&self.service.tokens).refresh.clone()
    }

    /// Later grants issue this access token (to test a client that picks up a refreshed token).
    pub fn set_access_token(&self, token: &str) {
        token.clone_into(&mut lock(&self.service.tokens).access);
    }

    /// Replaces the faults to inject (see [`Faults`]).
    pub fn set_faults(&self, faults: Faults) {
        self.server.set_faults(faults);
    }

    /// The faults not yet consumed.
    pub fn pending_faults(&self) -> Faults {
        self.server.faults()
    }

    /// Every request served so far, with `client_secret` values and `Authorization: Basic` credentials replaced
    /// by `REDACTED`.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.server.requests()
    }

    /// Forgets the requests served so far.
    pub fn clear_requests(&self) {
        self.server.clear_requests();
    }
}

/// The tokens issued and accepted.
#[derive(Debug)]
struct Tokens {
    /// The access token grants issue.
    access: String,
    /// The refresh token accepted now.
    refresh: String,
    /// Refresh-token grants answered so far.
    rotations: u64,
}

/// The service: credentials and tokens.
#[derive(Debug)]
struct Issuer {
    /// The options it started with.
    options: AuthOptions,
    /// The tokens.
    tokens: Mutex<Tokens>,
}

/// An OAuth error answer: `{"error", "error_description"}`.
fn oauth_error(status: u16, error: &str, description: &str) -> Response {
    answer(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// A JSON answer with the no-cache headers token endpoints send.
fn answer(status: u16, body: &Value) -> Response {
    Response {
        status,
        headers: vec![
            ("Content-Type".into(), JSON_TYPE.into()),
            ("Cache-Control".into(), "no-store, no-cache".into()),
            ("Pragma".into(), "no-cache".into()),
        ],
        body: body.to_string().into_bytes(),
    }
}

/// Which token endpoint a path addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/{tenant}/oauth2/v2.0/token`.
    AzureAd,
    /// `/services/oauth2/token`.
    Salesforce,
}

/// The endpoint of a path, if any.
fn endpoint(path: &str) -> Option<Endpoint> {
    if path == SALESFORCE_TOKEN_PATH {
        return Some(Endpoint::Salesforce);
    }
    let tenant = path.strip_prefix('/')?.strip_suffix("/oauth2/v2.0/token")?;
    (!tenant.is_empty() && !tenant.contains('/')).then_some(Endpoint::AzureAd)
}

/// The form parameters of a request: its body when it is `application/x-www-form-urlencoded`, else none (a JSON
/// body then reads as a request without `grant_type`, as the real services answer it).
fn form(request: &Incoming) -> Result<Vec<(String, String)>, String> {
    let is_form = request.header("Content-Type").is_some_and(|value| {
        value.split(';').next().is_some_and(|kind| {
            kind.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
    });
    if !is_form {
        return Ok(Vec::new());
    }
    odata::parse_query(&String::from_utf8_lossy(&request.body))
}

/// The first value of a form parameter, when present and not empty.
fn param<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty())
}

impl Issuer {
    /// Answers the Azure AD v2 token endpoint.
    fn azure_ad(&self, form: &[(String, String)]) -> Response {
        let missing = |name: &str| {
            oauth_error(
                400,
                "invalid_request",
                &format!(
                    "AADSTS900144: The request body must contain the following parameter: '{name}'."
                ),
            )
        };
        let Some(grant) = param(form, "grant_type") else {
            return missing("grant_type");
        };
        if grant != "client_credentials" && grant != "refresh_token" {
            return oauth_error(
                400,
                "unsupported_grant_type",
                &format!("AADSTS70003: The app requested an unsupported grant type '{grant}'."),
            );
        }
        let Some(client_id) = param(form, "client_id") else {
            return missing("client_id");
        };
        if client_id != self.options.client_id {
            return oauth_error(
                401,
                "invalid_client",
                &format!(
                    "AADSTS700016: Application with identifier '{client_id}' was not found in the directory."
                ),
            );
        }
        match param(form, "client_secret") {
            Some(secret) if secret != self.options.client_secret => {
                return oauth_error(
                    401,
                    "invalid_client",
                    "AADSTS7000215: Invalid client secret provided.",
                );
            }
            None if grant == "client_credentials" => {
                return oauth_error(
                    401,
                    "invalid_client",
                    "AADSTS7000218: The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
                );
            }
            _ => {}
        }
        let Some(scope) = param(form, "scope") else {
            return oauth_error(
                400,
                "invalid_scope",
                "AADSTS70011: The provided request must include a 'scope' input parameter.",
            );
        };
        let expires_in = self.options.expires_in;
        if grant == "client_credentials" {
            if !scope.ends_with("/.default") {
                return oauth_error(
                    400,
                    "invalid_scope",
                    &format!(
                        "AADSTS1002012: The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                );
            }
            let access = lock(&self.tokens).access.clone();
            return answer(
                200,
                &json!({"token_type": "Bearer", "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": access}),
            );
        }
        let Some(presented) = param(form, "refresh_token") else {
            return missing("refresh_token");
        };
        let mut tokens = lock(&self.tokens);
        if presented != tokens.refresh {
            return oauth_error(
                400,
                "invalid_grant",
                "AADSTS70000: The provided refresh token has expired or been revoked.",
            );
        }
        tokens.rotations += 1;
        tokens.refresh = format!("refresh-{}", tokens.rotations);
        answer(
            200,
            &json!({"token_type": "Bearer", "scope": scope, "expires_in": expires_in, "ext_expires_in": expires_in, "access_token": tokens.access, "refresh_token": tokens.refresh}),
        )
    }

    /// Answers Salesforce's token endpoint.
    fn salesforce(&self, form: &[(String, String)], base_url: &str) -> Response {
        match param(form, "grant_type") {
            Some("client_credentials") => {}
            _ => {
                return oauth_error(400, "unsupported_grant_type", "grant type not supported");
            }
        }
        if param(form, "client_id") != Some(self.options.client_id.as_str()) {
            return oauth_error(400, "invalid_client", "client identifier invalid");
        }
        if param(form, "client_secret") != Some(self.options.client_secret.as_str()) {
            return oauth_error(400, "invalid_client", "invalid client credentials");
        }
        let instance_url = self
            .options
            .instance_url
            .clone()
            .unwrap_or_else(|| base_url.to_owned());
        let issued_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis());
        let access = lock(&self.tokens).access.clone();
        answer(
            200,
            &json!({
                "access_token": access,
                "instance_url": instance_url,
                "id": format!("{base_url}/id/00Dxx0000001gPLEAY/005xx000001Sv6eAAC"),
                "token_type": "Bearer",
                "issued_at": issued_at.to_string(),
                "signature": "ZW11bGF0ZWQtc2lnbmF0dXJl",
                "scope": "api",
            }),
        )
    }
}

impl Service for Issuer {
    fn handle(&self, request: &Incoming, _faults: &Mutex<Faults>) -> Reply {
        let Some(endpoint) = endpoint(&request.path) else {
            return Reply::Respond(oauth_error(
                404,
                "invalid_request",
                &format!("No token endpoint at '{}'.", request.path),
            ));
        };
        if request.method != "POST" {
            let mut response = oauth_error(
                405,
                "invalid_request",
                "The token endpoint only accepts POST.",
            );
            response.headers.push(("Allow".into(), "POST".into()));
            return Reply::Respond(response);
        }
        let form = match form(request) {
            Ok(form) => form,
            Err(message) => return Reply::Respond(oauth_error(400, "invalid_request", &message)),
        };
        Reply::Respond(match endpoint {
            Endpoint::AzureAd => self.azure_ad(&form),
            Endpoint::Salesforce => self.salesforce(&form, &request.base_url),
        })
    }

    fn fault(&self, _request: &Incoming, fault: &Injected) -> Response {
        let (status, retry_after) = match fault {
            Injected::Throttle { retry_after } => (429, retry_after.clone()),
            Injected::Unavailable { retry_after } => (503, retry_after.clone()),
            Injected::Drop => (500, String::new()),
        };
        let mut response = oauth_error(
            status,
            "temporarily_unavailable",
            "The token endpoint is temporarily unavailable. Retry after the time in Retry-After.",
        );
        if !retry_after.is_empty() {
            response.headers.push(("Retry-After".into(), retry_after));
        }
        response
    }

    fn redact(&self, record: &mut RequestRecord) {
        let secret = &self.options.client_secret;
        record.body = record
            .body
            .split('&')
            .map(|part| {
                let name = part.split_once('=').map_or(part, |(name, _)| name);
                if odata::decode(name).is_ok_and(|name| name == "client_secret") {
                    format!("{name}={REDACTED}")
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        if !secret.is_empty() {
            record.body = record
                .body
                .replace(secret.as_str(), REDACTED)
                .replace(&odata::encode(secret), REDACTED);
        }
        for (name, value) in &mut record.headers {
            let basic = value
                .get(..6)
                .is_some_and(|scheme| scheme.eq_ignore_ascii_case("basic "));
            if name.eq_ignore_ascii_case("Authorization") && basic {
                *value = format!("Basic {REDACTED}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_by_path() {
        assert_eq!(
            endpoint("/common/oauth2/v2.0/token"),
            Some(Endpoint::AzureAd)
        );
        assert_eq!(
            endpoint("/services/oauth2/token"),
            Some(Endpoint::Salesforce)
        );
        assert_eq!(endpoint("//oauth2/v2.0/token"), None);
        assert_eq!(endpoint("/a/b/oauth2/v2.0/token"), None);
        assert_eq!(endpoint("/common/oauth2/token"), None);
    }
}
