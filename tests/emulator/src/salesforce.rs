//! The Salesforce REST API (`/services/data/v60.0/`), as described in `docs/DOMAIN.md` §5: sObject rows of
//! `Opportunity` and `Lead` read (`?fields=`), created (POST), updated (PATCH with `If-Unmodified-Since`), deleted,
//! upserted by external id (`PATCH /sobjects/Opportunity/Referral_Identifier__c/{value}`, 300 on several
//! matches); SOQL queries paged with `nextRecordsUrl`; the `updated`/`deleted` change feeds; bearer authentication,
//! the daily API limit (403 `REQUEST_LIMIT_EXCEEDED`) and the `[{"message", "errorCode", "fields"}]` error bodies.
//!
//! Records are stored as JSON fields (no schema); the emulator manages `Id` (18-character ids with the object's key
//! prefix), `CreatedDate`, `LastModifiedDate` and `SystemModstamp` (`2026-10-20T10:15:42.000+0000`; every write
//! lands in a later second of the emulated clock), `IsDeleted`, and for opportunities `IsClosed`/`IsWon` (from
//! `StageName` `Closed Won`/`Closed Lost`).

mod soql;

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use crate::clock::Ids;
use crate::faults::{Faults, Injected};
use crate::odata;
use crate::server::{Incoming, Reply, RequestRecord, Response, Server, Service, lock};
use crate::table::Table;
use soql::Query;

/// The `Content-Type` of JSON answers.
const JSON_TYPE: &str = "application/json;charset=UTF-8";

/// Seconds in a day.
const DAY: i64 = 86_400;

/// An emulated sObject type.
#[derive(Debug)]
struct SObject {
    /// The API name (`Opportunity`).
    name: &'static str,
    /// The key prefix of its ids (`006`).
    prefix: &'static str,
    /// Fields a create must set.
    required: &'static [&'static str],
}

/// The emulated sObject types.
static SOBJECTS: [SObject; 2] = [
    SObject {
        name: "Opportunity",
        prefix: "006",
        required: &["Name", "CloseDate", "StageName"],
    },
    SObject {
        name: "Lead",
        prefix: "00Q",
        required: &["LastName", "Company"],
    },
];

/// The sObject type of this API name (case-insensitive, as Salesforce resolves names).
fn sobject(name: &str) -> Option<&'static SObject> {
    SOBJECTS
        .iter()
        .find(|object| object.name.eq_ignore_ascii_case(name))
}

/// Fields the service manages; a write may not set them.
const READ_ONLY: [&str; 7] = [
    "Id",
    "LastModifiedDate",
    "SystemModstamp",
    "CreatedDate",
    "IsClosed",
    "IsWon",
    "IsDeleted",
];

/// Fields flagged External ID (besides `Id`), usable in upsert and read-by-external-id paths.
const EXTERNAL_IDS: [&str; 1] = ["Referral_Identifier__c"];

/// How a [`Salesforce`] emulator behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesforceOptions {
    /// The bearer token every request must carry (`Authorization: Bearer <token>`). Default `test-token`.
    pub token: String,
    /// The API version in paths (`/services/data/v60.0/`). Default `v60.0`; other versions answer 404.
    pub api_version: String,
    /// Records per SOQL page (`nextRecordsUrl` while more remain). Default 200; 0 counts as 1.
    pub page_size: usize,
    /// The port to listen on at 127.0.0.1; 0 (the default) takes any free port.
    pub port: u16,
    /// **Unconfirmed** (`docs/DOMAIN.md` §5.8): when `Some(limit)`, every answer carries
    /// `Sforce-Limit-Info: api-usage=<used>/<limit>`. Default `None` (no header).
    pub limit_info: Option<u64>,
}

impl Default for SalesforceOptions {
    fn default() -> SalesforceOptions {
        SalesforceOptions {
            token: "test-token".to_owned(),
            api_version: "v60.0".to_owned(),
            page_size: 200,
            port: 0,
            limit_info: None,
        }
    }
}

/// A running Salesforce REST API emulator on 127.0.0.1. It stops, closing its connections, when dropped.
///
/// The API is under `{base_url}/services/data/v60.0/`. The methods other than [`Salesforce::start`] act on the
/// server's state directly, as a CRM user would, for test setup and assertions.
#[derive(Debug)]
pub struct Salesforce {
    /// The HTTP side.
    server: Server,
    /// The records and the rules.
    service: Arc<Org>,
}

impl Salesforce {
    /// Starts the emulator on `127.0.0.1:{options.port}` with no records.
    pub fn start(options: SalesforceOptions) -> io::Result<Salesforce> {
        let service = Arc::new(Org::new(options));
        let server = Server::start(
            service.options.port,
            &(Arc::clone(&service) as Arc<dyn Service>),
        )?;
        Ok(Salesforce { server, service })
    }

    /// The instance URL `http://127.0.0.1:PORT`; the API is under `/services/data/v60.0/`.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// `/services/data/v60.0` (with the configured version).
    pub fn api_path(&self) -> String {
        self.service.api_path()
    }

    /// Stores records of an sObject type (`Opportunity`, `Lead`) as given (`bench/workload.py`'s
    /// `salesforce_v1.jsonl` rows work): `attributes` is dropped (answers rebuild it), `Id` is generated when
    /// missing, a record whose `Id` is already stored replaces it. `LastModifiedDate`, `SystemModstamp` and
    /// `CreatedDate` are kept when given (later writes get later stamps) or set to the emulated clock.
    ///
    /// # Panics
    /// If the sObject type is not emulated or a row is not a JSON object (a mistake in the test).
    pub fn seed(&self, sobject_name: &str, rows: Vec<Value>) {
        let object = sobject(sobject_name).unwrap_or_else(|| {
            panic!("Salesforce::seed: '{sobject_name}' is not an emulated sObject type")
        });
        let mut state = lock(&self.service.state);
        for row in rows {
            let Value::Object(mut fields) = row else {
                panic!("Salesforce::seed: a row must be a JSON object, not {row}");
            };
            fields.remove("attributes");
            let id = match fields.get("Id").and_then(Value::as_str) {
                Some(id) => id.to_owned(),
                None => state.new_id(object),
            };
            for stamp in ["LastModifiedDate", "SystemModstamp", "CreatedDate"] {
                if let Some(millis) = fields
                    .get(stamp)
                    .and_then(Value::as_str)
                    .and_then(parse_datetime_millis)
                {
                    state.observe(millis.div_euclid(1000));
                }
            }
            let now = format_seconds(state.now());
            for stamp in ["LastModifiedDate", "SystemModstamp", "CreatedDate"] {
                let stamp_value = fields
                    .get("LastModifiedDate")
                    .filter(|_| stamp != "LastModifiedDate")
                    .cloned()
                    .unwrap_or_else(|| Value::String(now.clone()));
                fields.entry(stamp).or_insert(stamp_value);
            }
            fields.insert("Id".into(), Value::String(id.clone()));
            fields.entry("IsDeleted").or_insert(Value::Bool(false));
            derive_fields(object, &mut fields);
            state.table(object).insert(id, Value::Object(fields));
        }
    }

    /// The stored record of this type and id (18 characters, or its first 15), as a GET without `fields` answers
    /// it (with `attributes`).
    pub fn row(&self, sobject_name: &str, id: &str) -> Option<Value> {
        let object = sobject(sobject_name)?;
        let state = lock(&self.service.state);
        let (_, record) = state.find(object, id)?;
        Some(self.service.with_attributes(object, record))
    }

    /// Every stored record of a type, in creation (or seeding) order, with `attributes`.
    pub fn rows(&self, sobject_name: &str) -> Vec<Value> {
        let Some(object) = sobject(sobject_name) else {
            return Vec::new();
        };
        let state = lock(&self.service.state);
        state
            .tables
            .get(object.name)
            .map(|table| {
                table
                    .order
                    .iter()
                    .filter_map(|id| table.rows.get(id))
                    .map(|record| self.service.with_attributes(object, record))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Changes a record "as a CRM user would", server-side and without any check, then sets `LastModifiedDate`
    /// and `SystemModstamp` to a new second of the emulated clock (so it shows in the `updated` feed). `Id` cannot
    /// be changed. Returns `false` when no record has this id.
    pub fn edit(&self, sobject_name: &str, id: &str, f: impl FnOnce(&mut Value)) -> bool {
        let Some(object) = sobject(sobject_name) else {
            return false;
        };
        let mut state = lock(&self.service.state);
        let Some((id, record)) = state.find(object, id) else {
            return false;
        };
        let (id, mut record) = (id.to_owned(), record.clone());
        f(&mut record);
        let mut fields = match record {
            Value::Object(fields) => fields,
            _ => Map::new(),
        };
        fields.remove("attributes");
        state.commit(object, &id, fields, false);
        true
    }

    /// Deletes a record "as a CRM user would"; it shows in the `deleted` feed. Returns `false` when no record
    /// has this id.
    pub fn delete(&self, sobject_name: &str, id: &str) -> bool {
        let Some(object) = sobject(sobject_name) else {
            return false;
        };
        lock(&self.service.state).remove(object, id)
    }

    /// Forgets every deletion so far, as when the recycle bin is emptied: the `deleted` feed then answers an
    /// `earliestDateAvailable` of now, telling a client whose `start` is earlier to resynchronize fully.
    pub fn purge_deleted(&self) {
        let mut state = lock(&self.service.state);
        state.tombstones.clear();
        state.earliest_deleted = Some(state.now());
    }

    /// Sets how many API calls the org has left today: `None` (the default) is unlimited; `Some(0)` answers every
    /// authenticated request 403 `REQUEST_LIMIT_EXCEEDED`; each answered request decrements `Some(n)`.
    pub fn set_api_calls_left(&self, n: Option<u64>) {
        lock(&self.service.limits).left = n;
    }

    /// The API calls left (`None` when unlimited).
    pub fn api_calls_left(&self) -> Option<u64> {
        lock(&self.service.limits).left
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

/// Sets the fields Salesforce derives: `IsClosed`/`IsWon` of an opportunity from its `StageName` (the default
/// org's `Closed Won` / `Closed Lost`).
fn derive_fields(object: &SObject, fields: &mut Map<String, Value>) {
    if object.name != "Opportunity" {
        return;
    }
    let stage = fields
        .get("StageName")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (closed, won) = match stage {
        "Closed Won" => (true, true),
        "Closed Lost" => (true, false),
        _ => (false, false),
    };
    fields.insert("IsClosed".into(), Value::Bool(closed));
    fields.insert("IsWon".into(), Value::Bool(won));
}

/// The `OffsetDateTime` of seconds since the Unix epoch.
fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(seconds).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Formats seconds as Salesforce writes datetimes: `2026-10-20T10:15:42.000+0000`.
pub(crate) fn format_seconds(seconds: i64) -> String {
    let at = at(seconds);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000+0000",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Parses an ISO 8601 datetime as Salesforce writes or accepts it (`2026-10-20T10:15:42.000+0000`,
/// `2026-10-20T10:15:42Z`, `...+00:00`) into milliseconds since the epoch.
pub(crate) fn parse_datetime_millis(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let normalized = if bytes.len() > 5
        && matches!(bytes[bytes.len() - 5], b'+' | b'-')
        && bytes[bytes.len() - 4..].iter().all(u8::is_ascii_digit)
    {
        format!("{}:{}", &text[..text.len() - 2], &text[text.len() - 2..])
    } else {
        text.to_owned()
    };
    let at = OffsetDateTime::parse(&normalized, &Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

/// Parses an HTTP-date in the IMF-fixdate form (`Tue, 20 Oct 2026 10:15:42 GMT`) into seconds since the epoch.
pub(crate) fn parse_http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [weekday, day, month, year, clock, "GMT"] = parts.as_slice() else {
        return None;
    };
    let weekday = weekday.strip_suffix(',')?;
    let month = match *month {
        "Jan" => Month::January,
        "Feb" => Month::February,
        "Mar" => Month::March,
        "Apr" => Month::April,
        "May" => Month::May,
        "Jun" => Month::June,
        "Jul" => Month::July,
        "Aug" => Month::August,
        "Sep" => Month::September,
        "Oct" => Month::October,
        "Nov" => Month::November,
        "Dec" => Month::December,
        _ => return None,
    };
    if day.len() != 2 || year.len() != 4 || clock.len() != 8 {
        return None;
    }
    let date = Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    let mut hms = clock.split(':').map(str::parse::<u8>);
    let time = Time::from_hms(hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?).ok()?;
    let expected = &format!("{:?}", date.weekday())[..3];
    if weekday != expected {
        return None;
    }
    Some(
        PrimitiveDateTime::new(date, time)
            .assume_utc()
            .unix_timestamp(),
    )
}

/// A deleted record, for the `deleted` feed.
#[derive(Debug)]
struct Tombstone {
    /// The sObject type.
    object: &'static str,
    /// The record id.
    id: String,
    /// When it was deleted, in seconds since the epoch.
    at: i64,
}

/// Every record and the org's clock.
#[derive(Debug, Default)]
struct State {
    /// Tables by sObject name.
    tables: HashMap<&'static str, Table>,
    /// The last second handed out to a write or covered by a feed.
    last: i64,
    /// Id generation.
    counter: u64,
    /// Deletions, in order.
    tombstones: Vec<Tombstone>,
    /// When the deleted records were last purged (`None`: never).
    earliest_deleted: Option<i64>,
    /// SOQL cursors: the remaining records of each query, by locator.
    cursors: HashMap<String, Vec<Value>>,
}

impl State {
    /// The table of a type, created when first used.
    fn table(&mut self, object: &'static SObject) -> &mut Table {
        self.tables.entry(object.name).or_default()
    }

    /// The emulated now: the wall clock, or the last stamp handed out if that is later.
    fn now(&self) -> i64 {
        OffsetDateTime::now_utc().unix_timestamp().max(self.last)
    }

    /// Makes later writes land after `seconds`.
    fn observe(&mut self, seconds: i64) {
        self.last = self.last.max(seconds);
    }

    /// The stamp of a write: the wall clock's second, or a second after the last stamp if that is later, so
    /// successive writes land in distinct seconds (what `If-Unmodified-Since` can tell apart).
    fn tick(&mut self) -> i64 {
        self.last = OffsetDateTime::now_utc()
            .unix_timestamp()
            .max(self.last.saturating_add(1));
        self.last
    }

    /// A new 18-character id with the type's key prefix.
    fn new_id(&mut self, object: &'static SObject) -> String {
        const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        loop {
            self.counter += 1;
            let mut n = self.counter;
            let mut tail = [b'0'; 7];
            for slot in tail.iter_mut().rev() {
                *slot = BASE62[(n % 62) as usize];
                n /= 62;
            }
            let short = format!(
                "{}8d{}{}",
                object.prefix,
                "000",
                String::from_utf8_lossy(&tail)
            );
            let id = format!("{short}{}", id_suffix(&short));
            if self.find(object, &id).is_none() {
                return id;
            }
        }
    }

    /// A record by its 18-character id or the first 15 characters of it; returns the stored id too.
    fn find(&self, object: &SObject, id: &str) -> Option<(&str, &Value)> {
        let table = self.tables.get(object.name)?;
        if let Some((key, row)) = table.rows.get_key_value(id) {
            return Some((key.as_str(), row));
        }
        if id.len() == 15 {
            return table
                .order
                .iter()
                .find(|key| key.get(..15) == Some(id))
                .and_then(|key| table.rows.get_key_value(key.as_str()))
                .map(|(key, row)| (key.as_str(), row));
        }
        None
    }

    /// Stores a written record with new `LastModifiedDate` and `SystemModstamp` (and `CreatedDate` when
    /// `creating`).
    fn commit(
        &mut self,
        object: &'static SObject,
        id: &str,
        mut fields: Map<String, Value>,
        creating: bool,
    ) {
        let now = Value::String(format_seconds(self.tick()));
        fields.insert("Id".into(), Value::String(id.to_owned()));
        if creating {
            fields.insert("CreatedDate".into(), now.clone());
            fields.insert("IsDeleted".into(), Value::Bool(false));
        }
        fields.insert("LastModifiedDate".into(), now.clone());
        fields.insert("SystemModstamp".into(), now);
        derive_fields(object, &mut fields);
        self.table(object)
            .insert(id.to_owned(), Value::Object(fields));
    }

    /// Deletes a record, recording the deletion for the `deleted` feed.
    fn remove(&mut self, object: &'static SObject, id: &str) -> bool {
        let Some((id, _)) = self.find(object, id) else {
            return false;
        };
        let id = id.to_owned();
        let table = self.table(object);
        table.rows.remove(&id);
        table.order.retain(|kept| *kept != id);
        let at = self.tick();
        self.tombstones.push(Tombstone {
            object: object.name,
            id,
            at,
        });
        true
    }

    /// Whether a record of this id was deleted.
    fn was_deleted(&self, object: &SObject, id: &str) -> bool {
        self.tombstones.iter().any(|tombstone| {
            tombstone.object == object.name
                && (tombstone.id == id || (id.len() == 15 && tombstone.id.get(..15) == Some(id)))
        })
    }
}

/// The 3-character suffix that makes a 15-character id an 18-character one (case-insensitive) id.
fn id_suffix(short: &str) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    short
        .as_bytes()
        .chunks(5)
        .map(|chunk| {
            let bits = chunk
                .iter()
                .enumerate()
                .filter(|(_, c)| c.is_ascii_uppercase())
                .fold(0_usize, |bits, (i, _)| bits | (1 << i));
            char::from(ALPHABET[bits])
        })
        .collect()
}

/// An error answer: `[{"message", "errorCode", "fields"}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ApiError {
    /// The HTTP status.
    status: u16,
    /// The error code (`NOT_FOUND`, `INVALID_SESSION_ID`).
    code: &'static str,
    /// The message.
    message: String,
    /// The fields concerned (written only when `Some`).
    fields: Option<Vec<String>>,
    /// Extra headers (`Allow`, `Retry-After`).
    headers: Vec<(String, String)>,
}

impl ApiError {
    /// An error without fields or extra headers.
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: None,
            headers: Vec::new(),
        }
    }

    /// An error about some fields.
    fn with_fields(
        status: u16,
        code: &'static str,
        message: impl Into<String>,
        fields: Vec<String>,
    ) -> ApiError {
        ApiError {
            fields: Some(fields),
            ..ApiError::new(status, code, message)
        }
    }

    /// 404 `NOT_FOUND`.
    fn not_found() -> ApiError {
        ApiError::new(404, "NOT_FOUND", "The requested resource does not exist")
    }

    /// 400 `MALFORMED_QUERY`.
    fn malformed(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "MALFORMED_QUERY", message)
    }

    /// 400 `INVALID_REPLICATION_DATE`.
    fn replication(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "INVALID_REPLICATION_DATE", message)
    }

    /// The answer.
    fn response(&self) -> Response {
        let mut error = json!({"message": self.message, "errorCode": self.code});
        if let Some(fields) = &self.fields {
            error["fields"] = json!(fields);
        }
        let mut response = json_response(self.status, &json!([error]));
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

/// The API-usage counters.
#[derive(Debug, Default)]
struct Limits {
    /// Calls left today (`None`: unlimited).
    left: Option<u64>,
    /// Calls counted so far.
    used: u64,
}

/// The Salesforce org behind the HTTP plumbing.
#[derive(Debug)]
struct Org {
    /// How it behaves.
    options: SalesforceOptions,
    /// The records.
    state: Mutex<State>,
    /// The daily API limit.
    limits: Mutex<Limits>,
    /// Query locators.
    locators: Mutex<Ids>,
}

impl Service for Org {
    fn handle(&self, request: &Incoming, faults: &Mutex<Faults>) -> Reply {
        match self.route(request, faults) {
            Ok(Reply::Respond(response)) => Reply::Respond(self.decorate(response)),
            Ok(Reply::Drop) => Reply::Drop,
            Err(error) => Reply::Respond(self.decorate(error.response())),
        }
    }

    fn fault(&self, _request: &Incoming, fault: &Injected) -> Response {
        let (status, code, retry_after, message) = match fault {
            Injected::Throttle { retry_after } => (
                429,
                "REQUEST_LIMIT_EXCEEDED",
                retry_after.clone(),
                "Too many requests: retry after the time in Retry-After.",
            ),
            Injected::Unavailable { retry_after } => (
                503,
                "SERVER_UNAVAILABLE",
                retry_after.clone(),
                "Server temporarily unavailable. Retry after the time in Retry-After.",
            ),
            Injected::Drop => (
                500,
                "UNKNOWN_EXCEPTION",
                String::new(),
                "An injected drop reached the service.",
            ),
        };
        let mut error = ApiError::new(status, code, message);
        if !retry_after.is_empty() {
            error.headers.push(("Retry-After".into(), retry_after));
        }
        error.response()
    }
}

/// What a request addresses, below `/services/data/vXX.X/`.
#[derive(Debug, Clone)]
enum Target {
    /// `/sobjects/<type>`.
    Collection(&'static SObject),
    /// `/sobjects/<type>/<id>`.
    Row(&'static SObject, String),
    /// `/sobjects/<type>/<external id field>/<value>`.
    External(&'static SObject, String, String),
    /// `/sobjects/<type>/updated/`.
    Updated(&'static SObject),
    /// `/sobjects/<type>/deleted/`.
    Deleted(&'static SObject),
    /// `/query?q=`.
    Query,
    /// `/query/<locator>-<offset>`.
    QueryMore(String),
}

impl Org {
    /// An org with no records.
    fn new(options: SalesforceOptions) -> Org {
        Org {
            options,
            state: Mutex::new(State::default()),
            limits: Mutex::new(Limits::default()),
            locators: Mutex::new(Ids::with_stream(3)),
        }
    }

    /// `/services/data/v60.0`.
    fn api_path(&self) -> String {
        format!("/services/data/{}", self.options.api_version)
    }

    /// The relative URL of a record (`/services/data/v60.0/sobjects/Opportunity/006...`).
    fn record_url(&self, object: &SObject, id: &str) -> String {
        format!("{}/sobjects/{}/{id}", self.api_path(), object.name)
    }

    /// A stored record with `attributes` first.
    fn with_attributes(&self, object: &SObject, record: &Value) -> Value {
        let id = record["Id"].as_str().unwrap_or_default();
        let mut out = Map::new();
        out.insert(
            "attributes".into(),
            json!({"type": object.name, "url": self.record_url(object, id)}),
        );
        if let Value::Object(fields) = record {
            out.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Value::Object(out)
    }

    /// A record with `attributes` and only these fields (absent ones `null`).
    fn shaped(&self, object: &SObject, record: &Value, fields: &[String]) -> Value {
        let id = record["Id"].as_str().unwrap_or_default();
        let mut out = Map::new();
        out.insert(
            "attributes".into(),
            json!({"type": object.name, "url": self.record_url(object, id)}),
        );
        for field in fields {
            let (name, value) = record
                .as_object()
                .and_then(|all| {
                    all.iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(field))
                })
                .map_or((field.clone(), Value::Null), |(name, value)| {
                    (name.clone(), value.clone())
                });
            out.insert(name, value);
        }
        Value::Object(out)
    }

    /// Adds `Sforce-Limit-Info` when the option asks for it.
    fn decorate(&self, mut response: Response) -> Response {
        if let Some(limit) = self.options.limit_info {
            let used = lock(&self.limits).used;
            response.headers.push((
                "Sforce-Limit-Info".into(),
                format!("api-usage={used}/{limit}"),
            ));
        }
        response
    }

    /// Authenticates, counts the call against the limit, then dispatches by path and method.
    fn route(&self, request: &Incoming, faults: &Mutex<Faults>) -> Result<Reply, ApiError> {
        self.authorize(request)?;
        {
            let mut limits = lock(&self.limits);
            if limits.left == Some(0) {
                return Err(ApiError::new(
                    403,
                    "REQUEST_LIMIT_EXCEEDED",
                    "TotalRequests Limit exceeded.",
                ));
            }
            if let Some(left) = &mut limits.left {
                *left -= 1;
            }
            limits.used += 1;
        }
        let target = self.parse_target(&request.path)?;
        let params = odata::parse_query(&request.query).map_err(ApiError::malformed)?;
        let method = request.method.as_str();
        let respond = Reply::Respond;
        match (&target, method) {
            (Target::Collection(object), "POST") => self.create(request, object, faults),
            (Target::Row(object, id), "GET") => self.get(object, id, &params, request).map(respond),
            (Target::Row(object, id), "PATCH") => self.update(request, object, id).map(respond),
            (Target::Row(object, id), "DELETE") => self.delete(object, id).map(respond),
            (Target::External(object, field, value), "GET") => self
                .get_external(object, field, value, &params)
                .map(respond),
            (Target::External(object, field, value), "PATCH") => self
                .upsert(request, object, field, value, &params)
                .map(respond),
            (Target::Updated(object), "GET") => self.updated(object, &params).map(respond),
            (Target::Deleted(object), "GET") => self.deleted(object, &params).map(respond),
            (Target::Query, "GET") => self.query(&params).map(respond),
            (Target::QueryMore(locator), "GET") => self.query_more(locator).map(respond),
            (target, _) => {
                let allow = match target {
                    Target::Collection(_) => "POST",
                    Target::Row(..) => "GET, PATCH, DELETE",
                    Target::External(..) => "GET, PATCH",
                    _ => "GET",
                };
                let mut error = ApiError::new(
                    405,
                    "METHOD_NOT_ALLOWED",
                    format!("HTTP Method '{method}' not allowed. Allowed are {allow}"),
                );
                error.headers.push(("Allow".into(), allow.into()));
                Err(error)
            }
        }
    }

    /// Requires `Authorization: Bearer <token>` (401 `INVALID_SESSION_ID`).
    fn authorize(&self, request: &Incoming) -> Result<(), ApiError> {
        let token = request
            .header("Authorization")
            .map(str::trim)
            .and_then(|value| value.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("Bearer") || scheme == &"OAuth")
            .map(|(_, token)| token.trim());
        if token == Some(self.options.token.as_str()) {
            return Ok(());
        }
        Err(ApiError::new(
            401,
            "INVALID_SESSION_ID",
            "Session expired or invalid",
        ))
    }

    /// Parses the path below the API version.
    fn parse_target(&self, path: &str) -> Result<Target, ApiError> {
        let rest = path
            .strip_prefix(&self.api_path())
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(ApiError::not_found)?;
        let segments = rest
            .trim_end_matches('/')
            .split('/')
            .map(|segment| odata::decode(&segment.replace('+', "%2B")))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| ApiError::not_found())?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["query"] => Ok(Target::Query),
            ["query", locator] => Ok(Target::QueryMore((*locator).to_owned())),
            ["sobjects", name, tail @ ..] => {
                let object = sobject(name).ok_or_else(ApiError::not_found)?;
                match tail {
                    [] => Ok(Target::Collection(object)),
                    ["updated"] => Ok(Target::Updated(object)),
                    ["deleted"] => Ok(Target::Deleted(object)),
                    [id] => Ok(Target::Row(object, (*id).to_owned())),
                    [field, value] => {
                        let known = *field == "Id"
                            || EXTERNAL_IDS.iter().any(|k| k.eq_ignore_ascii_case(field));
                        if !known {
                            return Err(ApiError::new(
                                404,
                                "NOT_FOUND",
                                format!(
                                    "Provided external ID field does not exist or is not accessible: {field}"
                                ),
                            ));
                        }
                        let field = EXTERNAL_IDS
                            .iter()
                            .find(|k| k.eq_ignore_ascii_case(field))
                            .map_or("Id", |k| *k);
                        Ok(Target::External(
                            object,
                            field.to_owned(),
                            (*value).to_owned(),
                        ))
                    }
                    _ => Err(ApiError::not_found()),
                }
            }
            _ => Err(ApiError::not_found()),
        }
    }

    /// The 404 for a missing record: `ENTITY_IS_DELETED` when it was deleted, else `NOT_FOUND`.
    fn missing(state: &State, object: &SObject, id: &str) -> ApiError {
        if state.was_deleted(object, id) {
            ApiError::with_fields(404, "ENTITY_IS_DELETED", "entity is deleted", Vec::new())
        } else {
            ApiError::not_found()
        }
    }

    /// The `fields` parameter, split.
    fn fields_param(params: &[(String, String)]) -> Option<Vec<String>> {
        params
            .iter()
            .find(|(name, _)| name == "fields")
            .map(|(_, value)| {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|f| !f.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
    }

    /// A record as answered: all fields, or those of `?fields=`.
    fn answer_record(
        &self,
        object: &SObject,
        record: &Value,
        params: &[(String, String)],
    ) -> Value {
        match Self::fields_param(params) {
            Some(fields) => self.shaped(object, record, &fields),
            None => self.with_attributes(object, record),
        }
    }

    /// `GET /sobjects/<type>/<id>[?fields=A,B]`; `If-Modified-Since` not met answers 304.
    fn get(
        &self,
        object: &'static SObject,
        id: &str,
        params: &[(String, String)],
        request: &Incoming,
    ) -> Result<Response, ApiError> {
        let state = lock(&self.state);
        let (_, record) = state
            .find(object, id)
            .ok_or_else(|| Self::missing(&state, object, id))?;
        if let Some(since) = request.header("If-Modified-Since") {
            let since = parse_http_date(since).ok_or_else(|| {
                ApiError::new(
                    400,
                    "INVALID_HEADER",
                    "Invalid If-Modified-Since header value",
                )
            })?;
            if modified_seconds(record) <= since {
                return Ok(Response {
                    status: 304,
                    headers: Vec::new(),
                    body: Vec::new(),
                });
            }
        }
        Ok(json_response(
            200,
            &self.answer_record(object, record, params),
        ))
    }

    /// `GET /sobjects/<type>/<field>/<value>`: the one record with this external id (300 when several).
    fn get_external(
        &self,
        object: &'static SObject,
        field: &str,
        value: &str,
        params: &[(String, String)],
    ) -> Result<Response, ApiError> {
        let state = lock(&self.state);
        let matches = matching(&state, object, field, value);
        match matches.as_slice() {
            [] => Err(ApiError::not_found()),
            [id] => {
                let (_, record) = state.find(object, id).ok_or_else(ApiError::not_found)?;
                Ok(json_response(
                    200,
                    &self.answer_record(object, record, params),
                ))
            }
            several => Ok(self.multiple_choices(object, several)),
        }
    }

    /// 300 with the candidate records' URLs.
    fn multiple_choices(&self, object: &SObject, ids: &[String]) -> Response {
        let urls: Vec<String> = ids.iter().map(|id| self.record_url(object, id)).collect();
        json_response(300, &json!(urls))
    }

    /// `POST /sobjects/<type>`: 201 `{"id", "success": true, "errors": []}`.
    fn create(
        &self,
        request: &Incoming,
        object: &'static SObject,
        faults: &Mutex<Faults>,
    ) -> Result<Reply, ApiError> {
        let fields = parse_body(&request.body, object)?;
        check_writable(&fields)?;
        check_required(object, &fields)?;
        let mut state = lock(&self.state);
        let id = state.new_id(object);
        state.commit(object, &id, fields, true);
        drop(state);
        if lock(faults).take_lost_create() {
            return Ok(Reply::Drop);
        }
        let mut response = json_response(201, &json!({"id": id, "success": true, "errors": []}));
        response
            .headers
            .push(("Location".into(), self.record_url(object, &id)));
        Ok(Reply::Respond(response))
    }

    /// `PATCH /sobjects/<type>/<id>`: 204; `If-Unmodified-Since` older than `LastModifiedDate` → 412.
    fn update(
        &self,
        request: &Incoming,
        object: &'static SObject,
        id: &str,
    ) -> Result<Response, ApiError> {
        let since = request
            .header("If-Unmodified-Since")
            .map(|value| {
                parse_http_date(value).ok_or_else(|| {
                    ApiError::new(
                        400,
                        "INVALID_HEADER",
                        format!("Invalid If-Unmodified-Since header value: {value}"),
                    )
                })
            })
            .transpose()?;
        let changes = parse_body(&request.body, object)?;
        check_writable(&changes)?;
        let mut state = lock(&self.state);
        let (id, record) = state
            .find(object, id)
            .ok_or_else(|| Self::missing(&state, object, id))?;
        if let Some(since) = since {
            if modified_seconds(record) > since {
                return Err(ApiError::new(
                    412,
                    "PRECONDITION_FAILED",
                    "The record has been modified since the time specified in If-Unmodified-Since",
                ));
            }
        }
        let (id, mut fields) = (
            id.to_owned(),
            record.as_object().cloned().unwrap_or_default(),
        );
        fields.extend(changes);
        state.commit(object, &id, fields, false);
        Ok(empty(204))
    }

    /// `DELETE /sobjects/<type>/<id>`: 204.
    fn delete(&self, object: &'static SObject, id: &str) -> Result<Response, ApiError> {
        let mut state = lock(&self.state);
        if state.remove(object, id) {
            Ok(empty(204))
        } else {
            Err(Self::missing(&state, object, id))
        }
    }

    /// `PATCH /sobjects/<type>/<field>/<value>[?updateOnly=true]`: create (201, `created: true`), update (200,
    /// `created: false`), several matches (300), or 404 with `updateOnly` and no match.
    fn upsert(
        &self,
        request: &Incoming,
        object: &'static SObject,
        field: &str,
        value: &str,
        params: &[(String, String)],
    ) -> Result<Response, ApiError> {
        let mut changes = parse_body(&request.body, object)?;
        if let Some(given) = changes.remove(field) {
            if given.as_str() != Some(value) {
                return Err(ApiError::with_fields(
                    400,
                    "INVALID_FIELD",
                    format!(
                        "Field {field} has a value in the body different from the one in the URL"
                    ),
                    vec![field.to_owned()],
                ));
            }
        }
        check_writable(&changes)?;
        let update_only = params
            .iter()
            .any(|(name, v)| name == "updateOnly" && v.eq_ignore_ascii_case("true"));
        let mut state = lock(&self.state);
        let matches = matching(&state, object, field, value);
        match matches.as_slice() {
            [] if field == "Id" || update_only => Err(ApiError::not_found()),
            [] => {
                changes.insert(field.to_owned(), Value::String(value.to_owned()));
                check_required(object, &changes)?;
                let id = state.new_id(object);
                state.commit(object, &id, changes, true);
                let mut response = json_response(
                    201,
                    &json!({"id": id, "success": true, "errors": [], "created": true}),
                );
                response
                    .headers
                    .push(("Location".into(), self.record_url(object, &id)));
                Ok(response)
            }
            [id] => {
                let mut fields = state
                    .find(object, id)
                    .and_then(|(_, record)| record.as_object().cloned())
                    .unwrap_or_default();
                fields.extend(changes);
                state.commit(object, id, fields, false);
                Ok(json_response(
                    200,
                    &json!({"id": id, "success": true, "errors": [], "created": false}),
                ))
            }
            several => Ok(self.multiple_choices(object, several)),
        }
    }

    /// `GET /query?q=<SOQL>`: the first page.
    fn query(&self, params: &[(String, String)]) -> Result<Response, ApiError> {
        let text = params
            .iter()
            .find(|(name, _)| name == "q")
            .map(|(_, q)| q.as_str())
            .filter(|q| !q.trim().is_empty())
            .ok_or_else(|| ApiError::malformed("The q parameter with a SOQL query is required"))?;
        let query = Query::parse(text).map_err(ApiError::malformed)?;
        let object = sobject(&query.object).ok_or_else(|| {
            ApiError::new(
                400,
                "INVALID_TYPE",
                format!(
                    "sObject type '{}' is not supported. (The emulator has Opportunity and Lead.)",
                    query.object
                ),
            )
        })?;
        let state = lock(&self.state);
        let mut records: Vec<Value> = state
            .tables
            .get(object.name)
            .map(|table| {
                table
                    .order
                    .iter()
                    .filter_map(|id| table.rows.get(id))
                    .filter(|record| query.matches(record))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        drop(state);
        query.sort(&mut records);
        if let Some(limit) = query.limit {
            records.truncate(limit);
        }
        let records: Vec<Value> = records
            .iter()
            .map(|record| self.shaped(object, record, &query.fields))
            .collect();
        let locator = {
            let mut ids = lock(&self.locators);
            let guid = ids.guid().replace('-', "");
            format!("01g{}", &guid[..15])
        };
        Ok(json_response(200, &self.page(&locator, records, 0)))
    }

    /// One page of a query's records from `offset`; stores the cursor while more remain.
    fn page(&self, locator: &str, records: Vec<Value>, offset: usize) -> Value {
        let size = self.options.page_size.max(1);
        let total = records.len();
        let end = (offset + size).min(total);
        let page: Vec<Value> = records.get(offset..end).unwrap_or_default().to_vec();
        let done = end >= total;
        let mut body = json!({"totalSize": total, "done": done, "records": page});
        let mut state = lock(&self.state);
        if done {
            state.cursors.remove(locator);
        } else {
            body["nextRecordsUrl"] = json!(format!("{}/query/{locator}-{end}", self.api_path()));
            state.cursors.insert(locator.to_owned(), records);
        }
        body
    }

    /// `GET /query/<locator>-<offset>`: a later page.
    fn query_more(&self, locator: &str) -> Result<Response, ApiError> {
        let invalid = || ApiError::new(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
        let (cursor, offset) = locator.rsplit_once('-').ok_or_else(invalid)?;
        let offset: usize = offset.parse().map_err(|_| invalid())?;
        let records = lock(&self.state)
            .cursors
            .get(cursor)
            .cloned()
            .ok_or_else(invalid)?;
        if offset > records.len() {
            return Err(invalid());
        }
        Ok(json_response(200, &self.page(cursor, records, offset)))
    }

    /// Reads and checks `start` and `end` of a change feed; returns them in seconds with the covered end.
    fn window(
        state: &mut State,
        params: &[(String, String)],
        max_days: i64,
    ) -> Result<(i64, i64), ApiError> {
        let read = |name: &str| {
            let text = params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.as_str())
                .ok_or_else(|| {
                    ApiError::new(400, "MISSING_ARGUMENT", format!("{name} is required"))
                })?;
            parse_datetime_millis(text)
                .map(|millis| millis.div_euclid(1000))
                .ok_or_else(|| {
                    ApiError::replication(format!(
                        "{name} must be an ISO 8601 datetime with a time zone (got '{text}'; a '+' must be sent as \
                         %2B)"
                    ))
                })
        };
        let (start, end) = (read("start")?, read("end")?);
        if start >= end {
            return Err(ApiError::replication(
                "The start date must be before the end date",
            ));
        }
        let now = state.now();
        if start < now - max_days * DAY {
            return Err(ApiError::replication(format!(
                "startDate cannot be more than {max_days} days ago"
            )));
        }
        // Covered up to now (inclusive of the current second); later writes land after it.
        let covered = end.min(now + 1);
        state.observe(covered - 1);
        Ok((start, covered))
    }

    /// `GET /sobjects/<type>/updated/?start=&end=`: ids whose `SystemModstamp` is in `[start, covered)`.
    fn updated(
        &self,
        object: &'static SObject,
        params: &[(String, String)],
    ) -> Result<Response, ApiError> {
        let mut state = lock(&self.state);
        let (start, covered) = Self::window(&mut state, params, 30)?;
        let mut changed: Vec<(i64, String)> = state
            .tables
            .get(object.name)
            .map(|table| {
                table
                    .order
                    .iter()
                    .filter_map(|id| {
                        let record = table.rows.get(id)?;
                        let stamp = ["SystemModstamp", "LastModifiedDate"]
                            .iter()
                            .find_map(|f| record[*f].as_str().and_then(parse_datetime_millis))?
                            .div_euclid(1000);
                        (start <= stamp && stamp < covered).then(|| (stamp, id.clone()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        changed.sort();
        let ids: Vec<String> = changed.into_iter().map(|(_, id)| id).collect();
        Ok(json_response(
            200,
            &json!({"ids": ids, "latestDateCovered": format_seconds(covered)}),
        ))
    }

    /// `GET /sobjects/<type>/deleted/?start=&end=`: deletions in `[start, covered)`.
    fn deleted(
        &self,
        object: &'static SObject,
        params: &[(String, String)],
    ) -> Result<Response, ApiError> {
        let mut state = lock(&self.state);
        let (start, covered) = Self::window(&mut state, params, 15)?;
        let deleted: Vec<Value> = state
            .tombstones
            .iter()
            .filter(|t| t.object == object.name && start <= t.at && t.at < covered)
            .map(|t| json!({"id": t.id, "deletedDate": format_seconds(t.at)}))
            .collect();
        let earliest = state
            .earliest_deleted
            .unwrap_or_else(|| state.now() - 15 * DAY);
        Ok(json_response(
            200,
            &json!({"deletedRecords": deleted, "earliestDateAvailable": format_seconds(earliest),
                    "latestDateCovered": format_seconds(covered)}),
        ))
    }
}

/// An answer without a body.
fn empty(status: u16) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

/// A record's `LastModifiedDate` in whole seconds (0 when missing).
fn modified_seconds(record: &Value) -> i64 {
    record["LastModifiedDate"]
        .as_str()
        .and_then(parse_datetime_millis)
        .map_or(0, |millis| millis.div_euclid(1000))
}

/// The ids of the records whose `field` equals `value` (an external id compares ignoring case).
fn matching(state: &State, object: &SObject, field: &str, value: &str) -> Vec<String> {
    if field == "Id" {
        return state
            .find(object, value)
            .map(|(id, _)| vec![id.to_owned()])
            .unwrap_or_default();
    }
    let Some(table) = state.tables.get(object.name) else {
        return Vec::new();
    };
    table
        .order
        .iter()
        .filter(|id| {
            table.rows.get(*id).is_some_and(|record| {
                record[field]
                    .as_str()
                    .is_some_and(|stored| stored.eq_ignore_ascii_case(value))
            })
        })
        .cloned()
        .collect()
}

/// Parses a write's body: a JSON object of fields (an `attributes` member naming the type is allowed).
fn parse_body(body: &[u8], object: &SObject) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| {
        ApiError::new(
            400,
            "JSON_PARSER_ERROR",
            format!("The request body is not valid JSON: {error}"),
        )
    })?;
    let Value::Object(mut fields) = value else {
        return Err(ApiError::new(
            400,
            "JSON_PARSER_ERROR",
            "The request body must be a JSON object of fields",
        ));
    };
    if let Some(attributes) = fields.remove("attributes") {
        let named = attributes["type"].as_str();
        if named.is_some_and(|named| !named.eq_ignore_ascii_case(object.name)) {
            return Err(ApiError::new(
                400,
                "INVALID_TYPE",
                format!("attributes.type does not match {}", object.name),
            ));
        }
    }
    Ok(fields)
}

/// Refuses the fields the service manages.
fn check_writable(fields: &Map<String, Value>) -> Result<(), ApiError> {
    let refused: Vec<String> = fields
        .keys()
        .filter(|name| READ_ONLY.iter().any(|ro| ro.eq_ignore_ascii_case(name)))
        .cloned()
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(ApiError::with_fields(
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        format!(
            "Unable to create/update fields: {}. Please check the security settings of this field and verify that \
             it is read/write for your profile or permission set.",
            refused.join(", ")
        ),
        refused,
    ))
}

/// Requires the fields a create must set (non-null, non-empty).
fn check_required(object: &SObject, fields: &Map<String, Value>) -> Result<(), ApiError> {
    let missing: Vec<String> = object
        .required
        .iter()
        .filter(|name| match fields.get(**name) {
            None | Some(Value::Null) => true,
            Some(Value::String(text)) => text.is_empty(),
            Some(_) => false,
        })
        .map(|name| (*name).to_owned())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(ApiError::with_fields(
        400,
        "REQUIRED_FIELD_MISSING",
        format!("Required fields are missing: [{}]", missing.join(", ")),
        missing,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_format() {
        let millis = parse_datetime_millis("2026-10-20T10:15:42.000+0000").expect("parses");
        assert_eq!(
            format_seconds(millis / 1000),
            "2026-10-20T10:15:42.000+0000"
        );
        assert_eq!(parse_datetime_millis("2026-10-20T10:15:42Z"), Some(millis));
        assert_eq!(
            parse_datetime_millis("2026-10-20T12:15:42+02:00"),
            Some(millis)
        );
        assert_eq!(
            parse_http_date("Tue, 20 Oct 2026 10:15:42 GMT"),
            Some(millis / 1000)
        );
        assert_eq!(parse_http_date("Mon, 20 Oct 2026 10:15:42 GMT"), None);
        assert_eq!(parse_http_date("2026-10-20T10:15:42Z"), None);
        assert_eq!(parse_http_date("Tue, 20 Oct 2026 10:15:42 +0000"), None);
    }

    #[test]
    fn ids_have_the_prefix_and_a_case_suffix() {
        assert_eq!(id_suffix("001000000000000"), "AAA");
        assert_eq!(id_suffix("001A00000000000"), "IAA");
        let mut state = State::default();
        let id = state.new_id(&SOBJECTS[0]);
        assert_eq!(id.len(), 18);
        assert!(id.starts_with("006"), "{id}");
        assert_ne!(id, state.new_id(&SOBJECTS[0]));
        assert!(state.new_id(&SOBJECTS[1]).starts_with("00Q"));
    }
}
