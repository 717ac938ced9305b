//! Facts about the store itself (the `meta` table, schema version 4): the CRM its links are with.

use rusqlite::OptionalExtension;

use super::sql::Ctx;
use super::{Store, StoreError};

impl Store {
    /// The CRM this store's links are with (`salesforce` or `dynamics365`), once an engine has claimed it.
    pub fn crm(&self) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT value FROM meta WHERE key = 'crm'", [], |r| r.get(0))
                .optional()
                .ctx("reading the store's CRM")
        })
    }

    /// Records `crm` as the CRM of this store's links, or refuses with [`StoreError::InvalidState`] when the store
    /// is another CRM's: its links, bases and audit are about records of that CRM, and planning them with another
    /// mapping would write one CRM's ids into the other. A read-only store is only checked.
    pub fn claim_crm(&mut self, crm: &str) -> Result<(), StoreError> {
        match self.crm()? {
            Some(existing) if existing == crm => Ok(()),
            Some(existing) => Err(StoreError::InvalidState {
                what: "store",
                detail: format!(
                    "the store {} holds {existing} links; a {crm} mapping cannot use it (open another store)",
                    self.path()
                ),
            }),
            None if self.is_read_only() => Ok(()),
            None => self
                .write(|conn| {
                    conn.execute(
                        "INSERT OR IGNORE INTO meta (key, value) VALUES ('crm', ?1)",
                        [crm],
                    )
                    .ctx("recording the store's CRM")?;
                    Ok(())
                })
                .and_then(|()| match self.crm()? {
                    // Another process may have claimed it first.
                    Some(existing) if existing != crm => self.claim_crm(crm),
                    _ => Ok(()),
                }),
        }
    }
}
