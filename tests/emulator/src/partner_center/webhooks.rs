//! The Partner Center Webhooks registration API (`/webhooks/v1/registration`), as described in `docs/DOMAIN.md`
//! §1.2 and §1.6: the supported events, one registration per tenant (create, read, replace, and delete behind
//! [`Options::webhook_delete`](super::Options::webhook_delete)), and test events: fired on request, throttled, posted
//! to the registered URL on a background thread, their delivery status readable by correlation id.
//!
//! Deliveries are unsigned so far (no `Authorization: Signature …`, `X-MS-Certificate-Url` or
//! `X-MS-Signature-Algorithm` headers).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use super::{ApiError, Options, json_response, parse_object};
use crate::clock::{Clock, Ids, format_ticks};
use crate::server::{Incoming, Response, lock};

/// The path of the registration.
pub const REGISTRATION_PATH: &str = "/webhooks/v1/registration";

/// The event names a registration may list (`GET /webhooks/v1/registration/events`).
pub const WEBHOOK_EVENTS: [&str; 5] = [
    "referral-created",
    "referral-updated",
    "related-referral-created",
    "related-referral-updated",
    "test-created",
];

/// The `partnerId` of validation event statuses (the example of `docs/DOMAIN.md` §1.6).
pub const PARTNER_ID: &str = "00234d9d-0000-0000-0000-39f8afc6f7f3";

/// Test events accepted per throttle window.
const VALIDATIONS_PER_WINDOW: usize = 2;

/// How long a delivery may take (connect, send, answer) before it counts as a system error.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// One fired test event.
#[derive(Debug, Clone)]
struct Validation {
    /// What `GET …/validationEvents/{id}` answers.
    status: Value,
    /// The event body posted to the callback URL.
    event: Value,
}

/// The registration and the test events.
#[derive(Debug, Default)]
pub(super) struct Webhooks {
    /// The registration as stored: `SubscriberId`, `WebhookUrl`, `WebhookEvents`,
    /// `SignatureTokenToMsSignatureHeader`.
    registration: Option<Value>,
    /// Fired test events, in firing order.
    validations: Vec<Validation>,
    /// When the accepted test events of the current window were fired.
    fired: VecDeque<Instant>,
    /// Subscriber and correlation ids.
    ids: Option<Ids>,
    /// Event and result times.
    clock: Clock,
}

impl Webhooks {
    /// A new GUID (its own stream, apart from the referrals' ids).
    fn guid(&mut self) -> String {
        self.ids.get_or_insert_with(|| Ids::with_stream(7)).guid()
    }

    /// The registration as stored.
    pub(super) fn registration(&self) -> Option<Value> {
        self.registration.clone()
    }

    /// Every fired test event: its status (as `GET …/validationEvents/{id}` answers it) plus `event`, the body
    /// delivered.
    pub(super) fn validation_events(&self) -> Vec<Value> {
        self.validations
            .iter()
            .map(|validation| {
                let mut status = validation.status.clone();
                status["event"] = validation.event.clone();
                status
            })
            .collect()
    }
}

/// Answers a request whose path is under [`REGISTRATION_PATH`] (the caller is authenticated).
pub(super) fn route(
    webhooks: &Arc<Mutex<Webhooks>>,
    options: &Options,
    request: &Incoming,
) -> Result<Response, ApiError> {
    let rest = &request.path[REGISTRATION_PATH.len()..];
    let method = request.method.as_str();
    match (rest, method) {
        ("" | "/", "GET") => get(&lock(webhooks)),
        ("" | "/", "POST") => register(&mut lock(webhooks), request, false),
        ("" | "/", "PUT") => register(&mut lock(webhooks), request, true),
        ("" | "/", "DELETE") if options.webhook_delete => {
            let mut state = lock(webhooks);
            state.registration.take().ok_or_else(none_registered)?;
            Ok(Response {
                status: 204,
                headers: Vec::new(),
                body: Vec::new(),
            })
        }
        ("" | "/", _) => Err(not_allowed(
            method,
            if options.webhook_delete {
                "GET, POST, PUT, DELETE"
            } else {
                "GET, POST, PUT"
            },
        )),
        ("/events", "GET") => Ok(json_response(200, &json!(WEBHOOK_EVENTS))),
        ("/events", _) => Err(not_allowed(method, "GET")),
        ("/validationEvents", "POST") => fire(webhooks, options, request),
        ("/validationEvents", _) => Err(not_allowed(method, "POST")),
        (other, _) => {
            let Some(id) = other
                .strip_prefix("/validationEvents/")
                .filter(|id| !id.is_empty() && !id.contains('/'))
            else {
                return Err(not_found(format!("No resource at '{}'.", request.path)));
            };
            if method != "GET" {
                return Err(not_allowed(method, "GET"));
            }
            let state = lock(webhooks);
            let validation = state
                .validations
                .iter()
                .find(|v| v.status["correlationId"] == id)
                .ok_or_else(|| not_found(format!("No validation event has the id '{id}'.")))?;
            Ok(json_response(200, &validation.status))
        }
    }
}

/// A 400 `invalidRequest`.
fn invalid(message: impl Into<String>) -> ApiError {
    ApiError {
        status: 400,
        code: "invalidRequest",
        message: message.into(),
        target: None,
        headers: Vec::new(),
    }
}

/// A 404 `itemNotFound`.
fn not_found(message: String) -> ApiError {
    ApiError {
        status: 404,
        code: "itemNotFound",
        message,
        target: None,
        headers: Vec::new(),
    }
}

/// The 404 when no registration exists.
fn none_registered() -> ApiError {
    not_found("No webhook registration exists for this tenant.".into())
}

/// A 405 with `Allow`.
fn not_allowed(method: &str, allow: &str) -> ApiError {
    ApiError {
        status: 405,
        code: "invalidRequest",
        message: format!("The method {method} is not allowed here (allowed: {allow})."),
        target: None,
        headers: vec![("Allow".into(), allow.into())],
    }
}

/// The answer of GET, POST and PUT: `{SubscriberId, WebhookUrl, WebhookEvents}`.
fn answer(registration: &Value) -> Response {
    let mut body = Map::new();
    for key in ["SubscriberId", "WebhookUrl", "WebhookEvents"] {
        body.insert(key.into(), registration[key].clone());
    }
    json_response(200, &Value::Object(body))
}

/// `GET /webhooks/v1/registration`.
fn get(state: &Webhooks) -> Result<Response, ApiError> {
    state
        .registration
        .as_ref()
        .map(answer)
        .ok_or_else(none_registered)
}

/// `POST` (`replace` false: 409 when one exists) or `PUT` (`replace` true) `/webhooks/v1/registration`.
fn register(state: &mut Webhooks, request: &Incoming, replace: bool) -> Result<Response, ApiError> {
    let body = parse_object(&request.body).map_err(|error| invalid(error.message))?;
    let url = match body.get("WebhookUrl") {
        Some(Value::String(url)) if is_http_url(url) => url.clone(),
        Some(other) => {
            return Err(invalid(format!(
                "WebhookUrl {other} is not an absolute http or https URL."
            )));
        }
        None => return Err(invalid("The registration is missing 'WebhookUrl'.")),
    };
    let Some(Value::Array(events)) = body.get("WebhookEvents") else {
        return Err(invalid(
            "The registration needs 'WebhookEvents', an array of event names.",
        ));
    };
    if events.is_empty() {
        return Err(invalid("'WebhookEvents' lists no event."));
    }
    for event in events {
        if !event
            .as_str()
            .is_some_and(|name| WEBHOOK_EVENTS.contains(&name))
        {
            return Err(invalid(format!(
                "Unknown webhook event {event} (supported: {}).",
                WEBHOOK_EVENTS.join(", ")
            )));
        }
    }
    let signature_header = match body.get("SignatureTokenToMsSignatureHeader") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(flag)) => *flag,
        Some(other) => {
            return Err(invalid(format!(
                "SignatureTokenToMsSignatureHeader {other} is not a boolean."
            )));
        }
    };
    let subscriber = match (&state.registration, replace) {
        (Some(_), false) => {
            return Err(ApiError {
                status: 409,
                code: "conflict",
                message:
                    "A webhook registration already exists for this tenant; replace it with PUT."
                        .into(),
                target: None,
                headers: Vec::new(),
            });
        }
        (Some(existing), true) => existing["SubscriberId"].clone(),
        (None, _) => Value::String(state.guid()),
    };
    let registration = json!({
        "SubscriberId": subscriber,
        "WebhookUrl": url,
        "WebhookEvents": events,
        "SignatureTokenToMsSignatureHeader": signature_header,
    });
    let response = answer(&registration);
    state.registration = Some(registration);
    Ok(response)
}

/// Whether `url` is an absolute `http`/`https` URL with a host.
fn is_http_url(url: &str) -> bool {
    let Ok(uri) = url.parse::<ureq::http::Uri>() else {
        return false;
    };
    let scheme_ok = uri.scheme_str().is_some_and(|scheme| {
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    });
    scheme_ok && uri.host().is_some_and(|host| !host.is_empty())
}

/// `POST /webhooks/v1/registration/validationEvents`: checks, throttles, records the event as pending and
/// delivers it on a background thread.
fn fire(
    webhooks: &Arc<Mutex<Webhooks>>,
    options: &Options,
    request: &Incoming,
) -> Result<Response, ApiError> {
    let mut state = lock(webhooks);
    let url = match &state.registration {
        None => {
            return Err(invalid(
                "No webhook registration exists: register one that includes 'test-created' first.",
            ));
        }
        Some(registration) => {
            let listed = registration["WebhookEvents"]
                .as_array()
                .is_some_and(|events| events.iter().any(|event| event == "test-created"));
            if !listed {
                return Err(invalid(
                    "The webhook registration does not include the 'test-created' event.",
                ));
            }
            registration["WebhookUrl"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    let now = Instant::now();
    let window = Duration::from_millis(options.validation_window_ms);
    while state
        .fired
        .front()
        .is_some_and(|at| now.duration_since(*at) >= window)
    {
        state.fired.pop_front();
    }
    if state.fired.len() >= VALIDATIONS_PER_WINDOW {
        let oldest = state.fired.front().copied().unwrap_or(now);
        let wait = window.saturating_sub(now.duration_since(oldest));
        let secs = wait.as_millis().div_ceil(1000).max(1);
        return Err(ApiError {
            status: 429,
            code: "tooManyRequests",
            message: format!(
                "At most {VALIDATIONS_PER_WINDOW} validation events per window; retry after the time in Retry-After."
            ),
            target: None,
            headers: vec![("Retry-After".into(), secs.to_string())],
        });
    }
    state.fired.push_back(now);
    let correlation = state.guid();
    let changed = format_ticks(state.clock.next());
    let event = json!({
        "EventName": "test-created",
        "ResourceUri": format!("{}{REGISTRATION_PATH}/validationEvents/{correlation}", request.base_url),
        "ResourceName": "test",
        "AuditUri": null,
        "ResourceChangeUtcDate": changed.replace('Z', "+00:00"),
    });
    state.validations.push(Validation {
        status: json!({
            "correlationId": correlation,
            "partnerId": PARTNER_ID,
            "status": "pending",
            "callbackUrl": url,
            "results": [],
        }),
        event: event.clone(),
    });
    drop(state);

    let shared = Arc::clone(webhooks);
    let id = correlation.clone();
    std::thread::spawn(move || {
        let result = deliver(&url, &event);
        let mut state = lock(&shared);
        let at = format_ticks(state.clock.next());
        let mut result = result;
        result["dateTimeUtc"] = Value::String(at.trim_end_matches('Z').to_owned());
        if let Some(validation) = state
            .validations
            .iter_mut()
            .find(|v| v.status["correlationId"] == id.as_str())
        {
            validation.status["status"] = json!("completed");
            validation.status["results"] = json!([result]);
        }
    });
    Ok(json_response(200, &json!({ "correlationId": correlation })))
}

/// POSTs the event; the result entry (without `dateTimeUtc`).
fn deliver(url: &str, event: &Value) -> Value {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(DELIVERY_TIMEOUT))
        .build();
    let agent: ureq::Agent = config.into();
    let sent = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(event.to_string());
    match sent {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let text = if (200..300).contains(&status) {
                String::new()
            } else {
                let body = response.body_mut().read_to_string().unwrap_or_default();
                body.chars().take(256).collect()
            };
            json!({
                "responseCode": reason(status),
                "responseMessage": text,
                "systemError": false,
            })
        }
        Err(error) => json!({
            "responseCode": "",
            "responseMessage": error.to_string(),
            "systemError": true,
        }),
    }
}

/// The status as .NET's `HttpStatusCode` names it (`OK`, `NotFound`, ...), or its number.
fn reason(status: u16) -> String {
    let name = match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "NonAuthoritativeInformation",
        204 => "NoContent",
        301 => "MovedPermanently",
        302 => "Found",
        307 => "TemporaryRedirect",
        308 => "PermanentRedirect",
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        408 => "RequestTimeout",
        409 => "Conflict",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        501 => "NotImplemented",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        other => return other.to_string(),
    };
    name.to_owned()
}
