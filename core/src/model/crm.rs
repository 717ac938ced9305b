//! A CRM record as the service returns it: a Dynamics 365 `opportunity`/`lead` row (with `@odata.etag`) or a
//! Salesforce `Opportunity`/`Lead` sObject (with `attributes`). The whole row is kept; id, entity and version
//! are read once. Expanded lookups (Dynamics `$expand`, Salesforce relationship fields) stay nested and are read
//! with `/`-separated paths such as `transactioncurrencyid/isocurrencycode` or `Account/BillingCountry`.

use std::sync::Arc;

use serde_json::{Map, Value as Json};

use super::body::Body;
use super::projection::Field;
use super::referral::invalid;
use super::{CrmEntity, CrmSystem, Version};
use crate::error::RecordError;

/// A CRM record with its system, entity, id and version.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmRecord {
    system: CrmSystem,
    entity: CrmEntity,
    body: Body,
    id: String,
    version: Version,
}

fn record_name(system: CrmSystem) -> &'static str {
    match system {
        CrmSystem::Dynamics365 => "Dynamics 365 record",
        CrmSystem::Salesforce => "Salesforce record",
    }
}

impl CrmRecord {
    /// Parses a row of `system` from JSON text, keeping every field; the entity is told from the row itself.
    pub fn parse(system: CrmSystem, text: &str) -> Result<CrmRecord, RecordError> {
        CrmRecord::from_body(system, Body::parse(record_name(system), text, None)?)
    }

    /// Parses a row validating all of it but reading only the fields `projection` names (all of them, or with
    /// `merge_only` those marked for merging) plus [`CrmRecord::rule_fields`]. See
    /// [`Projection`](super::Projection).
    pub fn parse_projected(
        system: CrmSystem,
        text: &str,
        projection: &Arc<super::Projection>,
        merge_only: bool,
    ) -> Result<CrmRecord, RecordError> {
        CrmRecord::from_body(
            system,
            Body::parse(record_name(system), text, Some((projection, merge_only)))?,
        )
    }

    /// The fields of a row that tell its entity, id and version, which every CRM projection keeps.
    pub fn rule_fields(system: CrmSystem) -> &'static [&'static str] {
        match system {
            CrmSystem::Dynamics365 => &[
                "@odata.context",
                "@odata.etag",
                "opportunityid",
                "leadid",
                "modifiedon",
                "versionnumber",
            ],
            CrmSystem::Salesforce => &["attributes", "Id", "LastModifiedDate", "SystemModstamp"],
        }
    }

    /// Reads a row of `system` from a parsed JSON value.
    pub fn from_value(system: CrmSystem, value: Json) -> Result<CrmRecord, RecordError> {
        CrmRecord::from_body(system, Body::from_value(record_name(system), value)?)
    }

    fn from_body(system: CrmSystem, body: Body) -> Result<CrmRecord, RecordError> {
        let name = record_name(system);
        let (entity, id_key) = match system {
            CrmSystem::Dynamics365 => dynamics_entity(&body, name)?,
            CrmSystem::Salesforce => salesforce_entity(&body, name)?,
        };
        let id_field = body.top(id_key);
        let id = match id_field.as_str() {
            Some(s) if !s.trim().is_empty() => s.into_owned(),
            _ if id_field.is_null() => {
                return Err(RecordError::MissingField {
                    record: format!("{name} ({})", entity.as_str()),
                    field: id_key.to_owned(),
                    expected: "the record id".into(),
                });
            }
            _ => {
                return Err(invalid(
                    name,
                    id_key,
                    "a non-empty string",
                    &id_field.to_json(),
                ));
            }
        };
        let record = || format!("{name} {id}");
        let version = match system {
            CrmSystem::Dynamics365 => Version {
                etag: body.text(&record, "@odata.etag")?,
                modified: body.text(&record, "modifiedon")?,
                stamp: body.text(&record, "versionnumber")?,
            },
            CrmSystem::Salesforce => Version {
                etag: None,
                modified: body.text(&record, "LastModifiedDate")?,
                stamp: body.text(&record, "SystemModstamp")?,
            },
        };
        Ok(CrmRecord {
            system,
            entity,
            body,
            id,
            version,
        })
    }

    /// Dynamics 365 or Salesforce.
    pub fn system(&self) -> CrmSystem {
        self.system
    }

    /// Opportunity or lead.
    pub fn entity(&self) -> CrmEntity {
        self.entity
    }

    /// The record id (`opportunityid`/`leadid`, or the Salesforce `Id`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The record's version (see [`Version`]).
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The value at a field path: a field name, or `lookup/field` for an expanded lookup or relationship (for a
    /// projected record: if projected).
    pub fn field(&self, path: &[String]) -> Option<&Json> {
        let (first, rest) = path.split_first()?;
        let mut cur = self.body.json().get(first)?;
        for seg in rest {
            cur = cur.as_object()?.get(seg)?;
        }
        Some(cur)
    }

    /// The row: whole, or for a projected record its projected fields.
    pub fn json(&self) -> &Map<String, Json> {
        self.body.json()
    }

    /// A top-level field (a system field such as the sync flag).
    pub(crate) fn top(&self, key: &str) -> Field<'_> {
        self.body.top(key)
    }

    /// The field at a path: by slot when parsed with `projection`, else by walking the tree.
    pub(crate) fn field_at<S: AsRef<str>>(
        &self,
        projection: Option<&Arc<super::Projection>>,
        slot: usize,
        path: &[S],
    ) -> Field<'_> {
        self.body.at(projection, slot, path)
    }

    /// A human name for messages: `Salesforce Opportunity 006…`.
    pub fn describe(&self) -> String {
        let entity = match (self.system, self.entity) {
            (CrmSystem::Dynamics365, CrmEntity::Opportunity) => "Dynamics 365 opportunity",
            (CrmSystem::Dynamics365, CrmEntity::Lead) => "Dynamics 365 lead",
            (CrmSystem::Salesforce, CrmEntity::Opportunity) => "Salesforce Opportunity",
            (CrmSystem::Salesforce, CrmEntity::Lead) => "Salesforce Lead",
        };
        format!("{entity} {}", self.id)
    }
}

fn dynamics_entity(body: &Body, name: &str) -> Result<(CrmEntity, &'static str), RecordError> {
    if let Some(ctx) = body.top("@odata.context").as_str() {
        if ctx.contains("#opportunities") {
            return Ok((CrmEntity::Opportunity, "opportunityid"));
        }
        if ctx.contains("#leads") {
            return Ok((CrmEntity::Lead, "leadid"));
        }
    }
    match (body.top("opportunityid").exists(), body.top("leadid").exists()) {
        (true, _) => Ok((CrmEntity::Opportunity, "opportunityid")),
        (false, true) => Ok((CrmEntity::Lead, "leadid")),
        (false, false) => Err(RecordError::UnknownEntity {
            record: name.to_owned(),
            detail: "expected `opportunityid` or `leadid` (or an `@odata.context` naming the entity set)".into(),
        }),
    }
}

/// The `type` of a Salesforce `attributes` object, read from its text without building the object.
#[derive(serde::Deserialize)]
struct Attributes<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<std::borrow::Cow<'a, str>>,
}

/// `attributes.type`, if `attributes` is an object with a text `type`.
fn attributes_type(body: &Body) -> Option<std::borrow::Cow<'_, str>> {
    match body.top("attributes") {
        Field::Raw(text) => serde_json::from_str::<Attributes<'_>>(text).ok()?.kind,
        Field::Json(json) => json
            .get("type")
            .and_then(Json::as_str)
            .map(std::borrow::Cow::Borrowed),
        Field::Absent | Field::Container => None,
    }
}

fn salesforce_entity(body: &Body, name: &str) -> Result<(CrmEntity, &'static str), RecordError> {
    match attributes_type(body).as_deref() {
        Some("Opportunity") => return Ok((CrmEntity::Opportunity, "Id")),
        Some("Lead") => return Ok((CrmEntity::Lead, "Id")),
        Some(other) => {
            return Err(RecordError::UnknownEntity {
                record: name.to_owned(),
                detail: format!(
                    "attributes.type is {other:?}; expected \"Opportunity\" or \"Lead\""
                ),
            });
        }
        None => {}
    }
    // Without `attributes`, the key prefix of the 15/18-character id tells the object.
    match body.top("Id").as_str().as_deref().map(|id| id.get(..3)) {
        Some(Some("006")) => Ok((CrmEntity::Opportunity, "Id")),
        Some(Some("00Q")) => Ok((CrmEntity::Lead, "Id")),
        _ => Err(RecordError::UnknownEntity {
            record: name.to_owned(),
            detail: "expected `attributes.type` (\"Opportunity\" or \"Lead\") or an Id with prefix 006/00Q".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamics_row() {
        let r = CrmRecord::parse(
            CrmSystem::Dynamics365,
            r#"{"@odata.etag":"W/\"100\"","opportunityid":"o-1","versionnumber":100,"modifiedon":"2026-10-20T10:15:42Z",
                "transactioncurrencyid":{"isocurrencycode":"EUR"}}"#,
        )
        .expect("valid");
        assert_eq!(r.entity(), CrmEntity::Opportunity);
        assert_eq!(r.version().etag.as_deref(), Some("W/\"100\""));
        assert_eq!(r.version().stamp.as_deref(), Some("100"));
        let path = vec![
            "transactioncurrencyid".to_owned(),
            "isocurrencycode".to_owned(),
        ];
        assert_eq!(r.field(&path), Some(&Json::from("EUR")));
    }

    #[test]
    fn salesforce_rows() {
        let r = CrmRecord::parse(
            CrmSystem::Salesforce,
            r#"{"attributes":{"type":"Lead"},"Id":"00Q1","SystemModstamp":"s","LastModifiedDate":"m"}"#,
        )
        .expect("valid");
        assert_eq!(r.entity(), CrmEntity::Lead);
        assert_eq!(r.version().modified.as_deref(), Some("m"));
        let r =
            CrmRecord::parse(CrmSystem::Salesforce, r#"{"Id":"006000000000001"}"#).expect("prefix");
        assert_eq!(r.entity(), CrmEntity::Opportunity);
        let e = CrmRecord::parse(
            CrmSystem::Salesforce,
            r#"{"attributes":{"type":"Account"},"Id":"001"}"#,
        )
        .expect_err("account");
        assert!(e.to_string().contains("Account"), "{e}");
        assert!(CrmRecord::parse(CrmSystem::Dynamics365, r#"{"name":"x"}"#).is_err());
        assert!(CrmRecord::parse(CrmSystem::Dynamics365, r#"{"opportunityid":5}"#).is_err());
    }
}
