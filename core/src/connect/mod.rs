//! Connectors: the services' HTTP APIs, over ureq (synchronous).
//!
//! * `http.rs`: the discipline every call shares (timeouts, bearer tokens refreshed once on 401, jittered backoff
//!   on 429/503 honouring `Retry-After`, which failures may be retried).
//! * `error.rs`: [`ConnectError`], what went wrong in terms of what to do next.
//! * `partner_center.rs`: the Partner Center Referrals API.
//!
//! Dynamics 365 and Salesforce, the write intents around every write, and the engine's `sync_referral` /
//! `reconcile` on top come next (issue 5).

mod error;
mod http;
mod partner_center;

pub use error::ConnectError;
pub use http::{HttpConfig, StaticToken, TokenSource};
pub use partner_center::{Fetched, ListQuery, Page, PartnerCenter, PartnerCenterConfig};
