//! Canonical typed values: what a field holds once read from either side, and how two values compare.
//!
//! Diffing happens only on these values, never on wire JSON, so `120000` and `120000.0` are equal, dates compare
//! as dates and a set of solution ids ignores order. Decimals are `f64`: every amount the three services send is
//! a JSON number that serde reads as `f64`, the same text always gives the same `f64`, and the services' own
//! precision (Salesforce currency 18,2; Dataverse Money) is well inside the 15 significant digits `f64` keeps.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value as Json;

use crate::model::Field;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, UtcOffset};

/// The type of a canonical field, as declared in a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// Free text.
    Text,
    /// A number (amounts, counts).
    Decimal,
    /// A calendar date without time.
    Date,
    /// An instant, normalized to UTC.
    Datetime,
    /// Yes/no.
    Bool,
    /// One value of a closed list (status, "how can Microsoft help").
    Enum,
    /// A set of ids (solution ids); order and duplicates do not matter.
    Set,
}

impl ValueType {
    /// The name used in mapping files.
    pub fn as_str(self) -> &'static str {
        match self {
            ValueType::Text => "text",
            ValueType::Decimal => "decimal",
            ValueType::Date => "date",
            ValueType::Datetime => "datetime",
            ValueType::Bool => "bool",
            ValueType::Enum => "enum",
            ValueType::Set => "set",
        }
    }
}

/// A canonical value. `Null` means "no value on this side".
#[derive(Debug, Clone)]
pub enum Value {
    /// No value.
    Null,
    /// Text.
    Text(String),
    /// A number.
    Decimal(f64),
    /// A date.
    Date(Date),
    /// An instant in UTC.
    Datetime(OffsetDateTime),
    /// A boolean.
    Bool(bool),
    /// An enum value, in Partner Center's vocabulary (for status: `Active/Accepted`).
    Enum(String),
    /// A set of ids.
    Set(BTreeSet<String>),
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Text(a), Value::Text(b)) | (Value::Enum(a), Value::Enum(b)) => a == b,
            #[allow(clippy::float_cmp)] // exact equality is the point: 120000 == 120000.0
            (Value::Decimal(a), Value::Decimal(b)) => a == b,
            (Value::Date(a), Value::Date(b)) => a == b,
            (Value::Datetime(a), Value::Datetime(b)) => a == b,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Set(a), Value::Set(b)) => a == b,
            // An empty text or set is the same as no value: services print "" and null interchangeably.
            (Value::Null, Value::Text(s)) | (Value::Text(s), Value::Null) => s.is_empty(),
            (Value::Null, Value::Set(s)) | (Value::Set(s), Value::Null) => s.is_empty(),
            _ => false,
        }
    }
}

impl Value {
    /// True for `Null`, empty text and the empty set.
    pub fn is_empty(&self) -> bool {
        *self == Value::Null
    }

    /// The plain JSON form used in plans, the audit and the stored base: text and enums as strings, decimals as
    /// numbers (integral values without a fraction), dates as `YYYY-MM-DD`, instants as RFC 3339 UTC, sets as
    /// sorted arrays.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Text(s) | Value::Enum(s) => Json::String(s.clone()),
            Value::Decimal(d) => decimal_json(*d),
            Value::Date(d) => Json::String(format_date(*d)),
            Value::Datetime(t) => Json::String(format_datetime(*t)),
            Value::Bool(b) => Json::Bool(*b),
            Value::Set(s) => Json::Array(s.iter().map(|x| Json::String(x.clone())).collect()),
        }
    }

    /// Reads the plain JSON form back (the inverse of [`Value::to_json`]) for a field of type `ty`.
    pub fn from_json(ty: ValueType, json: &Json) -> Result<Value, String> {
        ValueRef::from_json(ty, json).map(|v| v.to_value())
    }

    /// This value as a [`ValueRef`] that owns its text.
    pub fn into_ref(self) -> ValueRef<'static> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Text(s) => ValueRef::Text(Cow::Owned(s)),
            Value::Decimal(d) => ValueRef::Decimal(d),
            Value::Date(d) => ValueRef::Date(d),
            Value::Datetime(t) => ValueRef::Datetime(t),
            Value::Bool(b) => ValueRef::Bool(b),
            Value::Enum(s) => ValueRef::Enum(Cow::Owned(s)),
            Value::Set(items) => ValueRef::Set(items.into_iter().map(Cow::Owned).collect()),
        }
    }

    /// A borrowed view of this value.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Text(s) => ValueRef::Text(Cow::Borrowed(s)),
            Value::Decimal(d) => ValueRef::Decimal(*d),
            Value::Date(d) => ValueRef::Date(*d),
            Value::Datetime(t) => ValueRef::Datetime(*t),
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Enum(s) => ValueRef::Enum(Cow::Borrowed(s)),
            Value::Set(items) => {
                ValueRef::Set(items.iter().map(|s| Cow::Borrowed(s.as_str())).collect())
            }
        }
    }
}

/// A canonical value borrowing its text from the record it was read from.
///
/// The planner compares every mapped field of every pair, and nearly all of them are unchanged: reading them as
/// borrowed values lets that comparison run without allocating. Equality is the same as [`Value`]'s.
#[derive(Debug, Clone)]
pub enum ValueRef<'a> {
    /// No value.
    Null,
    /// Text.
    Text(Cow<'a, str>),
    /// A number.
    Decimal(f64),
    /// A date.
    Date(Date),
    /// An instant in UTC.
    Datetime(OffsetDateTime),
    /// A boolean.
    Bool(bool),
    /// An enum value, in Partner Center's vocabulary.
    Enum(Cow<'a, str>),
    /// A set of ids, sorted and without duplicates.
    Set(Vec<Cow<'a, str>>),
}

impl PartialEq for ValueRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (ValueRef::Null, ValueRef::Null) => true,
            (ValueRef::Text(a), ValueRef::Text(b)) | (ValueRef::Enum(a), ValueRef::Enum(b)) => {
                a == b
            }
            #[allow(clippy::float_cmp)] // exact equality is the point: 120000 == 120000.0
            (ValueRef::Decimal(a), ValueRef::Decimal(b)) => a == b,
            (ValueRef::Date(a), ValueRef::Date(b)) => a == b,
            (ValueRef::Datetime(a), ValueRef::Datetime(b)) => a == b,
            (ValueRef::Bool(a), ValueRef::Bool(b)) => a == b,
            (ValueRef::Set(a), ValueRef::Set(b)) => a == b,
            // An empty text or set is the same as no value: services print "" and null interchangeably.
            (ValueRef::Null, ValueRef::Text(s)) | (ValueRef::Text(s), ValueRef::Null) => {
                s.is_empty()
            }
            (ValueRef::Null, ValueRef::Set(s)) | (ValueRef::Set(s), ValueRef::Null) => s.is_empty(),
            _ => false,
        }
    }
}

impl<'a> ValueRef<'a> {
    /// Reads a value of type `ty` from JSON, borrowing its text.
    pub fn from_json(ty: ValueType, json: &'a Json) -> Result<ValueRef<'a>, String> {
        match json {
            Json::Null => Ok(ValueRef::Null),
            Json::String(s) => ValueRef::from_text(ty, Cow::Borrowed(s)),
            Json::Number(n) => match ty {
                ValueType::Decimal => n
                    .as_f64()
                    .map(ValueRef::Decimal)
                    .ok_or_else(|| "a finite number".to_owned()),
                ValueType::Text => Ok(ValueRef::Text(Cow::Owned(n.to_string()))),
                ValueType::Enum => Ok(ValueRef::Enum(Cow::Owned(n.to_string()))),
                other => Err(expected(other)),
            },
            Json::Bool(b) => match ty {
                ValueType::Bool => Ok(ValueRef::Bool(*b)),
                ValueType::Text => Ok(ValueRef::Text(Cow::Owned(b.to_string()))),
                ValueType::Enum => Ok(ValueRef::Enum(Cow::Owned(b.to_string()))),
                other => Err(expected(other)),
            },
            Json::Array(items) if ty == ValueType::Set => items
                .iter()
                .filter(|v| !v.is_null())
                .map(scalar_text)
                .collect::<Result<Vec<_>, _>>()
                .map(ValueRef::set),
            _ => Err(expected(ty)),
        }
    }

    /// Reads a value of type `ty` from a record's field (a tree node or projected text), borrowing its text.
    pub(crate) fn from_field(ty: ValueType, field: Field<'a>) -> Result<ValueRef<'a>, String> {
        match field {
            Field::Absent | Field::Raw("null") => Ok(ValueRef::Null),
            Field::Json(json) => ValueRef::from_json(ty, json),
            Field::Container => Err(expected(ty)),
            Field::Raw(raw) => {
                if let Some(text) = field.as_str() {
                    ValueRef::from_text(ty, text)
                } else {
                    // Numbers and booleans parse without allocating; arrays and objects become owned values.
                    let json: Json = serde_json::from_str(raw).map_err(|_| expected(ty))?;
                    ValueRef::from_json(ty, &json).map(|v| v.to_value().into_ref())
                }
            }
        }
    }

    /// Reads a value of type `ty` from a JSON string's text.
    fn from_text(ty: ValueType, text: Cow<'a, str>) -> Result<ValueRef<'a>, String> {
        match ty {
            ValueType::Text => Ok(ValueRef::Text(text)),
            ValueType::Enum => Ok(ValueRef::Enum(text)),
            ValueType::Decimal => text
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(ValueRef::Decimal)
                .ok_or_else(|| "a number".to_owned()),
            ValueType::Bool if text.eq_ignore_ascii_case("true") => Ok(ValueRef::Bool(true)),
            ValueType::Bool if text.eq_ignore_ascii_case("false") => Ok(ValueRef::Bool(false)),
            ValueType::Date => parse_date(&text).map(ValueRef::Date),
            ValueType::Datetime => parse_datetime(&text).map(ValueRef::Datetime),
            other => Err(expected(other)),
        }
    }

    /// A set from ids in any order, with duplicates.
    pub fn set(mut items: Vec<Cow<'a, str>>) -> ValueRef<'a> {
        items.sort_unstable();
        items.dedup();
        ValueRef::Set(items)
    }

    /// The owned value.
    pub fn to_value(&self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Text(s) => Value::Text(s.clone().into_owned()),
            ValueRef::Decimal(d) => Value::Decimal(*d),
            ValueRef::Date(d) => Value::Date(*d),
            ValueRef::Datetime(t) => Value::Datetime(*t),
            ValueRef::Bool(b) => Value::Bool(*b),
            ValueRef::Enum(s) => Value::Enum(s.clone().into_owned()),
            ValueRef::Set(items) => {
                Value::Set(items.iter().map(|s| s.clone().into_owned()).collect())
            }
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("(empty)"),
            Value::Text(s) | Value::Enum(s) => write!(f, "{s:?}"),
            other => write!(f, "{}", other.to_json()),
        }
    }
}

/// What a value of `ty` must look like, for error messages.
fn expected(ty: ValueType) -> String {
    match ty {
        ValueType::Text => "text",
        ValueType::Decimal => "a number",
        ValueType::Date => "a date (YYYY-MM-DD)",
        ValueType::Datetime => "a date-time (RFC 3339)",
        ValueType::Bool => "true or false",
        ValueType::Enum => "one of the listed values",
        ValueType::Set => "an array of ids",
    }
    .to_owned()
}

fn scalar_text(json: &Json) -> Result<Cow<'_, str>, String> {
    match json {
        Json::String(s) => Ok(Cow::Borrowed(s)),
        Json::Number(n) => Ok(Cow::Owned(n.to_string())),
        Json::Bool(b) => Ok(Cow::Owned(b.to_string())),
        _ => Err("text".to_owned()),
    }
}

/// A decimal as JSON: integral values within ±2^53 are written without a fraction (`120000`, not `120000.0`).
pub(crate) fn decimal_json(d: f64) -> Json {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if d.fract() == 0.0 && d.abs() < EXACT {
        #[allow(clippy::cast_possible_truncation)]
        return Json::from(d as i64);
    }
    serde_json::Number::from_f64(d).map_or(Json::Null, Json::Number)
}

/// Formats a date as `YYYY-MM-DD`.
pub(crate) fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Formats an instant as RFC 3339 in UTC with seconds precision or more (`2026-11-02T09:00:00Z`).
pub(crate) fn format_datetime(t: OffsetDateTime) -> String {
    t.to_offset(UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Formats an instant for the store and the audit: RFC 3339 UTC with exactly six fractional digits
/// (`2026-11-24T10:00:00.000000Z`), so that stored times sort and compare correctly as text.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Parses a date: `YYYY-MM-DD`, or the date part of a date-time as written (`2027-03-15T00:00:00Z` → 2027-03-15;
/// Partner Center's `closingDateTime` carries dates this way).
pub(crate) fn parse_date(text: &str) -> Result<Date, String> {
    const EXPECTED: &str = "a date (YYYY-MM-DD)";
    let head = text.get(..10).ok_or_else(|| EXPECTED.to_owned())?;
    let rest = &text[10..];
    if !(rest.is_empty() || rest.starts_with('T') || rest.starts_with(' ')) {
        return Err(EXPECTED.to_owned());
    }
    let bytes = head.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    if bytes[4] != b'-' || bytes[7] != b'-' {
        return Err(EXPECTED.to_owned());
    }
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(5..7), number(8..10)) else {
        return Err(EXPECTED.to_owned());
    };
    let month =
        time::Month::try_from(month as u8).map_err(|_| "a date with a month 01-12".to_owned())?;
    Date::from_calendar_date(year as i32, month, day as u8)
        .map_err(|_| "a valid calendar date".to_owned())
}

/// Parses an instant in any of the three services' forms: RFC 3339 (`…Z`, `…+00:00`, up to 9 fractional digits;
/// Partner Center prints 7) and Salesforce's `2026-10-20T10:15:42.000+0000` (offset without a colon).
pub(crate) fn parse_datetime(s: &str) -> Result<OffsetDateTime, String> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t.to_offset(UtcOffset::UTC));
    }
    // Salesforce: ±HHMM offset. Insert the colon and retry.
    let n = s.len();
    if n > 5 && s.is_char_boundary(n - 5) {
        let (head, off) = s.split_at(n - 5);
        let ob = off.as_bytes();
        if (ob[0] == b'+' || ob[0] == b'-') && ob[1..].iter().all(u8::is_ascii_digit) {
            let fixed = format!("{head}{}:{}", &off[..3], &off[3..]);
            if let Ok(t) = OffsetDateTime::parse(&fixed, &Rfc3339) {
                return Ok(t.to_offset(UtcOffset::UTC));
            }
        }
    }
    Err("a date-time (RFC 3339, e.g. 2026-11-02T09:00:00Z)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decimals_compare_by_value() {
        let a = Value::from_json(ValueType::Decimal, &json!(120_000)).expect("int");
        let b = Value::from_json(ValueType::Decimal, &json!(120_000.0)).expect("float");
        assert_eq!(a, b);
        assert_eq!(a.to_json(), json!(120_000));
        assert_ne!(a, Value::Decimal(120_000.5));
    }

    #[test]
    fn sets_ignore_order_and_empty_is_null() {
        let a = Value::from_json(ValueType::Set, &json!(["b", "a"])).expect("set");
        let b = Value::from_json(ValueType::Set, &json!(["a", "b", "a"])).expect("set");
        assert_eq!(a, b);
        assert_eq!(Value::Set(BTreeSet::new()), Value::Null);
        assert_eq!(Value::Text(String::new()), Value::Null);
    }

    #[test]
    fn dates_and_datetimes_in_every_service_format() {
        assert_eq!(parse_date("2027-03-15T00:00:00Z"), parse_date("2027-03-15"));
        assert!(parse_date("2027-02-30").is_err());
        assert!(parse_date("2027-3-15").is_err());
        assert!(parse_date("").is_err());
        assert!(parse_date("2027-03-15junk").is_err());
        let pc = parse_datetime("2026-10-20T10:15:42.0000000Z").expect("pc");
        let sf = parse_datetime("2026-10-20T10:15:42.000+0000").expect("sf");
        let dy = parse_datetime("2026-10-20T12:15:42+02:00").expect("dynamics");
        assert_eq!(pc, sf);
        assert_eq!(pc, dy);
        assert_eq!(format_datetime(pc), "2026-10-20T10:15:42Z");
        assert!(parse_datetime("yesterday").is_err());
        assert!(parse_datetime("2026-10-20T10:15:42.000+00é0").is_err());
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        assert!(Value::from_json(ValueType::Decimal, &json!("abc")).is_err());
        assert!(Value::from_json(ValueType::Bool, &json!(3)).is_err());
        assert!(Value::from_json(ValueType::Set, &json!({"a": 1})).is_err());
        assert!(Value::from_json(ValueType::Text, &json!([1])).is_err());
    }
}
