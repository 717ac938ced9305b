//! One configuration for the connectors, the same keys from Rust, C, Python and the command line: which CRM, where
//! each service is, who the app is, the names of the environment variables that hold its secrets (never the
//! secrets), timeouts and retry bounds. TOML or JSON; unknown keys are refused, so a misspelt key cannot fall back
//! to a default silently.
//!
//! ```toml
//! crm = "dynamics365"
//!
//! [partner_center]
//! tenant = "contoso.onmicrosoft.com"
//! client_id = "00000000-0000-0000-0000-0000000000aa"
//! refresh_token_env = "COSELL_PC_REFRESH_TOKEN"
//!
//! [dynamics]
//! base_url = "https://contoso.crm.dynamics.com"
//! tenant = "contoso.onmicrosoft.com"
//! client_id = "00000000-0000-0000-0000-0000000000bb"
//! client_secret_env = "COSELL_D365_CLIENT_SECRET"
//! ```
//!
//! Plain `http` is refused except to loopback hosts (the emulators): a bearer token must not travel in clear.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auth::{ClientCredentials, OnRotate, RefreshToken, Secret, TokenEndpoint};
use super::dynamics::{Dynamics, DynamicsConfig};
use super::error::ConnectError;
use super::http::HttpConfig;
use super::partner_center::{PartnerCenter, PartnerCenterConfig};
use super::salesforce::{Salesforce, SalesforceConfig};
use super::webhooks::{Webhooks, WebhooksConfig};

const AZURE_AD: &str = "https://login.microsoftonline.com";

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `salesforce` or `dynamics365`: the CRM this deployment syncs with.
    pub crm: String,
    /// Partner Center (always needed).
    pub partner_center: PartnerCenterSection,
    /// Dynamics 365, when `crm` is `dynamics365`.
    #[serde(default)]
    pub dynamics: Option<DynamicsSection>,
    /// Salesforce, when `crm` is `salesforce`.
    #[serde(default)]
    pub salesforce: Option<SalesforceSection>,
    /// Timeouts and retry bounds of every call.
    #[serde(default)]
    pub http: HttpSection,
}

/// Partner Center: the Referrals and webhooks APIs, and the app + user refresh-token flow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerCenterSection {
    /// The Referrals API host.
    #[serde(default = "default_pc_url")]
    pub base_url: String,
    /// The webhooks API host.
    #[serde(default = "default_webhooks_url")]
    pub webhooks_base_url: String,
    /// The Azure AD authority.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// The partner's tenant.
    pub tenant: String,
    /// The app's client id.
    pub client_id: String,
    /// The environment variable holding the app's client secret (absent for a public client).
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// The environment variable holding the refresh token the host obtained once interactively.
    pub refresh_token_env: String,
    /// The scope asked for (`DOMAIN.md` marks the exact string unconfirmed).
    #[serde(default = "default_pc_scope")]
    pub scope: String,
}

/// Dynamics 365: the environment and the app's client credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DynamicsSection {
    /// `https://{org}.crm.dynamics.com`.
    pub base_url: String,
    /// The Web API version.
    #[serde(default = "default_d365_version")]
    pub api_version: String,
    /// The Azure AD authority.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// The tenant.
    pub tenant: String,
    /// The app's client id.
    pub client_id: String,
    /// The environment variable holding the client secret.
    pub client_secret_env: String,
    /// The scope (default `<base_url>/.default`).
    #[serde(default)]
    pub scope: Option<String>,
}

/// Salesforce: the org's My Domain login URL, the app's client credentials and the API budget to stay under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SalesforceSection {
    /// `https://{mydomain}.my.salesforce.com`: where tokens are asked for. The API is called at the token
    /// answer's `instance_url`.
    pub login_url: String,
    /// The API version.
    #[serde(default = "default_sf_version")]
    pub api_version: String,
    /// The app's client id.
    pub client_id: String,
    /// The environment variable holding the client secret.
    pub client_secret_env: String,
    /// API calls a day cosell may spend (the org's limit is shared with every other integration).
    #[serde(default)]
    pub daily_api_budget: Option<u64>,
}

/// Timeouts and retry bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// The whole call, in seconds.
    pub timeout_secs: u64,
    /// Connecting, in seconds.
    pub connect_timeout_secs: u64,
    /// Attempts of one call in all.
    pub max_attempts: u32,
    /// The first backoff, in milliseconds.
    pub backoff_ms: u64,
    /// The longest wait before a retry, in seconds.
    pub max_wait_secs: u64,
}

impl Default for HttpSection {
    fn default() -> Self {
        let d = HttpConfig::default();
        HttpSection {
            timeout_secs: d.timeout.as_secs(),
            connect_timeout_secs: d.connect_timeout.as_secs(),
            max_attempts: d.max_attempts,
            backoff_ms: u64::try_from(d.backoff.as_millis()).unwrap_or(500),
            max_wait_secs: d.max_wait.as_secs(),
        }
    }
}

fn default_pc_url() -> String {
    "https://api.partner.microsoft.com".to_owned()
}
fn default_webhooks_url() -> String {
    "https://api.partnercenter.microsoft.com".to_owned()
}
fn default_authority() -> String {
    AZURE_AD.to_owned()
}
fn default_pc_scope() -> String {
    RefreshToken::DEFAULT_SCOPE.to_owned()
}
fn default_d365_version() -> String {
    "v9.2".to_owned()
}
fn default_sf_version() -> String {
    "v60.0".to_owned()
}

/// Where the secrets the configuration names come from: [`env_secrets`] reads environment variables; a host with a
/// vault passes its own look-up. Given a name, the secret or `None`.
pub type SecretLookup<'a> = &'a dyn Fn(&str) -> Option<Secret>;

/// Secrets from the environment variables the configuration names.
pub fn env_secrets(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// The secret `name`, or an error naming it (never a value).
fn secret(
    lookup: SecretLookup<'_>,
    name: &str,
    service: &'static str,
) -> Result<Secret, ConnectError> {
    lookup(name).ok_or_else(|| ConnectError::Config {
        service,
        detail: format!(
            "the secret {name} is not set (an environment variable, or the host's secret look-up)"
        ),
    })
}

fn invalid(detail: String) -> ConnectError {
    ConnectError::Config {
        service: "configuration",
        detail,
    }
}

/// `https`, or `http` to a loopback host only.
fn check_url(key: &str, url: &str) -> Result<(), ConnectError> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split(['/', '?']).next().unwrap_or_default();
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Ok(());
        }
        return Err(invalid(format!(
            "{key} = {url:?}: plain http is allowed only to a loopback host (a token must not travel in clear)"
        )));
    }
    Err(invalid(format!("{key} = {url:?}: expected an https URL")))
}

impl Config {
    /// Parses TOML text and checks it.
    pub fn from_toml_str(text: &str) -> Result<Config, ConnectError> {
        let config: Config =
            toml::from_str(text).map_err(|e| invalid(format!("TOML: {}", e.message())))?;
        config.check()?;
        Ok(config)
    }

    /// Parses JSON text (the same keys) and checks it.
    pub fn from_json_str(text: &str) -> Result<Config, ConnectError> {
        let config: Config =
            serde_json::from_str(text).map_err(|e| invalid(format!("JSON: {e}")))?;
        config.check()?;
        Ok(config)
    }

    /// Reads a configuration file: `.json` is JSON, anything else TOML.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConnectError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        let parsed = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            Config::from_json_str(&text)
        } else {
            Config::from_toml_str(&text)
        };
        parsed.map_err(|e| match e {
            ConnectError::Config { detail, .. } => invalid(format!("{}: {detail}", path.display())),
            other => other,
        })
    }

    /// Checks what parsing cannot: the CRM's section is there, URLs are https (or http to loopback), bounds are
    /// sane.
    pub fn check(&self) -> Result<(), ConnectError> {
        match self.crm.as_str() {
            "dynamics365" if self.dynamics.is_none() => {
                return Err(invalid(
                    "crm = \"dynamics365\" needs a [dynamics] section".to_owned(),
                ));
            }
            "salesforce" if self.salesforce.is_none() => {
                return Err(invalid(
                    "crm = \"salesforce\" needs a [salesforce] section".to_owned(),
                ));
            }
            "dynamics365" | "salesforce" => {}
            other => {
                return Err(invalid(format!(
                    "crm = {other:?}: expected \"salesforce\" or \"dynamics365\""
                )));
            }
        }
        let pc = &self.partner_center;
        check_url("partner_center.base_url", &pc.base_url)?;
        check_url("partner_center.webhooks_base_url", &pc.webhooks_base_url)?;
        check_url("partner_center.authority", &pc.authority)?;
        if let Some(d) = &self.dynamics {
            check_url("dynamics.base_url", &d.base_url)?;
            check_url("dynamics.authority", &d.authority)?;
        }
        if let Some(s) = &self.salesforce {
            check_url("salesforce.login_url", &s.login_url)?;
        }
        if self.http.max_attempts == 0 || self.http.timeout_secs == 0 {
            return Err(invalid(
                "http.max_attempts and http.timeout_secs must be at least 1".to_owned(),
            ));
        }
        Ok(())
    }

    /// The timeouts and retry bounds.
    pub fn http_config(&self) -> HttpConfig {
        HttpConfig {
            timeout: Duration::from_secs(self.http.timeout_secs),
            connect_timeout: Duration::from_secs(self.http.connect_timeout_secs),
            max_attempts: self.http.max_attempts,
            backoff: Duration::from_millis(self.http.backoff_ms),
            max_wait: Duration::from_secs(self.http.max_wait_secs),
        }
    }

    fn pc_tokens(
        &self,
        secrets: SecretLookup<'_>,
        on_rotate: OnRotate,
    ) -> Result<RefreshToken, ConnectError> {
        let pc = &self.partner_center;
        let client_secret = pc
            .client_secret_env
            .as_deref()
            .map(|name| secret(secrets, name, "Partner Center"))
            .transpose()?;
        Ok(RefreshToken::new(
            pc.authority.clone(),
            pc.tenant.clone(),
            pc.scope.clone(),
            pc.client_id.clone(),
            client_secret,
            secret(secrets, &pc.refresh_token_env, "Partner Center")?,
            on_rotate,
        ))
    }

    /// The Partner Center Referrals client; rotated refresh tokens go to `on_rotate` (store them where the host
    /// keeps secrets, and set the environment variable from there next time).
    pub fn partner_center(
        &self,
        secrets: SecretLookup<'_>,
        on_rotate: OnRotate,
    ) -> Result<PartnerCenter, ConnectError> {
        PartnerCenter::new(
            PartnerCenterConfig {
                base_url: self.partner_center.base_url.clone(),
                http: self.http_config(),
            },
            Box::new(self.pc_tokens(secrets, on_rotate)?),
        )
    }

    /// The webhook registration client (the same Partner Center credentials).
    pub fn webhooks(
        &self,
        secrets: SecretLookup<'_>,
        on_rotate: OnRotate,
    ) -> Result<Webhooks, ConnectError> {
        Webhooks::new(
            WebhooksConfig {
                base_url: self.partner_center.webhooks_base_url.clone(),
                http: self.http_config(),
            },
            Box::new(self.pc_tokens(secrets, on_rotate)?),
        )
    }

    /// The Dynamics 365 client.
    pub fn dynamics(&self, secrets: SecretLookup<'_>) -> Result<Dynamics, ConnectError> {
        let d = self
            .dynamics
            .as_ref()
            .ok_or_else(|| invalid("no [dynamics] section".to_owned()))?;
        let scope = d
            .scope
            .clone()
            .unwrap_or_else(|| format!("{}/.default", d.base_url.trim_end_matches('/')));
        let tokens = ClientCredentials::new(
            "Dynamics 365",
            TokenEndpoint::AzureAd {
                authority: d.authority.clone(),
                tenant: d.tenant.clone(),
                scope,
            },
            d.client_id.clone(),
            secret(secrets, &d.client_secret_env, "Dynamics 365")?,
        );
        Dynamics::new(
            DynamicsConfig {
                base_url: d.base_url.clone(),
                api_version: d.api_version.clone(),
                http: self.http_config(),
            },
            Box::new(tokens),
        )
    }

    /// The Salesforce client: a token is asked for first, and the API called at its `instance_url`.
    pub fn salesforce(&self, secrets: SecretLookup<'_>) -> Result<Salesforce, ConnectError> {
        use super::http::TokenSource as _;
        let s = self
            .salesforce
            .as_ref()
            .ok_or_else(|| invalid("no [salesforce] section".to_owned()))?;
        let tokens = ClientCredentials::new(
            "Salesforce",
            TokenEndpoint::Salesforce {
                login_url: s.login_url.clone(),
            },
            s.client_id.clone(),
            secret(secrets, &s.client_secret_env, "Salesforce")?,
        );
        tokens.token()?;
        let instance = tokens
            .instance_url()
            .ok_or_else(|| ConnectError::InvalidResponse {
                service: "Salesforce",
                what: "access token".to_owned(),
                detail: "the token answer has no instance_url".to_owned(),
            })?;
        check_url("the token answer's instance_url", &instance)?;
        Salesforce::new(
            SalesforceConfig {
                instance_url: instance,
                api_version: s.api_version.clone(),
                http: self.http_config(),
            },
            Box::new(tokens),
        )
    }
}
