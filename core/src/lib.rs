//! # cosell-core
//!
//! The sync engine of cosell: keeps Microsoft Partner Center co-sell referrals and CRM opportunities and leads
//! (Dynamics 365, Salesforce) in two-way sync with a three-way merge per linked pair against a stored base.
//!
//! * [`model`]: typed records of both sides (unknown fields kept), ids and versions.
//! * [`mapping`]: the declarative field mapping and the built-in profiles.
//! * [`diff`]: three-way diff of one field in canonical space.
//! * [`plan`]: the pure, serializable decision for one pair (the dry-run).
//! * [`store`]: `SQLite` state: links, bases, versions, audit, review queue, event inbox, cursors, write intents.
//! * [`engine`]: plan against the stored base, commit what was applied.
//! * [`connect`]: the services' HTTP APIs (Partner Center so far).
//!
//! ```
//! use cosell_core::{Engine, CommitResults, Mapping};
//!
//! let mut engine = Engine::open(":memory:", Mapping::builtin("salesforce")?)?;
//! let referral = r#"{"id": "r-1", "name": "Contoso", "status": "Active", "substatus": "Accepted",
//!                    "details": {"dealValue": 1000, "currency": "USD", "notes": "hi"}, "eTag": "\"1\""}"#;
//! let opportunity = r#"{"attributes": {"type": "Opportunity"}, "Id": "006A", "Name": "Contoso",
//!                       "Amount": 1000.0, "CurrencyIsoCode": "USD", "Description": "hi",
//!                       "StageName": "Qualification", "Sync_with_Partner_Center__c": true,
//!                       "Referral_Identifier__c": "r-1",
//!                       "LastModifiedDate": "2026-11-01T00:00:00.000+0000"}"#;
//! let plan = engine.plan_json(Some(referral), Some(opportunity))?;
//! assert!(plan.actions.is_empty());          // both sides agree: the first sync only records the base
//! engine.commit(&plan, &CommitResults::default())?;
//! assert!(engine.plan_json(Some(referral), Some(opportunity))?.is_empty());
//! # Ok::<(), cosell_core::Error>(())
//! ```

pub mod connect;
pub mod diff;
pub mod engine;
pub mod error;
mod fnv;
pub mod mapping;
pub mod model;
pub mod plan;
pub mod store;
pub mod value;

pub use engine::{CommitReport, CommitResults, Engine, SideOutcome};
pub use error::{Error, ErrorKind};
pub use mapping::Mapping;
pub use plan::Plan;
pub use store::Store;
