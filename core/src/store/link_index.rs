//! The link index kept in memory: which link row holds a referral id, or a CRM record, so that planning finds a
//! pair's link with a hash probe and a row read instead of a search of the `links` key indexes.
//!
//! It is a hint, never the truth. A hit is checked against the row it names (a stale or colliding entry falls back
//! to the SQL search). A miss is trusted only while the index is **complete**: it was filled from the whole table
//! at open, this connection records every link it writes, and no other connection has committed since
//! (`PRAGMA data_version`, read once per batch of look-ups). Once another connection writes, misses go to SQL as
//! well, and what SQL finds is added, so the index warms again.
//!
//! Keys are 64-bit hashes of the ids (16 bytes per entry, about 5 MB for 100,000 links).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rusqlite::Connection;

use super::StoreError;
use super::sql::{self, Ctx};
use crate::fnv::Fnv1a;
use crate::model::CrmEntity;

/// Link row ids by hashed key.
#[derive(Debug, Default)]
pub(crate) struct LinkIndex {
    by_referral: HashMap<u64, i64, BuildHasherDefault<IdHasher>>,
    by_crm: HashMap<u64, i64, BuildHasherDefault<IdHasher>>,
    /// Misses are definite: no other connection has written since the index was filled.
    complete: bool,
    /// `PRAGMA data_version` when `complete` was last confirmed.
    data_version: i64,
}

/// What the index says about a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    /// Probably this link row: read it and check.
    Row(i64),
    /// No link has this key.
    Absent,
    /// Ask SQL.
    Unknown,
}

impl LinkIndex {
    /// Fills the index from the whole `links` table.
    pub(crate) fn load(conn: &Connection) -> Result<LinkIndex, StoreError> {
        let mut index = LinkIndex {
            data_version: data_version(conn)?,
            ..LinkIndex::default()
        };
        let mut stmt = conn
            .prepare("SELECT id, referral_id, crm_entity, crm_id FROM links")
            .ctx("loading the link index")?;
        let mut rows = stmt.query([]).ctx("loading the link index")?;
        while let Some(row) = rows.next().ctx("loading the link index")? {
            let id = sql::int(row, 0, "links.id")?;
            let referral = sql::opt_str(row, 1, "links.referral_id")?;
            let entity = sql::opt_str(row, 2, "links.crm_entity")?.and_then(CrmEntity::parse);
            let crm_id = sql::opt_str(row, 3, "links.crm_id")?;
            index.note(id, referral, entity.zip(crm_id));
        }
        index.complete = true;
        Ok(index)
    }

    /// Before a batch of look-ups: once another connection has committed, misses are no longer definite.
    pub(crate) fn check(&mut self, conn: &Connection) -> Result<(), StoreError> {
        if self.complete && data_version(conn)? != self.data_version {
            self.complete = false;
        }
        Ok(())
    }

    /// Records that link `id` now has these keys (written by this connection, or found by SQL).
    pub(crate) fn note(&mut self, id: i64, referral: Option<&str>, crm: Option<(CrmEntity, &str)>) {
        if let Some(r) = referral {
            self.by_referral.insert(referral_key(r), id);
        }
        if let Some((entity, crm_id)) = crm {
            self.by_crm.insert(crm_key(entity, crm_id), id);
        }
    }

    /// Where the link of a referral is.
    pub(crate) fn referral(&self, referral_id: &str) -> Hint {
        self.hint(self.by_referral.get(&referral_key(referral_id)))
    }

    /// Where the link of a CRM record is.
    pub(crate) fn crm(&self, entity: CrmEntity, crm_id: &str) -> Hint {
        self.hint(self.by_crm.get(&crm_key(entity, crm_id)))
    }

    fn hint(&self, found: Option<&i64>) -> Hint {
        match found {
            Some(id) => Hint::Row(*id),
            None if self.complete => Hint::Absent,
            None => Hint::Unknown,
        }
    }
}

fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    conn.pragma_query_value(None, "data_version", |r| r.get(0))
        .ctx("reading the data version")
}

fn referral_key(referral_id: &str) -> u64 {
    Fnv1a::new().write(referral_id.as_bytes()).finish()
}

fn crm_key(entity: CrmEntity, crm_id: &str) -> u64 {
    Fnv1a::new()
        .write(entity.as_str().as_bytes())
        .write(&[0x1f])
        .write(crm_id.as_bytes())
        .finish()
}

/// The keys are hashes already: the map uses them as they are.
#[derive(Debug, Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `u64` keys are hashed here; other input is folded in all the same.
        let mut h = Fnv1a::new();
        h.write(&self.0.to_le_bytes()).write(bytes);
        self.0 = h.finish();
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
