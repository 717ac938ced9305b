//! The Dynamics 365 / Dataverse Web API (`OData` v4, `/api/data/v9.2/`, `DOMAIN.md` §4): opportunities and leads
//! read with their currency expanded, created at a client-chosen id (so a retried create can never duplicate),
//! updated under `If-Match`, closed as won or lost through the `WinOpportunity` / `LoseOpportunity` actions, the
//! currency and account look-ups, and change tracking with delta links (deletions included).

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Map, Value, json};

use super::error::ConnectError;
use super::fetched::{Fetched, fetched};
use super::http::{ErrorBody, Http, HttpConfig, Request, Retry, TokenSource};
use super::url::{encode, request_id};
use crate::model::CrmEntity;

const SERVICE: &str = "Dynamics 365";
/// How a record is read: its currency expanded, as the mapping's rules read it (`transactioncurrencyid/isocurrencycode`).
const EXPAND: &str = "$expand=transactioncurrencyid($select=isocurrencycode)";

/// Where the environment is and how to call it.
#[derive(Debug, Clone, PartialEq)]
pub struct DynamicsConfig {
    /// The environment's URL, `https://{org}.crm.dynamics.com`, or an emulator's.
    pub base_url: String,
    /// The Web API version path segment: `v9.2`.
    pub api_version: String,
    /// Timeouts and retry bounds.
    pub http: HttpConfig,
}

impl Default for DynamicsConfig {
    fn default() -> Self {
        DynamicsConfig {
            base_url: String::new(),
            api_version: "v9.2".to_owned(),
            http: HttpConfig::default(),
        }
    }
}

/// A create at a client-chosen id: the record, and whether it already existed (the answer of an earlier try was
/// lost; nothing was created twice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The record as it now is.
    pub record: Fetched,
    /// True when the id was taken already: the create had been applied before.
    pub already_existed: bool,
}

/// One round of change tracking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    /// Rows created or changed since the last round, as JSON text (the selected columns).
    pub changed: Vec<String>,
    /// Ids of rows deleted since the last round.
    pub deleted: Vec<String>,
    /// The link for the next round (keep it as the cursor).
    pub delta_link: String,
}

/// A client of one Dynamics 365 environment's Web API.
#[derive(Debug)]
pub struct Dynamics {
    http: Http,
    /// `<base_url>/api/data/<version>`.
    api: String,
    /// Currency ids by ISO code, learned once.
    currencies: Mutex<HashMap<String, String>>,
}

/// The entity set and key column of a CRM entity.
fn set_of(entity: CrmEntity) -> (&'static str, &'static str) {
    match entity {
        CrmEntity::Opportunity => ("opportunities", "opportunityid"),
        CrmEntity::Lead => ("leads", "leadid"),
    }
}

impl Dynamics {
    /// A client for `config`, authenticated by `tokens`.
    pub fn new(
        config: DynamicsConfig,
        tokens: Box<dyn TokenSource>,
    ) -> Result<Dynamics, ConnectError> {
        let base = config.base_url.trim_end_matches('/');
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ConnectError::Config {
                service: SERVICE,
                detail: format!(
                    "base_url {base:?} is not an http(s) URL (https://<org>.crm.dynamics.com)"
                ),
            });
        }
        Ok(Dynamics {
            http: Http::new(SERVICE, config.http, tokens),
            api: format!("{base}/api/data/{}", config.api_version),
            currencies: Mutex::new(HashMap::new()),
        })
    }

    fn send(&self, request: &Request<'_>) -> Result<super::http::Answer, ConnectError> {
        self.http.send(request, error_body)
    }

    fn request<'a>(
        method: &'static str,
        url: String,
        body: Option<&'a str>,
        what: String,
        retry: Retry,
    ) -> Request<'a> {
        Request {
            method,
            url,
            headers: vec![
                ("OData-Version", "4.0".to_owned()),
                ("OData-MaxVersion", "4.0".to_owned()),
                ("x-ms-client-request-id", request_id()),
            ],
            body,
            what,
            retry,
        }
    }

    /// The record `entity` `id`, with its currency expanded.
    pub fn get(&self, entity: CrmEntity, id: &str) -> Result<Fetched, ConnectError> {
        let (set, _) = set_of(entity);
        let what = format!("{} {id}", entity.as_str());
        let request = Self::request(
            "GET",
            format!("{}/{set}({})?{EXPAND}", self.api, encode(id)),
            None,
            what.clone(),
            Retry::Always,
        );
        fetched(SERVICE, self.send(&request)?, &what, "@odata.etag")
    }

    /// Creates `entity` at the client-chosen `id` with `fields` (columns and `@odata.bind` lookups): an upsert
    /// `PATCH` made create-only by `If-None-Match: *`. Sending it again can never create a second record: when the
    /// id is taken (the first try's answer was lost), the record is read back with `already_existed`.
    pub fn create_with_id(
        &self,
        entity: CrmEntity,
        id: &str,
        fields: &Map<String, Value>,
    ) -> Result<Created, ConnectError> {
        let (set, _) = set_of(entity);
        let text = Value::Object(fields.clone()).to_string();
        let what = format!("new {} {id}", entity.as_str());
        let mut request = Self::request(
            "PATCH",
            format!("{}/{set}({})?{EXPAND}", self.api, encode(id)),
            Some(&text),
            what.clone(),
            Retry::Always,
        );
        request.headers.push(("If-None-Match", "*".to_owned()));
        request
            .headers
            .push(("Prefer", "return=representation".to_owned()));
        match self.send(&request) {
            Ok(answer) if answer.body.trim().is_empty() => Ok(Created {
                record: self.get(entity, id)?,
                already_existed: false,
            }),
            Ok(answer) => Ok(Created {
                record: fetched(SERVICE, answer, &what, "@odata.etag")?,
                already_existed: false,
            }),
            Err(ConnectError::PreconditionFailed { .. }) => Ok(Created {
                record: self.get(entity, id)?,
                already_existed: true,
            }),
            Err(e) => Err(e),
        }
    }

    /// Updates `entity` `id` with `fields`, guarded by `if_match` (its `@odata.etag` as read). Without one the
    /// update still requires the record to exist (`If-Match: *`): a `PATCH` to a deleted record must not recreate
    /// it. A stale tag is [`ConnectError::PreconditionFailed`]; a deleted record [`ConnectError::NotFound`].
    pub fn update(
        &self,
        entity: CrmEntity,
        id: &str,
        fields: &Map<String, Value>,
        if_match: Option<&str>,
    ) -> Result<Fetched, ConnectError> {
        let (set, _) = set_of(entity);
        let text = Value::Object(fields.clone()).to_string();
        let what = format!("{} {id}", entity.as_str());
        // Setting columns to values applies once however often it is sent.
        let mut request = Self::request(
            "PATCH",
            format!("{}/{set}({})?{EXPAND}", self.api, encode(id)),
            Some(&text),
            what.clone(),
            Retry::Always,
        );
        request
            .headers
            .push(("If-Match", if_match.unwrap_or("*").to_owned()));
        request
            .headers
            .push(("Prefer", "return=representation".to_owned()));
        let answer = self.send(&request)?;
        if answer.body.trim().is_empty() {
            return self.get(entity, id);
        }
        fetched(SERVICE, answer, &what, "@odata.etag")
    }

    /// Closes opportunity `id` as won (`WinOpportunity`, status 3) or lost (`LoseOpportunity`, status 4 canceled
    /// or 5 out-sold), with an opportunity-close activity titled `subject`.
    pub fn close_opportunity(
        &self,
        id: &str,
        won: bool,
        status: Option<u32>,
        subject: &str,
    ) -> Result<(), ConnectError> {
        let (action, status) = if won {
            ("WinOpportunity", status.unwrap_or(3))
        } else {
            ("LoseOpportunity", status.unwrap_or(4))
        };
        let body = json!({
            "Status": status,
            "OpportunityClose": {
                "subject": subject,
                "opportunityid@odata.bind": format!("/opportunities({id})"),
            },
        })
        .to_string();
        // Closing twice fails (the opportunity is closed): a lost answer is for the caller to read back.
        let request = Self::request(
            "POST",
            format!("{}/{action}", self.api),
            Some(&body),
            format!("{action} of opportunity {id}"),
            Retry::NotIfSent,
        );
        self.send(&request).map(|_| ())
    }

    /// The `transactioncurrencyid` of ISO code `iso` (`EUR`), looked up once per client.
    pub fn currency_id(&self, iso: &str) -> Result<String, ConnectError> {
        if let Some(id) = self.lock_currencies().get(iso) {
            return Ok(id.clone());
        }
        let filter = format!("isocurrencycode eq '{}'", iso.replace('\'', "''"));
        let rows = self.query(
            "transactioncurrencies",
            &filter,
            "transactioncurrencyid",
            &format!("currency {iso}"),
        )?;
        let id = single_id(&rows, "transactioncurrencyid", &format!("currency {iso}"))?;
        self.lock_currencies().insert(iso.to_owned(), id.clone());
        Ok(id)
    }

    fn lock_currencies(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.currencies
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The account named `name` at `postal_code`, if exactly one exists (several is an error naming them, for a
    /// person to decide).
    pub fn find_account(
        &self,
        name: &str,
        postal_code: &str,
    ) -> Result<Option<String>, ConnectError> {
        let filter = format!(
            "name eq '{}' and address1_postalcode eq '{}'",
            name.replace('\'', "''"),
            postal_code.replace('\'', "''")
        );
        let what = format!("account {name:?} at {postal_code}");
        let rows = self.query("accounts", &filter, "accountid", &what)?;
        if rows.is_empty() {
            return Ok(None);
        }
        single_id(&rows, "accountid", &what).map(Some)
    }

    /// Creates an account; returns its id. Not sent again after a lost answer (look it up with
    /// [`Dynamics::find_account`] first).
    pub fn create_account(
        &self,
        name: &str,
        postal_code: &str,
        country: Option<&str>,
    ) -> Result<String, ConnectError> {
        let mut body = json!({"name": name, "address1_postalcode": postal_code});
        if let Some(c) = country {
            body["address1_country"] = json!(c);
        }
        let text = body.to_string();
        let what = format!("new account {name:?}");
        let mut request = Self::request(
            "POST",
            format!("{}/accounts", self.api),
            Some(&text),
            what.clone(),
            Retry::NotIfSent,
        );
        request
            .headers
            .push(("Prefer", "return=representation".to_owned()));
        let record = fetched(SERVICE, self.send(&request)?, &what, "@odata.etag")?;
        let value: Value = serde_json::from_str(&record.text).unwrap_or(Value::Null);
        value
            .get("accountid")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ConnectError::InvalidResponse {
                service: SERVICE,
                what,
                detail: "the created account has no accountid".to_owned(),
            })
    }

    /// The rows of `set` matching `filter`, with `select` columns, every page.
    fn query(
        &self,
        set: &str,
        filter: &str,
        select: &str,
        what: &str,
    ) -> Result<Vec<Value>, ConnectError> {
        let mut url = Some(format!(
            "{}/{set}?$filter={}&$select={select}",
            self.api,
            encode(filter)
        ));
        let mut rows = Vec::new();
        while let Some(next) = url.take() {
            let body = self.collection(&next, what)?;
            rows.extend(take_value(&body, what)?);
            url = link(&body, "@odata.nextLink", what)?;
            if let Some(u) = &url {
                self.check_link(u, what)?;
            }
        }
        Ok(rows)
    }

    fn collection(&self, url: &str, what: &str) -> Result<Value, ConnectError> {
        let request = Self::request("GET", url.to_owned(), None, what.to_owned(), Retry::Always);
        let answer = self.send(&request)?;
        serde_json::from_str(&answer.body).map_err(|e| ConnectError::InvalidResponse {
            service: SERVICE,
            what: what.to_owned(),
            detail: format!("not JSON: {e}"),
        })
    }

    /// A link the service returned must be on this environment's API: it is never followed elsewhere with the
    /// token.
    fn check_link(&self, link: &str, what: &str) -> Result<(), ConnectError> {
        if link.starts_with(&format!("{}/", self.api)) {
            Ok(())
        } else {
            Err(ConnectError::InvalidResponse {
                service: SERVICE,
                what: what.to_owned(),
                detail: format!("link {link:?} is not under {}", self.api),
            })
        }
    }

    /// One round of change tracking on `entity`: from the start (`delta_link` `None`: every row, as the first
    /// backfill) or from an earlier round's link. Rows come with the `select` columns; deletions by id.
    pub fn changes(
        &self,
        entity: CrmEntity,
        select: &[&str],
        delta_link: Option<&str>,
    ) -> Result<Delta, ConnectError> {
        let (set, _) = set_of(entity);
        let what = format!("changes of {set}");
        let mut url = match delta_link {
            Some(l) => {
                self.check_link(l, &what)?;
                l.to_owned()
            }
            None => format!("{}/{set}?$select={}", self.api, select.join(",")),
        };
        let mut delta = Delta {
            changed: Vec::new(),
            deleted: Vec::new(),
            delta_link: String::new(),
        };
        loop {
            let mut request = Self::request("GET", url, None, what.clone(), Retry::Always);
            request
                .headers
                .push(("Prefer", "odata.track-changes".to_owned()));
            let answer = self.send(&request)?;
            let body: Value =
                serde_json::from_str(&answer.body).map_err(|e| ConnectError::InvalidResponse {
                    service: SERVICE,
                    what: what.clone(),
                    detail: format!("not JSON: {e}"),
                })?;
            for row in take_value(&body, &what)? {
                let deleted = row
                    .get("@odata.context")
                    .and_then(Value::as_str)
                    .is_some_and(|c| c.ends_with("$deletedEntity"));
                if deleted {
                    if let Some(id) = row.get("id").and_then(Value::as_str) {
                        delta.deleted.push(id.to_owned());
                    }
                } else {
                    delta.changed.push(row.to_string());
                }
            }
            if let Some(next) = link(&body, "@odata.nextLink", &what)? {
                self.check_link(&next, &what)?;
                url = next;
                continue;
            }
            let Some(link) = link(&body, "@odata.deltaLink", &what)? else {
                return Err(ConnectError::InvalidResponse {
                    service: SERVICE,
                    what,
                    detail: "no @odata.deltaLink: is change tracking enabled on the table?"
                        .to_owned(),
                });
            };
            self.check_link(&link, &what)?;
            delta.delta_link = link;
            return Ok(delta);
        }
    }
}

/// The `value` array of a collection answer.
fn take_value(body: &Value, what: &str) -> Result<Vec<Value>, ConnectError> {
    match body.get("value") {
        Some(Value::Array(items)) => Ok(items.clone()),
        _ => Err(ConnectError::InvalidResponse {
            service: SERVICE,
            what: what.to_owned(),
            detail: "no \"value\" array".to_owned(),
        }),
    }
}

/// An `@odata.*Link` of a collection answer.
fn link(body: &Value, name: &str, what: &str) -> Result<Option<String>, ConnectError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ConnectError::InvalidResponse {
            service: SERVICE,
            what: what.to_owned(),
            detail: format!("{name} is {other}"),
        }),
    }
}

/// The id column of the one row of a look-up; none or several is an error naming them.
fn single_id(rows: &[Value], column: &str, what: &str) -> Result<String, ConnectError> {
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.get(column).and_then(Value::as_str))
        .collect();
    match ids.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(ConnectError::NotFound {
            service: SERVICE,
            what: what.to_owned(),
            code: "no_match".to_owned(),
        }),
        several => Err(ConnectError::Service {
            service: SERVICE,
            what: what.to_owned(),
            status: 300,
            code: "ambiguous".to_owned(),
            message: format!("{} records match: {}", several.len(), several.join(", ")),
        }),
    }
}

/// `{"error": {"code": ..., "message": ...}}` → (code, message); Dataverse often leaves the code empty.
fn error_body(body: &str) -> Option<ErrorBody> {
    let value: Value = serde_json::from_str(body).ok()?;
    let error = value.get("error")?;
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let code = match error.get("code").and_then(Value::as_str) {
        Some(c) if !c.is_empty() => c.to_owned(),
        _ => "(no code)".to_owned(),
    };
    Some((code, message))
}
