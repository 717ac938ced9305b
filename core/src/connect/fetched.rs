//! A record as a service returned it: its JSON text, for the engine to parse with its mapping's projection, and
//! its version tag for the next guarded write.

use serde_json::Value;

use super::error::ConnectError;
use super::http::Answer;

/// A record as the service returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// The record's JSON text.
    pub text: String,
    /// Its entity tag: Partner Center's `eTag`, Dynamics 365's `@odata.etag` (from the body, else the `ETag`
    /// header).
    pub etag: Option<String>,
}

/// The record of a 2xx answer: a JSON object, with its tag from the body's `tag_field` or the `ETag` header.
pub(crate) fn fetched(
    service: &'static str,
    answer: Answer,
    what: &str,
    tag_field: &str,
) -> Result<Fetched, ConnectError> {
    let value: Value =
        serde_json::from_str(&answer.body).map_err(|e| ConnectError::InvalidResponse {
            service,
            what: what.to_owned(),
            detail: format!("not JSON: {e}"),
        })?;
    if !value.is_object() {
        return Err(ConnectError::InvalidResponse {
            service,
            what: what.to_owned(),
            detail: "the record is not a JSON object".to_owned(),
        });
    }
    let etag = value
        .get(tag_field)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or(answer.etag);
    Ok(Fetched {
        text: answer.body,
        etag,
    })
}
