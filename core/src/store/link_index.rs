//! The link index kept in memory: which link row holds a referral id, or a CRM record, so that planning finds a
//! pair's link with a hash probe and a row read instead of a search of the `links` key indexes.
//!
//! It is a hint, never the truth. A hit is checked against the row it names (a stale or colliding entry falls back
//! to the SQL search). A miss is trusted only while the index is **complete**: it was filled from the whole table
//! at open, this connection records every link it writes, and no other connection has committed since
//! (`PRAGMA data_version`, read once per batch of look-ups). Once another connection writes, misses go to SQL as
//! well, and what SQL finds is added, so the index warms again.
//!
//! Keys are the links' 64-bit keys (see `store/keys.rs`; 16 bytes per entry, about 5 MB for 100,000 links).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rusqlite::Connection;

use super::StoreError;
use super::sql::{self, Ctx};
use crate::fnv::Fnv1a;

/// Link row ids by hashed key.
#[derive(Debug, Default)]
pub(crate) struct LinkIndex {
    by_referral: HashMap<i64, i64, BuildHasherDefault<IdHasher>>,
    by_crm: HashMap<i64, i64, BuildHasherDefault<IdHasher>>,
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
            .prepare("SELECT id, referral_key, crm_key FROM links")
            .ctx("loading the link index")?;
        let mut rows = stmt.query([]).ctx("loading the link index")?;
        while let Some(row) = rows.next().ctx("loading the link index")? {
            let id = sql::int(row, 0, "links.id")?;
            if let Some(key) = sql::opt_int(row, 1, "links.referral_key")? {
                index.by_referral.insert(key, id);
            }
            if let Some(key) = sql::opt_int(row, 2, "links.crm_key")? {
                index.by_crm.insert(key, id);
            }
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
    pub(crate) fn note(&mut self, id: i64, referral_key: Option<i64>, crm_key: Option<i64>) {
        if let Some(k) = referral_key {
            self.by_referral.insert(k, id);
        }
        if let Some(k) = crm_key {
            self.by_crm.insert(k, id);
        }
    }

    /// Where the link with this referral key is.
    pub(crate) fn referral(&self, key: i64) -> Hint {
        self.hint(self.by_referral.get(&key))
    }

    /// Where the link with this CRM key is.
    pub(crate) fn crm(&self, key: i64) -> Hint {
        self.hint(self.by_crm.get(&key))
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

    fn write_i64(&mut self, n: i64) {
        self.0 = u64::from_ne_bytes(n.to_ne_bytes());
    }
}
