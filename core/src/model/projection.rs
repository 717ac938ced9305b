//! Projected parsing: the whole JSON text is parsed and validated once, but nothing is materialized. The
//! parser records where each projected value sits in the text (its byte span), and field rules read those
//! spans directly, borrowing strings from the text.
//!
//! A [`Projection`] is a tree of object keys (and array indexes) built from JSON pointers or CRM field paths;
//! every node has a slot number, shared by all records parsed with it, so a compiled field rule knows its
//! slot in advance. Leaves keep the span of their whole value; inner nodes only record that they exist (as an
//! object or array). Keys the projection does not name are skipped by the parser without allocating.
//!
//! Planning a pair reads a dozen fields out of a ~2 KB referral and a ~1 KB CRM row; building the documents
//! costs more than everything else the planner does, so the engine parses with its mapping's projections.
//! [`Referral::parse`](super::Referral::parse) without a projection keeps every field as a JSON tree.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::Deserializer;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value as Json};

/// The parts of a record to read, each with a slot number.
#[derive(Debug, Clone)]
pub struct Projection {
    root: Node,
    /// Slot → path from the root.
    paths: Vec<Vec<String>>,
    /// Path → slot.
    by_path: HashMap<Vec<String>, usize>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    slot: usize,
    /// Keep the span of this whole value.
    leaf: bool,
    /// Read when only merging a pair (see [`Projection::add_path`]).
    merge: bool,
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
}

/// Where a projected value sits in a record's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// Not in the record (or its parent is not an object/array).
    Absent,
    /// An inner node that exists as an object or array.
    Container,
    /// A leaf's value: bytes `start..end` of the text.
    Span(u32, u32),
}

impl Default for Projection {
    fn default() -> Self {
        Projection::new()
    }
}

impl Projection {
    /// An empty projection (slot 0 is the record itself).
    pub fn new() -> Projection {
        Projection {
            root: Node::default(),
            paths: vec![Vec::new()],
            by_path: HashMap::new(),
        }
    }

    /// Adds a JSON pointer (`/details/dealValue`, `/customerProfile/team/0/email`) and returns its slot.
    pub fn add_pointer(&mut self, pointer: &str, merge: bool) -> usize {
        self.add_path(&pointer_segments(pointer), merge)
    }

    /// Adds a path of keys, whose value is kept whole, and returns its slot. `merge` marks the paths that
    /// merging a pair reads; [`Projection::scan`] can skip the others.
    pub fn add_path<S: AsRef<str>>(&mut self, segments: &[S], merge: bool) -> usize {
        let mut node = &mut self.root;
        node.merge |= merge;
        let mut path = Vec::with_capacity(segments.len());
        for seg in segments {
            let seg = seg.as_ref();
            path.push(seg.to_owned());
            let i = if let Some(i) = node.children.iter().position(|(k, _)| k == seg) {
                i
            } else {
                let slot = self.paths.len();
                self.paths.push(path.clone());
                self.by_path.insert(path.clone(), slot);
                node.children.push((
                    seg.to_owned(),
                    Node {
                        slot,
                        ..Node::default()
                    },
                ));
                node.children.len() - 1
            };
            node = &mut node.children[i].1;
            node.merge |= merge;
        }
        node.leaf = true;
        node.slot
    }

    /// The slot of a path, if the projection has it.
    pub fn slot_of<S: AsRef<str>>(&self, segments: &[S]) -> Option<usize> {
        let path: Vec<String> = segments.iter().map(|s| s.as_ref().to_owned()).collect();
        if path.is_empty() {
            return Some(0);
        }
        self.by_path.get(&path).copied()
    }

    /// How many slots there are.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// True when nothing but the record itself is projected.
    pub fn is_empty(&self) -> bool {
        self.paths.len() == 1
    }

    /// Parses `text`, validating all of it, and returns where each projected value is. With `merge_only`,
    /// paths not marked `merge` are skipped like unprojected ones.
    pub(crate) fn scan(
        &self,
        text: &str,
        merge_only: bool,
    ) -> Result<Vec<Slot>, serde_json::Error> {
        let mut slots = vec![Slot::Absent; self.paths.len()];
        let mut de = serde_json::Deserializer::from_str(text);
        let mut ctx = Scan {
            slots: &mut slots,
            base: text.as_ptr() as usize,
            merge_only,
        };
        NodeSeed {
            node: &self.root,
            ctx: &mut ctx,
        }
        .deserialize(&mut de)?;
        de.end()?;
        Ok(slots)
    }

    /// Parses `text`, which must be a JSON object, and builds the sparse JSON tree of the projected values (for
    /// tests and tools; the engine reads spans instead).
    pub fn parse(&self, text: &str) -> Result<Json, serde_json::Error> {
        let slots = self.scan(text, false)?;
        if !text.trim_start().starts_with('{') {
            return Err(<serde_json::Error as serde::de::Error>::custom(
                "expected a JSON object",
            ));
        }
        Ok(Json::Object(self.materialize(text, &slots)))
    }

    /// The sparse tree of the projected values found in `text`.
    fn materialize(&self, text: &str, slots: &[Slot]) -> Map<String, Json> {
        let mut root = Json::Object(Map::new());
        for (slot, path) in self.paths.iter().enumerate().skip(1) {
            let value = match slots[slot] {
                Slot::Absent | Slot::Container => continue,
                Slot::Span(a, b) => {
                    serde_json::from_str(&text[a as usize..b as usize]).unwrap_or(Json::Null)
                }
            };
            insert_path(&mut root, path, value);
        }
        // Inner nodes that exist but hold no projected leaf still exist (as empty objects).
        for (slot, path) in self.paths.iter().enumerate().skip(1) {
            if slots[slot] == Slot::Container && !path_exists(&root, path) {
                insert_path(&mut root, path, Json::Object(Map::new()));
            }
        }
        match root {
            Json::Object(m) => m,
            _ => Map::new(),
        }
    }
}

fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .strip_prefix('/')
        .unwrap_or(pointer)
        .split('/')
        .map(super::referral::unescape)
        .collect()
}

fn path_exists(root: &Json, path: &[String]) -> bool {
    let mut cur = root;
    for seg in path {
        cur = match cur {
            Json::Object(m) => match m.get(seg) {
                Some(v) => v,
                None => return false,
            },
            Json::Array(a) => match seg.parse::<usize>().ok().and_then(|i| a.get(i)) {
                Some(v) => v,
                None => return false,
            },
            _ => return false,
        };
    }
    true
}

/// Sets `value` at `path`, creating objects (and arrays for index segments) on the way.
fn insert_path(root: &mut Json, path: &[String], value: Json) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = root;
    for (i, seg) in parents.iter().enumerate() {
        let next_is_index = path[i + 1].parse::<usize>().is_ok();
        cur = match cur {
            Json::Object(m) => m.entry(seg.clone()).or_insert_with(|| {
                if next_is_index {
                    Json::Array(Vec::new())
                } else {
                    Json::Object(Map::new())
                }
            }),
            Json::Array(a) => {
                let Ok(index) = seg.parse::<usize>() else {
                    return;
                };
                while a.len() <= index {
                    a.push(Json::Null);
                }
                if a[index].is_null() {
                    a[index] = if next_is_index {
                        Json::Array(Vec::new())
                    } else {
                        Json::Object(Map::new())
                    };
                }
                &mut a[index]
            }
            _ => return,
        };
    }
    match cur {
        Json::Object(m) => {
            m.insert(last.clone(), value);
        }
        Json::Array(a) => {
            if let Ok(index) = last.parse::<usize>() {
                while a.len() <= index {
                    a.push(Json::Null);
                }
                a[index] = value;
            }
        }
        _ => {}
    }
}

struct Scan<'s> {
    slots: &'s mut Vec<Slot>,
    base: usize,
    merge_only: bool,
}

impl Scan<'_> {
    fn span(&self, raw: &RawValue) -> Slot {
        let text = raw.get();
        let start = text.as_ptr() as usize - self.base;
        Slot::Span(start as u32, (start + text.len()) as u32)
    }

    fn wanted(&self, node: &Node) -> bool {
        !self.merge_only || node.merge
    }
}

struct NodeSeed<'n, 's, 'c> {
    node: &'n Node,
    ctx: &'c mut Scan<'s>,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.node.leaf {
            let raw: &'de RawValue = serde::Deserialize::deserialize(d)?;
            self.ctx.slots[self.node.slot] = self.ctx.span(raw);
            if !self.node.children.is_empty() {
                // A leaf that is also the parent of other paths: scan its text again for them.
                let mut inner = serde_json::Deserializer::from_str(raw.get());
                inner
                    .deserialize_any(NodeVisitor {
                        node: self.node,
                        ctx: self.ctx,
                        mark: false,
                    })
                    .map_err(serde::de::Error::custom)?;
            }
            return Ok(());
        }
        d.deserialize_any(NodeVisitor {
            node: self.node,
            ctx: self.ctx,
            mark: true,
        })
    }
}

/// Finds the child node of a key without allocating for keys that are skipped.
struct KeySeed<'n>(&'n Node);

impl<'de, 'n> DeserializeSeed<'de> for KeySeed<'n> {
    type Value = Option<&'n Node>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'n> Visitor<'_> for KeySeed<'n> {
    type Value = Option<&'n Node>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.child(key))
    }
}

struct NodeVisitor<'n, 's, 'c> {
    node: &'n Node,
    ctx: &'c mut Scan<'s>,
    /// Record that this inner node exists.
    mark: bool,
}

impl NodeVisitor<'_, '_, '_> {
    fn exists(&mut self) {
        if self.mark {
            self.ctx.slots[self.node.slot] = Slot::Container;
        }
    }
}

impl<'de> Visitor<'de> for NodeVisitor<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.exists();
        while let Some(found) = map.next_key_seed(KeySeed(self.node))? {
            match found {
                Some(node) if self.ctx.wanted(node) => {
                    map.next_value_seed(NodeSeed {
                        node,
                        ctx: self.ctx,
                    })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.exists();
        let mut i = 0usize;
        loop {
            let child = self
                .node
                .children
                .iter()
                .find(|(k, _)| k.parse::<usize>() == Ok(i))
                .map(|(_, n)| n);
            let more = match child {
                Some(node) if self.ctx.wanted(node) => seq.next_element_seed(NodeSeed {
                    node,
                    ctx: self.ctx,
                })?,
                _ => seq.next_element::<IgnoredAny>()?.map(|_| ()),
            };
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The text of member `key` of each object in the JSON array `raw` (`None` for an object without it); every
/// other member is skipped without allocating. An element that is not an object is an error.
pub(crate) fn member_of_each<'a>(
    raw: &'a str,
    key: &str,
) -> Result<Vec<Option<&'a str>>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(raw);
    let members = de.deserialize_seq(EachMember(key))?;
    de.end()?;
    Ok(members)
}

struct EachMember<'k>(&'k str);

impl<'de> Visitor<'de> for EachMember<'_> {
    type Value = Vec<Option<&'de str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(member) = seq.next_element_seed(Member(self.0))? {
            out.push(member);
        }
        Ok(out)
    }
}

struct Member<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for Member<'_> {
    type Value = Option<&'de str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Member<'_> {
    type Value = Option<&'de str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_key) = map.next_key_seed(IsKey(self.0))? {
            if is_key {
                let raw: &'de RawValue = map.next_value()?;
                found = Some(raw.get());
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether an object key is the one wanted, without allocating.
struct IsKey<'k>(&'k str);

impl<'de> DeserializeSeed<'de> for IsKey<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for IsKey<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// A record's text and where its projected values are.
#[derive(Debug, Clone)]
pub(crate) struct Projected {
    text: Box<str>,
    slots: Vec<Slot>,
    projection: Arc<Projection>,
    json: OnceLock<Map<String, Json>>,
}

impl Projected {
    /// Scans `text` with `projection`; `None` when the text is not a JSON object.
    pub(crate) fn scan(
        text: &str,
        projection: &Arc<Projection>,
        merge_only: bool,
    ) -> Result<Option<Projected>, serde_json::Error> {
        let slots = projection.scan(text, merge_only)?;
        if slots[0] != Slot::Container || !text.trim_start().starts_with('{') {
            return Ok(None);
        }
        Ok(Some(Projected {
            text: text.into(),
            slots,
            projection: Arc::clone(projection),
            json: OnceLock::new(),
        }))
    }

    /// Whether this record was scanned with `projection`, so that its slot numbers apply.
    pub(crate) fn is_from(&self, projection: &Arc<Projection>) -> bool {
        Arc::ptr_eq(&self.projection, projection)
    }

    /// The value at a slot.
    pub(crate) fn at(&self, slot: usize) -> Field<'_> {
        match self.slots.get(slot) {
            Some(Slot::Span(a, b)) => Field::Raw(&self.text[*a as usize..*b as usize]),
            Some(Slot::Container) => Field::Container,
            _ => Field::Absent,
        }
    }

    /// The value of a top-level key.
    pub(crate) fn top(&self, key: &str) -> Field<'_> {
        self.projection
            .root
            .child(key)
            .map_or(Field::Absent, |n| self.at(n.slot))
    }

    /// The sparse JSON tree of the projected values, built on first use.
    pub(crate) fn json(&self) -> &Map<String, Json> {
        self.json
            .get_or_init(|| self.projection.materialize(&self.text, &self.slots))
    }
}

/// A value read from a record: a JSON tree node, or the text of a projected value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field<'a> {
    /// Not present.
    Absent,
    /// A node of a record kept as a JSON tree.
    Json(&'a Json),
    /// The JSON text of a projected value.
    Raw(&'a str),
    /// A projected inner node (an object or array) that exists.
    Container,
}

impl<'a> Field<'a> {
    /// True when the value is absent or JSON `null`.
    pub(crate) fn is_null(self) -> bool {
        match self {
            Field::Absent => true,
            Field::Json(j) => j.is_null(),
            Field::Raw(r) => r == "null",
            Field::Container => false,
        }
    }

    /// Whether the value exists (even as null).
    pub(crate) fn exists(self) -> bool {
        !matches!(self, Field::Absent)
    }

    /// The value as text, if it is a JSON string. Borrowed unless the string has escapes.
    pub(crate) fn as_str(self) -> Option<Cow<'a, str>> {
        match self {
            Field::Json(Json::String(s)) => Some(Cow::Borrowed(s)),
            Field::Raw(r) if r.starts_with('"') => {
                let inner = &r[1..r.len() - 1];
                if inner.contains('\\') {
                    serde_json::from_str::<String>(r).ok().map(Cow::Owned)
                } else {
                    Some(Cow::Borrowed(inner))
                }
            }
            _ => None,
        }
    }

    /// The value as JSON (parsed from the text for a projected value).
    pub(crate) fn to_json(self) -> Cow<'a, Json> {
        match self {
            Field::Json(j) => Cow::Borrowed(j),
            Field::Raw(r) => Cow::Owned(serde_json::from_str(r).unwrap_or(Json::Null)),
            Field::Absent => Cow::Owned(Json::Null),
            Field::Container => Cow::Owned(Json::Object(Map::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn projection(pointers: &[&str]) -> Projection {
        let mut p = Projection::new();
        for ptr in pointers {
            p.add_pointer(ptr, !ptr.contains("team"));
        }
        p
    }

    const TEXT: &str = r#"{"id":"x","details":{"dealValue":5,"notes":"n\"q","requirements":{"solutions":[{"id":"a"}]}},
            "customerProfile":{"team":[{"email":"e@x","phone":"1"},{"email":"skip"}],"name":"c"},"big":[1,2,{"a":3}]}"#;

    #[test]
    fn keeps_projected_parts_only() {
        let p = projection(&[
            "/details/dealValue",
            "/customerProfile/team/0/email",
            "/details/requirements/solutions",
            "/missing/deep",
        ]);
        let v = p.parse(TEXT).expect("valid");
        assert_eq!(
            v,
            json!({"details": {"dealValue": 5, "requirements": {"solutions": [{"id": "a"}]}},
                   "customerProfile": {"team": [{"email": "e@x"}]}})
        );
    }

    #[test]
    fn spans_borrow_the_text_and_merge_only_skips() {
        let p = Arc::new(projection(&[
            "/details/dealValue",
            "/details/notes",
            "/customerProfile/team/0/email",
        ]));
        let rec = Projected::scan(TEXT, &p, false)
            .expect("valid")
            .expect("object");
        let notes = p.slot_of(&["details", "notes"]).expect("slot");
        assert_eq!(rec.at(notes).as_str().as_deref(), Some("n\"q"));
        let value = p.slot_of(&["details", "dealValue"]).expect("slot");
        assert!(matches!(rec.at(value), Field::Raw("5")));
        let email = p
            .slot_of(&["customerProfile", "team", "0", "email"])
            .expect("slot");
        assert!(matches!(rec.at(email).as_str(), Some(Cow::Borrowed("e@x"))));
        let merged = Projected::scan(TEXT, &p, true)
            .expect("valid")
            .expect("object");
        assert!(!merged.at(email).exists(), "team is not read when merging");
        assert!(merged.at(value).exists());
        assert_eq!(
            merged
                .json()
                .get("details")
                .and_then(|d| d.get("dealValue")),
            Some(&json!(5))
        );
    }

    #[test]
    fn validates_everything_it_skips() {
        let p = projection(&["/a"]);
        assert!(p.parse(r#"{"a":1,"b":[1,2,}"#).is_err());
        assert!(p.parse(r#"{"a":1} trailing"#).is_err());
        assert!(
            p.parse(&format!("{{\"b\":{}}}", "[".repeat(10_000)))
                .is_err()
        );
        assert!(p.parse("[1]").is_err(), "a record is an object");
    }

    #[test]
    fn member_of_each_object_borrows_and_skips_the_rest() {
        let raw =
            r#"[{"name":null,"id":"a","type":"Name"},{"id":"b\u0041"},{"x":[1,{"id":"no"}]}]"#;
        let members = member_of_each(raw, "id").expect("valid");
        assert_eq!(members, vec![Some("\"a\""), Some("\"b\\u0041\""), None]);
        assert!(
            member_of_each(r#"["a"]"#, "id").is_err(),
            "an element that is not an object"
        );
        assert!(member_of_each(r#"[{"id":"a"}"#, "id").is_err(), "truncated");
    }

    #[test]
    fn a_scalar_where_an_object_was_expected_has_no_children() {
        let p = projection(&["/details/dealValue"]);
        assert_eq!(p.parse(r#"{"details":"oops"}"#).expect("valid"), json!({}));
    }
}
#[cfg(test)]
mod engine_path {
    use crate::mapping::Mapping;
    use crate::model::{Field, Referral};

    #[test]
    fn rules_read_projected_referrals_by_slot() {
        let m = Mapping::builtin("salesforce").expect("profile");
        let p = m.projections();
        let text = r#"{"id":"r","name":"N","details":{"dealValue":5,"notes":"x"}}"#;
        let r = Referral::parse_projected(text, &p.referral, true).expect("valid");
        let rule = m
            .field(crate::model::CrmEntity::Opportunity, "deal_value")
            .expect("rule");
        let slots = rule.slots.as_ref().expect("slots assigned");
        let f = r.field_at(
            Some(&slots.referral),
            slots.pc[0],
            &["details", "dealValue"],
        );
        assert!(matches!(f, Field::Raw("5")), "{f:?}");
    }
}
