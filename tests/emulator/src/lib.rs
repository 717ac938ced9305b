//! Local HTTP emulators of the services cosell syncs with, for the connectors' tests and the demo.
//!
//! Each emulator listens on 127.0.0.1, speaks the wire format of `docs/DOMAIN.md` (paths, JSON field names,
//! status codes, headers, error bodies), keeps its state in memory, and can inject faults. There are three:
//! [`PartnerCenter`], the Partner Center Referrals API (and its Webhooks registration API), [`Dynamics`], the
//! Dynamics 365 / Dataverse Web API, and [`Salesforce`], the Salesforce REST API. [`Auth`] emulates the OAuth token endpoints (Azure AD v2 and Salesforce)
//! that issue the token the others accept.
//!
//! ```
//! use cosell_emulator::{Faults, Options, PartnerCenter};
//! use serde_json::json;
//!
//! let pc = PartnerCenter::start(Options::default())?;
//! pc.seed(vec![json!({"id": "r1", "name": "Contoso", "status": "New", "substatus": "Pending"})]);
//! let url = format!("{}/v1.0/engagements/referrals/r1", pc.base_url());
//!
//! let agent = ureq::Agent::new_with_defaults();
//! let mut answer = agent.get(&url).header("Authorization", "Bearer test-token").call()?;
//! let referral: serde_json::Value = serde_json::from_str(&answer.body_mut().read_to_string()?)?;
//! assert_eq!(referral["name"], "Contoso");
//! assert_eq!(answer.headers()["ETag"], referral["eTag"].as_str().unwrap_or_default());
//!
//! // Microsoft changes the referral: a new eTag and updatedDateTime.
//! assert!(pc.edit("r1", |r| r["name"] = json!("Contoso Ltd")));
//! assert_ne!(pc.referral("r1").map(|r| r["eTag"].clone()), Some(referral["eTag"].clone()));
//!
//! // The next request is throttled.
//! pc.set_faults(Faults { throttle: 1, retry_after_secs: 2, ..Faults::default() });
//! let throttled = agent.get(&url).header("Authorization", "Bearer test-token").config().http_status_as_error(false).build().call()?;
//! assert_eq!(throttled.status(), 429);
//! assert_eq!(throttled.headers()["Retry-After"], "2");
//! assert_eq!(pc.requests().len(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The server side is `tiny_http` behind a small relay, so an injected drop really closes the connection without
//! an answer (see `server.rs`).

mod auth;
mod clock;
mod dynamics;
mod faults;
mod json_patch;
mod odata;
mod partner_center;
mod salesforce;
mod server;
mod table;

pub use auth::{Auth, AuthOptions};
pub use dynamics::{DYNAMICS_API_PATH, Dynamics, DynamicsOptions, USD_CURRENCY_ID};
pub use faults::Faults;
pub use partner_center::{
    Options, PartnerCenter, REFERRALS_PATH, REGISTRATION_PATH, WEBHOOK_EVENTS,
};
pub use salesforce::{Salesforce, SalesforceOptions};
pub use server::RequestRecord;
