//! A compiled field rule: a two-way lens between a side's wire JSON and one canonical value.
//!
//! Reading turns a referral pointer (or a CRM field path) into a [`Value`], applying the lookup table, set
//! splitting and date parsing. Writing turns a canonical value back into a Partner Center JSON Patch operation or
//! a CRM field write (plain value, lookup, or Dynamics close action). Both directions are pure.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::spec::{ConflictPolicy, DateFormat, LookupSpec, SyncDirection};
use crate::error::{RecordError, shorten};
use crate::model::{CrmRecord, Field, Projection, Referral, member_of_each};
use crate::plan::{CrmWrite, FieldError, Lookup, PatchOp, StateChange};
use crate::value::{Value, ValueRef, ValueType, format_date, format_datetime};

/// An enum lookup table between Partner Center values (canonical) and CRM values.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// (canonical value, CRM JSON, CRM key) in file order.
    pub entries: Vec<(String, Json, String)>,
    /// canonical → first entry.
    pub by_canon: HashMap<String, usize>,
    /// CRM key → first entry: the canonical value a CRM value reads as.
    pub by_crm: HashMap<String, usize>,
    /// What CRM values missing from the table read as.
    pub otherwise: Option<String>,
}

impl Table {
    /// The CRM key of a canonical value (its coarse image).
    fn crm_key(&self, canon: &str) -> Option<&str> {
        self.by_canon
            .get(canon)
            .map(|&i| self.entries[i].2.as_str())
    }
}

/// The key of a CRM value or tuple: scalars as text, arrays joined by `/` (`[1, 3]` → `1/3`).
pub(crate) fn crm_key(json: &Json) -> String {
    match json {
        Json::Array(items) => items.iter().map(crm_key).collect::<Vec<_>>().join("/"),
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// The Partner Center side of a field.
#[derive(Debug, Clone)]
pub(crate) struct PcSide {
    pub pointers: Vec<String>,
    /// The pointers split into unescaped segments.
    pub segments: Vec<Vec<String>>,
    pub item_key: Option<String>,
    pub format: DateFormat,
}

/// The CRM side of a field, for one entity.
#[derive(Debug, Clone)]
pub(crate) struct CrmSide {
    /// Field paths, each split on `/`.
    pub paths: Vec<Vec<String>>,
    pub table: Option<Table>,
    pub split: Option<String>,
    pub max_length: Option<usize>,
    pub lookup: Option<LookupSpec>,
    pub close_via_action: bool,
    pub format: DateFormat,
}

/// One compiled canonical field for one CRM entity.
#[derive(Debug, Clone)]
pub struct FieldRule {
    pub(crate) name: String,
    pub(crate) ty: ValueType,
    pub(crate) direction: SyncDirection,
    pub(crate) conflict: ConflictPolicy,
    pub(crate) pc: Option<PcSide>,
    pub(crate) crm: CrmSide,
    pub(crate) values: Option<BTreeSet<String>>,
    pub(crate) template: Option<String>,
    pub(crate) default: Option<Value>,
    pub(crate) constant: Option<Value>,
    /// Where this rule's values sit in records parsed with the mapping's projections.
    pub(crate) slots: Option<Slots>,
}

/// A rule's slots in the mapping's projections (see [`crate::model::Projection`]).
#[derive(Debug, Clone)]
pub(crate) struct Slots {
    pub(crate) referral: Arc<Projection>,
    pub(crate) crm: Arc<Projection>,
    /// One per Partner Center pointer.
    pub(crate) pc: Vec<usize>,
    /// One per CRM field path.
    pub(crate) crm_paths: Vec<usize>,
}

impl FieldRule {
    pub(crate) fn set_slots(
        &mut self,
        referral: &Arc<Projection>,
        crm: &Arc<Projection>,
        pc: Vec<usize>,
        crm_paths: Vec<usize>,
    ) {
        self.slots = Some(Slots {
            referral: Arc::clone(referral),
            crm: Arc::clone(crm),
            pc,
            crm_paths,
        });
    }

    /// Partner Center pointer `i` of this rule in `referral`.
    fn pc_field<'a>(&self, referral: &'a Referral, pc: &PcSide, i: usize) -> Field<'a> {
        let segments = &pc.segments[i];
        match &self.slots {
            Some(s) => referral.field_at(Some(&s.referral), s.pc[i], segments),
            None => referral.field_at(None, 0, segments),
        }
    }

    /// CRM field path `i` of this rule in `record`.
    fn crm_field<'a>(&self, record: &'a CrmRecord, i: usize) -> Field<'a> {
        let path = &self.crm.paths[i];
        match &self.slots {
            Some(s) => record.field_at(Some(&s.crm), s.crm_paths[i], path),
            None => record.field_at(None, 0, path),
        }
    }

    /// The canonical field name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value type.
    pub fn value_type(&self) -> ValueType {
        self.ty
    }

    /// The sync direction.
    pub fn direction(&self) -> SyncDirection {
        self.direction
    }

    /// The conflict policy.
    pub fn conflict(&self) -> ConflictPolicy {
        self.conflict
    }

    /// The CRM field names this rule reads (paths joined by `/`).
    pub fn crm_fields(&self) -> Vec<String> {
        self.crm.paths.iter().map(|p| p.join("/")).collect()
    }

    /// The Partner Center pointers this rule reads.
    pub fn partner_center_pointers(&self) -> Vec<String> {
        self.pc
            .as_ref()
            .map(|p| p.pointers.clone())
            .unwrap_or_default()
    }

    /// Whether the Partner Center side is writable (a pointer, not a constant or template source only).
    pub(crate) fn writes_partner_center(&self) -> bool {
        self.pc.is_some() && self.constant.is_none() && self.template.is_none()
    }

    /// Reads the canonical value from a referral.
    pub fn read_partner_center(&self, referral: &Referral) -> Result<Value, RecordError> {
        self.read_partner_center_ref(referral).map(|v| v.to_value())
    }

    /// Reads the canonical value from a CRM record.
    pub fn read_crm(&self, record: &CrmRecord) -> Result<Value, RecordError> {
        self.read_crm_ref(record).map(|v| v.to_value())
    }

    /// Reads the canonical value from a referral, borrowing from it.
    pub fn read_partner_center_ref<'a>(
        &'a self,
        referral: &'a Referral,
    ) -> Result<ValueRef<'a>, RecordError> {
        if let Some(c) = &self.constant {
            return Ok(c.as_ref());
        }
        let Some(pc) = &self.pc else {
            return Ok(ValueRef::Null);
        };
        let record = || format!("Partner Center referral {}", referral.id());
        if pc.pointers.len() > 1 {
            let mut joined = String::new();
            let mut all_empty = true;
            for i in 0..pc.pointers.len() {
                let part = self.pc_field(referral, pc, i).as_str();
                let part = part.as_deref().unwrap_or("None");
                all_empty &= part == "None" || part.is_empty();
                if i > 0 {
                    joined.push('/');
                }
                joined.push_str(part);
            }
            if all_empty {
                return Ok(ValueRef::Null);
            }
            return self
                .check_domain(ValueRef::Enum(Cow::Owned(joined)))
                .map_err(|e| self.domain_error(&record(), &pc.pointers.join(" + "), &e));
        }
        let pointer = &pc.pointers[0];
        let field = self.pc_field(referral, pc, 0);
        if let Some(key) = &pc.item_key {
            if field.is_null() {
                return Ok(ValueRef::Null);
            }
            // Borrowed from the tree, or from the projected text (the array's objects are scanned, not built).
            let ids = match field {
                Field::Raw(raw) => raw_item_ids(raw, key),
                other => match other.to_json() {
                    Cow::Borrowed(json) => {
                        item_ids(json, key).map(|ids| ids.into_iter().map(Cow::Borrowed).collect())
                    }
                    Cow::Owned(json) => item_ids(&json, key).map(|ids| {
                        ids.into_iter()
                            .map(|id| Cow::Owned(id.to_owned()))
                            .collect()
                    }),
                },
            };
            return ids
                .map(ValueRef::set)
                .map_err(|(expected, found)| bad(&record(), pointer, &expected, &found));
        }
        let value = ValueRef::from_field(self.ty, field).map_err(|e| {
            bad(
                &record(),
                pointer,
                &format!("{e} (field `{}`)", self.name),
                &field.to_json(),
            )
        })?;
        self.check_domain(value)
            .map_err(|e| self.domain_error(&record(), pointer, &e))
    }

    /// Reads the canonical value from a CRM record, borrowing from it.
    pub fn read_crm_ref<'a>(&'a self, record: &'a CrmRecord) -> Result<ValueRef<'a>, RecordError> {
        let crm = &self.crm;
        let field_name = || self.crm_fields().join(" + ");
        if let Some(table) = &crm.table {
            let index = if crm.paths.len() > 1 {
                let parts: Vec<Json> = (0..crm.paths.len())
                    .map(|i| self.crm_field(record, i).to_json().into_owned())
                    .collect();
                if parts.iter().all(Json::is_null) {
                    return Ok(ValueRef::Null);
                }
                let found = Json::Array(parts);
                match table.by_crm.get(&crm_key(&found)) {
                    Some(i) => Some(*i),
                    None if table.otherwise.is_some() => None,
                    None => return Err(self.table_error(record, &field_name(), &found)),
                }
            } else {
                let field = self.crm_field(record, 0);
                if field.is_null() {
                    return Ok(ValueRef::Null);
                }
                let hit = match field.as_str() {
                    Some(s) => table.by_crm.get(s.as_ref()).copied(),
                    None => table.by_crm.get(&crm_key(&field.to_json())).copied(),
                };
                if hit.is_none() && table.otherwise.is_none() {
                    return Err(self.table_error(record, &field_name(), &field.to_json()));
                }
                hit
            };
            return Ok(match (index, &table.otherwise) {
                (Some(i), _) => ValueRef::Enum(Cow::Borrowed(&table.entries[i].0)),
                (None, Some(o)) => ValueRef::Enum(Cow::Borrowed(o)),
                (None, None) => ValueRef::Null,
            });
        }
        let field = self.crm_field(record, 0);
        if field.is_null() {
            return Ok(ValueRef::Null);
        }
        if let Some(sep) = &crm.split {
            return match field.as_str() {
                Some(Cow::Borrowed(s)) => Ok(ValueRef::set(
                    s.split(sep.as_str())
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(Cow::Borrowed)
                        .collect(),
                )),
                Some(Cow::Owned(s)) => Ok(ValueRef::set(
                    s.split(sep.as_str())
                        .map(str::trim)
                        .filter(|x| !x.is_empty())
                        .map(|x| Cow::Owned(x.to_owned()))
                        .collect(),
                )),
                None => Err(bad(
                    &record.describe(),
                    &field_name(),
                    &format!("text with ids separated by {sep:?}"),
                    &field.to_json(),
                )),
            };
        }
        let value = ValueRef::from_field(self.ty, field).map_err(|e| {
            bad(
                &record.describe(),
                &field_name(),
                &format!("{e} (field `{}`)", self.name),
                &field.to_json(),
            )
        })?;
        if self.template.is_some() {
            return Ok(value);
        }
        self.check_domain(value)
            .map_err(|e| self.domain_error(&record.describe(), &field_name(), &e))
    }

    fn table_error(&self, record: &CrmRecord, field: &str, found: &Json) -> RecordError {
        let Some(table) = &self.crm.table else {
            return bad(&record.describe(), field, "a value", found);
        };
        let known: Vec<String> = table.entries.iter().map(|e| e.1.to_string()).collect();
        bad(
            &record.describe(),
            field,
            &format!(
                "one of {} (field `{}`; add it to the table or set `otherwise`)",
                known.join(", "),
                self.name
            ),
            found,
        )
    }

    /// Checks an enum value against the field's allowed values; the error carries the value found.
    fn check_domain<'a>(&self, value: ValueRef<'a>) -> Result<ValueRef<'a>, String> {
        match (&value, &self.values) {
            (ValueRef::Enum(s), Some(values)) if !values.contains(s.as_ref()) => {
                Err(s.clone().into_owned())
            }
            _ => Ok(value),
        }
    }

    fn domain_error(&self, record: &str, field: &str, found: &str) -> RecordError {
        let list: Vec<&str> = self.values.iter().flatten().map(String::as_str).collect();
        RecordError::InvalidField {
            record: record.to_owned(),
            field: field.to_owned(),
            expected: format!("one of {} (field `{}`)", list.join(", "), self.name),
            found: format!("{:?}", shorten(found)),
        }
    }

    /// The value in the space both sides can express: for a lossy table (two Partner Center values to one CRM
    /// value) that is the CRM value, so a coarse-equal pair is not a change.
    pub fn compare_key(&self, value: &Value) -> Value {
        match (&self.crm.table, value) {
            (Some(t), Value::Enum(s)) => t
                .crm_key(s)
                .map_or_else(|| value.clone(), |k| Value::Enum(k.to_owned())),
            _ => value.clone(),
        }
    }

    /// Whether two canonical values are equal as far as this field can tell (typed, and in the coarser space of
    /// a lossy table).
    pub fn same(&self, a: &Value, b: &Value) -> bool {
        self.same_ref(&a.as_ref(), &b.as_ref())
    }

    /// [`FieldRule::same`] on borrowed values.
    pub fn same_ref(&self, a: &ValueRef<'_>, b: &ValueRef<'_>) -> bool {
        match (&self.crm.table, a, b) {
            (Some(table), ValueRef::Enum(left), ValueRef::Enum(right)) => {
                match (table.crm_key(left), table.crm_key(right)) {
                    (Some(left_key), Some(right_key)) => left_key == right_key,
                    _ => left == right,
                }
            }
            _ => a == b,
        }
    }

    /// The value to write when `value` is empty: the rule's default, if any.
    fn or_default<'a>(&'a self, value: &'a Value) -> &'a Value {
        match (&self.default, value.is_empty()) {
            (Some(d), true) => d,
            _ => value,
        }
    }

    fn pc_json(value: &Value, pc: &PcSide) -> Json {
        match value {
            Value::Date(d) => match pc.format {
                DateFormat::Date => Json::String(format_date(*d)),
                DateFormat::Datetime | DateFormat::SalesforceDatetime => {
                    Json::String(format!("{}T00:00:00Z", format_date(*d)))
                }
            },
            other => other.to_json(),
        }
    }

    /// JSON Patch operations that set this field on an existing referral (`replace` where the pointer exists,
    /// `add` where it does not).
    pub fn partner_center_ops(&self, value: &Value, current: &Referral) -> Vec<PatchOp> {
        let Some(pc) = &self.pc else {
            return Vec::new();
        };
        let value = self.or_default(value);
        let mut ops = Vec::new();
        if pc.pointers.len() > 1 {
            let s = match value {
                Value::Enum(s) | Value::Text(s) => s.as_str(),
                _ => "",
            };
            for (i, (pointer, part)) in pc.pointers.iter().zip(s.split('/')).enumerate() {
                let exists = self.pc_field(current, pc, i).exists();
                ops.push(patch_op(
                    current,
                    pointer,
                    exists,
                    Json::String(part.to_owned()),
                ));
            }
            return ops;
        }
        let pointer = &pc.pointers[0];
        let json = match (&pc.item_key, value) {
            (Some(key), Value::Set(ids)) => merge_items(current.pointer(pointer), key, ids),
            (Some(_), Value::Null) => Json::Array(Vec::new()),
            _ => Self::pc_json(value, pc),
        };
        let exists = self.pc_field(current, pc, 0).exists();
        ops.push(patch_op(current, pointer, exists, json));
        ops
    }

    /// Sets this field in a referral body being created.
    pub fn set_partner_center(&self, value: &Value, body: &mut Map<String, Json>) {
        let Some(pc) = &self.pc else { return };
        let value = self.or_default(value);
        if value.is_empty() {
            return;
        }
        if pc.pointers.len() > 1 {
            if let Value::Enum(s) | Value::Text(s) = value {
                for (pointer, part) in pc.pointers.iter().zip(s.split('/')) {
                    set_pointer(body, pointer, Json::String(part.to_owned()));
                }
            }
            return;
        }
        let json = match (&pc.item_key, value) {
            (Some(key), Value::Set(ids)) => merge_items(None, key, ids),
            _ => Self::pc_json(value, pc),
        };
        set_pointer(body, &pc.pointers[0], json);
    }

    /// Adds this field's write to a CRM write. A value the CRM field cannot hold is an error naming the field.
    pub fn crm_write(&self, value: &Value, out: &mut CrmWrite) -> Result<(), FieldError> {
        let crm = &self.crm;
        let value = self.or_default(value);
        let name = crm.paths[0].join("/");
        let json = if let Some(table) = &crm.table {
            match value {
                Value::Enum(s) => match table.by_canon.get(s) {
                    Some(&i) => table.entries[i].1.clone(),
                    None => {
                        return Err(FieldError::new(
                            &self.name,
                            "not_in_table",
                            format!(
                                "{s:?} has no CRM value in the table of field `{}`",
                                self.name
                            ),
                        ));
                    }
                },
                _ => Json::Null,
            }
        } else if let Some(template) = &self.template {
            match value {
                Value::Null => Json::Null,
                v => Json::String(template.replace("{}", &plain_text(v))),
            }
        } else {
            match value {
                Value::Set(ids) if crm.split.is_some() => {
                    let sep = crm.split.as_deref().unwrap_or(";");
                    Json::String(ids.iter().map(String::as_str).collect::<Vec<_>>().join(sep))
                }
                Value::Date(d) => Json::String(match crm.format {
                    DateFormat::Date => format_date(*d),
                    DateFormat::Datetime => format!("{}T00:00:00Z", format_date(*d)),
                    DateFormat::SalesforceDatetime => {
                        format!("{}T00:00:00.000+0000", format_date(*d))
                    }
                }),
                Value::Datetime(t) if crm.format == DateFormat::SalesforceDatetime => Json::String(
                    t.format(SF_DATETIME)
                        .unwrap_or_else(|_| format_datetime(*t)),
                ),
                other => other.to_json(),
            }
        };
        if let (Some(max), Json::String(s)) = (crm.max_length, &json) {
            let len = s.chars().count();
            if len > max {
                return Err(FieldError::new(
                    &self.name,
                    "value_too_long",
                    format!(
                        "field `{}`: {len} characters do not fit CRM field `{name}`, which holds at most {max}",
                        self.name
                    ),
                ));
            }
        }
        if let Some(lookup) = &crm.lookup {
            let entry = if let Some(i) = out.lookups.iter_mut().position(|l| l.bind == lookup.bind)
            {
                &mut out.lookups[i]
            } else {
                out.lookups.push(Lookup {
                    bind: lookup.bind.clone(),
                    entity: lookup.entity.clone(),
                    keys: Map::new(),
                    create: lookup.create,
                });
                let last = out.lookups.len() - 1;
                &mut out.lookups[last]
            };
            entry.create |= lookup.create;
            entry.keys.insert(lookup.key.clone(), json);
            return Ok(());
        }
        if crm.paths.len() > 1 {
            let parts = match json {
                Json::Array(parts) => parts,
                other => vec![other; crm.paths.len()],
            };
            if crm.close_via_action {
                let state = parts.first().and_then(Json::as_i64).unwrap_or(0);
                if state != 0 {
                    out.state_change = Some(StateChange {
                        action: if state == 1 {
                            "win".into()
                        } else {
                            "lose".into()
                        },
                        statecode: parts[0].clone(),
                        statuscode: parts.get(1).cloned().unwrap_or(Json::Null),
                    });
                    return Ok(());
                }
            }
            for (path, part) in crm.paths.iter().zip(parts) {
                out.fields.insert(path.join("/"), part);
            }
            return Ok(());
        }
        out.fields.insert(name, json);
        Ok(())
    }
}

const SF_DATETIME: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
);

fn plain_text(v: &Value) -> String {
    match v {
        Value::Text(s) | Value::Enum(s) => s.clone(),
        other => other.to_json().to_string(),
    }
}

/// [`item_ids`] over the JSON text of an array: each object's `key` is borrowed from the text (owned only when
/// it has escapes), and the rest of each object is skipped.
fn raw_item_ids<'a>(raw: &'a str, key: &str) -> Result<Vec<Cow<'a, str>>, (String, Json)> {
    // Anything unexpected (an element that is not an object) takes the JSON-tree path for its precise error.
    let Some(members) = member_of_each(raw, key) else {
        let json: Json = serde_json::from_str(raw).unwrap_or(Json::Null);
        return item_ids(&json, key).map(|ids| {
            ids.into_iter()
                .map(|id| Cow::Owned(id.to_owned()))
                .collect()
        });
    };
    let mut ids = Vec::with_capacity(members.len());
    for member in members.into_iter().flatten() {
        match Field::Raw(member) {
            f if f.is_null() => {}
            f => match f.as_str() {
                Some(id) if !id.is_empty() => ids.push(id),
                Some(_) => {}
                None => return Err((format!("`{key}` as a string"), f.to_json().into_owned())),
            },
        }
    }
    Ok(ids)
}

/// The non-empty `key` strings of an array of objects; the error is (what was expected, what was found).
fn item_ids<'j>(json: &'j Json, key: &str) -> Result<Vec<&'j str>, (String, Json)> {
    let Json::Array(items) = json else {
        return Err((format!("an array of objects with `{key}`"), json.clone()));
    };
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        match item.get(key) {
            Some(Json::String(s)) if !s.is_empty() => ids.push(s.as_str()),
            Some(Json::Null) | None => {}
            Some(other) => return Err((format!("`{key}` as a string"), other.clone())),
        }
    }
    Ok(ids)
}

fn bad(record: &str, field: &str, expected: &str, found: &Json) -> RecordError {
    crate::model::referral_invalid(record, field, expected, found)
}

/// Keeps the existing objects whose key is still in the set (with their other properties), then appends the new
/// ids as `{key: id}`.
fn merge_items(existing: Option<&Json>, key: &str, ids: &BTreeSet<String>) -> Json {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    if let Some(Json::Array(items)) = existing {
        for item in items {
            if let Some(id) = item.get(key).and_then(Json::as_str) {
                if ids.contains(id) && seen.insert(id.to_owned()) {
                    out.push(item.clone());
                }
            }
        }
    }
    for id in ids {
        if !seen.contains(id) {
            let mut m = Map::new();
            m.insert(key.to_owned(), Json::String(id.clone()));
            out.push(Json::Object(m));
        }
    }
    Json::Array(out)
}

/// A `replace` when the pointer exists, else an `add` at the highest missing ancestor carrying the nested value.
///
/// `exists` says whether the pointer exists in `current` (read by slot, without building the JSON tree); the tree is
/// only walked to find the missing ancestor of an `add`.
fn patch_op(current: &Referral, pointer: &str, exists: bool, value: Json) -> PatchOp {
    if exists {
        return PatchOp {
            op: "replace".into(),
            path: pointer.to_owned(),
            value,
        };
    }
    let segments: Vec<&str> = pointer[1..].split('/').collect();
    let mut depth = 1;
    while depth < segments.len()
        && current
            .pointer(&format!("/{}", segments[..depth].join("/")))
            .is_some()
    {
        depth += 1;
    }
    let mut nested = value;
    for seg in segments[depth..].iter().rev() {
        nested = wrap(seg, nested);
    }
    PatchOp {
        op: "add".into(),
        path: format!("/{}", segments[..depth].join("/")),
        value: nested,
    }
}

fn wrap(seg: &str, inner: Json) -> Json {
    if seg == "0" || seg == "-" {
        Json::Array(vec![inner])
    } else {
        let mut m = Map::new();
        m.insert(super::super::model::unescape_pointer(seg), inner);
        Json::Object(m)
    }
}

/// Sets a value at a JSON pointer, creating objects (and arrays for `0`/`-` segments) on the way.
pub(crate) fn set_pointer(root: &mut Map<String, Json>, pointer: &str, value: Json) {
    let segments: Vec<String> = pointer
        .trim_start_matches('/')
        .split('/')
        .map(crate::model::unescape_pointer)
        .collect();
    let Some((last, parents)) = segments.split_last() else {
        return;
    };
    let mut cur = root;
    for (i, seg) in parents.iter().enumerate() {
        if seg == "0" || seg == "-" {
            continue; // the array step below already descended into the element
        }
        let next_is_index = segments.get(i + 1).is_some_and(|s| s == "0" || s == "-");
        let slot = cur.entry(seg.clone()).or_insert_with(|| {
            if next_is_index {
                Json::Array(Vec::new())
            } else {
                Json::Object(Map::new())
            }
        });
        let obj = match slot {
            Json::Array(items) => {
                if items.is_empty() {
                    items.push(Json::Object(Map::new()));
                }
                match items.last_mut() {
                    Some(Json::Object(m)) => m,
                    _ => return,
                }
            }
            Json::Object(m) => m,
            _ => return,
        };
        cur = obj;
    }
    if last == "0" || last == "-" {
        return;
    }
    cur.insert(last.clone(), value);
}
