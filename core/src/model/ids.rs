//! Identifiers shared by every layer: which CRM, which entity, and the version of a record on each side.

use serde::{Deserialize, Serialize};

/// The CRM a store and its mapping serve. One engine serves one CRM; a partner with both runs two engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmSystem {
    /// Microsoft Dynamics 365 (Dataverse Web API, `OData` v4).
    Dynamics365,
    /// Salesforce (REST API, sObjects).
    Salesforce,
}

impl CrmSystem {
    /// The stable lower-case name used in mappings, the store and the audit (`dynamics365`, `salesforce`).
    pub fn as_str(self) -> &'static str {
        match self {
            CrmSystem::Dynamics365 => "dynamics365",
            CrmSystem::Salesforce => "salesforce",
        }
    }

    /// Parses the name returned by [`CrmSystem::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "dynamics365" => Some(CrmSystem::Dynamics365),
            "salesforce" => Some(CrmSystem::Salesforce),
            _ => None,
        }
    }
}

/// The kind of CRM record a referral is linked to.
///
/// Referrals that are not yet accepted and came in from Microsoft live as leads; accepted ones as opportunities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrmEntity {
    /// A Dynamics 365 `opportunity` or a Salesforce `Opportunity`.
    Opportunity,
    /// A Dynamics 365 `lead` or a Salesforce `Lead`.
    Lead,
}

impl CrmEntity {
    /// The stable lower-case name used in the store and the audit (`opportunity`, `lead`).
    pub fn as_str(self) -> &'static str {
        match self {
            CrmEntity::Opportunity => "opportunity",
            CrmEntity::Lead => "lead",
        }
    }

    /// Parses the name returned by [`CrmEntity::as_str`].
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "opportunity" => Some(CrmEntity::Opportunity),
            "lead" => Some(CrmEntity::Lead),
            _ => None,
        }
    }
}

/// The version of one side of a link as last seen, used as the precondition of the next write.
///
/// Which parts are filled depends on the side:
///
/// | side | `etag` | `modified` | `stamp` |
/// |---|---|---|---|
/// | Partner Center | `eTag` (quoted, opaque) | `updatedDateTime` | — |
/// | Dynamics 365 | `@odata.etag` (`W/"…"`) | `modifiedon` | `versionnumber` |
/// | Salesforce | — | `LastModifiedDate` (for `If-Unmodified-Since`) | `SystemModstamp` |
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// An opaque entity tag, sent back verbatim in `If-Match`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// The last-modified time as the service printed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<String>,
    /// A row stamp: Dynamics `versionnumber`, Salesforce `SystemModstamp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp: Option<String>,
}

impl Version {
    /// True when no part of the version is known.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.modified.is_none() && self.stamp.is_none()
    }
}
