//! How a record is held: the whole JSON tree, or its text with the spans of the projected values (see
//! [`Projection`]). Both answer the same questions; the projected form answers the field rules' without
//! building a tree, and builds the sparse tree only when asked for it.

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::projection::{Field, Projected, Projection};
use super::referral::{MAX_RECORD_BYTES, invalid, json_type, pointer_in};
use crate::error::RecordError;

/// A record's JSON.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// The whole object.
    Tree(Map<String, Json>),
    /// The text, scanned with a projection.
    Projected(Projected),
}

impl PartialEq for Body {
    fn eq(&self, other: &Self) -> bool {
        self.json() == other.json()
    }
}

impl Body {
    /// Parses `text` (at most [`MAX_RECORD_BYTES`]) whole, or with a projection (`merge_only` skips the paths
    /// only creates read).
    pub(crate) fn parse(
        record: &str,
        text: &str,
        projection: Option<(&Arc<Projection>, bool)>,
    ) -> Result<Body, RecordError> {
        if text.len() > MAX_RECORD_BYTES {
            return Err(RecordError::TooLarge {
                record: record.to_owned(),
                size: text.len(),
                limit: MAX_RECORD_BYTES,
            });
        }
        let invalid_json = |e: serde_json::Error| RecordError::InvalidJson {
            record: record.to_owned(),
            detail: e.to_string(),
        };
        match projection {
            Some((p, merge_only)) => {
                if let Some(projected) =
                    Projected::scan(text, p, merge_only).map_err(invalid_json)?
                {
                    Ok(Body::Projected(projected))
                } else {
                    let found = serde_json::from_str::<Json>(text)
                        .map_or("not an object", |v| json_type(&v));
                    Err(RecordError::NotAnObject {
                        record: record.to_owned(),
                        found,
                    })
                }
            }
            None => Body::from_value(
                record,
                serde_json::from_str::<Json>(text).map_err(invalid_json)?,
            ),
        }
    }

    /// Takes a parsed value, which must be an object.
    pub(crate) fn from_value(record: &str, value: Json) -> Result<Body, RecordError> {
        match value {
            Json::Object(map) => Ok(Body::Tree(map)),
            other => Err(RecordError::NotAnObject {
                record: record.to_owned(),
                found: json_type(&other),
            }),
        }
    }

    /// A top-level field.
    pub(crate) fn top(&self, key: &str) -> Field<'_> {
        match self {
            Body::Tree(map) => map.get(key).map_or(Field::Absent, Field::Json),
            Body::Projected(p) => p.top(key),
        }
    }

    /// A field by slot when the record was projected with `projection`, else by walking `path`.
    pub(crate) fn at<'a, S: AsRef<str>>(
        &'a self,
        projection: Option<&Arc<Projection>>,
        slot: usize,
        path: &[S],
    ) -> Field<'a> {
        if let (Body::Projected(p), Some(projection)) = (self, projection) {
            if p.is_from(projection) {
                return p.at(slot);
            }
        }
        walk(self.json(), path).map_or(Field::Absent, Field::Json)
    }

    /// The value at a JSON pointer.
    pub(crate) fn pointer(&self, pointer: &str) -> Option<&Json> {
        pointer_in(self.json(), pointer)
    }

    /// The object: whole, or the projected fields only.
    pub(crate) fn json(&self) -> &Map<String, Json> {
        match self {
            Body::Tree(map) => map,
            Body::Projected(p) => p.json(),
        }
    }

    /// Gives back the object.
    pub(crate) fn into_json(self) -> Map<String, Json> {
        match self {
            Body::Tree(map) => map,
            Body::Projected(p) => p.json().clone(),
        }
    }

    /// A top-level text field (numbers as their text); `None` when absent or null.
    pub(crate) fn text(
        &self,
        record: &dyn Fn() -> String,
        key: &str,
    ) -> Result<Option<String>, RecordError> {
        let field = self.top(key);
        if field.is_null() {
            return Ok(None);
        }
        if let Some(s) = field.as_str() {
            return Ok(Some(s.into_owned()));
        }
        match field.to_json().as_ref() {
            Json::Number(n) => Ok(Some(n.to_string())),
            other => Err(invalid(&record(), key, "a string", other)),
        }
    }

    /// A top-level enum field; `None` when absent or null.
    pub(crate) fn enumerated<T>(
        &self,
        record: &dyn Fn() -> String,
        key: &str,
        parse: fn(&str) -> Option<T>,
        expected: fn() -> String,
    ) -> Result<Option<T>, RecordError> {
        let field = self.top(key);
        if field.is_null() {
            return Ok(None);
        }
        match field.as_str() {
            Some(s) => parse(&s)
                .map(Some)
                .ok_or_else(|| invalid(&record(), key, &expected(), &Json::String(s.into_owned()))),
            None => Err(invalid(&record(), key, &expected(), &field.to_json())),
        }
    }
}

/// Walks a path of keys (and array indexes) in a JSON tree.
fn walk<'a, S: AsRef<str>>(root: &'a Map<String, Json>, path: &[S]) -> Option<&'a Json> {
    let (first, rest) = path.split_first()?;
    let mut cur = root.get(first.as_ref())?;
    for seg in rest {
        let seg = seg.as_ref();
        cur = match cur {
            Json::Object(m) => m.get(seg)?,
            Json::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}
