//! The link keys: 64-bit FNV-1a hashes of a link's referral id and of its CRM entity and id, stored in the
//! `links.referral_key` and `links.crm_key` columns (schema version 3) and used by the in-memory link index.
//!
//! Indexing an 8-byte integer instead of a 36-character GUID makes each key index a quarter of the size, and a
//! new link's two index entries cost a third as much to insert. A hash is not unique: every look-up by key also
//! compares the ids themselves, and the store checks that no other link has the same ids before it writes one
//! (see `links::write`), so two ids that happen to share a hash are two distinct links.
//!
//! `SQLite` computes the same keys through the SQL functions `cosell_referral_key(id)` and
//! `cosell_crm_key(entity, id)`, registered on every connection the store opens; the version 3 migration uses
//! them to key the links already stored.

use rusqlite::Connection;
use rusqlite::functions::FunctionFlags;

use super::StoreError;
use super::sql::Ctx;
use crate::fnv::Fnv1a;
use crate::model::CrmEntity;

/// The key of a referral id.
pub(crate) fn referral_key(referral_id: &str) -> i64 {
    signed(Fnv1a::new().write(referral_id.as_bytes()).finish())
}

/// The key of a CRM record: its entity name and id, with a separator no id contains.
pub(crate) fn crm_key(entity: CrmEntity, crm_id: &str) -> i64 {
    crm_key_of(entity.as_str(), crm_id)
}

fn crm_key_of(entity: &str, crm_id: &str) -> i64 {
    signed(
        Fnv1a::new()
            .write(entity.as_bytes())
            .write(&[0x1f])
            .write(crm_id.as_bytes())
            .finish(),
    )
}

/// The hash's bits as an `SQLite` integer (which is signed).
fn signed(hash: u64) -> i64 {
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Registers `cosell_referral_key(text)` and `cosell_crm_key(text, text)` on `conn`: deterministic, NULL when
/// an argument is NULL.
pub(crate) fn register(conn: &Connection) -> Result<(), StoreError> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_scalar_function("cosell_referral_key", 1, flags, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|r| referral_key(&r)))
    })
    .ctx("registering cosell_referral_key")?;
    conn.create_scalar_function("cosell_crm_key", 2, flags, |ctx| {
        let entity = ctx.get::<Option<String>>(0)?;
        let id = ctx.get::<Option<String>>(1)?;
        Ok(entity.zip(id).map(|(e, i)| crm_key_of(&e, &i)))
    })
    .ctx("registering cosell_crm_key")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_and_rust_compute_the_same_keys() {
        let conn = Connection::open_in_memory().expect("in-memory db");
        register(&conn).expect("registers");
        let (r, c): (i64, i64) = conn
            .query_row(
                "SELECT cosell_referral_key('6513270e-269e-4d37-b2a7-4de452e6b438'), \
                 cosell_crm_key('opportunity', '006Hs00001AbCdEIAV')",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("query");
        assert_eq!(r, referral_key("6513270e-269e-4d37-b2a7-4de452e6b438"));
        assert_eq!(c, crm_key(CrmEntity::Opportunity, "006Hs00001AbCdEIAV"));
        assert_ne!(
            crm_key(CrmEntity::Opportunity, "x"),
            crm_key(CrmEntity::Lead, "x")
        );
        let null: Option<i64> = conn
            .query_row("SELECT cosell_crm_key('lead', NULL)", [], |row| row.get(0))
            .expect("query");
        assert_eq!(null, None);
    }

    #[test]
    fn keys_are_the_fnv_hash_bits() {
        // Stored keys must never change: a store written by one build is read by the next.
        assert_eq!(referral_key("a"), signed(0xaf63_dc4c_8601_ec8c));
        assert_eq!(
            referral_key("a").to_ne_bytes(),
            0xaf63_dc4c_8601_ec8c_u64.to_ne_bytes()
        );
    }
}
