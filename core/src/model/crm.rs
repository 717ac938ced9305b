//! A CRM record as the service returns it: a Dynamics 365 `opportunity`/`lead` row (with `@odata.etag`) or a
//! Salesforce `Opportunity`/`Lead` sObject (with `attributes`). The whole row is kept; id, entity and version
//! are read once. Expanded lookups (Dynamics `$expand`, Salesforce relationship fields) stay nested and are read
//! with `/`-separated paths such as `transactioncurrencyid/isocurrencycode` or `Account/BillingCountry`.

use serde_json::{Map, Value as Json};

use super::referral::{invalid, parse_object, read_text};
use super::{CrmEntity, CrmSystem, Version};
use crate::error::RecordError;

/// A CRM record with its system, entity, id and version.
#[derive(Debug, Clone, PartialEq)]
pub struct CrmRecord {
    system: CrmSystem,
    entity: CrmEntity,
    json: Map<String, Json>,
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
    /// Parses a row of `system` from JSON text; the entity is told from the row itself.
    pub fn parse(system: CrmSystem, text: &str) -> Result<CrmRecord, RecordError> {
        CrmRecord::from_map(system, parse_object(record_name(system), text, None)?)
    }

    /// Parses a row validating all of it but keeping only the fields `projection` names (plus
    /// [`CrmRecord::rule_fields`]). See [`Projection`](super::Projection).
    pub fn parse_projected(
        system: CrmSystem,
        text: &str,
        projection: &super::Projection,
    ) -> Result<CrmRecord, RecordError> {
        CrmRecord::from_map(
            system,
            parse_object(record_name(system), text, Some(projection))?,
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
        match value {
            Json::Object(map) => CrmRecord::from_map(system, map),
            other => Err(RecordError::NotAnObject {
                record: record_name(system).to_owned(),
                found: super::referral::json_type(&other),
            }),
        }
    }

    fn from_map(system: CrmSystem, json: Map<String, Json>) -> Result<CrmRecord, RecordError> {
        let name = record_name(system);
        let (entity, id_key) = match system {
            CrmSystem::Dynamics365 => dynamics_entity(&json, name)?,
            CrmSystem::Salesforce => salesforce_entity(&json, name)?,
        };
        let id = match json.get(id_key) {
            Some(Json::String(s)) if !s.trim().is_empty() => s.clone(),
            None | Some(Json::Null) => {
                return Err(RecordError::MissingField {
                    record: format!("{name} ({})", entity.as_str()),
                    field: id_key.to_owned(),
                    expected: "the record id".into(),
                });
            }
            Some(other) => return Err(invalid(name, id_key, "a non-empty string", other)),
        };
        let record = format!("{name} {id}");
        let version = match system {
            CrmSystem::Dynamics365 => Version {
                etag: read_text(&json, &record, "@odata.etag")?,
                modified: read_text(&json, &record, "modifiedon")?,
                stamp: read_text(&json, &record, "versionnumber")?,
            },
            CrmSystem::Salesforce => Version {
                etag: None,
                modified: read_text(&json, &record, "LastModifiedDate")?,
                stamp: read_text(&json, &record, "SystemModstamp")?,
            },
        };
        Ok(CrmRecord {
            system,
            entity,
            json,
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

    /// The value at a field path: a field name, or `lookup/field` for an expanded lookup or relationship.
    pub fn field(&self, path: &[String]) -> Option<&Json> {
        let (first, rest) = path.split_first()?;
        let mut cur = self.json.get(first)?;
        for seg in rest {
            cur = cur.as_object()?.get(seg)?;
        }
        Some(cur)
    }

    /// The whole row.
    pub fn json(&self) -> &Map<String, Json> {
        &self.json
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

fn dynamics_entity(
    json: &Map<String, Json>,
    name: &str,
) -> Result<(CrmEntity, &'static str), RecordError> {
    if let Some(Json::String(ctx)) = json.get("@odata.context") {
        if ctx.contains("#opportunities") {
            return Ok((CrmEntity::Opportunity, "opportunityid"));
        }
        if ctx.contains("#leads") {
            return Ok((CrmEntity::Lead, "leadid"));
        }
    }
    match (json.contains_key("opportunityid"), json.contains_key("leadid")) {
        (true, _) => Ok((CrmEntity::Opportunity, "opportunityid")),
        (false, true) => Ok((CrmEntity::Lead, "leadid")),
        (false, false) => Err(RecordError::UnknownEntity {
            record: name.to_owned(),
            detail: "expected `opportunityid` or `leadid` (or an `@odata.context` naming the entity set)".into(),
        }),
    }
}

fn salesforce_entity(
    json: &Map<String, Json>,
    name: &str,
) -> Result<(CrmEntity, &'static str), RecordError> {
    let ty = json
        .get("attributes")
        .and_then(|a| a.get("type"))
        .and_then(Json::as_str);
    match ty {
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
    match json.get("Id").and_then(Json::as_str).map(|id| id.get(..3)) {
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
