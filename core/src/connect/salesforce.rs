//! The Salesforce REST API (`/services/data/vXX.X/`, `DOMAIN.md` §5): sObject get, create and update guarded by
//! `If-Unmodified-Since` (the stored `LastModifiedDate`), upsert by the external id `Referral_Identifier__c` (so a
//! retried create finds the record; several matches is an error naming them), SOQL with `nextRecordsUrl` paging,
//! and the `updated`/`deleted` change feeds. The org's API budget running out (403 `REQUEST_LIMIT_EXCEEDED`) stops
//! the caller with [`ConnectError::ApiLimit`] instead of being retried.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::macros::format_description;

use super::error::ConnectError;
use super::fetched::{Fetched, fetched};
use super::http::{ErrorBody, Http, HttpConfig, Request, Retry, TokenSource};
use super::url::{encode, request_id};
use crate::model::CrmEntity;

const SERVICE: &str = "Salesforce";
/// The external id field the upserts key on.
pub const REFERRAL_ID_FIELD: &str = "Referral_Identifier__c";

/// Where the org is and how to call it.
#[derive(Debug, Clone, PartialEq)]
pub struct SalesforceConfig {
    /// The org's instance URL (the token response's `instance_url`), or an emulator's.
    pub instance_url: String,
    /// The API version: `v60.0`.
    pub api_version: String,
    /// Timeouts and retry bounds.
    pub http: HttpConfig,
}

impl Default for SalesforceConfig {
    fn default() -> Self {
        SalesforceConfig {
            instance_url: String::new(),
            api_version: "v60.0".to_owned(),
            http: HttpConfig::default(),
        }
    }
}

/// The outcome of an upsert by external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upserted {
    /// The record id.
    pub id: String,
    /// True when the upsert created the record.
    pub created: bool,
}

/// One window of the `updated` feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Updated {
    /// Ids of records changed in the window.
    pub ids: Vec<String>,
    /// The end of what the window covered: the next window's start.
    pub latest_date_covered: String,
}

/// One window of the `deleted` feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deleted {
    /// Deleted records: id and deletion time.
    pub records: Vec<(String, String)>,
    /// The oldest deletion the org still knows: a start before it needs a full resync.
    pub earliest_date_available: Option<String>,
    /// The end of what the window covered.
    pub latest_date_covered: Option<String>,
}

/// A client of one Salesforce org's REST API.
#[derive(Debug)]
pub struct Salesforce {
    http: Http,
    instance: String,
    /// `<instance>/services/data/<version>`.
    api: String,
}

fn sobject(entity: CrmEntity) -> &'static str {
    match entity {
        CrmEntity::Opportunity => "Opportunity",
        CrmEntity::Lead => "Lead",
    }
}

impl Salesforce {
    /// A client for `config`, authenticated by `tokens`.
    pub fn new(
        config: SalesforceConfig,
        tokens: Box<dyn TokenSource>,
    ) -> Result<Salesforce, ConnectError> {
        let instance = config.instance_url.trim_end_matches('/').to_owned();
        if !(instance.starts_with("https://") || instance.starts_with("http://")) {
            return Err(ConnectError::Config {
                service: SERVICE,
                detail: format!("instance_url {instance:?} is not an http(s) URL"),
            });
        }
        Ok(Salesforce {
            http: Http::new(SERVICE, config.http, tokens),
            api: format!("{instance}/services/data/{}", config.api_version),
            instance,
        })
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
            headers: vec![("X-Request-Id", request_id())],
            body,
            what,
            retry,
        }
    }

    /// Sends, turning the spent API budget into [`ConnectError::ApiLimit`].
    fn send(&self, request: &Request<'_>) -> Result<super::http::Answer, ConnectError> {
        self.http.send(request, error_body).map_err(|e| match e {
            ConnectError::Unauthorized {
                service,
                what,
                status: 403,
                code,
                message,
            } if code == "REQUEST_LIMIT_EXCEEDED" => ConnectError::ApiLimit {
                service,
                what,
                message,
            },
            other => other,
        })
    }

    /// The record `entity` `id`.
    pub fn get(&self, entity: CrmEntity, id: &str) -> Result<Fetched, ConnectError> {
        let what = format!("{} {id}", sobject(entity));
        let request = Self::request(
            "GET",
            format!("{}/sobjects/{}/{}", self.api, sobject(entity), encode(id)),
            None,
            what.clone(),
            Retry::Always,
        );
        fetched(SERVICE, self.send(&request)?, &what, "")
    }

    /// Creates or updates the `entity` whose `Referral_Identifier__c` is `referral_id` with `fields` (without the
    /// key). Sending it again cannot duplicate: the second call finds and updates the record. Several records with
    /// the id is an error naming them (HTTP 300).
    pub fn upsert_by_referral(
        &self,
        entity: CrmEntity,
        referral_id: &str,
        fields: &Map<String, Value>,
    ) -> Result<Upserted, ConnectError> {
        let text = Value::Object(fields.clone()).to_string();
        let what = format!("{} with {REFERRAL_ID_FIELD} {referral_id}", sobject(entity));
        let request = Self::request(
            "PATCH",
            format!(
                "{}/sobjects/{}/{REFERRAL_ID_FIELD}/{}",
                self.api,
                sobject(entity),
                encode(referral_id)
            ),
            Some(&text),
            what.clone(),
            Retry::Always,
        );
        let answer = self.send(&request)?;
        let body: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
        let id = body.get("id").and_then(Value::as_str);
        if let Some(id) = id {
            return Ok(Upserted {
                id: id.to_owned(),
                created: body
                    .get("created")
                    .and_then(Value::as_bool)
                    .unwrap_or(answer.status == 201),
            });
        }
        // 204 on update: the id is known by the external id only; read it back by SOQL.
        let soql = format!(
            "SELECT Id FROM {} WHERE {REFERRAL_ID_FIELD} = '{}'",
            sobject(entity),
            referral_id.replace('\\', "\\\\").replace('\'', "\\'")
        );
        let rows = self.query(&soql)?;
        let id = rows
            .first()
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .and_then(|v| v.get("Id").and_then(Value::as_str).map(str::to_owned))
            .ok_or_else(|| ConnectError::InvalidResponse {
                service: SERVICE,
                what: what.clone(),
                detail: "the upserted record cannot be found".to_owned(),
            })?;
        Ok(Upserted { id, created: false })
    }

    /// Updates `entity` `id` with `fields`, guarded by `last_modified` (the record's `LastModifiedDate` as read, sent
    /// as `If-Unmodified-Since`): a record changed since is [`ConnectError::PreconditionFailed`]. Returns the record
    /// as it now is.
    pub fn update(
        &self,
        entity: CrmEntity,
        id: &str,
        fields: &Map<String, Value>,
        last_modified: Option<&str>,
    ) -> Result<Fetched, ConnectError> {
        let text = Value::Object(fields.clone()).to_string();
        let what = format!("{} {id}", sobject(entity));
        let mut request = Self::request(
            "PATCH",
            format!("{}/sobjects/{}/{}", self.api, sobject(entity), encode(id)),
            Some(&text),
            what.clone(),
            Retry::Always,
        );
        if let Some(modified) = last_modified {
            request
                .headers
                .push(("If-Unmodified-Since", http_date(modified, &what)?));
        }
        self.send(&request)?;
        self.get(entity, id)
    }

    /// Every record a SOQL query selects, following `nextRecordsUrl`; each record as JSON text.
    pub fn query(&self, soql: &str) -> Result<Vec<String>, ConnectError> {
        let what = "SOQL query".to_owned();
        let mut url = format!("{}/query?q={}", self.api, encode(soql));
        let mut records = Vec::new();
        loop {
            let answer = self.send(&Self::request(
                "GET",
                url,
                None,
                what.clone(),
                Retry::Always,
            ))?;
            let body = json_of(&answer.body, &what)?;
            match body.get("records") {
                Some(Value::Array(rows)) => records.extend(rows.iter().map(Value::to_string)),
                _ => return Err(invalid(&what, "no \"records\" array")),
            }
            match body.get("nextRecordsUrl").and_then(Value::as_str) {
                Some(next) if next.starts_with("/services/data/") => {
                    url = format!("{}{next}", self.instance);
                }
                Some(next) => {
                    return Err(invalid(
                        &what,
                        &format!("nextRecordsUrl {next:?} is not under /services/data/"),
                    ));
                }
                None => return Ok(records),
            }
        }
    }

    /// Ids of `entity` records changed between `start` and `end` (ISO 8601; at most 30 days back).
    pub fn updated(
        &self,
        entity: CrmEntity,
        start: &str,
        end: &str,
    ) -> Result<Updated, ConnectError> {
        let what = format!("{} updated feed", sobject(entity));
        let body = self.feed(entity, "updated", start, end, &what)?;
        let ids = body
            .get("ids")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(&what, "no \"ids\" array"))?
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let latest = body
            .get("latestDateCovered")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(&what, "no latestDateCovered"))?
            .to_owned();
        Ok(Updated {
            ids,
            latest_date_covered: latest,
        })
    }

    /// `entity` records deleted between `start` and `end` (at most 15 days back).
    pub fn deleted(
        &self,
        entity: CrmEntity,
        start: &str,
        end: &str,
    ) -> Result<Deleted, ConnectError> {
        let what = format!("{} deleted feed", sobject(entity));
        let body = self.feed(entity, "deleted", start, end, &what)?;
        let records = body
            .get("deletedRecords")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid(&what, "no \"deletedRecords\" array"))?
            .iter()
            .filter_map(|r| {
                Some((
                    r.get("id")?.as_str()?.to_owned(),
                    r.get("deletedDate")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                ))
            })
            .collect();
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        Ok(Deleted {
            records,
            earliest_date_available: text("earliestDateAvailable"),
            latest_date_covered: text("latestDateCovered"),
        })
    }

    fn feed(
        &self,
        entity: CrmEntity,
        kind: &str,
        start: &str,
        end: &str,
        what: &str,
    ) -> Result<Value, ConnectError> {
        let url = format!(
            "{}/sobjects/{}/{kind}/?start={}&end={}",
            self.api,
            sobject(entity),
            encode(start),
            encode(end)
        );
        let answer = self.send(&Self::request(
            "GET",
            url,
            None,
            what.to_owned(),
            Retry::Always,
        ))?;
        json_of(&answer.body, what)
    }
}

fn json_of(body: &str, what: &str) -> Result<Value, ConnectError> {
    serde_json::from_str(body).map_err(|e| invalid(what, &format!("not JSON: {e}")))
}

fn invalid(what: &str, detail: &str) -> ConnectError {
    ConnectError::InvalidResponse {
        service: SERVICE,
        what: what.to_owned(),
        detail: detail.to_owned(),
    }
}

/// A stored `LastModifiedDate` (`2026-10-20T10:15:42.000+0000`, or any RFC 3339 time) as the HTTP-date
/// `If-Unmodified-Since` takes (`Tue, 20 Oct 2026 10:15:42 GMT`).
fn http_date(modified: &str, what: &str) -> Result<String, ConnectError> {
    let salesforce = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond][offset_hour sign:mandatory][offset_minute]"
    );
    let t = OffsetDateTime::parse(modified, salesforce)
        .or_else(|_| {
            OffsetDateTime::parse(modified, &time::format_description::well_known::Rfc3339)
        })
        .map_err(|e| ConnectError::Config {
            service: SERVICE,
            detail: format!("{what}: LastModifiedDate {modified:?} is not a time: {e}"),
        })?;
    let imf = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(imf)
        .map_err(|e| ConnectError::Config {
            service: SERVICE,
            detail: format!("{what}: {e}"),
        })
}

/// Salesforce's error body, an array `[{"message", "errorCode", "fields"}]`, or the candidate list of an upsert
/// that matched several records (`["/services/data/.../Opportunity/006...", ...]`).
fn error_body(body: &str) -> Option<ErrorBody> {
    let value: Value = serde_json::from_str(body).ok()?;
    let items = value.as_array()?;
    if items.iter().all(Value::is_string) && !items.is_empty() {
        let ids: Vec<&str> = items
            .iter()
            .filter_map(Value::as_str)
            .map(|u| u.rsplit('/').next().unwrap_or(u))
            .collect();
        return Some((
            "MULTIPLE_CHOICES".to_owned(),
            format!(
                "{} records have this external id: {}",
                ids.len(),
                ids.join(", ")
            ),
        ));
    }
    let first = items.first()?;
    let code = first.get("errorCode")?.as_str()?.to_owned();
    let mut message = first
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if let Some(fields) = first.get("fields").and_then(Value::as_array) {
        let names: Vec<&str> = fields.iter().filter_map(Value::as_str).collect();
        if !names.is_empty() {
            message = format!("{message} (fields: {})", names.join(", "));
        }
    }
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_modified_dates_become_http_dates() {
        assert_eq!(
            http_date("2026-10-20T10:15:42.000+0000", "x").expect("date"),
            "Tue, 20 Oct 2026 10:15:42 GMT"
        );
        assert_eq!(
            http_date("2026-10-20T12:15:42.000+0200", "x").expect("offset"),
            "Tue, 20 Oct 2026 10:15:42 GMT"
        );
        assert!(http_date("yesterday", "x").is_err());
    }

    #[test]
    fn error_bodies_name_the_code_and_fields() {
        assert_eq!(
            error_body(
                r#"[{"message":"Required fields are missing","errorCode":"REQUIRED_FIELD_MISSING","fields":["CloseDate"]}]"#
            ),
            Some((
                "REQUIRED_FIELD_MISSING".to_owned(),
                "Required fields are missing (fields: CloseDate)".to_owned()
            ))
        );
        let (code, message) = error_body(
            r#"["/services/data/v60.0/sobjects/Opportunity/006A","/services/data/v60.0/sobjects/Opportunity/006B"]"#,
        )
        .expect("candidates");
        assert_eq!(code, "MULTIPLE_CHOICES");
        assert!(message.contains("006A, 006B"), "{message}");
    }
}
