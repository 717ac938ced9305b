//! The `OData` query options the emulators read: the query string itself (percent-decoding), `$filter` (comparisons
//! joined by `and`) and `$orderby` (properties with `asc`/`desc`).
//!
//! This module parses and evaluates; which properties and operators a service accepts is each service's choice,
//! checked over the parsed terms. Anything the parser does not know (`or`, `not`, parentheses, functions and lambdas
//! such as `team/any(...)`) is refused with a message naming the unsupported part.

use std::cmp::Ordering;

use serde_json::Value;

use crate::clock::parse_ticks;

/// Splits a raw query string into decoded `(name, value)` pairs (`+` is a space, `%XX` a byte, UTF-8 required).
pub(crate) fn parse_query(raw: &str) -> Result<Vec<(String, String)>, String> {
    raw.split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

/// Percent-decodes one query component.
pub(crate) fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                let Some(byte) = byte else {
                    return Err(format!(
                        "The query string has a malformed escape in '{text}'."
                    ));
                };
                out.push(byte);
                i += 2;
            }
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| format!("The query string component '{text}' is not UTF-8."))
}

/// Percent-encodes one query component (everything but `A-Z a-z 0-9 - . _ ~ $`).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'$') {
            out.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0F)]));
        }
    }
    out
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CmpOp {
    /// The operator as written in a filter.
    pub(crate) fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
        }
    }

    /// Whether an ordering between the two sides satisfies the operator.
    fn holds(self, ordering: Ordering) -> bool {
        match self {
            CmpOp::Eq => ordering == Ordering::Equal,
            CmpOp::Ne => ordering != Ordering::Equal,
            CmpOp::Gt => ordering == Ordering::Greater,
            CmpOp::Ge => ordering != Ordering::Less,
            CmpOp::Lt => ordering == Ordering::Less,
            CmpOp::Le => ordering != Ordering::Greater,
        }
    }
}

/// A literal on the right of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    /// `'text'` (`''` inside is one quote).
    String(String),
    /// A number.
    Number(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// An unquoted `DateTimeOffset` (`2024-03-01T00:00:00Z`), in ticks of 100 ns.
    DateTime(i64),
    /// An unquoted GUID (`00000000-0000-0000-0000-00000000a001`), as `OData` v4 writes an `Edm.Guid`; it equals a
    /// string property holding the same GUID in any letter case.
    Guid(String),
}

/// One comparison: `path op literal`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Term {
    /// The property path as written (`customerProfile/address/country`).
    pub(crate) property: String,
    /// The operator.
    pub(crate) op: CmpOp,
    /// The literal.
    pub(crate) literal: Literal,
    /// The term as written, for messages.
    pub(crate) text: String,
}

impl Term {
    /// Whether a resource satisfies this term. A missing property is `null`; values of different types are unequal.
    pub(crate) fn matches(&self, resource: &Value) -> bool {
        let value = self
            .property
            .split('/')
            .try_fold(resource, |value, segment| value.get(segment));
        let value = value.unwrap_or(&Value::Null);
        let ordering = match (&self.literal, value) {
            (Literal::String(literal), Value::String(text)) => {
                Some(text.as_str().cmp(literal.as_str()))
            }
            (Literal::Number(literal), Value::Number(number)) => {
                number.as_f64().and_then(|n| n.partial_cmp(literal))
            }
            (Literal::Bool(literal), Value::Bool(flag)) => Some(flag.cmp(literal)),
            (Literal::Null, Value::Null) => Some(Ordering::Equal),
            (Literal::DateTime(literal), Value::String(text)) => {
                parse_ticks(text).map(|ticks| ticks.cmp(literal))
            }
            (Literal::Guid(literal), Value::String(text)) => {
                Some(text.to_ascii_lowercase().cmp(literal))
            }
            _ => None,
        };
        match ordering {
            Some(ordering) => self.op.holds(ordering),
            None => self.op == CmpOp::Ne,
        }
    }
}

/// A token of a `$filter` expression.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A run of characters without spaces, quotes, parentheses or commas.
    Word(String),
    /// A quoted string, unescaped.
    Quoted(String),
    /// `(`, `)` or `,`.
    Punct(char),
}

/// Splits a filter into tokens.
fn tokenize(filter: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = filter.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut text = String::new();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        text.push('\'');
                    }
                    Some('\'') => break,
                    Some(other) => text.push(other),
                    None => return Err(format!("The $filter has an unterminated string: '{text}")),
                }
            }
            tokens.push(Token::Quoted(text));
        } else if matches!(c, '(' | ')' | ',') {
            chars.next();
            tokens.push(Token::Punct(c));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || matches!(c, '\'' | '(' | ')' | ',') {
                    break;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

/// Parses a `$filter`: one or more `property op literal` terms joined by `and`.
pub(crate) fn parse_filter(filter: &str) -> Result<Vec<Term>, String> {
    let tokens = tokenize(filter)?;
    if let Some(position) = tokens
        .iter()
        .position(|token| matches!(token, Token::Punct(_)))
    {
        let fragment = match (
            position.checked_sub(1).map(|p| &tokens[p]),
            &tokens[position],
        ) {
            (Some(Token::Word(word)), Token::Punct(c)) => format!("{word}{c}"),
            (_, Token::Punct(c)) => c.to_string(),
            _ => String::new(),
        };
        return Err(format!(
            "The $filter part '{fragment}' is not supported by the emulator: no parentheses, functions or lambdas."
        ));
    }
    if tokens.is_empty() {
        return Err("The $filter is empty.".into());
    }
    let mut terms = Vec::new();
    let mut rest = tokens.as_slice();
    loop {
        let (property, op, literal) = match rest {
            [Token::Word(word), ..] if is_keyword(word) => {
                return Err(format!(
                    "The $filter operator '{word}' is not supported by the emulator."
                ));
            }
            [Token::Word(property), Token::Word(op), literal, ..] => (property, op, literal),
            _ => {
                return Err(format!(
                    "The $filter '{filter}' is not a 'property op literal' comparison."
                ));
            }
        };
        if !property
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/'))
        {
            return Err(format!(
                "The $filter property '{property}' is not a property path."
            ));
        }
        let op = match op.as_str() {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            other => {
                return Err(format!(
                    "The $filter operator '{other}' after '{property}' is not supported."
                ));
            }
        };
        let (literal, written) = match literal {
            Token::Quoted(text) => (
                Literal::String(text.clone()),
                format!("'{}'", text.replace('\'', "''")),
            ),
            Token::Word(word) => (parse_literal(word)?, word.clone()),
            Token::Punct(c) => {
                return Err(format!("The $filter has '{c}' where a literal belongs."));
            }
        };
        terms.push(Term {
            property: property.clone(),
            op,
            literal,
            text: format!("{property} {} {written}", op.name()),
        });
        rest = &rest[3..];
        match rest {
            [] => return Ok(terms),
            [Token::Word(and)] if and == "and" => {
                return Err(format!(
                    "The $filter '{filter}' does not parse: it ends with 'and'."
                ));
            }
            [Token::Word(and), tail @ ..] if and == "and" => rest = tail,
            [Token::Word(word), ..] => {
                return Err(format!(
                    "The $filter operator '{word}' is not supported by the emulator (only 'and')."
                ));
            }
            _ => return Err(format!("The $filter '{filter}' does not parse.")),
        }
    }
}

/// Words that are `OData` operators or functions the parser does not accept as a property.
fn is_keyword(word: &str) -> bool {
    matches!(word, "or" | "not" | "and" | "has" | "in")
}

/// Parses an unquoted literal: `true`, `false`, `null`, a number or a `DateTimeOffset`.
fn parse_literal(word: &str) -> Result<Literal, String> {
    match word {
        "true" => return Ok(Literal::Bool(true)),
        "false" => return Ok(Literal::Bool(false)),
        "null" => return Ok(Literal::Null),
        _ => {}
    }
    if let Ok(number) = word.parse::<f64>() {
        if number.is_finite() {
            return Ok(Literal::Number(number));
        }
    }
    if is_guid(word) {
        return Ok(Literal::Guid(word.to_ascii_lowercase()));
    }
    parse_ticks(word)
        .map(Literal::DateTime)
        .ok_or_else(|| format!("The $filter literal '{word}' is neither a quoted string, a number, a boolean, null nor a DateTimeOffset."))
}

/// Whether a text is a GUID in its 8-4-4-4-12 hexadecimal form (any letter case, no braces).
pub(crate) fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Parses a `$orderby`: comma-separated `property [asc|desc]`; `true` in the result means descending.
pub(crate) fn parse_orderby(orderby: &str) -> Result<Vec<(String, bool)>, String> {
    orderby
        .split(',')
        .map(|item| {
            let words: Vec<&str> = item.split_whitespace().collect();
            match words.as_slice() {
                [property] | [property, "asc"] => Ok(((*property).to_owned(), false)),
                [property, "desc"] => Ok(((*property).to_owned(), true)),
                _ => Err(format!(
                    "The $orderby item '{}' is not 'property [asc|desc]'.",
                    item.trim()
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn query_strings_decode_and_encode() {
        let pairs =
            parse_query("$filter=status%20eq%20%27New%27&$top=5&flag&x=a+b").expect("decodes");
        assert_eq!(
            pairs,
            vec![
                ("$filter".to_owned(), "status eq 'New'".to_owned()),
                ("$top".to_owned(), "5".to_owned()),
                ("flag".to_owned(), String::new()),
                ("x".to_owned(), "a b".to_owned()),
            ]
        );
        assert!(parse_query("a=%zz").is_err());
        assert!(parse_query("a=%ff").is_err());
        let text = "name eq 'Contoso & Sons / 100%'";
        assert_eq!(decode(&encode(text)).expect("round trip"), text);
        assert_eq!(encode("$skiptoken"), "$skiptoken");
    }

    #[test]
    fn filters_parse_into_terms() {
        let terms = parse_filter("status eq 'New' and customerProfile/address/country eq 'US'")
            .expect("parses");
        assert_eq!(terms.len(), 2);
        assert_eq!(terms[1].property, "customerProfile/address/country");
        assert_eq!(terms[1].literal, Literal::String("US".into()));
        let terms = parse_filter("name eq 'O''Brien' and favorite eq true and dealValue eq 5")
            .expect("parses");
        assert_eq!(terms[0].literal, Literal::String("O'Brien".into()));
        assert_eq!(terms[0].text, "name eq 'O''Brien'");
        assert_eq!(terms[1].literal, Literal::Bool(true));
        assert_eq!(terms[2].literal, Literal::Number(5.0));
        let terms = parse_filter("_customerid_value eq 00000000-0000-0000-0000-00000000A001")
            .expect("parses");
        assert_eq!(
            terms[0].literal,
            Literal::Guid("00000000-0000-0000-0000-00000000a001".into())
        );
        assert!(
            terms[0].matches(&json!({"_customerid_value": "00000000-0000-0000-0000-00000000a001"}))
        );
        assert!(!is_guid("00000000-0000-0000-0000-00000000a00"));
        let terms = parse_filter("updatedDateTime ge 2024-03-01T00:00:00Z").expect("parses");
        assert_eq!(terms[0].op, CmpOp::Ge);
        assert!(matches!(terms[0].literal, Literal::DateTime(_)));
    }

    #[test]
    fn unsupported_filters_name_the_part() {
        let cases = [
            ("status eq 'New' or status eq 'Active'", "'or'"),
            ("team/any(t:t/email eq 'x@y.com')", "team/any("),
            ("contains(name,'x')", "contains("),
            ("(status eq 'New')", "'('"),
            ("not status eq 'New'", "'not'"),
            ("status is 'New'", "'is'"),
            ("status eq New", "'New'"),
            ("status eq 'New' and", "does not parse"),
            ("status eq 'New", "unterminated"),
            ("", "empty"),
        ];
        for (filter, expected) in cases {
            let error = parse_filter(filter).expect_err(filter);
            assert!(error.contains(expected), "{filter}: {error}");
        }
    }

    #[test]
    fn terms_match_resources() {
        let referral = json!({"status": "New", "details": {"dealValue": 100.0}, "favorite": false,
                              "updatedDateTime": "2024-03-01T10:00:00.0000000Z", "statusReason": null});
        let matches = |filter: &str| {
            parse_filter(filter)
                .expect(filter)
                .iter()
                .all(|term| term.matches(&referral))
        };
        assert!(matches("status eq 'New'"));
        assert!(!matches("status eq 'new'"));
        assert!(matches("details/dealValue eq 100"));
        assert!(matches("favorite eq false"));
        assert!(matches("statusReason eq null and missing/path eq null"));
        assert!(!matches("details eq 'x'"));
        assert!(matches("status ne 'Active'"));
        assert!(matches("updatedDateTime ge 2024-03-01T10:00:00Z"));
        assert!(!matches("updatedDateTime gt 2024-03-01T10:00:00Z"));
        assert!(matches("updatedDateTime lt 2024-03-01T11:00:00+00:30"));
    }

    #[test]
    fn orderby_parses() {
        assert_eq!(
            parse_orderby("updatedDateTime desc, createdDateTime").expect("parses"),
            vec![
                ("updatedDateTime".to_owned(), true),
                ("createdDateTime".to_owned(), false)
            ]
        );
        assert!(parse_orderby("updatedDateTime sideways").is_err());
        assert!(parse_orderby("").is_err());
    }
}
