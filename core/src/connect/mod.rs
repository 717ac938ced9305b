//! Connectors: the services' HTTP APIs, over ureq (synchronous).
//!
//! * `http.rs`: the discipline every call shares (timeouts, bearer tokens refreshed once on 401, jittered backoff
//!   on 429/503 honouring `Retry-After`, which failures may be retried).
//! * `auth.rs`: where tokens come from: client credentials (Azure AD, Salesforce) and Partner Center's refresh
//!   token, whose rotations go to the host.
//! * `config.rs`: the one configuration (TOML or JSON) every binding reads, and the clients built from it.
//! * `error.rs`: [`ConnectError`], what went wrong in terms of what to do next.
//! * `fetched.rs`: a record as a service returned it; `url.rs`: encoding and request ids.
//! * `partner_center.rs`: the Partner Center Referrals API.
//! * `dynamics.rs`: the Dynamics 365 Web API (opportunities, leads, currencies, accounts, close actions, delta).
//! * `webhooks.rs`: Partner Center's webhook registration and its validation event.
//! * `salesforce.rs`: the Salesforce REST API (sObjects, upsert by referral id, SOQL, updated/deleted feeds).
//!
//! The write intents around every write, and the engine's `sync_referral` /
//! `reconcile` on top come next (issue 5).

mod auth;
mod config;
mod dynamics;
mod error;
mod fetched;
mod http;
mod partner_center;
mod salesforce;
mod url;
mod webhooks;

pub use auth::{ClientCredentials, OnRotate, RefreshToken, Secret, TokenEndpoint};
pub use config::{
    Config, DynamicsSection, HttpSection, PartnerCenterSection, SalesforceSection, SecretLookup,
    env_secrets,
};
pub use dynamics::{Created, Delta, Dynamics, DynamicsConfig};
pub use error::ConnectError;
pub use fetched::Fetched;
pub use http::{HttpConfig, StaticToken, TokenSource};
pub use partner_center::{ListQuery, Page, PartnerCenter, PartnerCenterConfig};
pub use salesforce::{Deleted, REFERRAL_ID_FIELD, Salesforce, SalesforceConfig, Updated, Upserted};
pub use webhooks::{EVENTS, Registration, Validation, Webhooks, WebhooksConfig};
