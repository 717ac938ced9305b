//! Validation: a resolved [`MappingSpec`] becomes compiled [`FieldRule`]s for opportunities and leads, or a
//! [`MappingError`] naming the rule and what is wrong.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value as Json;

use super::MappingError;
use super::field::{CrmSide, FieldRule, PcSide, Table, crm_key};
use super::spec::{
    ConflictPolicy, CrmSideSpec, DateFormat, FieldSpec, LeadSpec, OneOrMany, SyncDirection,
};
use crate::model::{CrmEntity, CrmSystem, Status};
use crate::value::{Value, ValueType};

/// The values a known Partner Center pointer (or pair of pointers) can take, for table coverage checks.
pub(crate) fn known_domain(pointers: &[String]) -> Option<Vec<String>> {
    match pointers {
        [a, b] if a == "/status" && b == "/substatus" => Some(
            Status::ALL
                .iter()
                .filter(|s| **s != Status::None)
                .flat_map(|s| {
                    s.allowed_substatus()
                        .iter()
                        .map(move |ss| format!("{}/{}", s.as_str(), ss.as_str()))
                })
                .collect(),
        ),
        [a] if a == "/inviteContext/assistanceRequestCode" => Some(
            [
                "Unknown",
                "GeneralOrOther",
                "CustomerTechnicalArchitecture",
                "ProofOfConceptOrDemo",
                "QuotesOrLicensing",
                "PostSalesCustomerSuccess",
                "WorkloadSpecificValueProposition",
            ]
            .map(str::to_owned)
            .to_vec(),
        ),
        _ => None,
    }
}

fn err(field: &str, problem: impl Into<String>) -> MappingError {
    MappingError::InvalidRule {
        field: field.to_owned(),
        problem: problem.into(),
    }
}

fn check_pointer(field: &str, p: &str) -> Result<(), MappingError> {
    if !p.starts_with('/') || p.len() < 2 {
        return Err(err(
            field,
            format!(
                "bad pointer {p:?}: a JSON pointer starts with `/`, e.g. \"/details/dealValue\""
            ),
        ));
    }
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(err(
                field,
                format!("bad pointer {p:?}: `~` must be followed by 0 or 1"),
            ));
        }
    }
    if p.split('/').skip(1).any(str::is_empty) {
        return Err(err(field, format!("bad pointer {p:?}: empty segment")));
    }
    Ok(())
}

fn check_crm_path(field: &str, p: &str) -> Result<Vec<String>, MappingError> {
    let segs: Vec<String> = p.split('/').map(str::to_owned).collect();
    let ok = |s: &String| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "_@.".contains(c))
    };
    if !segs.iter().all(ok) {
        return Err(err(
            field,
            format!(
                "bad CRM field {p:?}: expected a field name (letters, digits, `_`), or `lookup/field` for an expanded lookup"
            ),
        ));
    }
    Ok(segs)
}

fn typed(field: &str, what: &str, ty: ValueType, json: &Json) -> Result<Value, MappingError> {
    Value::from_json(ty, json).map_err(|e| {
        err(
            field,
            format!("`{what}` must be {e} (type {})", ty.as_str()),
        )
    })
}

fn compile_table(
    field: &str,
    side: &CrmSideSpec,
    pointers: &[String],
    arity: usize,
) -> Result<Option<Table>, MappingError> {
    let Some(entries) = &side.table else {
        if side.otherwise.is_some() {
            return Err(err(field, "`otherwise` needs a `table`"));
        }
        return Ok(None);
    };
    if entries.is_empty() {
        return Err(err(field, "`table` is empty"));
    }
    let mut table = Table {
        entries: Vec::new(),
        by_canon: HashMap::new(),
        by_crm: HashMap::new(),
        otherwise: None,
    };
    for (i, e) in entries.iter().enumerate() {
        let n = match &e.crm {
            Json::Array(a) => a.len(),
            Json::Object(_) | Json::Null => {
                return Err(err(
                    field,
                    format!(
                        "table row {}: `crm` must be a value or an array of values",
                        i + 1
                    ),
                ));
            }
            _ => 1,
        };
        if n != arity {
            return Err(err(
                field,
                format!(
                    "table row {}: `crm` has {n} value(s) but the rule names {arity} CRM field(s)",
                    i + 1
                ),
            ));
        }
        if pointers.len() > 1 && e.partner_center.split('/').count() != pointers.len() {
            return Err(err(
                field,
                format!(
                    "table row {}: {:?} must join {} values with `/` (e.g. \"Active/Accepted\")",
                    i + 1,
                    e.partner_center,
                    pointers.len()
                ),
            ));
        }
        let key = crm_key(&e.crm);
        let idx = table.entries.len();
        if table
            .by_canon
            .insert(e.partner_center.clone(), idx)
            .is_some()
        {
            return Err(err(
                field,
                format!("table lists {:?} twice", e.partner_center),
            ));
        }
        table.by_crm.entry(key.clone()).or_insert(idx);
        table
            .entries
            .push((e.partner_center.clone(), e.crm.clone(), key));
    }
    if let Some(domain) = known_domain(pointers) {
        for v in &domain {
            if !table.by_canon.contains_key(v) {
                return Err(err(
                    field,
                    format!(
                        "enum table does not cover {v:?} (every value must map to a CRM value)"
                    ),
                ));
            }
        }
        for (canon, _, _) in &table.entries {
            if !domain.contains(canon) {
                return Err(err(
                    field,
                    format!(
                        "table lists {canon:?}, which Partner Center never sends; expected one of {}",
                        domain.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(o) = &side.otherwise {
        if !table.by_canon.contains_key(o) {
            return Err(err(
                field,
                format!("`otherwise` is {o:?}, which is not a Partner Center value of the table"),
            ));
        }
        table.otherwise = Some(o.clone());
    }
    Ok(Some(table))
}

fn compile_crm_side(
    field: &str,
    ty: ValueType,
    direction: SyncDirection,
    side: &CrmSideSpec,
    pointers: &[String],
    crm: CrmSystem,
) -> Result<CrmSide, MappingError> {
    let names = side.crm.as_ref().map(OneOrMany::to_vec).unwrap_or_default();
    if names.is_empty() {
        return Err(err(
            field,
            "no `crm` field: name the CRM field this canonical field maps to",
        ));
    }
    let paths = names
        .iter()
        .map(|n| check_crm_path(field, n))
        .collect::<Result<Vec<_>, _>>()?;
    let writes_crm = direction != SyncDirection::ToPartnerCenter;
    if side.lookup.is_none() && writes_crm && paths.iter().any(|p| p.len() > 1) {
        return Err(err(
            field,
            format!(
                "CRM field {:?} is a field of a related record; it can be written only through a `lookup` \
             (or make the field `to_partner_center`)",
                names.join(", ")
            ),
        ));
    }
    if paths.len() > 1 && side.table.is_none() {
        return Err(err(
            field,
            "several CRM fields need an enum `table` that maps each value to all of them",
        ));
    }
    let table = compile_table(field, side, pointers, paths.len())?;
    if table.is_some() && ty != ValueType::Enum {
        return Err(err(field, "a `table` needs `type: enum`"));
    }
    if side.split.is_some() && ty != ValueType::Set {
        return Err(err(field, "`split` needs `type: set`"));
    }
    if side.split.as_deref() == Some("") {
        return Err(err(field, "`split` must not be empty"));
    }
    if ty == ValueType::Set && side.split.is_none() {
        return Err(err(
            field,
            "a set is stored in the CRM as one text field: set `split` (e.g. \";\")",
        ));
    }
    if side.max_length == Some(0) {
        return Err(err(field, "`max_length` must be at least 1"));
    }
    let close = side.close_via_action.unwrap_or(false);
    if close && (crm != CrmSystem::Dynamics365 || paths.len() != 2) {
        return Err(err(
            field,
            "`close_via_action` is for Dynamics 365 statecode + statuscode",
        ));
    }
    if let Some(l) = &side.lookup {
        if l.bind.is_empty() || l.entity.is_empty() || l.key.is_empty() {
            return Err(err(field, "a `lookup` needs `bind`, `entity` and `key`"));
        }
    }
    let default_format = if ty == ValueType::Datetime && crm == CrmSystem::Salesforce {
        DateFormat::SalesforceDatetime
    } else if ty == ValueType::Datetime {
        DateFormat::Datetime
    } else {
        DateFormat::Date
    };
    Ok(CrmSide {
        paths,
        table,
        split: side.split.clone(),
        max_length: side.max_length,
        lookup: side.lookup.clone(),
        close_via_action: close,
        format: side.crm_format.unwrap_or(default_format),
    })
}

/// Compiles one field for one entity; `Ok(None)` when the field is not on that entity.
pub(crate) fn compile_field(
    name: &str,
    spec: &FieldSpec,
    entity: CrmEntity,
    crm: CrmSystem,
) -> Result<Option<FieldRule>, MappingError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        return Err(err(name, "field names are lower_snake_case (a-z, 0-9, _)"));
    }
    let crm_spec = match (entity, &spec.lead) {
        (CrmEntity::Lead, Some(LeadSpec::Flag(false))) => return Ok(None),
        (CrmEntity::Lead, Some(LeadSpec::Side(side))) => (**side).clone(),
        _ => spec.crm_side.clone(),
    };
    let ty = spec.value_type.ok_or_else(|| {
        err(
            name,
            "missing `type` (text, decimal, date, datetime, bool, enum, set)",
        )
    })?;
    let direction = spec.direction.unwrap_or(SyncDirection::Both);
    let conflict = spec.conflict.unwrap_or(ConflictPolicy::Review);
    let pointers = spec
        .partner_center
        .as_ref()
        .map(OneOrMany::to_vec)
        .unwrap_or_default();
    for p in &pointers {
        check_pointer(name, p)?;
    }
    if pointers.is_empty() && spec.constant.is_none() {
        return Err(err(
            name,
            "no `partner_center` pointer and no `constant`: nothing to sync",
        ));
    }
    if pointers.len() > 1 && ty != ValueType::Enum {
        return Err(err(
            name,
            "several Partner Center pointers need `type: enum` with a `table`",
        ));
    }
    if spec.item_key.is_some() && ty != ValueType::Set {
        return Err(err(name, "`item_key` needs `type: set`"));
    }
    if let Some(t) = &spec.template {
        if !t.contains("{}") || ty != ValueType::Text {
            return Err(err(
                name,
                "a `template` is text containing `{}` (replaced by the Partner Center value)",
            ));
        }
        if !matches!(direction, SyncDirection::OnCreate | SyncDirection::ToCrm) {
            return Err(err(
                name,
                "a `template` field is written to the CRM only: use direction `on_create` or `to_crm`",
            ));
        }
    }
    if spec.constant.is_some() && direction != SyncDirection::OnCreate {
        return Err(err(
            name,
            "a `constant` is set when a record is created: use direction `on_create`",
        ));
    }
    let crm_side = compile_crm_side(name, ty, direction, &crm_spec, &pointers, crm)?;
    let values = match (&spec.values, &crm_side.table) {
        (Some(_), _) if ty != ValueType::Enum => {
            return Err(err(name, "`values` needs `type: enum`"));
        }
        (Some(v), _) => {
            if let Some(domain) = known_domain(&pointers) {
                if let Some(bad) = v.iter().find(|x| !domain.contains(x)) {
                    return Err(err(
                        name,
                        format!(
                            "`values` lists {bad:?}; expected among {}",
                            domain.join(", ")
                        ),
                    ));
                }
            }
            Some(v.iter().cloned().collect::<BTreeSet<_>>())
        }
        (None, Some(t)) => Some(t.entries.iter().map(|e| e.0.clone()).collect()),
        (None, None) if ty == ValueType::Enum => {
            known_domain(&pointers).map(|d| d.into_iter().collect())
        }
        (None, None) => None,
    };
    let default = spec
        .default
        .as_ref()
        .map(|d| typed(name, "default", ty, d))
        .transpose()?;
    let constant = spec
        .constant
        .as_ref()
        .map(|d| typed(name, "constant", ty, d))
        .transpose()?;
    let pc = (!pointers.is_empty()).then(|| PcSide {
        segments: pointers
            .iter()
            .map(|p| {
                p[1..]
                    .split('/')
                    .map(crate::model::unescape_pointer)
                    .collect()
            })
            .collect(),
        pointers,
        item_key: spec.item_key.clone(),
        format: spec.partner_center_format.unwrap_or(DateFormat::Datetime),
    });
    Ok(Some(FieldRule {
        name: name.to_owned(),
        ty,
        direction,
        conflict,
        pc,
        crm: crm_side,
        values,
        template: spec.template.clone(),
        default,
        constant,
        slots: None,
    }))
}

/// Refuses two fields that write the same CRM field or the same Partner Center pointer.
pub(crate) fn check_duplicates(
    rules: &[FieldRule],
    system: &[(&str, &String)],
) -> Result<(), MappingError> {
    let mut crm_targets: HashMap<String, &str> = HashMap::new();
    let mut pc_targets: HashMap<String, &str> = HashMap::new();
    for (role, name) in system {
        crm_targets.insert((*name).clone(), role);
    }
    for r in rules {
        if r.direction != SyncDirection::ToPartnerCenter {
            let targets = match &r.crm.lookup {
                Some(l) => vec![format!("{} ({})", l.bind, l.key)],
                None => r.crm_fields(),
            };
            for t in targets {
                if let Some(other) = crm_targets.insert(t.clone(), &r.name) {
                    return Err(err(
                        &r.name,
                        format!(
                            "duplicate field: `{other}` and `{}` both write CRM field `{t}`",
                            r.name
                        ),
                    ));
                }
            }
        }
        if matches!(
            r.direction,
            SyncDirection::Both | SyncDirection::ToPartnerCenter
        ) && r.writes_partner_center()
        {
            for p in r.partner_center_pointers() {
                if let Some(other) = pc_targets.insert(p.clone(), &r.name) {
                    return Err(err(
                        &r.name,
                        format!(
                            "duplicate field: `{other}` and `{}` both write Partner Center `{p}`",
                            r.name
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}
