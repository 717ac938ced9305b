//! Typed records of both sides: a Partner Center [`Referral`] and a CRM record ([`CrmRecord`]) of Dynamics 365 or
//! Salesforce, each keeping the full wire JSON (unknown fields are kept, never dropped) and the typed parts the
//! rules need (ids, status, version).

mod body;
mod crm;
mod ids;
mod json_scan;
mod projection;
mod referral;

pub use crm::CrmRecord;
pub use ids::{CrmEntity, CrmSystem, Version};
pub use projection::Projection;
pub(crate) use projection::{Field, member_of_each};
pub use referral::MAX_RECORD_BYTES;
pub use referral::{Direction, Referral, Status, Substatus};
pub(crate) use referral::{invalid as referral_invalid, pointer_in, unescape as unescape_pointer};
