//! Helpers shared by the table modules: error context for `SQLite` calls, reading text and JSON columns,
//! decoding stored enums, and checking caller-supplied timestamps and limits.

use rusqlite::Row;
use rusqlite::types::ValueRef;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::StoreError;

/// Adds what the store was doing to a rusqlite error and maps its code (see [`StoreError::from_sqlite`]).
pub(crate) trait Ctx<T> {
    /// Maps the error, naming `context` (a gerund phrase such as "inserting a link").
    fn ctx(self, context: &'static str) -> Result<T, StoreError>;
}

impl<T> Ctx<T> for rusqlite::Result<T> {
    fn ctx(self, context: &'static str) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::from_sqlite(context, e))
    }
}

/// Encodes a value as JSON text for a column.
pub(crate) fn to_json<T: Serialize + ?Sized>(
    value: &T,
    context: &'static str,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Json { context, source })
}

/// Decodes JSON text read from `column`.
pub(crate) fn from_json<T: DeserializeOwned>(
    text: &str,
    column: &'static str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Json {
        context: column,
        source,
    })
}

/// Reads a nullable text column without copying it.
pub(crate) fn opt_str<'r>(
    row: &'r Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<Option<&'r str>, StoreError> {
    match row.get_ref(index).ctx(column)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(bytes) => std::str::from_utf8(bytes)
            .map(Some)
            .map_err(|e| StoreError::corrupt(format!("{column} is not valid UTF-8: {e}"))),
        other => Err(StoreError::corrupt(format!(
            "{column} holds a {} where text is expected",
            other.data_type()
        ))),
    }
}

/// Reads a text column that the schema declares NOT NULL (or that the store always fills).
pub(crate) fn req_str<'r>(
    row: &'r Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<&'r str, StoreError> {
    opt_str(row, index, column)?.ok_or_else(|| StoreError::corrupt(format!("{column} is NULL")))
}

/// Reads a nullable text column into an owned string.
pub(crate) fn opt_string(
    row: &Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<Option<String>, StoreError> {
    Ok(opt_str(row, index, column)?.map(str::to_owned))
}

/// Reads a non-null text column into an owned string.
pub(crate) fn req_string(
    row: &Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<String, StoreError> {
    req_str(row, index, column).map(str::to_owned)
}

/// Reads an integer column.
pub(crate) fn int(row: &Row<'_>, index: usize, column: &'static str) -> Result<i64, StoreError> {
    row.get(index).ctx(column)
}

/// Reads a nullable integer column.
pub(crate) fn opt_int(
    row: &Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<Option<i64>, StoreError> {
    row.get(index).ctx(column)
}

/// Reads a nullable JSON column; SQL NULL gives `None`.
pub(crate) fn opt_json<T: DeserializeOwned>(
    row: &Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<Option<T>, StoreError> {
    opt_str(row, index, column)?
        .map(|text| from_json(text, column))
        .transpose()
}

/// Reads a JSON value column where SQL NULL means JSON `null`.
pub(crate) fn json_value(
    row: &Row<'_>,
    index: usize,
    column: &'static str,
) -> Result<serde_json::Value, StoreError> {
    Ok(opt_json(row, index, column)?.unwrap_or(serde_json::Value::Null))
}

/// Decodes a stored enum text with its `parse` function.
pub(crate) fn decode<T>(
    text: &str,
    column: &'static str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(text).ok_or_else(|| StoreError::corrupt(format!("{column} holds unknown value {text:?}")))
}

/// Checks that `value` is an RFC 3339 time in UTC written with a `Z` suffix, so that text order is time order.
pub(crate) fn check_time(what: &'static str, value: &str) -> Result<(), StoreError> {
    // A batch stamps every row with one time: the last time found valid is not parsed again.
    thread_local! {
        static LAST_VALID: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
    }
    if LAST_VALID.with(|last| last.try_borrow().is_ok_and(|l| *l == value)) {
        return Ok(());
    }
    check_time_parsed(what, value)?;
    LAST_VALID.with(|last| {
        if let Ok(mut l) = last.try_borrow_mut() {
            value.clone_into(&mut l);
        }
    });
    Ok(())
}

/// [`check_time`] without the memory of the last valid time.
fn check_time_parsed(what: &'static str, value: &str) -> Result<(), StoreError> {
    if !value.ends_with('Z') {
        return Err(StoreError::InvalidInput {
            what,
            detail: format!("{value:?} is not an RFC 3339 UTC time ending in Z"),
        });
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|_| ())
        .map_err(|e| StoreError::InvalidInput {
            what,
            detail: format!("{value:?} is not an RFC 3339 time: {e}"),
        })
}

/// `value` (an RFC 3339 time, checked by [`check_time`] or any offset) in the form the engine writes
/// ([`format_timestamp`](crate::value::format_timestamp): UTC, six fractional digits, `Z`), so that stored times and
/// query bounds compare correctly as text: `2026-11-01T00:00:00Z` would sort after `2026-11-01T00:00:00.000000Z`
/// (`Z` after `.`), and `…00.5Z` after `…00.500001Z`. Already canonical text is returned as it is.
pub(crate) fn canonical_time<'a>(
    what: &'static str,
    value: &'a str,
) -> Result<std::borrow::Cow<'a, str>, StoreError> {
    let b = value.as_bytes();
    let shaped =
        b.len() == 27 && b[26] == b'Z' && b[19] == b'.' && b[20..26].iter().all(u8::is_ascii_digit);
    if shaped && check_time(what, value).is_ok() {
        return Ok(std::borrow::Cow::Borrowed(value));
    }
    OffsetDateTime::parse(value, &Rfc3339)
        .map(|t| std::borrow::Cow::Owned(crate::value::format_timestamp(t)))
        .map_err(|e| StoreError::InvalidInput {
            what,
            detail: format!(
                "{value:?} is not an RFC 3339 time (such as 2026-11-01T00:00:00Z): {e}"
            ),
        })
}

/// An optional time, checked when present.
pub(crate) fn check_opt_time(what: &'static str, value: Option<&str>) -> Result<(), StoreError> {
    value.map_or(Ok(()), |v| check_time(what, v))
}

/// A row limit as `SQLite` wants it; `None` or a value past `i64::MAX` gives -1, which `SQLite` reads as "no limit".
pub(crate) fn limit(limit: Option<usize>) -> i64 {
    limit.and_then(|n| i64::try_from(n).ok()).unwrap_or(-1)
}
