//! The mapping file format (JSON or TOML), exactly as a user writes it, and how a child spec is laid over the
//! profile it `extends`. Validation happens when a spec is compiled (`compile.rs`), not here.
//!
//! ```json
//! {"extends": "salesforce",
//!  "fields": {"deal_value": {"crm": "Expected_Revenue__c"},
//!             "internal_notes": null}}
//! ```
//! A field spec in a child replaces the keys it names and keeps the parent's others; `null` (or `false`, which
//! TOML can write) removes a field.
//! A `lead` block restates the CRM side (`crm`, `table`, `otherwise`, `split`, `max_length`, `lookup`,
//! `close_via_action`, `crm_format`) for leads; `"lead": false` keeps the field off leads.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

use crate::model::CrmSystem;
use crate::value::ValueType;

/// One string or a list of strings (`"crm": "StageName"` or `"crm": ["statecode", "statuscode"]`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single name or pointer.
    One(String),
    /// Several, read and written together as one value joined by `/`.
    Many(Vec<String>),
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Names;
        impl<'de> serde::de::Visitor<'de> for Names {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a field name or JSON pointer (text), or a list of them")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_owned()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<OneOrMany, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                Ok(OneOrMany::Many(names))
            }
        }
        d.deserialize_any(Names)
    }
}

impl OneOrMany {
    /// The names as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Which way a field syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncDirection {
    /// Changes on either side are written to the other.
    Both,
    /// Partner Center owns the field: its changes go to the CRM, CRM edits are not sent back.
    ToCrm,
    /// The CRM owns the field: its changes go to Partner Center, Partner Center edits are not sent back.
    ToPartnerCenter,
    /// Written once when a record is created, never compared afterwards.
    OnCreate,
}

/// How a conflict (both sides changed a field to different values) is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Partner Center's value wins.
    PartnerCenter,
    /// The CRM's value wins.
    Crm,
    /// The side modified last wins (by `updatedDateTime` vs `modifiedon`/`LastModifiedDate`); when either time is
    /// unknown the conflict is queued for review instead of guessed.
    Newest,
    /// Nothing is written; the conflict is queued for a person to resolve.
    Review,
}

/// Date formats on a side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DateFormat {
    /// `2027-03-15`.
    Date,
    /// `2027-03-15T00:00:00Z` (RFC 3339, UTC).
    Datetime,
    /// `2027-03-15T00:00:00.000+0000` (Salesforce).
    SalesforceDatetime,
}

/// One row of an enum lookup table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableEntry {
    /// The Partner Center value; for several pointers, the values joined by `/` (`Active/Accepted`).
    pub partner_center: String,
    /// The CRM value; for several CRM fields, an array (`[1, 3]`).
    pub crm: Json,
}

/// A CRM lookup: the field is written by binding a related record found (or created) by key fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupSpec {
    /// The field that holds the reference (`transactioncurrencyid`, `customerid_account`, `AccountId`).
    pub bind: String,
    /// The related entity set or object (`transactioncurrencies`, `accounts`, `Account`).
    pub entity: String,
    /// The related record's field this canonical field matches on (`isocurrencycode`, `name`).
    pub key: String,
    /// Whether the host may create the related record when none matches.
    #[serde(default)]
    pub create: bool,
}

/// The CRM side of a field for leads (a `lead` block restates the whole CRM side).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmSideSpec {
    /// CRM field path(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm: Option<OneOrMany>,
    /// Enum lookup table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Vec<TableEntry>>,
    /// The Partner Center value that CRM values missing from the table read as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otherwise: Option<String>,
    /// Separator of a set stored as one text field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// Longest text the CRM field holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<usize>,
    /// Written through a lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<LookupSpec>,
    /// Dynamics 365: close as won/lost through the WinOpportunity/LoseOpportunity actions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_via_action: Option<bool>,
    /// Date format on the CRM side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm_format: Option<DateFormat>,
}

/// `lead: false` or a CRM side for leads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LeadSpec {
    /// `false`: not on leads (`true` means the same as the opportunity).
    Flag(bool),
    /// The CRM side on leads.
    Side(Box<CrmSideSpec>),
}

/// One canonical field: how it is read from and written to each side. Every key is optional so that a child
/// spec can name only what it changes; compiling checks that the result is complete.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Partner Center JSON pointer(s) (RFC 6901).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_center: Option<OneOrMany>,
    /// The value type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub value_type: Option<ValueType>,
    /// Sync direction (default `both`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<SyncDirection>,
    /// Conflict policy (default `review`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict: Option<ConflictPolicy>,
    /// The enum's allowed Partner Center values, when there is no table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
    /// For a set read from an array of objects on Partner Center: the key of the id in each object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_key: Option<String>,
    /// Date format on the Partner Center side.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_center_format: Option<DateFormat>,
    /// Text written to the CRM made from the Partner Center value: `{}` is replaced by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The value written when the source side has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Json>,
    /// A fixed value, whatever the source says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constant: Option<Json>,
    /// The CRM side (flattened: `crm`, `table`, `split`, ...).
    #[serde(flatten)]
    pub crm_side: CrmSideSpec,
    /// The CRM side for leads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<LeadSpec>,
}

/// The fields the engine itself reads or writes on the CRM record, outside canonical space.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemFieldsSpec {
    /// The "Sync with Partner Center" flag: CRM→Partner Center only when it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_flag: Option<String>,
    /// The "Referral Identifier" field holding the referral id (Salesforce: the external id for upserts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_id: Option<String>,
    /// The short human-readable audit trail field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<String>,
    /// The field showing the last sync outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_status: Option<String>,
}

/// CRM entity names.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitiesSpec {
    /// The opportunity entity (`opportunities`, `Opportunity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opportunity: Option<String>,
    /// The lead entity (`leads`, `Lead`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<String>,
}

/// Behaviour switches beyond single fields.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesSpec {
    /// Inbound referrals not yet accepted become CRM leads (default true); false: they become opportunities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leads: Option<bool>,
    /// Longest audit trail kept in the CRM audit field (default 2000 characters; oldest lines dropped first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_max_chars: Option<usize>,
    /// Values set on every referral created from the CRM, by JSON pointer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referral_defaults: Option<BTreeMap<String, Json>>,
}

/// A whole mapping file.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingSpec {
    /// A built-in profile to start from (`salesforce`, `dynamics365`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// The CRM this mapping is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crm: Option<CrmSystem>,
    /// CRM entity names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entities: Option<EntitiesSpec>,
    /// Engine-owned CRM fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fields: Option<SystemFieldsSpec>,
    /// Rules beyond fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<RulesSpec>,
    /// Canonical fields by name; `null` or `false` removes an inherited field.
    #[serde(default, deserialize_with = "unique_keys")]
    pub fields: BTreeMap<String, Option<FieldSpec>>,
}

/// Reads the `fields` object refusing duplicate keys (JSON parsers otherwise keep the last silently).
fn unique_keys<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Option<FieldSpec>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeMap<String, Option<FieldSpec>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of field rules")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                // Read as plain JSON first (JSON and TOML alike), then as a rule: serde's own messages
                // ("unknown field `foo`, expected one of ...") survive, and `false` can mean "remove".
                let raw: serde_json::Value = map.next_value()?;
                let value = match raw {
                    serde_json::Value::Null | serde_json::Value::Bool(false) => None,
                    serde_json::Value::Bool(true) => {
                        return Err(serde::de::Error::custom(format!(
                            "field rule `{key}`: `true` means nothing; write a rule, or `false` (or null) to remove the field"
                        )));
                    }
                    rule => Some(serde_json::from_value::<FieldSpec>(rule).map_err(|e| {
                        serde::de::Error::custom(format!("field rule `{key}`: {e}"))
                    })?),
                };
                if out.insert(key.clone(), value).is_some() {
                    return Err(serde::de::Error::custom(format!(
                        "duplicate field: `{key}` is defined twice"
                    )));
                }
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

fn overlay<T: Clone>(base: &mut Option<T>, child: Option<&T>) {
    if let Some(child) = child {
        *base = Some(child.clone());
    }
}

impl CrmSideSpec {
    fn overlay(&mut self, c: &CrmSideSpec) {
        overlay(&mut self.crm, c.crm.as_ref());
        overlay(&mut self.table, c.table.as_ref());
        overlay(&mut self.otherwise, c.otherwise.as_ref());
        overlay(&mut self.split, c.split.as_ref());
        overlay(&mut self.max_length, c.max_length.as_ref());
        overlay(&mut self.lookup, c.lookup.as_ref());
        overlay(&mut self.close_via_action, c.close_via_action.as_ref());
        overlay(&mut self.crm_format, c.crm_format.as_ref());
    }
}

impl FieldSpec {
    /// Lays `c` over `self`: every key `c` names replaces the one here.
    pub fn overlay(&mut self, c: &FieldSpec) {
        overlay(&mut self.partner_center, c.partner_center.as_ref());
        overlay(&mut self.value_type, c.value_type.as_ref());
        overlay(&mut self.direction, c.direction.as_ref());
        overlay(&mut self.conflict, c.conflict.as_ref());
        overlay(&mut self.values, c.values.as_ref());
        overlay(&mut self.item_key, c.item_key.as_ref());
        overlay(
            &mut self.partner_center_format,
            c.partner_center_format.as_ref(),
        );
        overlay(&mut self.template, c.template.as_ref());
        overlay(&mut self.default, c.default.as_ref());
        overlay(&mut self.constant, c.constant.as_ref());
        self.crm_side.overlay(&c.crm_side);
        overlay(&mut self.lead, c.lead.as_ref());
    }
}

impl MappingSpec {
    /// Lays `child` over `self` (the parent). The result has no `extends`.
    #[must_use]
    pub fn overlay(&self, child: &MappingSpec) -> MappingSpec {
        let mut out = self.clone();
        out.extends = None;
        overlay(&mut out.crm, child.crm.as_ref());
        if let Some(c) = &child.entities {
            let e = out.entities.get_or_insert_with(EntitiesSpec::default);
            overlay(&mut e.opportunity, c.opportunity.as_ref());
            overlay(&mut e.lead, c.lead.as_ref());
        }
        if let Some(c) = &child.system_fields {
            let s = out
                .system_fields
                .get_or_insert_with(SystemFieldsSpec::default);
            overlay(&mut s.sync_flag, c.sync_flag.as_ref());
            overlay(&mut s.referral_id, c.referral_id.as_ref());
            overlay(&mut s.audit, c.audit.as_ref());
            overlay(&mut s.sync_status, c.sync_status.as_ref());
        }
        if let Some(c) = &child.rules {
            let r = out.rules.get_or_insert_with(RulesSpec::default);
            overlay(&mut r.leads, c.leads.as_ref());
            overlay(&mut r.audit_max_chars, c.audit_max_chars.as_ref());
            if let Some(d) = &c.referral_defaults {
                r.referral_defaults
                    .get_or_insert_with(BTreeMap::new)
                    .extend(d.clone());
            }
        }
        for (name, spec) in &child.fields {
            match spec {
                None => {
                    out.fields.remove(name);
                }
                Some(c) => match out.fields.get_mut(name) {
                    Some(Some(existing)) => existing.overlay(c),
                    _ => {
                        out.fields.insert(name.clone(), Some(c.clone()));
                    }
                },
            }
        }
        out
    }
}
