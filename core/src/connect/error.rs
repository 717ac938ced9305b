//! What can go wrong talking to a service, named precisely enough to decide what to do next: re-read and re-plan
//! (`PreconditionFailed`), look the record up before trying again (`Transport` with `maybe_applied`), back off
//! (`Throttled`), or give up with the service's own words (`Service`).
//!
//! No variant ever carries a credential: the request's headers are not kept, and service messages are the
//! service's error text only.

use std::time::Duration;

/// A failed call to Partner Center, Dynamics 365 or Salesforce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The write's precondition failed (HTTP 412: `If-Match` or `If-Unmodified-Since` no longer holds): the record
    /// changed since it was read. Read it again, re-plan, and retry a bounded number of times.
    #[error(
        "{service}: {what} changed since it was read (HTTP 412 {code}): read it again and re-plan"
    )]
    PreconditionFailed {
        /// `Partner Center`, `Dynamics 365` or `Salesforce`.
        service: &'static str,
        /// What was written, e.g. `referral 5b0e…`.
        what: String,
        /// The service's error code (`preconditionFailed`, `resourceModified`, ...).
        code: String,
    },
    /// The record does not exist (HTTP 404).
    #[error("{service}: {what} does not exist (HTTP 404 {code})")]
    NotFound {
        /// The service.
        service: &'static str,
        /// What was asked for.
        what: String,
        /// The service's error code.
        code: String,
    },
    /// The credentials were refused (HTTP 401 after one token refresh, or 403).
    #[error("{service}: {what}: access refused (HTTP {status} {code}): {message}")]
    Unauthorized {
        /// The service.
        service: &'static str,
        /// What was asked for.
        what: String,
        /// 401 or 403.
        status: u16,
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The service kept answering 429 or 503 until the retries ran out.
    #[error("{service}: {what}: still throttled or unavailable after {attempts} attempts (last: HTTP {status}{})", retry_after.map(|d| format!(", Retry-After {}s", d.as_secs())).unwrap_or_default())]
    Throttled {
        /// The service.
        service: &'static str,
        /// What was asked for.
        what: String,
        /// 429 or 503.
        status: u16,
        /// How many times the call was made.
        attempts: u32,
        /// The last `Retry-After` the service asked for.
        retry_after: Option<Duration>,
    },
    /// The service refused the request with an error of its own (400, 409, 500, ...).
    #[error("{service}: {what}: HTTP {status} {code}: {message}")]
    Service {
        /// The service.
        service: &'static str,
        /// What was asked for.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The service's error code (`invalidRequest`, `INVALID_FIELD`, ...), or `http_<status>` without one.
        code: String,
        /// The service's message.
        message: String,
    },
    /// No answer: the connection failed, was dropped, or timed out. `maybe_applied` is true when the request may
    /// have reached the service (it was sent before the failure): a create must then be looked up before it is
    /// tried again.
    #[error("{service}: {what}: {detail}{}", if *maybe_applied { " (the request may have been applied: look it up before trying again)" } else { "" })]
    Transport {
        /// The service.
        service: &'static str,
        /// What was asked for.
        what: String,
        /// What failed.
        detail: String,
        /// The request may have been applied.
        maybe_applied: bool,
    },
    /// The service answered with something that is not what its API documents (not JSON, a missing field).
    #[error("{service}: {what}: unexpected answer: {detail}")]
    InvalidResponse {
        /// The service.
        service: &'static str,
        /// What was asked for.
        what: String,
        /// What was wrong with it.
        detail: String,
    },
    /// The service's API budget is spent (Salesforce's 403 `REQUEST_LIMIT_EXCEEDED`: the org's rolling 24-hour
    /// limit). Retrying only spends what is left of other integrations' budget: stop the run, keep its cursor, and
    /// resume later.
    #[error(
        "{service}: {what}: the API request limit is exhausted ({message}): stop and resume later"
    )]
    ApiLimit {
        /// The service.
        service: &'static str,
        /// What was asked for.
        what: String,
        /// The service's message.
        message: String,
    },
    /// A configuration or argument that cannot work (a base URL that is not http(s), a missing token).
    #[error("{service}: configuration: {detail}")]
    Config {
        /// The service.
        service: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl ConnectError {
    /// A stable `snake_case` name per variant.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectError::PreconditionFailed { .. } => "precondition_failed",
            ConnectError::NotFound { .. } => "not_found",
            ConnectError::Unauthorized { .. } => "unauthorized",
            ConnectError::Throttled { .. } => "throttled",
            ConnectError::Service { .. } => "service",
            ConnectError::Transport { .. } => "transport",
            ConnectError::InvalidResponse { .. } => "invalid_response",
            ConnectError::ApiLimit { .. } => "api_limit",
            ConnectError::Config { .. } => "config",
        }
    }
}
