//! Where bearer tokens come from: the OAuth flows of the three services, as [`TokenSource`]s the connectors use.
//!
//! * [`ClientCredentials`]: Azure AD's client-credentials grant for Dynamics 365 (`{authority}/{tenant}/oauth2/v2.0/
//!   token`, `scope=https://{org}.crm.dynamics.com/.default`), and Salesforce's (`/services/oauth2/token`, whose
//!   answer also carries the `instance_url` to call).
//! * [`RefreshToken`]: Partner Center's app + user flow (the "Secure Application Model"): a refresh token obtained
//!   once interactively is exchanged for access tokens; each exchange may return a new refresh token, which is
//!   handed to the host's `on_rotate` callback, so the host (not cosell) decides where secrets live.
//!
//! Access tokens are kept in memory until a minute before they expire (Salesforce's carry no expiry: until the
//! service refuses one); [`TokenSource::refresh`] forces a new one after a 401. Secrets are read from environment
//! variables named in the configuration, or given by the caller; no `Debug`, error or log line ever shows one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::error::ConnectError;
use super::http::TokenSource;

/// A secret: its value is never printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// A secret with this value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Which token endpoint a [`ClientCredentials`] calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEndpoint {
    /// Azure AD v2: `{authority}/{tenant}/oauth2/v2.0/token` with `scope` (Dynamics 365:
    /// `https://{org}.crm.dynamics.com/.default`). The authority is `https://login.microsoftonline.com`.
    AzureAd {
        /// `https://login.microsoftonline.com`, or an emulator's.
        authority: String,
        /// The tenant id.
        tenant: String,
        /// The scope asked for.
        scope: String,
    },
    /// Salesforce: `{login_url}/services/oauth2/token` (the org's My Domain URL).
    Salesforce {
        /// `https://{mydomain}.my.salesforce.com`, or an emulator's.
        login_url: String,
    },
}

/// A cached access token.
#[derive(Default)]
struct Cached {
    token: Option<String>,
    /// When to stop using it (`None`: until refused).
    until: Option<Instant>,
    /// Salesforce's `instance_url` of the last answer.
    instance_url: Option<String>,
}

/// The client-credentials grant (Dynamics 365 through Azure AD, and Salesforce).
pub struct ClientCredentials {
    service: &'static str,
    endpoint: TokenEndpoint,
    client_id: String,
    secret: Secret,
    agent: ureq::Agent,
    cache: Mutex<Cached>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("service", &self.service)
            .field("endpoint", &self.endpoint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .build()
        .into()
}

/// Posts a form to a token endpoint (up to three attempts on 429/5xx or no answer: a token request changes
/// nothing but the rotation of a refresh token, which the caller handles) and returns the JSON answer.
fn post_form(
    agent: &ureq::Agent,
    service: &'static str,
    url: &str,
    form: &[(&str, &str)],
) -> Result<Value, ConnectError> {
    let what = "access token".to_owned();
    let mut last = String::new();
    for attempt in 1..=3u32 {
        match agent.post(url).send_form(form.iter().copied()) {
            Ok(mut response) => {
                let status = response.status().as_u16();
                let body = response.body_mut().read_to_string().unwrap_or_default();
                if (200..300).contains(&status) {
                    return serde_json::from_str(&body).map_err(|e| {
                        ConnectError::InvalidResponse {
                            service,
                            what: what.clone(),
                            detail: format!("not JSON: {e}"),
                        }
                    });
                }
                let value: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let code = value
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("http_error")
                    .to_owned();
                let message = value
                    .get("error_description")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if status == 429 || status >= 500 {
                    last = format!("HTTP {status} {code}");
                } else {
                    return Err(ConnectError::Unauthorized {
                        service,
                        what,
                        status,
                        code,
                        message,
                    });
                }
            }
            Err(e) => last = format!("no answer: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50 * u64::from(attempt)));
    }
    Err(ConnectError::Transport {
        service,
        what,
        detail: format!("the token endpoint failed 3 times (last: {last})"),
        maybe_applied: false,
    })
}

/// Reads `access_token` and `expires_in` of a token answer into `cache`.
fn remember(
    cache: &mut Cached,
    answer: &Value,
    service: &'static str,
) -> Result<String, ConnectError> {
    let token = answer
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ConnectError::InvalidResponse {
            service,
            what: "access token".to_owned(),
            detail: "the answer has no access_token".to_owned(),
        })?
        .to_owned();
    // A minute of margin, so a token does not expire in flight.
    cache.until = answer
        .get("expires_in")
        .and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .map(|s| Instant::now() + Duration::from_secs(s.saturating_sub(60)));
    cache.token = Some(token.clone());
    Ok(token)
}

impl ClientCredentials {
    /// A token source for `service` calling `endpoint` as `client_id` with `secret`.
    pub fn new(
        service: &'static str,
        endpoint: TokenEndpoint,
        client_id: impl Into<String>,
        secret: Secret,
    ) -> ClientCredentials {
        ClientCredentials {
            service,
            endpoint,
            client_id: client_id.into(),
            secret,
            agent: agent(Duration::from_secs(30)),
            cache: Mutex::new(Cached::default()),
        }
    }

    /// The `instance_url` Salesforce returned with the last token (call the org there).
    pub fn instance_url(&self) -> Option<String> {
        self.lock().instance_url.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn fetch(&self) -> Result<String, ConnectError> {
        let (url, scope) = match &self.endpoint {
            TokenEndpoint::AzureAd {
                authority,
                tenant,
                scope,
            } => (
                format!(
                    "{}/{tenant}/oauth2/v2.0/token",
                    authority.trim_end_matches('/')
                ),
                Some(scope.as_str()),
            ),
            TokenEndpoint::Salesforce { login_url } => (
                format!("{}/services/oauth2/token", login_url.trim_end_matches('/')),
                None,
            ),
        };
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.secret.expose()),
        ];
        if let Some(s) = scope {
            form.push(("scope", s));
        }
        let answer = post_form(&self.agent, self.service, &url, &form)?;
        let mut cache = self.lock();
        cache.instance_url = answer
            .get("instance_url")
            .and_then(Value::as_str)
            .map(str::to_owned);
        remember(&mut cache, &answer, self.service)
    }
}

impl TokenSource for ClientCredentials {
    fn token(&self) -> Result<String, ConnectError> {
        {
            let cache = self.lock();
            if let Some(t) = &cache.token
                && cache.until.is_none_or(|u| Instant::now() < u)
            {
                return Ok(t.clone());
            }
        }
        self.fetch()
    }

    fn refresh(&self) -> Result<String, ConnectError> {
        self.fetch()
    }
}

/// What the host does with a rotated refresh token (store it where it keeps secrets). An error stops the call:
/// a rotated token that was not stored would be lost with the process.
pub type OnRotate = Box<dyn Fn(&Secret) -> Result<(), String> + Send + Sync>;

/// Partner Center's refresh-token flow (app + user) against Azure AD v2.
pub struct RefreshToken {
    authority: String,
    tenant: String,
    scope: String,
    client_id: String,
    client_secret: Option<Secret>,
    refresh: Mutex<Secret>,
    on_rotate: OnRotate,
    agent: ureq::Agent,
    cache: Mutex<Cached>,
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshToken")
            .field("authority", &self.authority)
            .field("tenant", &self.tenant)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl RefreshToken {
    /// The Partner Center scope of the v2 endpoint. `DOMAIN.md` marks the exact string unconfirmed (`.default` or
    /// `user_impersonation`): it is configurable through [`RefreshToken::new`].
    pub const DEFAULT_SCOPE: &'static str = "https://api.partner.microsoft.com/.default";

    /// A token source exchanging `refresh_token` at `{authority}/{tenant}/oauth2/v2.0/token`; every new refresh
    /// token the endpoint returns goes to `on_rotate` before it is used.
    pub fn new(
        authority: impl Into<String>,
        tenant: impl Into<String>,
        scope: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: Option<Secret>,
        refresh_token: Secret,
        on_rotate: OnRotate,
    ) -> RefreshToken {
        RefreshToken {
            authority: authority.into(),
            tenant: tenant.into(),
            scope: scope.into(),
            client_id: client_id.into(),
            client_secret,
            refresh: Mutex::new(refresh_token),
            on_rotate,
            agent: agent(Duration::from_secs(30)),
            cache: Mutex::new(Cached::default()),
        }
    }

    fn fetch(&self) -> Result<String, ConnectError> {
        const SERVICE: &str = "Partner Center";
        // One exchange at a time: two would spend the same refresh token, and the second would be refused.
        let mut refresh = self
            .refresh
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let url = format!(
            "{}/{}/oauth2/v2.0/token",
            self.authority.trim_end_matches('/'),
            self.tenant
        );
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh.expose()),
            ("client_id", self.client_id.as_str()),
            ("scope", self.scope.as_str()),
        ];
        if let Some(s) = &self.client_secret {
            form.push(("client_secret", s.expose()));
        }
        let answer = post_form(&self.agent, SERVICE, &url, &form)?;
        if let Some(rotated) = answer
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|r| *r != refresh.expose())
        {
            let rotated = Secret::new(rotated);
            (self.on_rotate)(&rotated).map_err(|e| ConnectError::Config {
                service: SERVICE,
                detail: format!("storing the rotated refresh token failed: {e}"),
            })?;
            *refresh = rotated;
        }
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        remember(&mut cache, &answer, SERVICE)
    }
}

impl TokenSource for RefreshToken {
    fn token(&self) -> Result<String, ConnectError> {
        {
            let cache = self
                .cache
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(t) = &cache.token
                && cache.until.is_none_or(|u| Instant::now() < u)
            {
                return Ok(t.clone());
            }
        }
        self.fetch()
    }

    fn refresh(&self) -> Result<String, ConnectError> {
        self.fetch()
    }
}
