//! Partner Center's webhook registration (`/webhooks/v1/registration`, `DOMAIN.md` §1.2 and §1.6): which events
//! are supported, the tenant's one registration (read, create, replace), firing the `test-created` validation event
//! and reading its delivery status.
//!
//! There is one registration per tenant and one URL per event, so registering cosell takes over from whatever was
//! registered before (for example the incumbent connector's flows). [`Webhooks::register`] therefore refuses to
//! replace another URL unless `replace` says so: the incumbent's "overwrite existing endpoints" made an explicit
//! choice.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::ConnectError;
use super::http::{Answer, Http, HttpConfig, Request, Retry, TokenSource};
// The webhooks API's error body is not documented; Partner Center's `{"error": {"code", "message"}}` is read.
use super::partner_center::error_body;
use super::url::{encode, request_id};

const SERVICE: &str = "Partner Center webhooks";
const REGISTRATION: &str = "/webhooks/v1/registration";

/// The events cosell registers for.
pub const EVENTS: &[&str] = &[
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
    "test-created",
];

/// Where the webhooks API is and how to call it.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhooksConfig {
    /// `https://api.partnercenter.microsoft.com` (the default), or an emulator's.
    pub base_url: String,
    /// Timeouts and retry bounds.
    pub http: HttpConfig,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        WebhooksConfig {
            base_url: "https://api.partnercenter.microsoft.com".to_owned(),
            http: HttpConfig::default(),
        }
    }
}

/// The tenant's registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The subscriber id (returned by create and replace).
    #[serde(
        rename = "SubscriberId",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subscriber_id: Option<String>,
    /// Where events are posted.
    #[serde(rename = "WebhookUrl")]
    pub url: String,
    /// The events posted there.
    #[serde(rename = "WebhookEvents", default)]
    pub events: Vec<String>,
}

/// The delivery status of a validation event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// `pending` or `completed` (as Partner Center says).
    pub status: String,
    /// Each delivery attempt: the receiver's answer (`OK`, ...), and whether it failed on Partner Center's side.
    pub results: Vec<(String, bool)>,
}

/// A client of the webhook registration API.
#[derive(Debug)]
pub struct Webhooks {
    http: Http,
    base: String,
}

impl Webhooks {
    /// A client for `config`, authenticated by `tokens` (the Partner Center token).
    pub fn new(
        config: WebhooksConfig,
        tokens: Box<dyn TokenSource>,
    ) -> Result<Webhooks, ConnectError> {
        let base = config.base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ConnectError::Config {
                service: SERVICE,
                detail: format!("base_url {base:?} is not an http(s) URL"),
            });
        }
        Ok(Webhooks {
            http: Http::new(SERVICE, config.http, tokens),
            base,
        })
    }

    fn call(
        &self,
        method: &'static str,
        tail: &str,
        body: Option<&str>,
        what: &str,
        retry: Retry,
    ) -> Result<Answer, ConnectError> {
        let request = Request {
            method,
            url: format!("{}{REGISTRATION}{tail}", self.base),
            headers: vec![("MS-CorrelationId", request_id())],
            body,
            what: what.to_owned(),
            retry,
        };
        self.http.send(&request, error_body)
    }

    /// The event names Partner Center supports.
    pub fn supported_events(&self) -> Result<Vec<String>, ConnectError> {
        let answer = self.call("GET", "/events", None, "supported events", Retry::Always)?;
        serde_json::from_str(&answer.body).map_err(|e| invalid("supported events", &e.to_string()))
    }

    /// The tenant's registration, or `None` when there is none.
    pub fn registration(&self) -> Result<Option<Registration>, ConnectError> {
        match self.call("GET", "", None, "the webhook registration", Retry::Always) {
            Ok(answer) => serde_json::from_str(&answer.body)
                .map(Some)
                .map_err(|e| invalid("the webhook registration", &e.to_string())),
            Err(ConnectError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Registers `url` for `events` (default [`EVENTS`]). When another URL is registered, it is replaced only with
    /// `replace` (otherwise [`ConnectError::Config`] names it, and nothing changes): the tenant has one URL per
    /// event, and taking over from the incumbent's flows is a decision, not a side effect.
    pub fn register(
        &self,
        url: &str,
        events: Option<&[&str]>,
        replace: bool,
    ) -> Result<Registration, ConnectError> {
        let events = events.unwrap_or(EVENTS);
        let current = self.registration()?;
        if let Some(existing) = &current
            && existing.url != url
            && !replace
        {
            return Err(ConnectError::Config {
                service: SERVICE,
                detail: format!(
                    "the tenant's webhooks go to {} now; registering {url} would replace it (pass replace to take over)",
                    existing.url
                ),
            });
        }
        let body = json!({
            "WebhookUrl": url,
            "WebhookEvents": events,
            "SignatureTokenToMsSignatureHeader": true,
        })
        .to_string();
        // Setting the registration to the same value applies once however often it is sent.
        let (method, what) = if current.is_some() {
            ("PUT", "replacing the webhook registration")
        } else {
            ("POST", "creating the webhook registration")
        };
        let answer = self.call(method, "", Some(&body), what, Retry::Always)?;
        serde_json::from_str(&answer.body).map_err(|e| invalid(what, &e.to_string()))
    }

    /// Fires the `test-created` validation event (Partner Center allows two a minute); returns its correlation id.
    pub fn fire_test_event(&self) -> Result<String, ConnectError> {
        let what = "the validation event";
        let answer = self.call(
            "POST",
            "/validationEvents",
            Some(""),
            what,
            Retry::NotIfSent,
        )?;
        let value: Value =
            serde_json::from_str(&answer.body).map_err(|e| invalid(what, &e.to_string()))?;
        value
            .get("correlationId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| invalid(what, "no correlationId"))
    }

    /// The delivery status of validation event `correlation_id`.
    pub fn test_event_status(&self, correlation_id: &str) -> Result<Validation, ConnectError> {
        let what = format!("validation event {correlation_id}");
        let answer = self.call(
            "GET",
            &format!("/validationEvents/{}", encode(correlation_id)),
            None,
            &what,
            Retry::Always,
        )?;
        let value: Value =
            serde_json::from_str(&answer.body).map_err(|e| invalid(&what, &e.to_string()))?;
        let status = value
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&what, "no status"))?
            .to_owned();
        let results = value
            .get("results")
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .map(|r| {
                        (
                            r.get("responseCode")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_owned(),
                            r.get("systemError")
                                .and_then(Value::as_bool)
                                .unwrap_or(false),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Validation { status, results })
    }
}

fn invalid(what: &str, detail: &str) -> ConnectError {
    ConnectError::InvalidResponse {
        service: SERVICE,
        what: what.to_owned(),
        detail: detail.to_owned(),
    }
}
