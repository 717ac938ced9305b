//! The options of a list request (`$filter`, `$orderby`, `$top`, `$skip`, `$count`, `$select`, `$skiptoken`) and
//! which of them the emulated service accepts.

use std::cmp::Ordering;
use std::collections::HashSet;

use serde_json::Value;

use super::Options;
use crate::clock::parse_ticks;
use crate::odata::{self, CmpOp, Literal, Term};

/// The options of one list request.
#[derive(Debug, Default)]
pub(super) struct ListQuery {
    /// `$filter` terms, all of which must hold.
    pub(super) filter: Vec<Term>,
    /// `$orderby` keys, `true` = descending.
    pub(super) orderby: Vec<(String, bool)>,
    /// `$top`.
    pub(super) top: Option<usize>,
    /// `$skip`.
    pub(super) skip: usize,
    /// `$count=true`.
    pub(super) count: bool,
    /// `$select` property names.
    pub(super) select: Option<Vec<String>>,
    /// The offset into the `$skip`/`$top` window where this page starts.
    pub(super) skiptoken: usize,
}

impl ListQuery {
    /// Reads the `$` options; other parameters are ignored. An error is the message of a 400 `invalidRequest`.
    pub(super) fn parse(
        params: &[(String, String)],
        options: &Options,
    ) -> Result<ListQuery, String> {
        let mut query = ListQuery::default();
        let mut seen = HashSet::new();
        for (name, value) in params.iter().filter(|(name, _)| name.starts_with('$')) {
            if !seen.insert(name.as_str()) {
                return Err(format!(
                    "The query option '{name}' is given more than once."
                ));
            }
            match name.as_str() {
                "$filter" => {
                    query.filter = odata::parse_filter(value)?;
                    for term in &query.filter {
                        check_term(term, options)?;
                    }
                }
                "$orderby" => {
                    query.orderby = odata::parse_orderby(value)?;
                    let unsupported = query
                        .orderby
                        .iter()
                        .find(|(key, _)| key != "createdDateTime" && key != "updatedDateTime");
                    if let Some((key, _)) = unsupported {
                        return Err(format!(
                            "The $orderby property '{key}' is not supported (createdDateTime, updatedDateTime)."
                        ));
                    }
                }
                "$top" => query.top = Some(parse_count(name, value)?),
                "$skip" => query.skip = parse_count(name, value)?,
                "$skiptoken" => query.skiptoken = parse_count(name, value)?,
                "$count" => {
                    query.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(format!("$count must be true or false, not '{value}'.")),
                    };
                }
                "$select" => {
                    let names: Vec<String> = value
                        .split(',')
                        .map(|name| name.trim().to_owned())
                        .collect();
                    if names
                        .iter()
                        .any(|name| name.is_empty() || !name.chars().all(char::is_alphanumeric))
                    {
                        return Err(format!(
                            "$select '{value}' is not a list of property names."
                        ));
                    }
                    query.select = Some(names);
                }
                other => {
                    return Err(format!(
                        "The query option '{other}' is not supported by the emulator."
                    ));
                }
            }
        }
        Ok(query)
    }

    /// Orders two referrals by the `$orderby` keys (timestamps; a missing one sorts first).
    pub(super) fn compare(&self, a: &Value, b: &Value) -> Ordering {
        self.orderby
            .iter()
            .map(|(key, descending)| {
                let ticks = |referral: &Value| {
                    referral
                        .get(key)
                        .and_then(Value::as_str)
                        .and_then(parse_ticks)
                };
                let ordering = ticks(a).cmp(&ticks(b));
                if *descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            })
            .find(|ordering| *ordering != Ordering::Equal)
            .unwrap_or(Ordering::Equal)
    }

    /// A referral as listed: only the `$select`ed properties, when given.
    pub(super) fn select(&self, referral: &Value) -> Value {
        match (&self.select, referral) {
            (Some(names), Value::Object(fields)) => Value::Object(
                fields
                    .iter()
                    .filter(|(key, _)| names.contains(key))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            _ => referral.clone(),
        }
    }
}

/// Parses a non-negative integer query option.
fn parse_count(name: &str, value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{name} must be a non-negative integer, not '{value}'."))
}

/// Whether the emulator accepts a filter term: `eq` on any property that is not a timestamp, and, with
/// `filter_on_updated`, `updatedDateTime ge|gt|le|lt <DateTimeOffset>`.
fn check_term(term: &Term, options: &Options) -> Result<(), String> {
    let time_range = term.property == "updatedDateTime"
        && matches!(term.op, CmpOp::Ge | CmpOp::Gt | CmpOp::Le | CmpOp::Lt)
        && matches!(term.literal, Literal::DateTime(_));
    if time_range && options.filter_on_updated {
        return Ok(());
    }
    if time_range {
        return Err(format!(
            "The $filter term '{}' is not supported: filtering on updatedDateTime is unconfirmed for the real service \
             (the emulator allows it only with the filter_on_updated option).",
            term.text
        ));
    }
    if term.property.ends_with("DateTime") {
        return Err(format!(
            "The $filter term '{}' is not supported: only 'updatedDateTime ge|gt|le|lt <DateTimeOffset>' (unquoted) \
             compares a timestamp, and only with the filter_on_updated option.",
            term.text
        ));
    }
    if term.op != CmpOp::Eq {
        return Err(format!(
            "The $filter term '{}' is not supported: only 'eq' comparisons are.",
            term.text
        ));
    }
    if matches!(term.literal, Literal::DateTime(_)) {
        return Err(format!(
            "The $filter term '{}' compares a property that is not a timestamp with one.",
            term.text
        ));
    }
    if matches!(term.literal, Literal::Guid(_)) {
        return Err(format!(
            "The $filter term '{}' compares with an unquoted GUID: referral ids are strings, write them 'quoted'.",
            term.text
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn params(query: &str) -> Vec<(String, String)> {
        odata::parse_query(query).expect("a query string")
    }

    #[test]
    fn filter_terms_are_checked() {
        let plain = Options::default();
        let polling = Options {
            filter_on_updated: true,
            ..Options::default()
        };
        let term = |filter: &str| odata::parse_filter(filter).expect(filter).remove(0);
        assert!(check_term(&term("status eq 'New'"), &plain).is_ok());
        assert!(check_term(&term("customerProfile/address/country eq 'US'"), &plain).is_ok());
        assert!(check_term(&term("status ne 'New'"), &plain).is_err());
        let updated = term("updatedDateTime ge 2024-01-01T00:00:00Z");
        assert!(
            check_term(&updated, &plain)
                .expect_err("off")
                .contains("filter_on_updated")
        );
        assert!(check_term(&updated, &polling).is_ok());
        assert!(check_term(&term("updatedDateTime ge '2024-01-01T00:00:00Z'"), &polling).is_err());
        assert!(check_term(&term("createdDateTime ge 2024-01-01T00:00:00Z"), &polling).is_err());
        assert!(check_term(&term("updatedDateTime eq 2024-01-01T00:00:00Z"), &polling).is_err());
        assert!(check_term(&term("name eq 2024-01-01T00:00:00Z"), &polling).is_err());
    }

    #[test]
    fn options_parse() {
        let options = Options::default();
        let query = ListQuery::parse(
            &params("$top=5&$skip=2&$count=true&$select=id,name&other=x"),
            &options,
        )
        .expect("parses");
        assert_eq!((query.top, query.skip, query.count), (Some(5), 2, true));
        assert_eq!(query.select, Some(vec!["id".to_owned(), "name".to_owned()]));
        assert_eq!(
            query.select(&json!({"id": 1, "name": 2, "status": 3})),
            json!({"id": 1, "name": 2})
        );
        assert!(ListQuery::parse(&params("$select=a,,b"), &options).is_err());
        assert!(
            ListQuery::parse(&params("$search=x"), &options)
                .expect_err("unknown")
                .contains("'$search'")
        );
    }

    #[test]
    fn orderby_compares_timestamps() {
        let query = ListQuery::parse(
            &params("$orderby=updatedDateTime%20desc"),
            &Options::default(),
        )
        .expect("ok");
        let old = json!({"updatedDateTime": "2024-01-01T00:00:00.0000000Z"});
        let new = json!({"updatedDateTime": "2024-01-01T01:00:00+00:30"});
        assert_eq!(query.compare(&old, &new), Ordering::Greater);
        assert_eq!(
            query.compare(&json!({}), &old),
            Ordering::Greater,
            "missing sorts first, reversed"
        );
    }
}
