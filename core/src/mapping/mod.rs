//! The declarative mapping: which canonical fields exist, how each is read from and written to Partner Center
//! and the CRM, which way it syncs and who wins a conflict.
//!
//! A mapping is JSON or TOML (schema: `core/mapping.schema.json`). It usually `extends` a built-in profile
//! (`salesforce`, `dynamics365`: the incumbent connector's mapping, DOMAIN.md §3) and overrides or adds rules:
//!
//! ```
//! use cosell_core::mapping::Mapping;
//! let base = Mapping::builtin("salesforce").unwrap();
//! let custom = base.override_with(r#"{"fields": {"deal_value": {"crm": "Expected_Revenue__c"}}}"#).unwrap();
//! assert_eq!(custom.field(cosell_core::model::CrmEntity::Opportunity, "deal_value").unwrap().crm_fields(),
//!            ["Expected_Revenue__c"]);
//! ```
//! An invalid mapping is refused with an error that names the rule and what is wrong.

mod compile;
mod field;
pub mod spec;

use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;
use thiserror::Error;

pub use field::FieldRule;
pub use spec::{ConflictPolicy, MappingSpec, SyncDirection};

use crate::model::{CrmEntity, CrmRecord, CrmSystem, Projection, Referral};
pub(crate) use field::set_pointer;

/// The JSON Schema of mapping files.
pub const SCHEMA: &str = include_str!("../../mapping.schema.json");

const PROFILES: &[(&str, &str)] = &[
    ("salesforce", include_str!("../../profiles/salesforce.json")),
    (
        "dynamics365",
        include_str!("../../profiles/dynamics365.json"),
    ),
];

/// A mapping that cannot be loaded or is invalid.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum MappingError {
    /// The text is not valid JSON/TOML or does not have the mapping's shape (unknown keys included).
    #[error("mapping {source_name}: {detail}")]
    Parse {
        /// Where the text came from (a path, `<text>`, a profile name).
        source_name: String,
        /// The parser's message.
        detail: String,
    },
    /// A built-in profile was asked for (by name, or by `extends`) that does not exist.
    #[error("no built-in mapping profile is named {name:?}; built-in profiles: {known}")]
    UnknownProfile {
        /// The name given.
        name: String,
        /// The profiles there are.
        known: String,
    },
    /// A field rule is wrong.
    #[error("mapping rule `{field}`: {problem}")]
    InvalidRule {
        /// The canonical field (or section) at fault.
        field: String,
        /// What is wrong and what was expected.
        problem: String,
    },
    /// A mapping file cannot be read.
    #[error("mapping file {path}: {detail}")]
    Io {
        /// The path.
        path: String,
        /// The OS error.
        detail: String,
    },
}

impl MappingError {
    /// A stable `snake_case` name per variant.
    pub fn kind(&self) -> &'static str {
        match self {
            MappingError::Parse { .. } => "parse",
            MappingError::UnknownProfile { .. } => "unknown_profile",
            MappingError::InvalidRule { .. } => "invalid_rule",
            MappingError::Io { .. } => "io",
        }
    }
}

/// The engine-owned CRM fields (see [`spec::SystemFieldsSpec`]).
#[derive(Debug, Clone, Default)]
pub struct SystemFields {
    /// The "Sync with Partner Center" flag.
    pub sync_flag: Option<String>,
    /// The "Referral Identifier" field.
    pub referral_id: Option<String>,
    /// The short audit trail field.
    pub audit: Option<String>,
    /// The sync-status field.
    pub sync_status: Option<String>,
}

/// Rules beyond fields, resolved with defaults.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Inbound referrals not yet accepted become leads.
    pub leads: bool,
    /// Longest audit trail kept in the CRM audit field.
    pub audit_max_chars: usize,
    /// Values set on every referral created from the CRM.
    pub referral_defaults: Vec<(String, Json)>,
}

#[derive(Debug)]
struct Compiled {
    spec: MappingSpec,
    crm: CrmSystem,
    entity_names: [String; 2],
    system: SystemFields,
    rules: Rules,
    opportunity: Vec<FieldRule>,
    lead: Vec<FieldRule>,
    projections: Projections,
}

/// The parts of the records the engine reads, for projected parsing (see [`Projection`]). Paths only record
/// creation reads (`on_create` fields, the rules' create inputs) are not marked `merge`.
#[derive(Debug, Clone)]
pub struct Projections {
    /// What any rule reads from a referral.
    pub referral: Arc<Projection>,
    /// What any rule reads from a CRM record.
    pub crm: Arc<Projection>,
}

impl Projections {
    /// Builds both projections and gives every rule its slots in them.
    fn new(
        crm: CrmSystem,
        system: &SystemFields,
        rules: &mut [&mut Vec<FieldRule>],
    ) -> Projections {
        let mut referral = Projection::new();
        let mut crm_side = Projection::new();
        for key in Referral::RULE_FIELDS {
            referral.add_path(&[key], true);
        }
        for key in CrmRecord::rule_fields(crm) {
            crm_side.add_path(&[key], true);
        }
        let system = [
            &system.sync_flag,
            &system.referral_id,
            &system.audit,
            &system.sync_status,
        ];
        for name in system.into_iter().flatten() {
            crm_side.add_path(&[name], true);
        }
        let mut slots = Vec::new();
        for rule in rules.iter().flat_map(|r| r.iter()) {
            let merged = rule.direction() != SyncDirection::OnCreate;
            let pc: Vec<usize> = rule
                .partner_center_pointers()
                .iter()
                .map(|p| referral.add_pointer(p, merged))
                .collect();
            let crm_paths: Vec<usize> = rule
                .crm_fields()
                .iter()
                .map(|p| crm_side.add_path(&p.split('/').collect::<Vec<_>>(), merged))
                .collect();
            slots.push((pc, crm_paths));
        }
        let projections = Projections {
            referral: Arc::new(referral),
            crm: Arc::new(crm_side),
        };
        let mut slots = slots.into_iter();
        for rule in rules.iter_mut().flat_map(|r| r.iter_mut()) {
            if let Some((pc, crm_paths)) = slots.next() {
                rule.set_slots(&projections.referral, &projections.crm, pc, crm_paths);
            }
        }
        projections
    }
}

/// A validated, compiled mapping. Cheap to clone (shared); immutable; `Send + Sync`.
#[derive(Debug, Clone)]
pub struct Mapping {
    inner: Arc<Compiled>,
}

impl Mapping {
    /// The names of the built-in profiles.
    pub fn builtin_names() -> Vec<&'static str> {
        PROFILES.iter().map(|p| p.0).collect()
    }

    /// A built-in profile: `salesforce` or `dynamics365`.
    pub fn builtin(name: &str) -> Result<Mapping, MappingError> {
        Mapping::from_spec(&builtin_spec(name)?)
    }

    /// Parses a mapping from JSON text.
    pub fn from_json_str(text: &str) -> Result<Mapping, MappingError> {
        Mapping::from_spec(&parse_json(text, "<json>")?)
    }

    /// Parses a mapping from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Mapping, MappingError> {
        let spec: MappingSpec = toml::from_str(text).map_err(|e| MappingError::Parse {
            source_name: "<toml>".into(),
            detail: e.to_string(),
        })?;
        Mapping::from_spec(&spec)
    }

    /// Reads a mapping file; `.toml` files are TOML, everything else JSON.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Mapping, MappingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| MappingError::Io {
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let named = |e: MappingError| match e {
            MappingError::Parse { detail, .. } => MappingError::Parse {
                source_name: path.display().to_string(),
                detail,
            },
            other => other,
        };
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        {
            Mapping::from_toml_str(&text).map_err(named)
        } else {
            Mapping::from_json_str(&text).map_err(named)
        }
    }

    /// Compiles a spec, resolving `extends`.
    pub fn from_spec(spec: &MappingSpec) -> Result<Mapping, MappingError> {
        let resolved = resolve(spec, 0)?;
        compile_resolved(resolved)
    }

    /// A new mapping with `overrides` (a partial mapping, JSON text) laid over this one, validated.
    pub fn override_with(&self, overrides: &str) -> Result<Mapping, MappingError> {
        let child = parse_json(overrides, "<override>")?;
        if child.extends.is_some() {
            return Err(MappingError::InvalidRule {
                field: "extends".into(),
                problem: "an override is laid over this mapping; it cannot extend another".into(),
            });
        }
        compile_resolved(self.inner.spec.overlay(&child))
    }

    /// The resolved spec (no `extends`), as a user could write it.
    pub fn spec(&self) -> &MappingSpec {
        &self.inner.spec
    }

    /// The resolved spec as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(&self.inner.spec).unwrap_or_default()
    }

    /// The CRM this mapping serves.
    pub fn crm(&self) -> CrmSystem {
        self.inner.crm
    }

    /// The CRM's name for an entity (`Opportunity`, `leads`, ...).
    pub fn entity_name(&self, entity: CrmEntity) -> &str {
        match entity {
            CrmEntity::Opportunity => &self.inner.entity_names[0],
            CrmEntity::Lead => &self.inner.entity_names[1],
        }
    }

    /// The engine-owned CRM fields.
    pub fn system_fields(&self) -> &SystemFields {
        &self.inner.system
    }

    /// Rules beyond fields.
    pub fn rules(&self) -> &Rules {
        &self.inner.rules
    }

    /// The compiled fields for an entity, in name order.
    pub fn fields(&self, entity: CrmEntity) -> &[FieldRule] {
        match entity {
            CrmEntity::Opportunity => &self.inner.opportunity,
            CrmEntity::Lead => &self.inner.lead,
        }
    }

    /// The parts of the records this mapping and the rules read, for projected parsing.
    pub fn projections(&self) -> &Projections {
        &self.inner.projections
    }

    /// One compiled field.
    pub fn field(&self, entity: CrmEntity, name: &str) -> Option<&FieldRule> {
        self.fields(entity).iter().find(|f| f.name() == name)
    }
}

fn parse_json(text: &str, source_name: &str) -> Result<MappingSpec, MappingError> {
    serde_json::from_str(text).map_err(|e| MappingError::Parse {
        source_name: source_name.into(),
        detail: e.to_string(),
    })
}

fn builtin_spec(name: &str) -> Result<MappingSpec, MappingError> {
    let text = PROFILES
        .iter()
        .find(|p| p.0 == name)
        .map(|p| p.1)
        .ok_or_else(|| MappingError::UnknownProfile {
            name: name.to_owned(),
            known: Mapping::builtin_names().join(", "),
        })?;
    parse_json(text, name)
}

fn resolve(spec: &MappingSpec, depth: usize) -> Result<MappingSpec, MappingError> {
    match &spec.extends {
        None => Ok(spec.clone()),
        Some(_) if depth > 8 => Err(MappingError::InvalidRule {
            field: "extends".into(),
            problem: "profiles extend each other more than 8 levels deep (a cycle?)".into(),
        }),
        Some(parent) => Ok(resolve(&builtin_spec(parent)?, depth + 1)?.overlay(spec)),
    }
}

fn compile_resolved(spec: MappingSpec) -> Result<Mapping, MappingError> {
    let crm = spec.crm.ok_or_else(|| MappingError::InvalidRule {
        field: "crm".into(),
        problem:
            "missing: `\"crm\": \"salesforce\"` or `\"dynamics365\"` (or extend a built-in profile)"
                .into(),
    })?;
    let entities = spec.entities.clone().unwrap_or_default();
    let entity_names = match crm {
        CrmSystem::Salesforce => [
            entities.opportunity.unwrap_or_else(|| "Opportunity".into()),
            entities.lead.unwrap_or_else(|| "Lead".into()),
        ],
        CrmSystem::Dynamics365 => [
            entities
                .opportunity
                .unwrap_or_else(|| "opportunities".into()),
            entities.lead.unwrap_or_else(|| "leads".into()),
        ],
    };
    let sys = spec.system_fields.clone().unwrap_or_default();
    let system = SystemFields {
        sync_flag: sys.sync_flag,
        referral_id: sys.referral_id,
        audit: sys.audit,
        sync_status: sys.sync_status,
    };
    let r = spec.rules.clone().unwrap_or_default();
    let rules = Rules {
        leads: r.leads.unwrap_or(true),
        audit_max_chars: r.audit_max_chars.unwrap_or(2000),
        referral_defaults: r
            .referral_defaults
            .unwrap_or_default()
            .into_iter()
            .collect(),
    };
    for (pointer, _) in &rules.referral_defaults {
        if !pointer.starts_with('/') {
            return Err(MappingError::InvalidRule {
                field: "rules.referral_defaults".into(),
                problem: format!("bad pointer {pointer:?}: a JSON pointer starts with `/`"),
            });
        }
    }
    let system_list: Vec<(&str, &String)> = [
        ("system_fields.sync_flag", &system.sync_flag),
        ("system_fields.referral_id", &system.referral_id),
        ("system_fields.audit", &system.audit),
        ("system_fields.sync_status", &system.sync_status),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
    .collect();
    let mut per_entity = [Vec::new(), Vec::new()];
    for (i, entity) in [CrmEntity::Opportunity, CrmEntity::Lead]
        .into_iter()
        .enumerate()
    {
        for (name, field) in &spec.fields {
            let Some(field) = field else { continue };
            if let Some(rule) = compile::compile_field(name, field, entity, crm)? {
                per_entity[i].push(rule);
            }
        }
        compile::check_duplicates(&per_entity[i], &system_list)?;
    }
    let [mut opportunity, mut lead] = per_entity;
    let projections = Projections::new(crm, &system, &mut [&mut opportunity, &mut lead]);
    Ok(Mapping {
        inner: Arc::new(Compiled {
            spec,
            crm,
            entity_names,
            system,
            rules,
            opportunity,
            lead,
            projections,
        }),
    })
}

#[cfg(test)]
mod tests;
