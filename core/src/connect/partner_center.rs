//! The Partner Center Referrals API (`/v1.0/engagements/referrals`, `DOMAIN.md` §2): get, list with `OData` options
//! and `@odata.nextLink` paging, create, and update with JSON Patch (`replace`/`add` only) guarded by `If-Match`.
//!
//! Records come back as the service's JSON text, for the engine to parse with its mapping's projection; an
//! error answer (`{"error": {"code", "message", "target"}}`) becomes a [`ConnectError`] with the service's code.

use serde_json::Value;

use super::error::ConnectError;
use super::fetched::{Fetched, fetched};
use super::http::{ErrorBody, Http, HttpConfig, Request, Retry, TokenSource};
use super::url::{encode, request_id};
use crate::plan::PatchOp;

const SERVICE: &str = "Partner Center";
const REFERRALS: &str = "/v1.0/engagements/referrals";

/// Where the API is and how to call it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartnerCenterConfig {
    /// The API's base URL: `https://api.partner.microsoft.com` (the default), or an emulator's.
    pub base_url: String,
    /// Timeouts and retry bounds.
    pub http: HttpConfig,
}

impl Default for PartnerCenterConfig {
    fn default() -> Self {
        PartnerCenterConfig {
            base_url: "https://api.partner.microsoft.com".to_owned(),
            http: HttpConfig::default(),
        }
    }
}

/// `OData` options of a referral list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// `$filter`, e.g. `status eq 'Active'`.
    pub filter: Option<String>,
    /// `$orderby`, e.g. `updatedDateTime desc`.
    pub orderby: Option<String>,
    /// `$top`: at most this many referrals in all.
    pub top: Option<usize>,
}

/// A page of referrals and the link to the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The referrals of this page, as JSON text.
    pub referrals: Vec<String>,
    /// `@odata.nextLink`: the absolute URL of the next page, if any.
    pub next: Option<String>,
}

/// A client of the Partner Center Referrals API.
#[derive(Debug)]
pub struct PartnerCenter {
    http: Http,
    base: String,
}

impl PartnerCenter {
    /// A client for `config`, authenticated by `tokens`. The base URL must be `http` or `https` with no path.
    pub fn new(
        config: PartnerCenterConfig,
        tokens: Box<dyn TokenSource>,
    ) -> Result<PartnerCenter, ConnectError> {
        let base = config.base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(ConnectError::Config {
                service: SERVICE,
                detail: format!("base_url {base:?} is not an http(s) URL"),
            });
        }
        Ok(PartnerCenter {
            http: Http::new(SERVICE, config.http, tokens),
            base,
        })
    }

    fn url(&self, tail: &str) -> String {
        format!("{}{REFERRALS}{tail}", self.base)
    }

    /// The referral with this id.
    pub fn get(&self, id: &str) -> Result<Fetched, ConnectError> {
        let request = Request {
            method: "GET",
            url: self.url(&format!("/{}", encode(id))),
            headers: vec![("client-request-id", request_id())],
            body: None,
            what: format!("referral {id}"),
            retry: Retry::Always,
        };
        let answer = self.http.send(&request, error_body)?;
        fetched(SERVICE, answer, &request.what, "eTag")
    }

    /// The first page of the referrals `query` selects; follow [`Page::next`] with [`PartnerCenter::next_page`].
    pub fn list(&self, query: &ListQuery) -> Result<Page, ConnectError> {
        let mut params = Vec::new();
        if let Some(f) = &query.filter {
            params.push(format!("$filter={}", encode(f)));
        }
        if let Some(o) = &query.orderby {
            params.push(format!("$orderby={}", encode(o)));
        }
        if let Some(t) = query.top {
            params.push(format!("$top={t}"));
        }
        let tail = if params.is_empty() {
            String::new()
        } else {
            format!("?{}", params.join("&"))
        };
        self.page(self.url(&tail))
    }

    /// The page at `next` (an `@odata.nextLink` of an earlier page). It must be on this client's base URL: a link
    /// elsewhere is refused rather than followed with the token.
    pub fn next_page(&self, next: &str) -> Result<Page, ConnectError> {
        if !next.starts_with(&format!("{}{REFERRALS}", self.base)) {
            return Err(ConnectError::InvalidResponse {
                service: SERVICE,
                what: "list of referrals".to_owned(),
                detail: format!("@odata.nextLink {next:?} is not under {}", self.base),
            });
        }
        self.page(next.to_owned())
    }

    /// Every referral `query` selects, page after page.
    pub fn list_all(&self, query: &ListQuery) -> Result<Vec<String>, ConnectError> {
        let mut page = self.list(query)?;
        let mut all = std::mem::take(&mut page.referrals);
        while let Some(next) = page.next {
            page = self.next_page(&next)?;
            all.append(&mut page.referrals);
        }
        Ok(all)
    }

    fn page(&self, url: String) -> Result<Page, ConnectError> {
        let what = "list of referrals".to_owned();
        let request = Request {
            method: "GET",
            url,
            headers: vec![("client-request-id", request_id())],
            body: None,
            what: what.clone(),
            retry: Retry::Always,
        };
        let answer = self.http.send(&request, error_body)?;
        let invalid = |detail: String| ConnectError::InvalidResponse {
            service: SERVICE,
            what: what.clone(),
            detail,
        };
        let mut body: Value =
            serde_json::from_str(&answer.body).map_err(|e| invalid(format!("not JSON: {e}")))?;
        let next = match body.get("@odata.nextLink") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => return Err(invalid(format!("@odata.nextLink is {other}"))),
        };
        let Some(Value::Array(items)) = body.get_mut("value").map(Value::take) else {
            return Err(invalid("no \"value\" array".to_owned()));
        };
        Ok(Page {
            referrals: items.iter().map(Value::to_string).collect(),
            next,
        })
    }

    /// Creates a referral from `body` (its JSON). Returns the created referral.
    ///
    /// Whether the service dedupes a retried create is not documented, so a create is sent again only when the
    /// service said it did not act (429, 503) or no connection was made. When the answer was lost after sending,
    /// the error is [`ConnectError::Transport`] with `maybe_applied`: look the referral up (by
    /// `externalReferenceId`, with [`PartnerCenter::find_by_external_reference`]) before creating it again.
    pub fn create(&self, body: &Value) -> Result<Fetched, ConnectError> {
        let text = body.to_string();
        let request = Request {
            method: "POST",
            url: self.url(""),
            headers: vec![("client-request-id", request_id())],
            body: Some(&text),
            what: "new referral".to_owned(),
            retry: Retry::NotIfSent,
        };
        let answer = self.http.send(&request, error_body)?;
        fetched(SERVICE, answer, &request.what, "eTag")
    }

    /// The referrals whose `externalReferenceId` is `crm_id` (the CRM back-link): how a create whose answer was
    /// lost is found.
    pub fn find_by_external_reference(&self, crm_id: &str) -> Result<Vec<String>, ConnectError> {
        self.list_all(&ListQuery {
            filter: Some(format!(
                "externalReferenceId eq '{}'",
                crm_id.replace('\'', "''")
            )),
            ..ListQuery::default()
        })
    }

    /// Applies JSON Patch `ops` (`replace`/`add` only) to referral `id`, guarded by `if_match` (its `eTag` as
    /// read). Returns the updated referral (`Prefer: return=representation`). A stale `if_match` is
    /// [`ConnectError::PreconditionFailed`]: read the referral again and re-plan.
    pub fn update(
        &self,
        id: &str,
        ops: &[PatchOp],
        if_match: Option<&str>,
    ) -> Result<Fetched, ConnectError> {
        if let Some(op) = ops.iter().find(|o| o.op != "replace" && o.op != "add") {
            return Err(ConnectError::Config {
                service: SERVICE,
                detail: format!(
                    "JSON Patch op {:?} on {}: Partner Center accepts only replace and add",
                    op.op, op.path
                ),
            });
        }
        let text = serde_json::to_string(ops).map_err(|e| ConnectError::Config {
            service: SERVICE,
            detail: format!("patch of referral {id}: {e}"),
        })?;
        let mut headers = vec![
            ("client-request-id", request_id()),
            ("Prefer", "return=representation".to_owned()),
        ];
        if let Some(etag) = if_match {
            headers.push(("If-Match", etag.to_owned()));
        }
        let request = Request {
            method: "PATCH",
            url: self.url(&format!("/{}", encode(id))),
            headers,
            body: Some(&text),
            what: format!("referral {id}"),
            // Guarded by If-Match a lost answer is safe to resend (an applied patch makes it 412); without it an
            // `add` could apply twice.
            retry: if if_match.is_some() {
                Retry::Always
            } else {
                Retry::NotIfSent
            },
        };
        let answer = self.http.send(&request, error_body)?;
        if answer.status == 204 || answer.body.trim().is_empty() {
            // Some deployments ignore `Prefer`: read the referral back.
            return self.get(id);
        }
        fetched(SERVICE, answer, &request.what, "eTag")
    }
}

/// `{"error": {"code": ..., "message": ...}}` → (code, message).
pub(crate) fn error_body(body: &str) -> Option<ErrorBody> {
    let value: Value = serde_json::from_str(body).ok()?;
    let error = value.get("error")?;
    let code = error.get("code")?.as_str()?.to_owned();
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_read() {
        assert_eq!(
            error_body(
                r#"{"error": {"code": "preconditionFailed", "message": "The eTag does not match.", "target": "referral"}}"#
            ),
            Some((
                "preconditionFailed".to_owned(),
                "The eTag does not match.".to_owned()
            ))
        );
        assert_eq!(error_body("<html>"), None);
    }
}
