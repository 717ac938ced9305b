//! The Dynamics 365 / Dataverse Web API (`/api/data/v9.2/`, `OData` v4), as described in `docs/DOMAIN.md` §4:
//! rows of `opportunities`, `leads`, `accounts` and `transactioncurrencies` read with `$select`/`$expand`, queried
//! with `$filter` and paged with `Prefer: odata.maxpagesize`; created (POST), updated or upserted (PATCH with
//! `If-Match`/`If-None-Match`), deleted; lookups bound with `@odata.bind`; opportunities closed with the
//! `WinOpportunity`/`LoseOpportunity` actions; change tracking with delta links; bearer authentication and the
//! `{"error": {"code", "message"}}` bodies.
//!
//! Rows are stored as JSON columns (no schema); the emulator manages the key column, `versionnumber` (one
//! increasing counter for the whole organization), `@odata.etag` (`W/"<versionnumber>"`), `modifiedon`,
//! `createdon`, and checks opportunity `statecode`/`statuscode`.

mod query;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::clock::{Clock, Ids, parse_ticks};
use crate::faults::{Faults, Injected};
use crate::odata::{self, is_guid};
use crate::server::{Incoming, Reply, RequestRecord, Response, Server, Service, lock};
use crate::table::Table;
use query::{COLLECTION, QueryOptions, SINGLE};

/// The path of the Web API: entity sets and actions are under it.
pub const DYNAMICS_API_PATH: &str = "/api/data/v9.2";

/// The Web API versions served (`docs/DOMAIN.md` §4.1: v9.0 and v9.1 also work).
const API_PATHS: [&str; 3] = ["/api/data/v9.2", "/api/data/v9.1", "/api/data/v9.0"];

/// The `Content-Type` of JSON answers.
const JSON_TYPE: &str = "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8";

/// An emulated table.
#[derive(Debug)]
struct EntitySet {
    /// The entity set name in URLs (`opportunities`).
    name: &'static str,
    /// The logical name (`opportunity`), used in messages and types.
    logical: &'static str,
    /// The primary key column (`opportunityid`).
    key: &'static str,
}

/// The emulated tables.
static ENTITY_SETS: [EntitySet; 4] = [
    EntitySet {
        name: "opportunities",
        logical: "opportunity",
        key: "opportunityid",
    },
    EntitySet {
        name: "leads",
        logical: "lead",
        key: "leadid",
    },
    EntitySet {
        name: "accounts",
        logical: "account",
        key: "accountid",
    },
    EntitySet {
        name: "transactioncurrencies",
        logical: "transactioncurrency",
        key: "transactioncurrencyid",
    },
];

/// The table with this entity set name.
fn entity_set(name: &str) -> Option<&'static EntitySet> {
    ENTITY_SETS.iter().find(|set| set.name == name)
}

/// A single-valued lookup: written with `<nav>@odata.bind`, read as `<column>`, expanded as `<nav>`.
#[derive(Debug)]
struct Lookup {
    /// The navigation property (`customerid_account`).
    nav: &'static str,
    /// The column holding the related id (`_customerid_value`).
    column: &'static str,
    /// The related entity set (`accounts`).
    target: &'static str,
}

/// The lookups the emulator knows (on every table).
static LOOKUPS: [Lookup; 4] = [
    Lookup {
        nav: "transactioncurrencyid",
        column: "_transactioncurrencyid_value",
        target: "transactioncurrencies",
    },
    Lookup {
        nav: "customerid_account",
        column: "_customerid_value",
        target: "accounts",
    },
    Lookup {
        nav: "parentaccountid",
        column: "_parentaccountid_value",
        target: "accounts",
    },
    Lookup {
        nav: "originatingleadid",
        column: "_originatingleadid_value",
        target: "leads",
    },
];

/// Names of lookups (navigation properties) that are not columns: reading or writing them as values is an error.
const LOOKUP_NAMES: [&str; 9] = [
    "transactioncurrencyid",
    "customerid",
    "customerid_account",
    "customerid_contact",
    "parentaccountid",
    "parentcontactid",
    "originatingleadid",
    "ownerid",
    "owningbusinessunit",
];

/// Whether a name is a lookup (navigation property) rather than a column.
fn is_lookup_name(name: &str) -> bool {
    LOOKUP_NAMES.contains(&name)
}

/// Columns the service manages; a write may not set them.
const READ_ONLY: [&str; 5] = [
    "versionnumber",
    "modifiedon",
    "createdon",
    "modifiedby",
    "createdby",
];

/// The currencies every organization starts with: ISO code, id (the GUIDs `bench/workload.py` uses: `UUIDv5` of
/// `currency:<code>` in the URL namespace), name, symbol.
const DEFAULT_CURRENCIES: [(&str, &str, &str, &str); 8] = [
    (
        "USD",
        "538b61c6-f39d-5242-b487-1dc758ca4cba",
        "US Dollar",
        "$",
    ),
    ("EUR", "e003f3b4-6a43-5610-9ff2-576ddea35e7f", "Euro", "€"),
    (
        "CAD",
        "606b55d1-075c-5aad-9e6c-14c1ca88e96d",
        "Canadian Dollar",
        "$",
    ),
    (
        "GBP",
        "d7f61673-6b80-5421-ae96-a84df61525e4",
        "Pound Sterling",
        "£",
    ),
    ("JPY", "d8af848b-c179-53c3-aec2-f11560a8598b", "Yen", "¥"),
    (
        "BRL",
        "59431aaa-8b95-58db-938c-417449c0a837",
        "Brazilian Real",
        "R$",
    ),
    (
        "INR",
        "a13f5f40-5058-5861-a645-f83f21c00675",
        "Indian Rupee",
        "₹",
    ),
    (
        "AUD",
        "36c590fe-bd32-5aec-9a62-9c43d49d5bb6",
        "Australian Dollar",
        "$",
    ),
];

/// The id of the seeded US Dollar currency, also the base currency new opportunities get when none is bound.
pub const USD_CURRENCY_ID: &str = "538b61c6-f39d-5242-b487-1dc758ca4cba";

/// How a [`Dynamics`] emulator behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicsOptions {
    /// The bearer token every request must carry (`Authorization: Bearer <token>`). Default `test-token`.
    pub token: String,
    /// The page size of collections when the request has no `Prefer: odata.maxpagesize`. Default 100; 0 counts
    /// as 1.
    pub page_size: usize,
    /// The port to listen on at 127.0.0.1; 0 (the default) takes any free port.
    pub port: u16,
}

impl Default for DynamicsOptions {
    fn default() -> DynamicsOptions {
        DynamicsOptions {
            token: "test-token".to_owned(),
            page_size: 100,
            port: 0,
        }
    }
}

/// A running Dataverse Web API emulator on 127.0.0.1. It stops, closing its connections, when dropped.
///
/// The API is under `{base_url}/api/data/v9.2/`. The methods other than [`Dynamics::start`] act on the server's
/// state directly, as a CRM user would, for test setup and assertions. Row ids are lower-case GUIDs.
#[derive(Debug)]
pub struct Dynamics {
    /// The HTTP side.
    server: Server,
    /// The rows and the rules.
    service: Arc<Dataverse>,
}

impl Dynamics {
    /// Starts the emulator on `127.0.0.1:{options.port}`, with the default currencies (USD, EUR, CAD, GBP, JPY,
    /// BRL, INR, AUD) in `transactioncurrencies`.
    pub fn start(options: DynamicsOptions) -> io::Result<Dynamics> {
        let service = Arc::new(Dataverse::new(options));
        let server = Server::start(
            service.options.port,
            &(Arc::clone(&service) as Arc<dyn Service>),
        )?;
        let dynamics = Dynamics { server, service };
        dynamics.seed(
            "transactioncurrencies",
            DEFAULT_CURRENCIES
                .iter()
                .map(|(code, id, name, symbol)| {
                    serde_json::json!({"transactioncurrencyid": id, "isocurrencycode": code,
                                       "currencyname": name, "currencysymbol": symbol,
                                       "statecode": 0, "statuscode": 1})
                })
                .collect(),
        );
        Ok(dynamics)
    }

    /// `http://127.0.0.1:PORT`; the API is under `/api/data/v9.2/`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// `http://127.0.0.1:PORT/api/data/v9.2`.
    pub fn api_url(&self) -> String {
        format!("{}{DYNAMICS_API_PATH}", self.server.base_url())
    }

    /// Stores rows of an entity set (`opportunities`, `leads`, `accounts`, `transactioncurrencies`) as given: the
    /// key column is generated when missing, a row whose id is already stored replaces it. Expanded lookups in
    /// the rows (`"transactioncurrencyid": {...}`, as `bench/workload.py` writes them) are dropped (their
    /// `_..._value` column is kept or filled from them). `versionnumber` is kept when given (later writes get
    /// higher ones) or assigned; `@odata.etag` follows it; `modifiedon` is added when missing. Seeding does not
    /// show in change tracking as a deletion, but seeded rows are changes like any other.
    ///
    /// # Panics
    /// If the entity set is not emulated or a row is not a JSON object (a mistake in the test).
    pub fn seed(&self, entity_set_name: &str, rows: Vec<Value>) {
        let set = entity_set(entity_set_name).unwrap_or_else(|| {
            panic!("Dynamics::seed: '{entity_set_name}' is not an emulated entity set")
        });
        let mut state = lock(&self.service.state);
        for row in rows {
            let Value::Object(mut fields) = row else {
                panic!("Dynamics::seed: a row must be a JSON object, not {row}");
            };
            for lookup in &LOOKUPS {
                if lookup.nav == set.key {
                    continue;
                }
                if let Some(Value::Object(expanded)) = fields.remove(lookup.nav) {
                    let target_key = entity_set(lookup.target).map_or("", |target| target.key);
                    if let Some(id) = expanded
                        .get(target_key)
                        .filter(|_| !fields.contains_key(lookup.column))
                    {
                        fields.insert(lookup.column.to_owned(), id.clone());
                    }
                }
            }
            let id = match fields.get(set.key).and_then(Value::as_str) {
                Some(id) => id.to_ascii_lowercase(),
                None => state.ids.guid(),
            };
            if let Some(ticks) = fields
                .get("modifiedon")
                .and_then(Value::as_str)
                .and_then(parse_ticks)
            {
                state.clock.observe(ticks);
            }
            let version = if let Some(version) = fields.get("versionnumber").and_then(Value::as_u64)
            {
                state.version = state.version.max(version);
                version
            } else {
                state.version += 1;
                state.version
            };
            if !fields.contains_key("modifiedon") {
                let now = format_seconds(state.clock.next());
                fields.insert("modifiedon".into(), Value::String(now));
            }
            fields.insert(set.key.into(), Value::String(id.clone()));
            fields.insert("versionnumber".into(), Value::from(version));
            fields.insert("@odata.etag".into(), Value::String(weak_etag(version)));
            state.table(set).insert(id, Value::Object(fields));
        }
    }

    /// The stored row of this entity set and id (any letter case), as a GET without options returns it.
    pub fn row(&self, entity_set_name: &str, id: &str) -> Option<Value> {
        let set = entity_set(entity_set_name)?;
        lock(&self.service.state).get(set, id).cloned()
    }

    /// Every stored row of an entity set, in creation (or seeding) order.
    pub fn rows(&self, entity_set_name: &str) -> Vec<Value> {
        let Some(set) = entity_set(entity_set_name) else {
            return Vec::new();
        };
        let state = lock(&self.service.state);
        state
            .tables
            .get(set.name)
            .map(|table| {
                table
                    .order
                    .iter()
                    .filter_map(|id| table.rows.get(id).cloned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Changes a row "as a CRM user would", server-side and without any check, then gives it a new
    /// `versionnumber`, `@odata.etag` and `modifiedon` (so it shows in change tracking). The key cannot be changed.
    /// Returns `false` when no row has this id.
    pub fn edit(&self, entity_set_name: &str, id: &str, f: impl FnOnce(&mut Value)) -> bool {
        let Some(set) = entity_set(entity_set_name) else {
            return false;
        };
        let mut state = lock(&self.service.state);
        let Some(mut row) = state.get(set, id).cloned() else {
            return false;
        };
        f(&mut row);
        let fields = match row {
            Value::Object(fields) => fields,
            _ => Map::new(),
        };
        state.commit(set, &id.to_ascii_lowercase(), fields, false);
        true
    }

    /// Deletes a row "as a CRM user would"; the deletion shows in change tracking. Returns `false` when no row has
    /// this id.
    pub fn delete(&self, entity_set_name: &str, id: &str) -> bool {
        let Some(set) = entity_set(entity_set_name) else {
            return false;
        };
        lock(&self.service.state).remove(set, id).is_some()
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

/// `W/"<versionnumber>"`.
fn weak_etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// The `OffsetDateTime` of ticks of 100 ns since the Unix epoch.
fn at(ticks: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ticks) * 100)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Formats ticks as Dataverse writes `modifiedon`: UTC, whole seconds (`2026-10-20T10:15:42Z`).
fn format_seconds(ticks: i64) -> String {
    let at = at(ticks);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A delta token as Dataverse shapes it: `<version>!<MM/dd/yyyy HH:mm:ss>`.
fn delta_token(version: u64, ticks: i64) -> String {
    let at = at(ticks);
    format!(
        "{version}!{:02}/{:02}/{:04} {:02}:{:02}:{:02}",
        u8::from(at.month()),
        at.day(),
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// A deleted row, for change tracking.
#[derive(Debug)]
struct Tombstone {
    /// The version the deletion got.
    version: u64,
    /// The entity set.
    set: &'static str,
    /// The row id.
    id: String,
}

/// Every table and the organization-wide counters.
#[derive(Debug, Default)]
struct State {
    /// Tables by entity set name.
    tables: HashMap<&'static str, Table>,
    /// The last `versionnumber` handed out.
    version: u64,
    /// `modifiedon` stamps.
    clock: Clock,
    /// Row ids.
    ids: Ids,
    /// Deletions, in order.
    tombstones: Vec<Tombstone>,
}

impl State {
    /// The table of a set, created when first used.
    fn table(&mut self, set: &'static EntitySet) -> &mut Table {
        self.tables.entry(set.name).or_default()
    }

    /// A row by id (any letter case).
    fn get(&self, set: &EntitySet, id: &str) -> Option<&Value> {
        self.tables
            .get(set.name)?
            .rows
            .get(&id.to_ascii_lowercase())
    }

    /// Stores a written row with a new `versionnumber`, `@odata.etag` and `modifiedon` (and `createdon` when
    /// `creating`); returns what was stored.
    fn commit(
        &mut self,
        set: &'static EntitySet,
        id: &str,
        mut row: Map<String, Value>,
        creating: bool,
    ) -> Value {
        self.version += 1;
        let now = Value::String(format_seconds(self.clock.next()));
        row.insert(set.key.into(), Value::String(id.to_owned()));
        row.insert("versionnumber".into(), Value::from(self.version));
        row.insert("@odata.etag".into(), Value::String(weak_etag(self.version)));
        if creating {
            row.insert("createdon".into(), now.clone());
        }
        row.insert("modifiedon".into(), now);
        let row = Value::Object(row);
        self.table(set).insert(id.to_owned(), row.clone());
        row
    }

    /// Deletes a row, recording the deletion for change tracking.
    fn remove(&mut self, set: &'static EntitySet, id: &str) -> Option<Value> {
        let id = id.to_ascii_lowercase();
        let table = self.table(set);
        let row = table.rows.remove(&id)?;
        table.order.retain(|kept| *kept != id);
        self.version += 1;
        let version = self.version;
        self.tombstones.push(Tombstone {
            version,
            set: set.name,
            id,
        });
        Some(row)
    }
}

/// An error answer: `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ApiError {
    /// The HTTP status.
    status: u16,
    /// The error code (a hex string such as `0x80040217`, or empty).
    code: &'static str,
    /// The message.
    message: String,
    /// Extra headers (`WWW-Authenticate`, `Allow`, `Retry-After`).
    headers: Vec<(String, String)>,
}

impl ApiError {
    /// An error without extra headers.
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// A 400 about the request body (`0x80048d19`).
    fn payload(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "0x80048d19", message)
    }

    /// A 400 about the URL's query or path (`0x80060888`).
    fn query(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "0x80060888", message)
    }

    /// A 400 about a state change (`0x80040203`, invalid argument).
    fn state(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "0x80040203", message)
    }

    /// A 404 for a row (`0x80040217`).
    fn not_found(set: &EntitySet, id: &str) -> ApiError {
        ApiError::new(
            404,
            "0x80040217",
            format!("{} With Id = {id} Does Not Exist", set.logical),
        )
    }

    /// A 404 for a path segment (`0x8006088a`).
    fn no_segment(segment: &str) -> ApiError {
        ApiError::new(
            404,
            "0x8006088a",
            format!("Resource not found for the segment '{segment}'."),
        )
    }

    /// A 412 for a stale `If-Match`.
    fn stale() -> ApiError {
        ApiError::new(
            412,
            "",
            "The version of the existing record doesn't match the RowVersion property provided.",
        )
    }

    /// A 412 for a create of an existing row (`If-None-Match: *`, or a POST with a stored id).
    fn exists() -> ApiError {
        ApiError::new(
            412,
            "0x80040237",
            "A record with matching key values already exists.",
        )
    }

    /// The answer.
    fn response(&self) -> Response {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        let mut response = json_response(self.status, &body);
        response.headers.extend(self.headers.iter().cloned());
        response
    }
}

/// A JSON answer.
fn json_response(status: u16, body: &Value) -> Response {
    Response {
        status,
        headers: vec![("Content-Type".into(), JSON_TYPE.into())],
        body: body.to_string().into_bytes(),
    }
}

/// An answer without a body.
fn empty_response(status: u16, headers: Vec<(String, String)>) -> Response {
    Response {
        status,
        headers,
        body: Vec::new(),
    }
}

/// The `Prefer` preferences the emulator understands.
#[derive(Debug, Clone, Default)]
struct Prefer {
    /// `return=representation`.
    representation: bool,
    /// `odata.track-changes`.
    track_changes: bool,
    /// `odata.maxpagesize=N`.
    max_page_size: Option<usize>,
}

impl Prefer {
    /// Reads every `Prefer` header of a request (unknown preferences are ignored, as HTTP says).
    fn of(request: &Incoming) -> Prefer {
        let mut prefer = Prefer::default();
        let values = request
            .headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Prefer"))
            .flat_map(|(_, value)| value.split(','));
        for item in values {
            let item = item.trim();
            if item.eq_ignore_ascii_case("return=representation") {
                prefer.representation = true;
            } else if item.eq_ignore_ascii_case("odata.track-changes") {
                prefer.track_changes = true;
            } else if let Some(size) = item.strip_prefix("odata.maxpagesize=") {
                prefer.max_page_size = size
                    .trim()
                    .trim_matches('"')
                    .parse()
                    .ok()
                    .filter(|n| *n > 0);
            }
        }
        prefer
    }
}

/// What a request addresses.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    /// An entity set.
    Collection(&'static EntitySet),
    /// One row.
    Row(&'static EntitySet, &'a str),
    /// `WinOpportunity` (`true`) or `LoseOpportunity` (`false`).
    Close(bool),
}

/// One request with what every handler needs.
struct Call<'a> {
    /// The request.
    request: &'a Incoming,
    /// `http://127.0.0.1:PORT/api/data/v9.x`, as addressed.
    api_url: String,
    /// The decoded query parameters.
    params: Vec<(String, String)>,
    /// Its preferences.
    prefer: Prefer,
}

impl Call<'_> {
    /// The URL of a row.
    fn row_url(&self, set: &EntitySet, id: &str) -> String {
        format!("{}/{}({id})", self.api_url, set.name)
    }

    /// `@odata.context` of a set with the options' `(columns)` and a suffix (`/$entity`, `/$delta`, or none).
    fn context(&self, set: &EntitySet, query: &QueryOptions, suffix: &str) -> String {
        format!(
            "{}/$metadata#{}{}{suffix}",
            self.api_url,
            set.name,
            query.context_suffix()
        )
    }
}

/// The position of a change-tracking read across its pages: `$skiptoken=track!<since|i>!<after>!<snapshot>`.
#[derive(Debug, Clone, Copy)]
struct Cursor {
    /// The version of the delta token read (`None` for the initial read, which lists no deletions).
    since: Option<u64>,
    /// The last version already answered.
    after: u64,
    /// The version the read stops at; the next delta link starts there.
    snapshot: u64,
}

impl Cursor {
    /// The `$skiptoken` of the page after `after`.
    fn token(&self) -> String {
        let since = self.since.map_or_else(|| "i".to_owned(), |v| v.to_string());
        format!("track!{since}!{}!{}", self.after, self.snapshot)
    }

    /// Parses a `$skiptoken` of a change-tracking read.
    fn parse(token: &str) -> Option<Cursor> {
        let mut parts = token.strip_prefix("track!")?.split('!');
        let since = match parts.next()? {
            "i" => None,
            since => Some(since.parse().ok()?),
        };
        let after = parts.next()?.parse().ok()?;
        let snapshot = parts.next()?.parse().ok()?;
        Some(Cursor {
            since,
            after,
            snapshot,
        })
    }
}

/// The Dataverse service behind the HTTP plumbing.
#[derive(Debug)]
struct Dataverse {
    /// How it behaves.
    options: DynamicsOptions,
    /// The rows.
    state: Mutex<State>,
    /// The `REQ_ID` of each answer.
    request_ids: Mutex<Ids>,
}

impl Service for Dataverse {
    fn handle(&self, request: &Incoming, faults: &Mutex<Faults>) -> Reply {
        let reply = match self.route(request, faults) {
            Ok(reply) => reply,
            Err(error) => Reply::Respond(error.response()),
        };
        match reply {
            Reply::Respond(response) => Reply::Respond(self.decorate(response)),
            Reply::Drop => Reply::Drop,
        }
    }

    fn fault(&self, _request: &Incoming, fault: &Injected) -> Response {
        let (status, code, retry_after, message) = match fault {
            Injected::Throttle { retry_after } => (
                429,
                "0x80072322",
                retry_after.clone(),
                "Number of requests exceeded the limit of 6000 over time window of 300 seconds.",
            ),
            Injected::Unavailable { retry_after } => (
                503,
                "",
                retry_after.clone(),
                "The service is temporarily unavailable. Retry after the time in Retry-After.",
            ),
            Injected::Drop => (
                500,
                "",
                String::new(),
                "An injected drop reached the service.",
            ),
        };
        let mut error = ApiError::new(status, code, message);
        if !retry_after.is_empty() {
            error.headers.push(("Retry-After".into(), retry_after));
        }
        self.decorate(error.response())
    }
}

impl Dataverse {
    /// A service with no rows.
    fn new(options: DynamicsOptions) -> Dataverse {
        Dataverse {
            options,
            state: Mutex::new(State::default()),
            request_ids: Mutex::new(Ids::with_stream(2)),
        }
    }

    /// Adds the headers every answer carries: `OData-Version: 4.0` and a new `REQ_ID`.
    fn decorate(&self, mut response: Response) -> Response {
        response
            .headers
            .push(("OData-Version".into(), "4.0".into()));
        response
            .headers
            .push(("REQ_ID".into(), lock(&self.request_ids).guid()));
        response
    }

    /// Authenticates, then dispatches by path and method.
    fn route(&self, request: &Incoming, faults: &Mutex<Faults>) -> Result<Reply, ApiError> {
        self.authorize(request)?;
        let (api_path, rest) = API_PATHS
            .iter()
            .find_map(|api| {
                request
                    .path
                    .strip_prefix(api)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .map(|rest| (*api, rest))
            })
            .ok_or_else(|| ApiError::no_segment(&request.path))?;
        let segment = odata::decode(rest).map_err(ApiError::query)?;
        if let Some((_, extra)) = segment.split_once('/') {
            return Err(ApiError::no_segment(extra));
        }
        let target = parse_target(&segment)?;
        let params = odata::parse_query(&request.query).map_err(ApiError::query)?;
        let call = Call {
            request,
            api_url: format!("{}{api_path}", request.base_url),
            params,
            prefer: Prefer::of(request),
        };
        let method = request.method.as_str();
        let respond = Reply::Respond;
        match (target, method) {
            (Target::Collection(set), "GET") => self.list(&call, set).map(respond),
            (Target::Collection(set), "POST") => self.create(&call, set, faults),
            (Target::Row(set, id), "GET") => self.get(&call, set, id).map(respond),
            (Target::Row(set, id), "PATCH") => self.patch(&call, set, id).map(respond),
            (Target::Row(set, id), "DELETE") => self.delete(&call, set, id).map(respond),
            (Target::Close(won), "POST") => self.close(&call, won).map(respond),
            (target, _) => {
                let allow = match target {
                    Target::Collection(_) => "GET, POST",
                    Target::Row(..) => "GET, PATCH, DELETE",
                    Target::Close(_) => "POST",
                };
                let mut error = ApiError::new(
                    405,
                    "",
                    format!("The requested resource does not support http method '{method}'."),
                );
                error.headers.push(("Allow".into(), allow.into()));
                Err(error)
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
        let mut error = ApiError::new(401, "", message);
        error.headers.push((
            "WWW-Authenticate".into(),
            "Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize"
                .into(),
        ));
        Err(error)
    }

    /// `GET /<set>(<id>)` with `$select` and `$expand`; `If-None-Match` with the current etag answers 304.
    fn get(
        &self,
        call: &Call<'_>,
        set: &'static EntitySet,
        id: &str,
    ) -> Result<Response, ApiError> {
        let query = QueryOptions::parse(&call.params, set, SINGLE).map_err(ApiError::query)?;
        let state = lock(&self.state);
        let row = state
            .get(set, id)
            .ok_or_else(|| ApiError::not_found(set, id))?;
        let etag = row
            .get("@odata.etag")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if query.expand.is_empty()
            && call
                .request
                .header("If-None-Match")
                .is_some_and(|value| value.split(',').any(|tag| tag.trim() == etag))
        {
            return Ok(empty_response(304, vec![("ETag".into(), etag)]));
        }
        let body = representation(&state, call, set, row, &query);
        let mut response = json_response(200, &body);
        response.headers.push(("ETag".into(), etag));
        Ok(response)
    }

    /// The page size of a request.
    fn page_size(&self, call: &Call<'_>) -> usize {
        call.prefer
            .max_page_size
            .unwrap_or(self.options.page_size)
            .max(1)
    }

    /// `GET /<set>` with `$filter`, `$select`, `$expand`, `$orderby`, `$top`, `$count` and paging; or a
    /// change-tracking read.
    fn list(&self, call: &Call<'_>, set: &'static EntitySet) -> Result<Response, ApiError> {
        let query = QueryOptions::parse(&call.params, set, COLLECTION).map_err(ApiError::query)?;
        let tracked = call.prefer.track_changes
            || query.deltatoken.is_some()
            || query
                .skiptoken
                .as_deref()
                .is_some_and(|token| token.starts_with("track!"));
        if tracked {
            return self.delta(call, set, &query);
        }
        let offset: usize = match &query.skiptoken {
            Some(token) => token
                .parse()
                .map_err(|_| ApiError::query(format!("The $skiptoken '{token}' is not valid.")))?,
            None => 0,
        };
        let state = lock(&self.state);
        let mut matching: Vec<&Value> = state
            .tables
            .get(set.name)
            .map(|table| {
                table
                    .order
                    .iter()
                    .filter_map(|id| table.rows.get(id))
                    .filter(|row| query.matches(row))
                    .collect()
            })
            .unwrap_or_default();
        if !query.orderby.is_empty() {
            matching.sort_by(|a, b| query.compare(a, b));
        }
        let total = matching.len();
        matching.truncate(query.top.unwrap_or(usize::MAX));
        let start = offset.min(matching.len());
        let end = start
            .saturating_add(self.page_size(call))
            .min(matching.len());
        let page: Vec<Value> = matching[start..end]
            .iter()
            .map(|row| Value::Object(shape(&state, set, row, &query)))
            .collect();

        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            Value::String(call.context(set, &query, "")),
        );
        if query.count {
            body.insert("@odata.count".into(), Value::from(total));
        }
        body.insert("value".into(), Value::Array(page));
        if end < matching.len() {
            let link = link(call, set, &[("$skiptoken", end.to_string())], true);
            body.insert("@odata.nextLink".into(), Value::String(link));
        }
        let mut response = json_response(200, &Value::Object(body));
        if let Some(size) = call.prefer.max_page_size {
            response.headers.push((
                "Preference-Applied".into(),
                format!("odata.maxpagesize={size}"),
            ));
        }
        Ok(response)
    }

    /// A change-tracking read: the initial one (`Prefer: odata.track-changes`, every row), a delta link (rows
    /// changed and deleted since its token), or a later page of either.
    fn delta(
        &self,
        call: &Call<'_>,
        set: &'static EntitySet,
        query: &QueryOptions,
    ) -> Result<Response, ApiError> {
        if !query.filter.is_empty()
            || !query.orderby.is_empty()
            || !query.expand.is_empty()
            || query.top.is_some()
            || query.count
        {
            return Err(ApiError::query(
                "The query options $filter, $orderby, $expand, $top and $count cannot be used with change tracking \
                 (Prefer: odata.track-changes, $deltatoken); use $select only.",
            ));
        }
        let state = lock(&self.state);
        let cursor = match (&query.skiptoken, &query.deltatoken) {
            (Some(token), _) => Cursor::parse(token)
                .filter(|cursor| cursor.snapshot <= state.version)
                .ok_or_else(|| {
                    ApiError::query(format!("The $skiptoken '{token}' is not valid."))
                })?,
            (None, Some(token)) => {
                let since = token
                    .split('!')
                    .next()
                    .and_then(|version| version.parse::<u64>().ok())
                    .filter(|version| *version <= state.version)
                    .ok_or_else(|| {
                        ApiError::query(format!(
                            "The $deltatoken '{token}' is not valid or has expired."
                        ))
                    })?;
                Cursor {
                    since: Some(since),
                    after: since,
                    snapshot: state.version,
                }
            }
            (None, None) => Cursor {
                since: None,
                after: 0,
                snapshot: state.version,
            },
        };
        let in_range = |version: u64| version > cursor.after && version <= cursor.snapshot;
        let mut changes: Vec<(u64, Value)> = state
            .tables
            .get(set.name)
            .map(|table| {
                table
                    .rows
                    .values()
                    .filter_map(|row| {
                        let version = row.get("versionnumber").and_then(Value::as_u64)?;
                        in_range(version)
                            .then(|| (version, Value::Object(shape(&state, set, row, query))))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if cursor.since.is_some() {
            let context = format!("{}/$metadata#{}/$deletedEntity", call.api_url, set.name);
            changes.extend(
                state
                    .tombstones
                    .iter()
                    .filter(|tombstone| tombstone.set == set.name && in_range(tombstone.version))
                    .map(|tombstone| {
                        (
                            tombstone.version,
                            serde_json::json!({"@odata.context": context, "id": tombstone.id,
                                               "reason": "deleted"}),
                        )
                    }),
            );
        }
        changes.sort_by_key(|(version, _)| *version);
        let size = self.page_size(call);
        let more = changes.len() > size;
        changes.truncate(size);

        let mut body = Map::new();
        body.insert(
            "@odata.context".into(),
            Value::String(call.context(set, query, "/$delta")),
        );
        let last = changes.last().map(|(version, _)| *version);
        body.insert(
            "value".into(),
            Value::Array(changes.into_iter().map(|(_, change)| change).collect()),
        );
        if more {
            let next = Cursor {
                after: last.unwrap_or(cursor.after),
                ..cursor
            };
            let link = link(call, set, &[("$skiptoken", next.token())], false);
            body.insert("@odata.nextLink".into(), Value::String(link));
        } else {
            let token = delta_token(cursor.snapshot, now_ticks());
            let link = link(call, set, &[("$deltatoken", token)], false);
            body.insert("@odata.deltaLink".into(), Value::String(link));
        }
        let mut response = json_response(200, &Value::Object(body));
        let mut applied = Vec::new();
        if call.prefer.track_changes {
            applied.push("odata.track-changes".to_owned());
        }
        if let Some(size) = call.prefer.max_page_size {
            applied.push(format!("odata.maxpagesize={size}"));
        }
        if !applied.is_empty() {
            response
                .headers
                .push(("Preference-Applied".into(), applied.join(",")));
        }
        Ok(response)
    }

    /// `POST /<set>`: a create; the id is the body's key column or a new GUID.
    fn create(
        &self,
        call: &Call<'_>,
        set: &'static EntitySet,
        faults: &Mutex<Faults>,
    ) -> Result<Reply, ApiError> {
        let query = QueryOptions::parse(&call.params, set, SINGLE).map_err(ApiError::query)?;
        let body = parse_object(&call.request.body)?;
        let mut state = lock(&self.state);
        let id = match body.get(set.key) {
            None | Some(Value::Null) => state.ids.guid(),
            Some(Value::String(id)) if is_guid(id) => id.to_ascii_lowercase(),
            Some(other) => {
                return Err(ApiError::payload(format!(
                    "The value {other} of '{}' is not a GUID.",
                    set.key
                )));
            }
        };
        if state.get(set, &id).is_some() {
            return Err(ApiError::exists());
        }
        let mut row = Map::new();
        apply_changes(&state, set, &id, &mut row, body)?;
        add_defaults(&state, set, &mut row);
        let stored = state.commit(set, &id, row, true);
        let answer = call
            .prefer
            .representation
            .then(|| representation(&state, call, set, &stored, &query));
        drop(state);
        if lock(faults).take_lost_create() {
            return Ok(Reply::Drop);
        }
        let entity_id = ("OData-EntityId".to_owned(), call.row_url(set, &id));
        Ok(Reply::Respond(match answer {
            Some(body) => {
                let mut response = json_response(201, &body);
                response.headers.push(entity_id);
                response
            }
            None => empty_response(204, vec![entity_id]),
        }))
    }

    /// `PATCH /<set>(<id>)`: an update, or an upsert when the row does not exist (unless `If-Match`);
    /// `If-None-Match: *` makes it create-only.
    fn patch(
        &self,
        call: &Call<'_>,
        set: &'static EntitySet,
        id: &str,
    ) -> Result<Response, ApiError> {
        let query = QueryOptions::parse(&call.params, set, SINGLE).map_err(ApiError::query)?;
        let body = parse_object(&call.request.body)?;
        let id = id.to_ascii_lowercase();
        let mut state = lock(&self.state);
        let current = state.get(set, &id).cloned();
        match &current {
            Some(row) => {
                if call
                    .request
                    .header("If-None-Match")
                    .is_some_and(|value| value.trim() == "*")
                {
                    return Err(ApiError::exists());
                }
                if let Some(if_match) = call.request.header("If-Match") {
                    if !etag_matches(if_match, row) {
                        return Err(ApiError::stale());
                    }
                }
            }
            None if call.request.header("If-Match").is_some() => {
                return Err(ApiError::not_found(set, &id));
            }
            None => {}
        }
        let creating = current.is_none();
        let mut row = match current {
            Some(Value::Object(fields)) => fields,
            _ => Map::new(),
        };
        apply_changes(&state, set, &id, &mut row, body)?;
        if creating {
            add_defaults(&state, set, &mut row);
        }
        let stored = state.commit(set, &id, row, creating);
        let entity_id = ("OData-EntityId".to_owned(), call.row_url(set, &id));
        if call.prefer.representation {
            let body = representation(&state, call, set, &stored, &query);
            let mut response = json_response(200, &body);
            response.headers.push(entity_id);
            return Ok(response);
        }
        Ok(empty_response(204, vec![entity_id]))
    }

    /// `DELETE /<set>(<id>)`, `If-Match` honoured.
    fn delete(
        &self,
        call: &Call<'_>,
        set: &'static EntitySet,
        id: &str,
    ) -> Result<Response, ApiError> {
        let mut state = lock(&self.state);
        let row = state
            .get(set, id)
            .ok_or_else(|| ApiError::not_found(set, id))?;
        if let Some(if_match) = call.request.header("If-Match") {
            if !etag_matches(if_match, row) {
                return Err(ApiError::stale());
            }
        }
        state.remove(set, id);
        Ok(empty_response(204, Vec::new()))
    }

    /// `POST /WinOpportunity` (Status 3) or `/LoseOpportunity` (Status 4 or 5).
    fn close(&self, call: &Call<'_>, won: bool) -> Result<Response, ApiError> {
        let action = if won {
            "WinOpportunity"
        } else {
            "LoseOpportunity"
        };
        let body = parse_object(&call.request.body)?;
        let status = body.get("Status").and_then(Value::as_i64).ok_or_else(|| {
            ApiError::payload(format!("{action} needs an integer 'Status' parameter."))
        })?;
        let reference = body
            .get("OpportunityClose")
            .and_then(Value::as_object)
            .and_then(|close| close.get("opportunityid@odata.bind"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ApiError::payload(format!(
                    "{action} needs an 'OpportunityClose' object with 'opportunityid@odata.bind': \
                     '/opportunities(<guid>)'."
                ))
            })?;
        let opportunities = entity_set("opportunities").unwrap_or(&ENTITY_SETS[0]);
        let id = match parse_reference(reference) {
            Some((set, id)) if set == opportunities.name => id,
            _ => {
                return Err(ApiError::payload(format!(
                    "'{reference}' is not a reference to an opportunity ('/opportunities(<guid>)')."
                )));
            }
        };
        let (statecode, allowed, state_name): (i64, &[i64], &str) = if won {
            (1, &[3], "Won")
        } else {
            (2, &[4, 5], "Lost")
        };
        if !allowed.contains(&status) {
            return Err(ApiError::state(format!(
                "{status} is not a valid status code for state code OpportunityState.{state_name} on opportunity \
                 with Id {id}."
            )));
        }
        let mut state = lock(&self.state);
        let row = state
            .get(opportunities, &id)
            .ok_or_else(|| ApiError::not_found(opportunities, &id))?;
        if row.get("statecode").and_then(Value::as_i64).unwrap_or(0) != 0 {
            return Err(ApiError::state(format!(
                "The opportunity with Id {id} is already closed; it cannot be closed again."
            )));
        }
        let mut fields = row.as_object().cloned().unwrap_or_default();
        fields.insert("statecode".into(), Value::from(statecode));
        fields.insert("statuscode".into(), Value::from(status));
        state.commit(opportunities, &id, fields, false);
        Ok(empty_response(204, Vec::new()))
    }
}

/// A row as answered: shaped by the options, with `@odata.context`.
fn representation(
    state: &State,
    call: &Call<'_>,
    set: &'static EntitySet,
    row: &Value,
    query: &QueryOptions,
) -> Value {
    let mut body = shape(state, set, row, query);
    body.insert(
        "@odata.context".into(),
        Value::String(call.context(set, query, "/$entity")),
    );
    Value::Object(body)
}

/// Now, in ticks of 100 ns, for the time part of a delta token.
fn now_ticks() -> i64 {
    i64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 100).unwrap_or(0)
}

/// A link to the same collection with `$select` kept (and, when `keep_all`, every other option but the paging
/// tokens) and the given tokens.
fn link(call: &Call<'_>, set: &EntitySet, tokens: &[(&str, String)], keep_all: bool) -> String {
    let mut parts: Vec<String> = call
        .params
        .iter()
        .filter(|(name, _)| name != "$skiptoken" && name != "$deltatoken")
        .filter(|(name, _)| keep_all || name == "$select")
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .chain(tokens.iter().map(|(name, value)| (*name, value.as_str())))
        .map(|(name, value)| {
            format!(
                "{}={}",
                odata::encode(name),
                odata::encode(value).replace("%2C", ",")
            )
        })
        .collect();
    if parts.is_empty() {
        parts.push(String::new());
    }
    format!("{}/{}?{}", call.api_url, set.name, parts.join("&"))
}

/// Whether an `If-Match` value (`*`, or one or more etags) holds for a row.
fn etag_matches(if_match: &str, row: &Value) -> bool {
    let etag = row
        .get("@odata.etag")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if_match.split(',').any(|tag| {
        let tag = tag.trim();
        tag == "*" || tag == etag
    })
}

/// Parses an addressed path segment: `<set>`, `<set>(<guid>)`, or an action.
fn parse_target(segment: &str) -> Result<Target<'_>, ApiError> {
    let action = segment
        .strip_prefix("Microsoft.Dynamics.CRM.")
        .unwrap_or(segment);
    match action {
        "WinOpportunity" => return Ok(Target::Close(true)),
        "LoseOpportunity" => return Ok(Target::Close(false)),
        _ => {}
    }
    let (name, key) = match segment.split_once('(') {
        Some((name, rest)) => {
            let key = rest
                .strip_suffix(')')
                .ok_or_else(|| ApiError::query("Bad Request - Error in query syntax."))?;
            (name, Some(key))
        }
        None => (segment, None),
    };
    let set = entity_set(name).ok_or_else(|| ApiError::no_segment(name))?;
    match key {
        None => Ok(Target::Collection(set)),
        Some(key) => {
            let key = key
                .strip_prefix(set.key)
                .and_then(|k| k.strip_prefix('='))
                .unwrap_or(key);
            if is_guid(key) {
                Ok(Target::Row(set, key))
            } else {
                Err(ApiError::query(format!(
                    "Bad Request - Error in query syntax: '{key}' is not a GUID (alternate keys are not emulated)."
                )))
            }
        }
    }
}

/// Parses an `@odata.bind` reference (`/accounts(<guid>)`, `accounts(<guid>)` or an absolute URL) into the entity
/// set and lower-case id.
fn parse_reference(reference: &str) -> Option<(&str, String)> {
    let last = reference.rsplit('/').next()?;
    let (set, rest) = last.split_once('(')?;
    let id = rest.strip_suffix(')')?;
    is_guid(id).then(|| (set, id.to_ascii_lowercase()))
}

/// Applies a written body to a row: columns, `@odata.bind` lookups; refuses read-only columns and opportunity
/// state changes that need the close actions.
fn apply_changes(
    state: &State,
    set: &EntitySet,
    id: &str,
    row: &mut Map<String, Value>,
    body: Map<String, Value>,
) -> Result<(), ApiError> {
    let opportunity = set.name == "opportunities";
    let closed = opportunity && row.get("statecode").and_then(Value::as_i64).unwrap_or(0) != 0;
    for (name, value) in body {
        if let Some(nav) = name.strip_suffix("@odata.bind") {
            let lookup = LOOKUPS.iter().find(|lookup| lookup.nav == nav).ok_or_else(|| {
                ApiError::payload(format!(
                    "An undeclared property '{nav}' which only has property annotations in the payload but no \
                     property value was found in the payload."
                ))
            })?;
            let reference = value.as_str().ok_or_else(|| {
                ApiError::payload(format!(
                    "'{name}' must be a reference such as '/{}(<guid>)', not {value}.",
                    lookup.target
                ))
            })?;
            let (target_name, target_id) = parse_reference(reference)
                .filter(|(target_name, _)| *target_name == lookup.target)
                .ok_or_else(|| {
                    ApiError::payload(format!(
                        "'{name}' must be a reference such as '/{}(<guid>)', not '{reference}'.",
                        lookup.target
                    ))
                })?;
            let target = entity_set(target_name).unwrap_or(set);
            if state.get(target, &target_id).is_none() {
                return Err(ApiError::new(
                    400,
                    "0x80040217",
                    format!("{} With Id = {target_id} Does Not Exist", target.logical),
                ));
            }
            row.insert(lookup.column.to_owned(), Value::String(target_id));
            continue;
        }
        if name.contains('@') {
            return Err(ApiError::payload(format!(
                "The annotation '{name}' cannot be written (only '<lookup>@odata.bind')."
            )));
        }
        if name == set.key {
            if value
                .as_str()
                .is_some_and(|given| given.eq_ignore_ascii_case(id))
            {
                continue;
            }
            return Err(ApiError::payload(format!(
                "The key column '{name}' is read-only: {value} differs from the addressed id {id}."
            )));
        }
        if READ_ONLY.contains(&name.as_str()) {
            return Err(ApiError::payload(format!(
                "The column '{name}' is read-only."
            )));
        }
        if name.starts_with('_') && name.ends_with("_value") {
            return Err(ApiError::payload(format!(
                "CRM do not support direct update of Entity Reference properties, Use Navigation properties \
                 instead ('{name}': write '<lookup>@odata.bind')."
            )));
        }
        if is_lookup_name(&name) {
            return Err(ApiError::payload(format!(
                "'{name}' is a lookup: write it as '{name}@odata.bind' (deep inserts are not emulated)."
            )));
        }
        if opportunity && (name == "statecode" || name == "statuscode") {
            check_opportunity_state(closed, &name, &value)?;
        }
        row.insert(name, value);
    }
    Ok(())
}

/// Refuses a written `statecode`/`statuscode` of an opportunity unless it keeps it open (state 0, status 1 or 2).
fn check_opportunity_state(closed: bool, name: &str, value: &Value) -> Result<(), ApiError> {
    if closed {
        return Err(ApiError::state(format!(
            "The opportunity is closed: its '{name}' cannot be written (reopening is not emulated)."
        )));
    }
    let number = value.as_i64();
    let allowed = match name {
        "statecode" => number == Some(0),
        _ => matches!(number, Some(1 | 2)),
    };
    if allowed {
        return Ok(());
    }
    if matches!(
        (name, number),
        ("statecode", Some(1 | 2)) | ("statuscode", Some(3..=5))
    ) {
        return Err(ApiError::state(format!(
            "'{name}' {value} closes the opportunity: use the WinOpportunity or LoseOpportunity action."
        )));
    }
    Err(ApiError::state(format!(
        "{value} is not a valid '{name}' for an open opportunity."
    )))
}

/// Fills what Dataverse fills on a create: `statecode` 0 and `statuscode` 1, and for an opportunity without a
/// currency, the base currency (USD).
fn add_defaults(state: &State, set: &EntitySet, row: &mut Map<String, Value>) {
    row.entry("statecode").or_insert(Value::from(0));
    row.entry("statuscode").or_insert(Value::from(1));
    let currencies = entity_set("transactioncurrencies");
    if set.name == "opportunities"
        && !row.contains_key("_transactioncurrencyid_value")
        && currencies.is_some_and(|currencies| state.get(currencies, USD_CURRENCY_ID).is_some())
    {
        row.insert(
            "_transactioncurrencyid_value".into(),
            Value::String(USD_CURRENCY_ID.into()),
        );
    }
}

/// A row shaped by `$select` (the key and `@odata.etag` always, selected columns absent from the row as `null`)
/// and `$expand` (the related row's key and selected columns, next to the lookup's `_..._value`).
fn shape(state: &State, set: &EntitySet, row: &Value, query: &QueryOptions) -> Map<String, Value> {
    let mut out = match &query.select {
        None => row.as_object().cloned().unwrap_or_default(),
        Some(columns) => {
            let mut out = Map::new();
            for column in ["@odata.etag", set.key]
                .iter()
                .copied()
                .chain(columns.iter().map(String::as_str))
            {
                out.insert(
                    column.to_owned(),
                    row.get(column).cloned().unwrap_or(Value::Null),
                );
            }
            out
        }
    };
    for expand in &query.expand {
        let related_id = row
            .get(expand.lookup.column)
            .cloned()
            .unwrap_or(Value::Null);
        let related = entity_set(expand.lookup.target).and_then(|target| {
            let related = state.get(target, related_id.as_str()?)?;
            Some(match &expand.select {
                None => related.clone(),
                Some(columns) => {
                    let mut out = Map::new();
                    for column in
                        std::iter::once(target.key).chain(columns.iter().map(String::as_str))
                    {
                        out.insert(
                            column.to_owned(),
                            related.get(column).cloned().unwrap_or(Value::Null),
                        );
                    }
                    Value::Object(out)
                }
            })
        });
        out.insert(expand.lookup.column.to_owned(), related_id);
        out.insert(expand.lookup.nav.to_owned(), related.unwrap_or(Value::Null));
    }
    out
}

/// Parses a JSON object body.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Ok(fields),
        Ok(_) => Err(ApiError::payload("The request body must be a JSON object.")),
        Err(error) => Err(ApiError::payload(format!(
            "The request body is not valid JSON: {error}."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn targets_parse() {
        assert!(
            matches!(parse_target("opportunities"), Ok(Target::Collection(set)) if set.key == "opportunityid")
        );
        assert!(matches!(
            parse_target("leads(00000000-0000-0000-0000-0000000000a1)"),
            Ok(Target::Row(set, "00000000-0000-0000-0000-0000000000a1")) if set.name == "leads"
        ));
        assert!(matches!(
            parse_target("Microsoft.Dynamics.CRM.WinOpportunity"),
            Ok(Target::Close(true))
        ));
        assert_eq!(
            parse_target("contacts")
                .map(|_| ())
                .expect_err("an error")
                .status,
            404
        );
        assert_eq!(
            parse_target("accounts(abc)")
                .map(|_| ())
                .expect_err("an error")
                .status,
            400
        );
    }

    #[test]
    fn references_and_tokens() {
        assert_eq!(
            parse_reference(
                "https://x/api/data/v9.2/accounts(00000000-0000-0000-0000-00000000A001)"
            ),
            Some((
                "accounts",
                "00000000-0000-0000-0000-00000000a001".to_owned()
            ))
        );
        assert_eq!(parse_reference("/accounts(1)"), None);
        let cursor = Cursor::parse("track!i!3!9").expect("parses");
        assert_eq!((cursor.since, cursor.after, cursor.snapshot), (None, 3, 9));
        assert_eq!(
            Cursor::parse(
                &Cursor {
                    since: Some(2),
                    ..cursor
                }
                .token()
            )
            .map(|c| c.since),
            Some(Some(2))
        );
        let ticks = parse_ticks("2017-08-22T08:10:44Z").expect("a time");
        assert_eq!(delta_token(919_042, ticks), "919042!08/22/2017 08:10:44");
        assert_eq!(format_seconds(ticks), "2017-08-22T08:10:44Z");
    }

    #[test]
    fn opportunity_states() {
        assert!(check_opportunity_state(false, "statuscode", &json!(2)).is_ok());
        assert!(check_opportunity_state(false, "statecode", &json!(0)).is_ok());
        assert!(check_opportunity_state(false, "statecode", &json!(1)).is_err());
        assert!(check_opportunity_state(false, "statuscode", &json!(3)).is_err());
        assert!(check_opportunity_state(true, "statuscode", &json!(1)).is_err());
    }
}
