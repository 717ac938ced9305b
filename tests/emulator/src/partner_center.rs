//! The Partner Center Referrals API (`/v1.0/engagements/referrals`), as described in `docs/DOMAIN.md` §2: list
//! with `OData` options and paging, get, create, JSON Patch, full replace with `If-Match`, the status transition
//! table, bearer authentication, and its error bodies.
//!
//! The Webhooks registration API (`/webhooks/v1/registration`, `docs/DOMAIN.md` §1.2 and §1.6) is served by the
//! same emulator (see `webhooks.rs`), though the real one lives on another host.
//!
//! Referrals are stored as the JSON they were created or seeded with; the emulator only manages `id`,
//! `engagementId`, `createdDateTime`, `updatedDateTime` and `eTag`, and checks `status`/`substatus`.

mod query;
mod rules;
mod webhooks;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use crate::clock::{Clock, Ids, format_ticks, parse_ticks};
use crate::faults::{Faults, Injected};
use crate::json_patch;
use crate::odata;
use crate::server::{Incoming, Reply, RequestRecord, Response, Server, Service, lock};
use query::ListQuery;
use rules::{check_editable, check_state, check_transition, if_match_holds, text};
pub use webhooks::{REGISTRATION_PATH, WEBHOOK_EVENTS};

/// The path of the referrals collection.
pub const REFERRALS_PATH: &str = "/v1.0/engagements/referrals";

/// Properties the service manages; a patch or replace may not change them.
const READ_ONLY: [&str; 5] = [
    "id",
    "engagementId",
    "eTag",
    "createdDateTime",
    "updatedDateTime",
];

/// Properties a create must carry.
const REQUIRED: [&str; 4] = ["type", "customerProfile", "consent", "details"];

/// How a [`PartnerCenter`] emulator behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The bearer token every request must carry (`Authorization: Bearer <token>`). Default `test-token`.
    pub token: String,
    /// Accept `$filter` comparisons `updatedDateTime ge|gt|le|lt <DateTimeOffset>`. Off by default: the real
    /// service's support for them is unconfirmed (`docs/DOMAIN.md` §2.2), so a connector must not need them.
    pub filter_on_updated: bool,
    /// The largest number of referrals in one page of a list; more are reached through `@odata.nextLink`.
    /// Default 100; 0 counts as 1.
    pub page_size: usize,
    /// The port to listen on at 127.0.0.1; 0 (the default) takes any free port.
    pub port: u16,
    /// Treat a create that repeats the `MS-RequestId` header of an earlier successful create as a retry: answer
    /// the referral that create made instead of making another. Off by default: Partner Center documents
    /// `MS-RequestId` idempotency for its API in general, not for the referrals API (unconfirmed).
    pub idempotent_request_id: bool,
    /// Serve `DELETE /webhooks/v1/registration` (204). Off by default (405): `docs/DOMAIN.md` §1.2 marks the
    /// operation unconfirmed.
    pub webhook_delete: bool,
    /// The throttle window of `POST /webhooks/v1/registration/validationEvents`: at most 2 test events per window
    /// (a third is 429 with `Retry-After`). Default 60000 ms (the documented 2 per minute).
    pub validation_window_ms: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            token: "test-token".to_owned(),
            filter_on_updated: false,
            page_size: 100,
            port: 0,
            idempotent_request_id: false,
            webhook_delete: false,
            validation_window_ms: 60_000,
        }
    }
}

/// A running Partner Center Referrals API emulator on 127.0.0.1. It stops, closing its connections, when dropped.
///
/// The API is under `{base_url}/v1.0/engagements/referrals`. The methods other than [`PartnerCenter::start`] act
/// on the server's state directly, as Microsoft would, for test setup and assertions.
#[derive(Debug)]
pub struct PartnerCenter {
    /// The HTTP side.
    server: Server,
    /// The referrals and the rules.
    service: Arc<Referrals>,
}

impl PartnerCenter {
    /// Starts the emulator on `127.0.0.1:{options.port}`.
    pub fn start(options: Options) -> io::Result<PartnerCenter> {
        let service = Arc::new(Referrals::new(options));
        let server = Server::start(
            service.options.port,
            &(Arc::clone(&service) as Arc<dyn Service>),
        )?;
        Ok(PartnerCenter { server, service })
    }

    /// `http://127.0.0.1:PORT`, the scheme, host and port the API is served at (the API itself is under
    /// `/v1.0/engagements/referrals`).
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// The URL of the referrals collection: `http://127.0.0.1:PORT/v1.0/engagements/referrals`.
    pub fn referrals_url(&self) -> String {
        format!("{}{REFERRALS_PATH}", self.server.base_url())
    }

    /// Stores referrals as given, after any already stored. An `id` is generated when missing; a referral whose
    /// `id` is already stored replaces it in place. `eTag`, `createdDateTime` and `updatedDateTime` are added when
    /// missing; no other property is checked. Later writes get timestamps after every seeded one.
    ///
    /// # Panics
    /// If a referral is not a JSON object (a mistake in the test).
    pub fn seed(&self, referrals: Vec<Value>) {
        let mut state = lock(&self.service.state);
        for referral in referrals {
            let Value::Object(mut fields) = referral else {
                panic!("PartnerCenter::seed: a referral must be a JSON object, not {referral}");
            };
            for key in ["createdDateTime", "updatedDateTime"] {
                if let Some(ticks) = fields
                    .get(key)
                    .and_then(Value::as_str)
                    .and_then(parse_ticks)
                {
                    state.clock.observe(ticks);
                }
            }
            let id = if let Some(id) = fields.get("id").and_then(Value::as_str) {
                id.to_owned()
            } else {
                let id = state.ids.guid();
                fields.insert("id".into(), Value::String(id.clone()));
                id
            };
            match (
                fields.get("createdDateTime").cloned(),
                fields.get("updatedDateTime").cloned(),
            ) {
                (None, None) => {
                    let now = Value::String(format_ticks(state.clock.next()));
                    fields.insert("createdDateTime".into(), now.clone());
                    fields.insert("updatedDateTime".into(), now);
                }
                (Some(created), None) => {
                    fields.insert("updatedDateTime".into(), created);
                }
                (None, Some(updated)) => {
                    fields.insert("createdDateTime".into(), updated);
                }
                (Some(_), Some(_)) => {}
            }
            if !fields.contains_key("eTag") {
                let etag = state.ids.etag();
                fields.insert("eTag".into(), Value::String(etag));
            }
            state.insert(id, Value::Object(fields));
        }
    }

    /// The stored referral with this id, as the API would return it.
    pub fn referral(&self, id: &str) -> Option<Value> {
        lock(&self.service.state).items.get(id).cloned()
    }

    /// Every stored referral, in creation (or seeding) order.
    pub fn referrals(&self) -> Vec<Value> {
        let state = lock(&self.service.state);
        state
            .order
            .iter()
            .filter_map(|id| state.items.get(id).cloned())
            .collect()
    }

    /// Changes a referral "as Microsoft would", server-side and without any check (a Closed referral can be
    /// changed too), then gives it a new `eTag` and `updatedDateTime`. The `id` cannot be changed. Returns `false`
    /// when no referral has this id.
    pub fn edit(&self, id: &str, f: impl FnOnce(&mut Value)) -> bool {
        let mut state = lock(&self.service.state);
        let Some(mut referral) = state.items.get(id).cloned() else {
            return false;
        };
        f(&mut referral);
        if !referral.is_object() {
            referral = json!({});
        }
        state.commit(id, referral, false);
        true
    }

    /// The webhook registration as stored (`SubscriberId`, `WebhookUrl`, `WebhookEvents`,
    /// `SignatureTokenToMsSignatureHeader`), if any.
    pub fn registration(&self) -> Option<Value> {
        lock(&self.service.webhooks).registration()
    }

    /// The test events fired through `POST /webhooks/v1/registration/validationEvents`, in firing order: each as
    /// `GET …/validationEvents/{correlationId}` answers it (`status` "pending" until delivered, then "completed"
    /// with its `results`), plus `event`, the JSON body posted to the callback URL.
    pub fn validation_events(&self) -> Vec<Value> {
        lock(&self.service.webhooks).validation_events()
    }

    /// Replaces the faults to inject (see [`Faults`]).
    pub fn set_faults(&self, faults: Faults) {
        self.server.set_faults(faults);
    }

    /// The faults not yet consumed.
    pub fn pending_faults(&self) -> Faults {
        self.server.faults()
    }

    /// Every request served so far, in the order answered (including refused and dropped ones).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.server.requests()
    }

    /// Forgets the requests served so far.
    pub fn clear_requests(&self) {
        self.server.clear_requests();
    }
}

/// The stored referrals and everything that changes with them.
#[derive(Debug, Default)]
struct State {
    /// Referral ids in creation order.
    order: Vec<String>,
    /// Referrals by id.
    items: HashMap<String, Value>,
    /// Timestamps.
    clock: Clock,
    /// Referral and engagement ids, eTags.
    ids: Ids,
    /// With `idempotent_request_id`: the referral made by each `MS-RequestId`.
    by_request_id: HashMap<String, String>,
}

impl State {
    /// Stores a referral, replacing one with the same id in place.
    fn insert(&mut self, id: String, referral: Value) {
        if self.items.insert(id.clone(), referral).is_none() {
            self.order.push(id);
        }
    }

    /// Stores a changed referral with a new `eTag` and `updatedDateTime` (and, when `creating`, the same
    /// `createdDateTime`); returns what was stored.
    fn commit(&mut self, id: &str, mut referral: Value, creating: bool) -> Value {
        let now = Value::String(format_ticks(self.clock.next()));
        let etag = self.ids.etag();
        if let Value::Object(fields) = &mut referral {
            fields.insert("id".into(), Value::String(id.to_owned()));
            if creating {
                fields.insert("createdDateTime".into(), now.clone());
            }
            fields.insert("updatedDateTime".into(), now);
            fields.insert("eTag".into(), Value::String(etag));
        }
        self.insert(id.to_owned(), referral.clone());
        referral
    }
}

/// An error answer: `{"error": {"code", "message", "target"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ApiError {
    /// The HTTP status.
    status: u16,
    /// The error code (`invalidRequest`, `itemNotFound`, ...).
    code: &'static str,
    /// The message.
    message: String,
    /// The `target`, when the error is about a referral.
    target: Option<&'static str>,
    /// Extra headers (`WWW-Authenticate`, `Allow`).
    headers: Vec<(String, String)>,
}

impl ApiError {
    /// A 400 `invalidRequest` about a referral.
    fn invalid(message: impl Into<String>) -> ApiError {
        ApiError {
            status: 400,
            code: "invalidRequest",
            message: message.into(),
            target: Some("referral"),
            headers: Vec::new(),
        }
    }

    /// A 404 `itemNotFound` for a referral id.
    fn not_found(id: &str) -> ApiError {
        ApiError {
            status: 404,
            code: "itemNotFound",
            message: format!("The referral '{id}' was not found."),
            target: Some("referral"),
            headers: Vec::new(),
        }
    }

    /// A 412 `preconditionFailed`.
    fn stale() -> ApiError {
        ApiError {
            status: 412,
            code: "preconditionFailed",
            message: "The eTag does not match.".into(),
            target: Some("referral"),
            headers: Vec::new(),
        }
    }

    /// The answer.
    fn response(&self) -> Response {
        let mut error = Map::new();
        error.insert("code".into(), Value::String(self.code.to_owned()));
        error.insert("message".into(), Value::String(self.message.clone()));
        if let Some(target) = self.target {
            error.insert("target".into(), Value::String(target.to_owned()));
        }
        let mut response = json_response(self.status, &json!({ "error": error }));
        response.headers.extend(self.headers.iter().cloned());
        response
    }
}

/// A JSON answer.
fn json_response(status: u16, body: &Value) -> Response {
    Response {
        status,
        headers: vec![(
            "Content-Type".into(),
            "application/json; charset=utf-8".into(),
        )],
        body: body.to_string().into_bytes(),
    }
}

/// A referral answer with its `ETag` header.
fn referral_response(status: u16, referral: &Value) -> Response {
    let mut response = json_response(status, referral);
    response
        .headers
        .push(("ETag".into(), etag_of(referral).to_owned()));
    response
}

/// A referral's `eTag` ("" when it has none).
fn etag_of(referral: &Value) -> &str {
    referral.get("eTag").and_then(Value::as_str).unwrap_or("")
}

/// The Partner Center service behind the HTTP plumbing.
#[derive(Debug)]
struct Referrals {
    /// How it behaves.
    options: Options,
    /// The referrals.
    state: Mutex<State>,
    /// The `request-id` of each answer.
    request_ids: Mutex<Ids>,
    /// The webhook registration and test events (shared with the delivery threads).
    webhooks: Arc<Mutex<webhooks::Webhooks>>,
}

impl Service for Referrals {
    fn handle(&self, request: &Incoming, faults: &Mutex<Faults>) -> Reply {
        let reply = match self.route(request, faults) {
            Ok(reply) => reply,
            Err(error) => Reply::Respond(error.response()),
        };
        match reply {
            Reply::Respond(response) => Reply::Respond(self.decorate(request, response)),
            Reply::Drop => Reply::Drop,
        }
    }

    fn fault(&self, request: &Incoming, fault: &Injected) -> Response {
        let (status, code, retry_after, message) = match fault {
            Injected::Throttle { retry_after } => (
                429,
                "tooManyRequests",
                retry_after,
                "Too many requests. Retry after the time in Retry-After.",
            ),
            Injected::Unavailable { retry_after } => (
                503,
                "serviceNotAvailable",
                retry_after,
                "The service is not available. Retry after the time in Retry-After.",
            ),
            Injected::Drop => (
                500,
                "generalException",
                &String::new(),
                "An injected drop reached the service.",
            ),
        };
        let mut error = ApiError {
            status,
            code,
            message: message.to_owned(),
            target: None,
            headers: Vec::new(),
        };
        if !retry_after.is_empty() {
            error
                .headers
                .push(("Retry-After".into(), retry_after.clone()));
        }
        self.decorate(request, error.response())
    }
}

impl Referrals {
    /// A service with no referrals.
    fn new(options: Options) -> Referrals {
        Referrals {
            options,
            state: Mutex::new(State::default()),
            request_ids: Mutex::new(Ids::with_stream(1)),
            webhooks: Arc::default(),
        }
    }

    /// Adds the headers every answer carries: a new `request-id`, and the caller's correlation headers echoed.
    fn decorate(&self, request: &Incoming, mut response: Response) -> Response {
        response
            .headers
            .push(("request-id".into(), lock(&self.request_ids).guid()));
        for name in ["client-request-id", "MS-CorrelationId", "MS-RequestId"] {
            if let Some(value) = request.header(name) {
                response.headers.push((name.to_owned(), value.to_owned()));
            }
        }
        response
    }

    /// Authenticates, then dispatches by path and method.
    fn route(&self, request: &Incoming, faults: &Mutex<Faults>) -> Result<Reply, ApiError> {
        self.authorize(request)?;
        let not_found = || ApiError {
            status: 404,
            code: "itemNotFound",
            message: format!("No resource at '{}'.", request.path),
            target: None,
            headers: Vec::new(),
        };
        if let Some(rest) = request.path.strip_prefix(webhooks::REGISTRATION_PATH) {
            if rest.is_empty() || rest.starts_with('/') {
                return webhooks::route(&self.webhooks, &self.options, request).map(Reply::Respond);
            }
        }
        let rest = request
            .path
            .strip_prefix(REFERRALS_PATH)
            .ok_or_else(not_found)?;
        let id = match rest {
            "" | "/" => None,
            _ => {
                let segment = rest
                    .strip_prefix('/')
                    .filter(|s| !s.contains('/'))
                    .ok_or_else(not_found)?;
                Some(odata::decode(segment).map_err(|_| not_found())?)
            }
        };
        let method = request.method.as_str();
        let respond = Reply::Respond;
        match (id, method) {
            (None, "GET") => self.list(request).map(respond),
            (None, "POST") => self.create(request, faults),
            (Some(id), "GET") => self.get(&id).map(respond),
            (Some(id), "PATCH") => self.patch(&id, request).map(respond),
            (Some(id), "PUT") => self.put(&id, request).map(respond),
            (id, _) => {
                let allow = if id.is_none() {
                    "GET, POST"
                } else {
                    "GET, PATCH, PUT"
                };
                Err(ApiError {
                    status: 405,
                    code: "invalidRequest",
                    message: format!("The method {method} is not allowed here (allowed: {allow})."),
                    target: None,
                    headers: vec![("Allow".into(), allow.into())],
                })
            }
        }
    }

    /// Requires `Authorization: Bearer <token>`.
    fn authorize(&self, request: &Incoming) -> Result<(), ApiError> {
        let credentials = request.header("Authorization").map(str::trim);
        let token = credentials
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer"))
            .map(|(_, token)| token.trim());
        if token == Some(self.options.token.as_str()) {
            return Ok(());
        }
        let message = match credentials {
            None => "The request has no Authorization header with a bearer token.",
            Some(_) => "The bearer token is missing, expired or not valid.",
        };
        Err(ApiError {
            status: 401,
            code: "unauthenticated",
            message: message.into(),
            target: None,
            headers: vec![("WWW-Authenticate".into(), "Bearer".into())],
        })
    }

    /// `GET /referrals/{id}`.
    fn get(&self, id: &str) -> Result<Response, ApiError> {
        let state = lock(&self.state);
        let referral = state.items.get(id).ok_or_else(|| ApiError::not_found(id))?;
        Ok(referral_response(200, referral))
    }

    /// `GET /referrals` with `$filter`, `$orderby`, `$top`, `$skip`, `$count`, `$select` and paging.
    fn list(&self, request: &Incoming) -> Result<Response, ApiError> {
        let params = odata::parse_query(&request.query).map_err(ApiError::invalid)?;
        let query = ListQuery::parse(&params, &self.options).map_err(ApiError::invalid)?;

        let state = lock(&self.state);
        let mut matching: Vec<&Value> = state
            .order
            .iter()
            .filter_map(|id| state.items.get(id))
            .filter(|referral| query.filter.iter().all(|term| term.matches(referral)))
            .collect();
        if !query.orderby.is_empty() {
            matching.sort_by(|a, b| query.compare(a, b));
        }
        let total = matching.len();
        let window: Vec<&Value> = matching
            .into_iter()
            .skip(query.skip)
            .take(query.top.unwrap_or(usize::MAX))
            .collect();
        let start = query.skiptoken.min(window.len());
        let end = start
            .saturating_add(self.options.page_size.max(1))
            .min(window.len());
        let page: Vec<Value> = window[start..end]
            .iter()
            .map(|referral| query.select(referral))
            .collect();

        let mut body = Map::new();
        if query.count {
            body.insert("@odata.count".into(), Value::from(total));
        }
        body.insert("value".into(), Value::Array(page));
        if end < window.len() {
            let mut link = format!("{}{}?", request.base_url, request.path);
            for (name, value) in params.iter().filter(|(name, _)| name != "$skiptoken") {
                link.push_str(&odata::encode(name));
                link.push('=');
                link.push_str(&odata::encode(value));
                link.push('&');
            }
            link.push_str("$skiptoken=");
            link.push_str(&end.to_string());
            body.insert("@odata.nextLink".into(), Value::String(link));
        }
        Ok(json_response(200, &Value::Object(body)))
    }

    /// `POST /referrals`.
    fn create(&self, request: &Incoming, faults: &Mutex<Faults>) -> Result<Reply, ApiError> {
        let mut referral = parse_object(&request.body)?;
        let request_id = request
            .header("MS-RequestId")
            .filter(|_| self.options.idempotent_request_id);
        let mut state = lock(&self.state);
        if let Some(existing) = request_id.and_then(|key| state.by_request_id.get(key)) {
            if let Some(made) = state.items.get(existing) {
                return Ok(Reply::Respond(referral_response(200, made)));
            }
        }
        for key in REQUIRED {
            if referral.get(key).is_none_or(Value::is_null) {
                return Err(ApiError::invalid(format!(
                    "The referral is missing the required property '{key}'."
                )));
            }
        }
        let id = match referral.get("id") {
            None | Some(Value::Null) => state.ids.guid(),
            Some(Value::String(id)) if !id.is_empty() && !id.contains('/') => {
                if state.items.contains_key(id) {
                    return Err(ApiError {
                        status: 409,
                        code: "invalidRequest",
                        message: format!("A referral with id '{id}' already exists."),
                        target: Some("referral"),
                        headers: Vec::new(),
                    });
                }
                id.clone()
            }
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "The referral id {other} is not a valid id."
                )));
            }
        };
        if referral.get("engagementId").is_none_or(Value::is_null) {
            let engagement = state.ids.guid();
            referral.insert("engagementId".into(), Value::String(engagement));
        }
        if referral.get("status").is_none_or(Value::is_null) {
            referral.insert("status".into(), Value::String("New".into()));
            if referral.get("substatus").is_none_or(Value::is_null) {
                referral.insert("substatus".into(), Value::String("Pending".into()));
            }
        }
        let referral = Value::Object(referral);
        check_state(
            text(&referral, "status"),
            referral.get("substatus").and_then(Value::as_str),
        )
        .map_err(ApiError::invalid)?;

        let stored = state.commit(&id, referral, true);
        if let Some(key) = request_id {
            state.by_request_id.insert(key.to_owned(), id);
        }
        drop(state);
        if lock(faults).take_lost_create() {
            return Ok(Reply::Drop);
        }
        Ok(Reply::Respond(referral_response(200, &stored)))
    }

    /// `PATCH /referrals/{id}` with a JSON Patch body.
    fn patch(&self, id: &str, request: &Incoming) -> Result<Response, ApiError> {
        let mut state = lock(&self.state);
        let current = state.items.get(id).ok_or_else(|| ApiError::not_found(id))?;
        if let Some(if_match) = request.header("If-Match") {
            if !if_match_holds(if_match, current) {
                return Err(ApiError::stale());
            }
        }
        check_editable(current).map_err(ApiError::invalid)?;
        let body: Value = parse_json(&request.body)?;
        let operations = json_patch::parse(&body).map_err(|error| ApiError::invalid(error.0))?;
        for operation in &operations {
            match operation.tokens.first() {
                None => {
                    return Err(ApiError::invalid(
                        "A patch cannot replace the whole referral (path '').",
                    ));
                }
                Some(first) if READ_ONLY.contains(&first.as_str()) => {
                    return Err(ApiError::invalid(format!(
                        "The property '{}' is read-only.",
                        operation.path
                    )));
                }
                Some(_) => {}
            }
        }
        let patched =
            json_patch::apply(current, &operations).map_err(|error| ApiError::invalid(error.0))?;
        check_transition(current, &patched).map_err(ApiError::invalid)?;
        let stored = state.commit(id, patched, false);
        let wants_body = request.header("Prefer").is_some_and(|prefer| {
            prefer
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case("return=representation"))
        });
        if wants_body {
            return Ok(referral_response(200, &stored));
        }
        Ok(Response {
            status: 204,
            headers: vec![("ETag".into(), etag_of(&stored).to_owned())],
            body: Vec::new(),
        })
    }

    /// `PUT /referrals/{id}`: a full replace, `If-Match` required.
    fn put(&self, id: &str, request: &Incoming) -> Result<Response, ApiError> {
        let mut state = lock(&self.state);
        let current = state.items.get(id).ok_or_else(|| ApiError::not_found(id))?;
        let if_match = request.header("If-Match").ok_or_else(|| {
            ApiError::invalid("A PUT must carry an If-Match header with the referral's eTag.")
        })?;
        if !if_match_holds(if_match, current) {
            return Err(ApiError::stale());
        }
        check_editable(current).map_err(ApiError::invalid)?;
        let mut replacement = parse_object(&request.body)?;
        for key in ["id", "engagementId", "createdDateTime"] {
            match (replacement.get(key), current.get(key)) {
                (None | Some(Value::Null), Some(kept)) => {
                    replacement.insert(key.into(), kept.clone());
                }
                (Some(given), kept) if Some(given) != kept => {
                    return Err(ApiError::invalid(format!(
                        "The property '/{key}' is read-only."
                    )));
                }
                _ => {}
            }
        }
        for key in REQUIRED {
            if replacement.get(key).is_none_or(Value::is_null) {
                return Err(ApiError::invalid(format!(
                    "The referral is missing the required property '{key}'."
                )));
            }
        }
        let replacement = Value::Object(replacement);
        check_transition(current, &replacement).map_err(ApiError::invalid)?;
        let stored = state.commit(id, replacement, false);
        Ok(referral_response(200, &stored))
    }
}

/// Parses a JSON body.
fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|error| ApiError::invalid(format!("The request body is not valid JSON: {error}.")))
}

/// Parses a JSON object body.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match parse_json(body)? {
        Value::Object(fields) => Ok(fields),
        _ => Err(ApiError::invalid(
            "The request body must be a JSON object (a referral).",
        )),
    }
}
