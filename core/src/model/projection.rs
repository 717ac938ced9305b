//! Projected parsing: the whole JSON text is parsed and validated once, but nothing is materialized. The
//! scanner ([`super::json_scan`]) walks the text, and records where each projected value sits in it (its byte
//! span); field rules read those spans directly, borrowing strings from the text.
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
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value as Json};

use super::json_scan::{self, Opened, Scanner, SyntaxError};

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
    /// The array index this node's key reads as (as `usize` parses it), for when its parent is an array.
    index: Option<usize>,
    /// Keep the span of this whole value.
    leaf: bool,
    /// Read when only merging a pair (see [`Projection::add_path`]).
    merge: bool,
    /// Child keys, in the order they were added.
    children: Vec<(String, Node)>,
    /// Open-addressing hash table of the children: `1 +` the index in `children`, or 0 for an empty entry.
    /// Every key of a scanned object is looked up, and a CRM row's root has dozens of projected keys.
    table: Vec<u32>,
}

impl Node {
    /// The child for object key `key`.
    #[inline]
    fn child(&self, key: &str) -> Option<&Node> {
        let mask = self.table.len().wrapping_sub(1);
        let mut at = key_hash(key.as_bytes()) & mask;
        loop {
            let entry = *self.table.get(at)?;
            let (k, node) = self.children.get(entry.checked_sub(1)? as usize)?;
            if same_bytes(k.as_bytes(), key.as_bytes()) {
                return Some(node);
            }
            at = (at + 1) & mask;
        }
    }

    /// Adds a child (its key not yet a child's) and returns its index.
    fn push_child(&mut self, key: &str, node: Node) -> usize {
        self.children.push((key.to_owned(), node));
        // At most half full, so that a probe soon meets an empty entry.
        let size = (self.children.len() * 2).next_power_of_two().max(8);
        self.table = vec![0; size];
        for (i, (k, _)) in self.children.iter().enumerate() {
            let mut at = key_hash(k.as_bytes()) & (size - 1);
            while self.table[at] != 0 {
                at = (at + 1) & (size - 1);
            }
            self.table[at] = i as u32 + 1;
        }
        self.children.len() - 1
    }

    /// The child for array element `index`.
    fn element(&self, index: usize) -> Option<&Node> {
        self.children
            .iter()
            .find(|(_, n)| n.index == Some(index))
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
                node.push_child(
                    seg,
                    Node {
                        slot,
                        index: seg.parse().ok(),
                        ..Node::default()
                    },
                )
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
        let mut scan = Scan {
            slots: vec![Slot::Absent; self.paths.len()],
            merge_only,
        };
        json_scan::scan(text, |scanner| scan.value(scanner, &self.root))?;
        Ok(scan.slots)
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

/// Whether two short byte strings are equal, eight bytes at a time (calling `memcmp` costs more for keys).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn word(chunk: &[u8]) -> u64 {
        <[u8; 8]>::try_from(chunk).map_or(0, u64::from_ne_bytes)
    }
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    x.by_ref().zip(y.by_ref()).all(|(p, q)| word(p) == word(q))
        && x.remainder().iter().zip(y.remainder()).all(|(p, q)| p == q)
}

/// A cheap hash of a key for [`Node::child`]: its length and three of its bytes, mixed.
#[inline]
fn key_hash(key: &[u8]) -> usize {
    let byte = |i: usize| key.get(i).map_or(0, |&b| u64::from(b));
    let mixed = key.len() as u64
        ^ (byte(0) << 8)
        ^ (byte(key.len() / 2) << 16)
        ^ (byte(key.len().wrapping_sub(1)) << 24);
    (mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
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

/// The slots found so far in one scan.
struct Scan {
    slots: Vec<Slot>,
    merge_only: bool,
}

impl Scan {
    fn set(&mut self, node: &Node, slot: Slot) {
        if let Some(s) = self.slots.get_mut(node.slot) {
            *s = slot;
        }
    }

    fn wanted(&self, node: &Node) -> bool {
        !self.merge_only || node.merge
    }

    /// Reads the next value as `node`: a leaf's span, and the projected parts inside.
    fn value(&mut self, scanner: &mut Scanner<'_>, node: &Node) -> Result<(), SyntaxError> {
        if !node.leaf {
            return self.children(scanner, node, true);
        }
        let (start, end) = if node.children.is_empty() {
            scanner.skip_value()?
        } else {
            // A leaf that is also the parent of other paths: its span, and its children on the way.
            let start = scanner.value_start();
            self.children(scanner, node, false)?;
            (start, scanner.position())
        };
        self.set(node, Slot::Span(start as u32, end as u32));
        Ok(())
    }

    /// Reads the next value's projected children, skipping the rest; `mark` records that `node` exists when
    /// the value is an object or array.
    fn children(
        &mut self,
        scanner: &mut Scanner<'_>,
        node: &Node,
        mark: bool,
    ) -> Result<(), SyntaxError> {
        let opened = scanner.open()?;
        if opened == Opened::Scalar {
            scanner.skip_value()?;
            return Ok(());
        }
        if mark {
            self.set(node, Slot::Container);
        }
        if opened == Opened::Object {
            let mut first = true;
            while let Some(key) = scanner.next_key(first)? {
                first = false;
                match node.child(&key.as_str()) {
                    Some(child) if self.wanted(child) => self.value(scanner, child)?,
                    _ => {
                        scanner.skip_value()?;
                    }
                }
            }
        } else {
            let mut index = 0;
            while scanner.next_element(index == 0)? {
                match node.element(index) {
                    Some(child) if self.wanted(child) => self.value(scanner, child)?,
                    _ => {
                        scanner.skip_value()?;
                    }
                }
                index += 1;
            }
        }
        Ok(())
    }
}

/// The text of member `key` of each object in the JSON array `raw` (`None` for an object without it); every
/// other member is skipped without allocating. `None` when `raw` is not an array of objects or not valid JSON
/// (the caller reads it as a tree then, for a precise error).
pub(crate) fn member_of_each<'a>(raw: &'a str, key: &str) -> Option<Vec<Option<&'a str>>> {
    json_scan::scan(raw, |s| {
        if s.open()? != Opened::Array {
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut first = true;
        while s.next_element(first)? {
            first = false;
            if s.open()? != Opened::Object {
                return Ok(None);
            }
            let mut found = None;
            let mut first_key = true;
            while let Some(k) = s.next_key(first_key)? {
                first_key = false;
                let (start, end) = s.skip_value()?;
                if k.as_str() == key {
                    found = raw.get(start..end);
                }
            }
            out.push(found);
        }
        Ok(Some(out))
    })
    .ok()
    .flatten()
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
        let members = member_of_each(raw, "id").expect("an array of objects");
        assert_eq!(members, vec![Some("\"a\""), Some("\"b\\u0041\""), None]);
        assert!(
            member_of_each(r#"["a"]"#, "id").is_none(),
            "an element that is not an object"
        );
        assert!(
            member_of_each(r#"[{"id":"a"}"#, "id").is_none(),
            "truncated"
        );
    }

    #[test]
    fn every_key_of_a_wide_level_is_found() {
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        let mut p = Projection::new();
        for key in &keys {
            p.add_path(&[key.as_str()], false);
        }
        let text = format!(
            "{{{}}}",
            keys.iter()
                .rev()
                .map(|k| format!("\"{k}\":\"{k}\",\"x{k}\":0"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let slots = p.scan(&text, false).expect("valid");
        for key in &keys {
            let Slot::Span(a, b) = slots[p.slot_of(&[key]).expect("slot")] else {
                panic!("{key} not found");
            };
            assert_eq!(&text[a as usize..b as usize], format!("\"{key}\""));
        }
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
