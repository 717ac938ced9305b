//! Projected parsing: the whole JSON text is parsed and validated, but only the parts a mapping reads are
//! materialized. Everything else is skipped by the parser without allocating.
//!
//! A [`Projection`] is a tree of object keys (and array indexes) built from JSON pointers or CRM field paths.
//! Parsing with it yields a sparse copy of the record: every object on a projected path is kept (so a pointer
//! that is absent in the record is still absent, and its existing parent still exists), and a projected leaf
//! keeps its whole value. Planning a pair reads a dozen fields out of a ~2 KB referral; building the full
//! document costs more than everything else the planner does, so the engine parses with the mapping's
//! projections. [`Referral::parse`](super::Referral::parse) without a projection keeps every field.

use std::fmt;

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};

/// The parts of a record to materialize.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    root: Node,
}

#[derive(Debug, Clone, Default)]
struct Node {
    /// Keep this whole value.
    whole: bool,
    /// Child keys. A record level holds a handful of projected keys, so a linear scan beats hashing each key
    /// of the input.
    children: Vec<(String, Node)>,
}

impl Node {
    fn child(&self, key: &str) -> Option<&Node> {
        self.children
            .iter()
            .find(|(k, _)| k.len() == key.len() && k == key)
            .map(|(_, n)| n)
    }

    fn child_mut(&mut self, key: &str) -> &mut Node {
        let i = if let Some(i) = self.children.iter().position(|(k, _)| k == key) {
            i
        } else {
            self.children.push((key.to_owned(), Node::default()));
            self.children.len() - 1
        };
        &mut self.children[i].1
    }
}

impl Projection {
    /// An empty projection (keeps only the top-level object, empty).
    pub fn new() -> Projection {
        Projection::default()
    }

    /// Adds a JSON pointer (`/details/dealValue`, `/customerProfile/team/0/email`); its value is kept whole.
    pub fn add_pointer(&mut self, pointer: &str) {
        let segments: Vec<String> = pointer
            .strip_prefix('/')
            .unwrap_or(pointer)
            .split('/')
            .map(super::referral::unescape)
            .collect();
        self.add_path(&segments);
    }

    /// Adds a path of keys; the value at its end is kept whole.
    pub fn add_path<S: AsRef<str>>(&mut self, segments: &[S]) {
        let mut node = &mut self.root;
        for seg in segments {
            node = node.child_mut(seg.as_ref());
        }
        node.whole = true;
    }

    /// Parses `text` (which must be a JSON object) keeping only the projected parts.
    pub fn parse(&self, text: &str) -> Result<Json, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let value = NodeSeed(&self.root).deserialize(&mut de)?;
        de.end()?;
        Ok(value)
    }
}

struct NodeSeed<'a>(&'a Node);

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Json;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        if self.0.whole && self.0.children.is_empty() {
            return serde::Deserialize::deserialize(d);
        }
        d.deserialize_any(NodeVisitor(self.0))
    }
}

/// Finds the child node of a key without allocating for keys that are skipped.
struct KeySeed<'a>(&'a Node);

impl<'de, 'a> DeserializeSeed<'de> for KeySeed<'a> {
    type Value = Option<(String, &'a Node)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'a> Visitor<'_> for KeySeed<'a> {
    type Value = Option<(String, &'a Node)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.child(key).map(|n| (key.to_owned(), n)))
    }
}

struct NodeVisitor<'a>(&'a Node);

impl<'de> Visitor<'de> for NodeVisitor<'_> {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = Map::new();
        while let Some(found) = map.next_key_seed(KeySeed(self.0))? {
            match found {
                Some((key, node)) => {
                    let value = map.next_value_seed(NodeSeed(node))?;
                    out.insert(key, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Json::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        // Keep elements up to the highest projected index; skip the rest.
        let last = self
            .0
            .children
            .iter()
            .filter_map(|(k, _)| k.parse::<usize>().ok())
            .max();
        let mut out = Vec::new();
        let mut i = 0usize;
        loop {
            let child = if last.is_some_and(|l| i <= l) {
                self.0.child(&i.to_string())
            } else {
                None
            };
            let keep = last.is_some_and(|l| i <= l);
            let item = match (keep, child) {
                (true, Some(node)) => seq.next_element_seed(NodeSeed(node))?,
                (true, None) => seq.next_element::<IgnoredAny>()?.map(|_| Json::Null),
                (false, _) => {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                    i += 1;
                    continue;
                }
            };
            match item {
                Some(v) => out.push(v),
                None => break,
            }
            i += 1;
        }
        Ok(Json::Array(out))
    }

    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::String(v))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Json, E> {
        Ok(Json::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Json::Null, Json::Number))
    }

    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }

    fn visit_none<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_projected_parts_only() {
        let mut p = Projection::new();
        p.add_pointer("/details/dealValue");
        p.add_pointer("/customerProfile/team/0/email");
        p.add_pointer("/details/requirements/solutions");
        p.add_pointer("/missing/deep");
        let text = r#"{"id":"x","details":{"dealValue":5,"notes":"n","requirements":{"solutions":[{"id":"a"}]}},
            "customerProfile":{"team":[{"email":"e@x","phone":"1"},{"email":"skip"}],"name":"c"},"big":[1,2,{"a":3}]}"#;
        let v = p.parse(text).expect("valid");
        assert_eq!(
            v,
            json!({"details": {"dealValue": 5, "requirements": {"solutions": [{"id": "a"}]}},
                   "customerProfile": {"team": [{"email": "e@x"}]}})
        );
    }

    #[test]
    fn validates_everything_it_skips() {
        let mut p = Projection::new();
        p.add_pointer("/a");
        assert!(p.parse(r#"{"a":1,"b":[1,2,}"#).is_err());
        assert!(p.parse(r#"{"a":1} trailing"#).is_err());
        assert!(
            p.parse(&format!("{{\"b\":{}}}", "[".repeat(10_000)))
                .is_err()
        );
        assert_eq!(
            p.parse(r"[1]")
                .expect("an array is returned as is for the caller to refuse"),
            json!([])
        );
    }

    #[test]
    fn a_scalar_where_an_object_was_expected_is_kept() {
        let mut p = Projection::new();
        p.add_pointer("/details/dealValue");
        assert_eq!(
            p.parse(r#"{"details":"oops"}"#).expect("valid"),
            json!({"details": "oops"})
        );
    }
}
