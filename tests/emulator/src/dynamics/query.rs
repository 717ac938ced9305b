//! The Dataverse query options: `$select`, `$expand` (single-valued lookups with a nested `$select`), `$filter`,
//! `$orderby`, `$top`, `$count`, and the paging and change-tracking tokens.

use std::cmp::Ordering;

use serde_json::Value;

use super::{EntitySet, LOOKUPS, Lookup, is_lookup_name};
use crate::odata::{self, CmpOp, Literal, Term};

/// The options a single-row request (GET, PATCH, POST) takes.
pub(super) const SINGLE: &[&str] = &["$select", "$expand"];

/// The options a collection GET takes.
pub(super) const COLLECTION: &[&str] = &[
    "$select",
    "$expand",
    "$filter",
    "$orderby",
    "$top",
    "$count",
    "$skiptoken",
    "$deltatoken",
];

/// One `$expand` item: a lookup and the columns of the related row.
#[derive(Debug, Clone)]
pub(super) struct Expand {
    /// The lookup expanded.
    pub(super) lookup: &'static Lookup,
    /// The related row's columns (`None`: all).
    pub(super) select: Option<Vec<String>>,
}

/// The parsed query options of one request.
#[derive(Debug, Clone, Default)]
pub(super) struct QueryOptions {
    /// `$select` columns.
    pub(super) select: Option<Vec<String>>,
    /// `$expand` items.
    pub(super) expand: Vec<Expand>,
    /// `$filter` terms, joined by `and`.
    pub(super) filter: Vec<Term>,
    /// `$orderby` columns; `true` is descending.
    pub(super) orderby: Vec<(String, bool)>,
    /// `$top`.
    pub(super) top: Option<usize>,
    /// `$count=true`.
    pub(super) count: bool,
    /// `$skiptoken` (paging).
    pub(super) skiptoken: Option<String>,
    /// `$deltatoken` (change tracking).
    pub(super) deltatoken: Option<String>,
}

impl QueryOptions {
    /// Parses the decoded query parameters of a request on `set`; only the options in `allowed` are accepted.
    pub(super) fn parse(
        params: &[(String, String)],
        set: &EntitySet,
        allowed: &[&str],
    ) -> Result<QueryOptions, String> {
        let mut query = QueryOptions::default();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in params {
            if !allowed.contains(&name.as_str()) {
                return Err(if name.starts_with('$') {
                    format!(
                        "The query option '{name}' is not supported on this request by the emulator."
                    )
                } else {
                    format!("The query parameter '{name}' is not supported by the emulator.")
                });
            }
            if seen.contains(&name.as_str()) {
                return Err(format!(
                    "The query option '{name}' is given more than once."
                ));
            }
            seen.push(name);
            match name.as_str() {
                "$select" => query.select = Some(parse_select(value, set)?),
                "$expand" => query.expand = parse_expand(value)?,
                "$filter" => {
                    query.filter = odata::parse_filter(value)?;
                    for term in &query.filter {
                        check_term(term, set)?;
                    }
                }
                "$orderby" => {
                    query.orderby = odata::parse_orderby(value)?;
                    for (column, _) in &query.orderby {
                        check_name(column, set)?;
                    }
                }
                "$top" => {
                    query.top = Some(value.trim().parse().map_err(|_| {
                        format!("$top must be a non-negative integer, not '{value}'.")
                    })?);
                }
                "$count" => {
                    query.count = match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err(format!("$count must be true or false, not '{value}'.")),
                    };
                }
                "$skiptoken" => query.skiptoken = Some(value.clone()),
                "$deltatoken" => query.deltatoken = Some(value.clone()),
                _ => {}
            }
        }
        Ok(query)
    }

    /// Whether a row satisfies every `$filter` term.
    pub(super) fn matches(&self, row: &Value) -> bool {
        self.filter.iter().all(|term| term_matches(term, row))
    }

    /// Orders two rows by `$orderby` (nulls first, as Dataverse sorts them ascending).
    pub(super) fn compare(&self, a: &Value, b: &Value) -> Ordering {
        for (column, descending) in &self.orderby {
            let ordering = compare_values(
                a.get(column).unwrap_or(&Value::Null),
                b.get(column).unwrap_or(&Value::Null),
            );
            let ordering = if *descending {
                ordering.reverse()
            } else {
                ordering
            };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        Ordering::Equal
    }

    /// The `(columns,expanded(columns))` part of an `@odata.context`, empty with neither `$select` nor `$expand`.
    pub(super) fn context_suffix(&self) -> String {
        let mut parts: Vec<String> = self.select.clone().unwrap_or_default();
        for expand in &self.expand {
            let inner = expand
                .select
                .as_ref()
                .map(|cols| cols.join(","))
                .unwrap_or_default();
            parts.push(format!("{}({inner})", expand.lookup.nav));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("({})", parts.join(","))
        }
    }
}

/// Whether a name is a plain column name.
fn is_identifier(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a column name of `set` in `$select`, `$filter` or `$orderby`.
fn check_name(name: &str, set: &EntitySet) -> Result<(), String> {
    if !is_identifier(name) {
        return Err(format!(
            "'{name}' is not a column name (navigation paths and functions are not emulated)."
        ));
    }
    if name != set.key && is_lookup_name(name) {
        return Err(format!(
            "Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{}'. A lookup is read as \
             '_{}_value', or through $expand.",
            set.logical,
            name.strip_suffix("_account").unwrap_or(name)
        ));
    }
    Ok(())
}

/// Parses `$select`: a comma-separated list of columns.
fn parse_select(text: &str, set: &EntitySet) -> Result<Vec<String>, String> {
    let columns: Vec<String> = text.split(',').map(|c| c.trim().to_owned()).collect();
    for column in &columns {
        check_name(column, set)?;
    }
    Ok(columns)
}

/// Splits at commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0_i32, 0, Vec::new());
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

/// Parses `$expand`: `lookup` or `lookup($select=a,b)`, comma-separated.
fn parse_expand(text: &str) -> Result<Vec<Expand>, String> {
    split_top_level(text)
        .into_iter()
        .map(|item| {
            let item = item.trim();
            let (name, options) = match item.split_once('(') {
                Some((name, rest)) => {
                    let inner = rest.strip_suffix(')').ok_or_else(|| {
                        format!("The $expand item '{item}' has unbalanced parentheses.")
                    })?;
                    (name.trim(), Some(inner))
                }
                None => (item, None),
            };
            let lookup = LOOKUPS.iter().find(|lookup| lookup.nav == name).ok_or_else(|| {
                format!(
                    "The $expand item '{name}' is not a single-valued navigation property the emulator knows \
                     (known: {}).",
                    LOOKUPS.iter().map(|l| l.nav).collect::<Vec<_>>().join(", ")
                )
            })?;
            let mut select = None;
            for option in options.into_iter().flat_map(|o| o.split(';')) {
                let option = option.trim();
                if option.is_empty() {
                    continue;
                }
                let columns = option.strip_prefix("$select=").ok_or_else(|| {
                    format!("The $expand option '{option}' is not supported by the emulator (only $select).")
                })?;
                let columns: Vec<String> = columns.split(',').map(|c| c.trim().to_owned()).collect();
                if let Some(bad) = columns.iter().find(|c| !is_identifier(c)) {
                    return Err(format!("'{bad}' in $expand is not a column name."));
                }
                select = Some(columns);
            }
            Ok(Expand { lookup, select })
        })
        .collect()
}

/// Whether a column holds a GUID (`Edm.Guid`): the key, a lookup's `_..._value`.
fn is_guid_column(column: &str, set: &EntitySet) -> bool {
    column == set.key || (column.starts_with('_') && column.ends_with("_value"))
}

/// Checks that a filter term compares a column with a literal of its type, as Dataverse does.
fn check_term(term: &Term, set: &EntitySet) -> Result<(), String> {
    check_name(&term.property, set)?;
    let guid_column = is_guid_column(&term.property, set);
    match (&term.literal, guid_column) {
        (Literal::String(_), true) => Err(format!(
            "A binary operator with incompatible types was detected. Found operand types 'Edm.Guid' and \
             'Edm.String' for operator kind '{}' (in '{}': write GUIDs unquoted).",
            op_kind(term.op),
            term.text
        )),
        (Literal::Guid(_), false) => Err(format!(
            "A binary operator with incompatible types was detected. Found operand types 'Edm.String' and \
             'Edm.Guid' for operator kind '{}' (in '{}').",
            op_kind(term.op),
            term.text
        )),
        _ => Ok(()),
    }
}

/// The operator kind as named in Dataverse's messages.
fn op_kind(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "Equal",
        CmpOp::Ne => "NotEqual",
        CmpOp::Gt => "GreaterThan",
        CmpOp::Ge => "GreaterThanOrEqual",
        CmpOp::Lt => "LessThan",
        CmpOp::Le => "LessThanOrEqual",
    }
}

/// Whether a row satisfies a term. String equality ignores letter case, as Dataverse's default collation does.
fn term_matches(term: &Term, row: &Value) -> bool {
    let value = row.get(&term.property).unwrap_or(&Value::Null);
    match (&term.literal, value, term.op) {
        (Literal::String(literal), Value::String(text), CmpOp::Eq | CmpOp::Ne) => {
            (text.to_lowercase() == literal.to_lowercase()) == (term.op == CmpOp::Eq)
        }
        _ => term.matches(row),
    }
}

/// Orders two JSON values: null first, then numbers, then strings (case-insensitive), then anything else.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::entity_set;
    use super::*;

    fn parse(query: &str, allowed: &[&str]) -> Result<QueryOptions, String> {
        let set = entity_set("opportunities").expect("a known set");
        QueryOptions::parse(&odata::parse_query(query).expect("decodes"), set, allowed)
    }

    #[test]
    fn select_and_expand_parse() {
        let query = parse(
            "$select=name,estimatedvalue&$expand=transactioncurrencyid($select=isocurrencycode)",
            SINGLE,
        )
        .expect("parses");
        assert_eq!(
            query.select,
            Some(vec!["name".to_owned(), "estimatedvalue".to_owned()])
        );
        assert_eq!(query.expand[0].lookup.nav, "transactioncurrencyid");
        assert_eq!(
            query.expand[0].select,
            Some(vec!["isocurrencycode".to_owned()])
        );
        assert_eq!(
            query.context_suffix(),
            "(name,estimatedvalue,transactioncurrencyid(isocurrencycode))"
        );
        assert!(parse("$select=customerid", SINGLE).is_err());
        assert!(parse("$select=transactioncurrencyid", SINGLE).is_err());
        assert!(parse("$expand=ownerid", SINGLE).is_err());
        assert!(parse("$expand=transactioncurrencyid($top=1)", SINGLE).is_err());
        assert!(parse("$filter=name eq 'x'", SINGLE).is_err());
        assert!(parse("$skip=1", COLLECTION).is_err());
    }

    #[test]
    fn filters_check_types_and_ignore_case() {
        let query = parse(
            "$filter=_customerid_value eq 00000000-0000-0000-0000-00000000A001 and name eq 'contoso'",
            COLLECTION,
        )
        .expect("parses");
        let row =
            json!({"_customerid_value": "00000000-0000-0000-0000-00000000a001", "name": "Contoso"});
        assert!(query.matches(&row));
        assert!(
            parse(
                "$filter=_customerid_value eq '00000000-0000-0000-0000-00000000a001'",
                COLLECTION
            )
            .is_err()
        );
        assert!(
            parse(
                "$filter=name eq 00000000-0000-0000-0000-00000000a001",
                COLLECTION
            )
            .is_err()
        );
        assert!(
            parse(
                "$filter=transactioncurrencyid/isocurrencycode eq 'EUR'",
                COLLECTION
            )
            .is_err()
        );
    }
}
