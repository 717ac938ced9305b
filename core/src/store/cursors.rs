//! Cursors: named positions of the reconcile poll (a Partner Center modified-since time, a Dynamics delta
//! link, a Salesforce `updated` window end), so that a restart resumes where the last poll stopped.

use rusqlite::{OptionalExtension, params};

use super::sql::{self, Ctx};
use super::{Store, StoreError};

impl Store {
    /// The value of the cursor `name`, if it was ever set.
    pub fn cursor(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            conn.prepare_cached("SELECT value FROM cursors WHERE name = ?1")
                .ctx("preparing a cursor read")?
                .query_row([name], |r| r.get(0))
                .optional()
                .ctx("reading a cursor")
        })
    }

    /// Sets the cursor `name` to `value` at `at` (RFC 3339 UTC), creating it if needed.
    pub fn set_cursor(&mut self, name: &str, value: &str, at: &str) -> Result<(), StoreError> {
        sql::check_time("cursor updated_at", at)?;
        self.write(|conn| {
            conn.prepare_cached(
                "INSERT INTO cursors (name, value, updated_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .ctx("preparing the cursor upsert")?
            .execute(params![name, value, at])
            .ctx("setting a cursor")?;
            Ok(())
        })
    }
}
