//! The SOQL subset the Salesforce emulator answers:
//! `SELECT <fields> FROM <object> [WHERE <cond> [AND <cond>]...] [ORDER BY <field> [ASC|DESC], ...] [LIMIT n]`.
//!
//! A condition is `<field> <op> <value>` with `=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`; values are `'text'` (with `\'`
//! escapes), `true`/`false`, `null`, numbers, date literals (`2026-10-20`) and datetime literals
//! (`2026-10-20T10:15:42Z`, `...000+0000`). Keywords ignore case. Anything else (relationship fields, functions,
//! `OR`, `NOT`, `IN`, `LIKE`, parentheses, date literals such as `TODAY`, `OFFSET`, `GROUP BY`) is refused with a
//! message naming the part.

use std::cmp::Ordering;

use serde_json::Value;

use super::parse_datetime_millis;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A literal on the right of a condition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Literal {
    /// `'text'`
    Text(String),
    /// `true` / `false`
    Bool(bool),
    /// `null`
    Null,
    /// A number.
    Number(f64),
    /// A date literal `YYYY-MM-DD`.
    Date(String),
    /// A datetime literal, in milliseconds since the epoch.
    DateTime(i64),
}

/// `<field> <op> <literal>`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Condition {
    /// The field name.
    pub(crate) field: String,
    /// The operator.
    pub(crate) op: Op,
    /// The value.
    pub(crate) value: Literal,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Query {
    /// The selected fields, as written.
    pub(crate) fields: Vec<String>,
    /// The object queried, as written.
    pub(crate) object: String,
    /// Conditions joined by `AND`.
    pub(crate) conditions: Vec<Condition>,
    /// `ORDER BY` fields with `true` for descending.
    pub(crate) order: Vec<(String, bool)>,
    /// `LIMIT`.
    pub(crate) limit: Option<usize>,
}

/// A token of the query text.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    /// A word: keyword, field, number, date or datetime literal.
    Word(String),
    /// A quoted string, unescaped.
    Quoted(String),
    /// An operator.
    Op(Op),
    /// `,`
    Comma,
    /// Anything else (`(`, `)`, `:`...), refused by the parser.
    Other(char),
}

/// Splits the query text into tokens.
fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated string literal".into()),
                    Some('\\') => {
                        let escaped = chars.get(i + 1).ok_or("unterminated string literal")?;
                        value.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => *other,
                        });
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(*other);
                        i += 1;
                    }
                }
            }
            tokens.push(Token::Quoted(value));
        } else if c == ',' {
            tokens.push(Token::Comma);
            i += 1;
        } else if matches!(c, '=' | '!' | '<' | '>') {
            let next = chars.get(i + 1).copied();
            let (op, width) = match (c, next) {
                ('=', _) => (Op::Eq, 1),
                ('!', Some('=')) | ('<', Some('>')) => (Op::Ne, 2),
                ('<', Some('=')) => (Op::Le, 2),
                ('<', _) => (Op::Lt, 1),
                ('>', Some('=')) => (Op::Ge, 2),
                ('>', _) => (Op::Gt, 1),
                _ => return Err(format!("unexpected token: '{c}'")),
            };
            tokens.push(Token::Op(op));
            i += width;
        } else if c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+' | ':') {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '.' | '-' | '+' | ':'))
            {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            tokens.push(Token::Other(c));
            i += 1;
        }
    }
    Ok(tokens)
}

/// Whether a word is this keyword (ignoring case).
fn is_keyword(token: Option<&Token>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword))
}

/// A token as the error message shows it.
fn describe(token: Option<&Token>) -> String {
    match token {
        None => "end of query".into(),
        Some(Token::Word(word)) => format!("'{word}'"),
        Some(Token::Quoted(text)) => format!("'\\'{text}\\''"),
        Some(Token::Op(op)) => format!("'{op:?}'"),
        Some(Token::Comma) => "','".into(),
        Some(Token::Other(c)) => format!("'{c}'"),
    }
}

/// Words the parser refuses as unsupported SOQL (so the message says so rather than "unexpected").
const UNSUPPORTED: [&str; 14] = [
    "OR", "NOT", "IN", "LIKE", "INCLUDES", "EXCLUDES", "OFFSET", "GROUP", "HAVING", "WITH", "FOR",
    "USING", "TYPEOF", "NULLS",
];

/// The word of a token that is an unsupported SOQL keyword.
fn unsupported(token: Option<&Token>) -> Option<&str> {
    match token {
        Some(Token::Word(word)) if UNSUPPORTED.iter().any(|k| word.eq_ignore_ascii_case(k)) => {
            Some(word)
        }
        _ => None,
    }
}

/// A field name: letters, digits and `_`; relationship paths (`Account.Name`) and functions are refused.
fn field_name(token: Option<&Token>, what: &str) -> Result<String, String> {
    match token {
        Some(Token::Word(word))
            if word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && word.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) =>
        {
            Ok(word.clone())
        }
        Some(Token::Word(word)) if word.contains('.') => Err(format!(
            "relationship field '{word}' in {what} is not supported by the emulator"
        )),
        other => Err(format!(
            "unexpected token: {} (expected a field name in {what})",
            describe(other)
        )),
    }
}

/// An unquoted literal.
fn literal(word: &str) -> Result<Literal, String> {
    if word.eq_ignore_ascii_case("true") {
        return Ok(Literal::Bool(true));
    }
    if word.eq_ignore_ascii_case("false") {
        return Ok(Literal::Bool(false));
    }
    if word.eq_ignore_ascii_case("null") {
        return Ok(Literal::Null);
    }
    if is_date(word) {
        return Ok(Literal::Date(word.to_owned()));
    }
    if word.contains('T') && word.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return parse_datetime_millis(word)
            .map(Literal::DateTime)
            .ok_or_else(|| format!("line 1: invalid datetime literal '{word}'"));
    }
    if let Ok(number) = word.parse::<f64>() {
        return Ok(Literal::Number(number));
    }
    Err(format!(
        "unexpected token: '{word}' (only quoted text, true/false, null, numbers, dates and datetimes are supported \
         by the emulator)"
    ))
}

/// `YYYY-MM-DD`.
fn is_date(word: &str) -> bool {
    let bytes = word.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

impl Query {
    /// Parses a SOQL query; the error names the part refused.
    pub(crate) fn parse(text: &str) -> Result<Query, String> {
        let tokens = tokenize(text)?;
        let mut at = 0;
        let next = |at: &mut usize| {
            let token = tokens.get(*at);
            *at += 1;
            token
        };
        if !is_keyword(tokens.first(), "SELECT") {
            return Err(format!(
                "unexpected token: {} (expected SELECT)",
                describe(tokens.first())
            ));
        }
        at += 1;
        let mut fields = Vec::new();
        loop {
            let token = next(&mut at);
            if let Some(Token::Word(word)) = token {
                if tokens.get(at) == Some(&Token::Other('(')) {
                    return Err(format!(
                        "function '{word}(...)' is not supported by the emulator"
                    ));
                }
            }
            fields.push(field_name(token, "SELECT")?);
            if tokens.get(at) == Some(&Token::Comma) {
                at += 1;
                continue;
            }
            break;
        }
        if !is_keyword(tokens.get(at), "FROM") {
            return Err(format!(
                "unexpected token: {} (expected FROM)",
                describe(tokens.get(at))
            ));
        }
        at += 1;
        let object = field_name(next(&mut at), "FROM")?;
        let mut query = Query {
            fields,
            object,
            conditions: Vec::new(),
            order: Vec::new(),
            limit: None,
        };
        if is_keyword(tokens.get(at), "WHERE") {
            at += 1;
            loop {
                let token = tokens.get(at);
                if let Some(word) = unsupported(token) {
                    return Err(format!("'{word}' is not supported by the emulator"));
                }
                if token == Some(&Token::Other('(')) {
                    return Err("parentheses in WHERE are not supported by the emulator".into());
                }
                let field = field_name(next(&mut at), "WHERE")?;
                let op = match next(&mut at) {
                    Some(Token::Op(op)) => *op,
                    Some(Token::Word(word))
                        if UNSUPPORTED.iter().any(|k| word.eq_ignore_ascii_case(k)) =>
                    {
                        return Err(format!("'{word}' is not supported by the emulator"));
                    }
                    other => {
                        return Err(format!(
                            "unexpected token: {} (expected a comparison operator after {field})",
                            describe(other)
                        ));
                    }
                };
                let value = match next(&mut at) {
                    Some(Token::Quoted(text)) => Literal::Text(text.clone()),
                    Some(Token::Word(word)) => literal(word)?,
                    Some(Token::Other(':')) => {
                        return Err("bind variables are not supported".into());
                    }
                    other => {
                        return Err(format!(
                            "unexpected token: {} (expected a value after {field})",
                            describe(other)
                        ));
                    }
                };
                query.conditions.push(Condition { field, op, value });
                if is_keyword(tokens.get(at), "AND") {
                    at += 1;
                    continue;
                }
                break;
            }
        }
        if is_keyword(tokens.get(at), "ORDER") {
            at += 1;
            if !is_keyword(next(&mut at), "BY") {
                return Err("expected BY after ORDER".into());
            }
            loop {
                let field = field_name(next(&mut at), "ORDER BY")?;
                let mut descending = false;
                if is_keyword(tokens.get(at), "ASC") {
                    at += 1;
                } else if is_keyword(tokens.get(at), "DESC") {
                    at += 1;
                    descending = true;
                }
                query.order.push((field, descending));
                if tokens.get(at) == Some(&Token::Comma) {
                    at += 1;
                    continue;
                }
                break;
            }
        }
        if is_keyword(tokens.get(at), "LIMIT") {
            at += 1;
            query.limit = Some(match next(&mut at) {
                Some(Token::Word(word)) => word
                    .parse()
                    .map_err(|_| format!("unexpected token: '{word}' (expected a LIMIT number)"))?,
                other => {
                    return Err(format!(
                        "unexpected token: {} (expected a LIMIT number)",
                        describe(other)
                    ));
                }
            });
        }
        if let Some(token) = tokens.get(at) {
            if let Some(word) = unsupported(Some(token)) {
                return Err(format!("'{word}' is not supported by the emulator"));
            }
            return Err(format!("unexpected token: {}", describe(Some(token))));
        }
        Ok(query)
    }

    /// Whether a record (a JSON object of fields) meets every condition.
    pub(crate) fn matches(&self, record: &Value) -> bool {
        self.conditions.iter().all(|condition| {
            let field = lookup(record, &condition.field);
            condition.holds(field)
        })
    }

    /// Sorts records by the `ORDER BY` fields (nulls first ascending, last descending, as SOQL does).
    pub(crate) fn sort(&self, records: &mut [Value]) {
        if self.order.is_empty() {
            return;
        }
        records.sort_by(|a, b| {
            for (field, descending) in &self.order {
                let ordering = compare_values(lookup(a, field), lookup(b, field));
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
        });
    }
}

/// A field of a record by name, ignoring case (SOQL names are case-insensitive); `Null` when absent.
pub(crate) fn lookup<'a>(record: &'a Value, field: &str) -> &'a Value {
    const NULL: &Value = &Value::Null;
    let Some(fields) = record.as_object() else {
        return NULL;
    };
    fields.get(field).unwrap_or_else(|| {
        fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(field))
            .map_or(NULL, |(_, value)| value)
    })
}

/// Orders two field values: null first, numbers numerically, datetimes by instant, text ignoring case.
fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => {
            match (parse_datetime_millis(x), parse_datetime_millis(y)) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => x.to_lowercase().cmp(&y.to_lowercase()),
            }
        }
        _ => a.to_string().cmp(&b.to_string()),
    }
}

impl Condition {
    /// Whether the field value meets this condition.
    fn holds(&self, field: &Value) -> bool {
        let ordering = match (&self.value, field) {
            (Literal::Null, Value::Null) => Some(Ordering::Equal),
            (Literal::Null, _) | (_, Value::Null) => {
                return self.op == Op::Ne;
            }
            (Literal::Text(text), Value::String(value)) => {
                Some(value.to_lowercase().cmp(&text.to_lowercase()))
            }
            (Literal::Bool(flag), Value::Bool(value)) => Some(value.cmp(flag)),
            (Literal::Number(number), Value::Number(value)) => {
                value.as_f64().and_then(|v| v.partial_cmp(number))
            }
            (Literal::Date(date), Value::String(value)) => {
                Some(value.get(..10).unwrap_or(value).cmp(date.as_str()))
            }
            (Literal::DateTime(millis), Value::String(value)) => {
                parse_datetime_millis(value).map(|v| v.cmp(millis))
            }
            _ => None,
        };
        let Some(ordering) = ordering else {
            return false;
        };
        match self.op {
            Op::Eq => ordering == Ordering::Equal,
            Op::Ne => ordering != Ordering::Equal,
            Op::Lt => ordering == Ordering::Less,
            Op::Le => ordering != Ordering::Greater,
            Op::Gt => ordering == Ordering::Greater,
            Op::Ge => ordering != Ordering::Less,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_supported_subset() {
        let query = Query::parse(
            "select Id, Name from Opportunity where Sync_with_Partner_Center__c = TRUE and Name = 'O\\'Brien' \
             AND SystemModstamp > 2026-10-20T10:15:42.000+0000 order by SystemModstamp desc, Id LIMIT 5",
        )
        .expect("parses");
        assert_eq!(query.fields, ["Id", "Name"]);
        assert_eq!(query.object, "Opportunity");
        assert_eq!(query.conditions.len(), 3);
        assert_eq!(query.conditions[1].value, Literal::Text("O'Brien".into()));
        assert_eq!(
            query.order,
            [
                ("SystemModstamp".to_owned(), true),
                ("Id".to_owned(), false)
            ]
        );
        assert_eq!(query.limit, Some(5));
        let record = json!({"Name": "o'brien", "Sync_with_Partner_Center__c": true,
                            "SystemModstamp": "2026-10-20T10:15:43.000+0000"});
        assert!(query.matches(&record));
    }

    #[test]
    fn refuses_what_is_not_supported() {
        for (text, part) in [
            (
                "SELECT Id FROM Opportunity WHERE Name = 'a' OR Name = 'b'",
                "OR",
            ),
            ("SELECT Account.Name FROM Opportunity", "Account.Name"),
            ("SELECT COUNT() FROM Opportunity", "COUNT"),
            (
                "SELECT Id FROM Opportunity WHERE CloseDate = TODAY",
                "TODAY",
            ),
            ("SELECT Id FROM Opportunity LIMIT 5 OFFSET 5", "OFFSET"),
            ("SELECT Id FROM Opportunity WHERE Id IN ('a')", "IN"),
            ("DELETE FROM Opportunity", "DELETE"),
            ("SELECT Id FROM Opportunity WHERE Name = 'x", "unterminated"),
        ] {
            let error = Query::parse(text).expect_err(text);
            assert!(error.contains(part), "{text}: {error}");
        }
    }
}
