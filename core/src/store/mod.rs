//! The `SQLite` state store: links and their base snapshots, the audit trail, the review queue, the webhook
//! inbox, write intents and poll cursors, in one file per deployment.
//!
//! A [`Store`] owns one `rusqlite::Connection` (no lifetimes in the public API). Every method that changes
//! more than one row runs in one `SQLite` transaction; [`Store::commit`] writes everything an outcome changes
//! (link, audit rows, reviews, completed intents, the inbox event) all or nothing, which is the crash-safety
//! core of the engine. Timestamps are RFC 3339 UTC text ending in `Z`, passed in by the caller and compared
//! as text, so write them with one fixed precision. The store never reads the clock.
//!
//! A `Store` may be moved between threads but must not be used by two threads at once (rusqlite's
//! `Connection` is `Send` and not `Sync`).

use std::path::Path;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

/// Declares a closed set of values stored as text: the enum, `as_str`, `parse`, `ALL`, `Display` and serde
/// names equal to the stored text.
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stable `snake_case` text stored in the database and used by serde.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// Parses the text returned by `as_str`; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

mod audit;
mod commit;
mod cursors;
mod error;
mod inbox;
mod intents;
mod keys;
mod link_index;
mod links;
mod meta;
mod review;
mod schema;
mod sql;

pub use audit::{AuditEntry, AuditQuery, AuditRow, FieldChange};
pub use commit::LinkCommit;
pub use error::StoreError;
pub use inbox::{Enqueued, InboxEvent, InboxStatus, NewEvent};
pub use intents::{Intent, IntentSide, IntentStatus, NewIntent};
pub use links::{Link, LinkReader, LinkStatus};
pub use review::{NewReview, Review, ReviewChoice, ReviewStatus};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};

/// The path that [`Store::open`] treats as a private in-memory database.
pub const MEMORY: &str = ":memory:";

/// How many prepared statements a connection keeps; more than the store's distinct hot statements.
const STATEMENT_CACHE_CAPACITY: usize = 64;

/// The state store: one `SQLite` database holding links, audit, reviews, inbox, intents and cursors.
///
/// A `Store` may be moved between threads but must not be used by two threads at once.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: String,
    schema_version: i64,
    read_only: bool,
    /// Link row ids by key, loaded on the first look-up (see [`link_index`]).
    link_index: std::cell::RefCell<Option<link_index::LinkIndex>>,
}

impl Store {
    /// Opens the store at `path`, creating it when the file does not exist or is empty, and applies any
    /// missing schema migrations in one transaction. The path `:memory:` gives a private in-memory store.
    ///
    /// Refuses, without changing the file, a file that is not `SQLite` or belongs to another application
    /// ([`StoreError::NotAStore`]) and a store written by a newer cosell ([`StoreError::NewerSchema`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with(path.as_ref(), false)
    }

    /// Opens an existing store read-only (`SQLITE_OPEN_READ_ONLY`): reads work, every write fails with
    /// [`StoreError::ReadOnly`]. The store must already be at [`SCHEMA_VERSION`], since migrating writes.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Self::open_with(path.as_ref(), true)
    }

    fn open_with(path: &Path, read_only: bool) -> Result<Store, StoreError> {
        let shown = path.to_string_lossy().into_owned();
        let memory = path == Path::new(MEMORY);
        if memory && read_only {
            return Err(StoreError::InvalidInput {
                what: "path",
                detail: "an in-memory store cannot be opened read-only".to_owned(),
            });
        }
        let opened = if memory {
            Connection::open_in_memory()
        } else {
            let access = if read_only {
                OpenFlags::SQLITE_OPEN_READ_ONLY
            } else {
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
            };
            Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        };
        let mut conn = opened.map_err(|source| StoreError::Open {
            path: shown.clone(),
            source,
        })?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
        let schema_version =
            schema::prepare(&mut conn, !memory, read_only).map_err(|e| e.in_store(&shown))?;
        Ok(Store {
            conn,
            path: shown,
            schema_version,
            read_only,
            link_index: std::cell::RefCell::new(None),
        })
    }

    /// The schema version of the open store (`PRAGMA user_version`), equal to [`SCHEMA_VERSION`].
    pub fn schema_version(&self) -> i64 {
        self.schema_version
    }

    /// The path the store was opened with (`:memory:` for an in-memory store).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// True when the store was opened with [`Store::open_read_only`].
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Runs `f` on one read snapshot: every read inside sees the same committed state, and the snapshot is
    /// taken once instead of once per statement (in WAL mode each autocommit read takes and releases the
    /// shared-memory read lock, which costs as much as the lookup itself). Inside an open transaction `f`
    /// simply runs. Writes from other connections committed meanwhile are seen by the next snapshot.
    pub fn read_snapshot<T>(&self, f: impl FnOnce(&Store) -> T) -> Result<T, StoreError> {
        use sql::Ctx;
        if !self.conn.is_autocommit() {
            return Ok(f(self));
        }
        self.conn
            .execute_batch("BEGIN DEFERRED")
            .ctx("beginning a read snapshot")
            .map_err(|e| e.in_store(&self.path))?;
        let value = f(self);
        // A read-only snapshot has nothing to lose: end it whatever `f` did.
        self.conn
            .execute_batch("COMMIT")
            .ctx("ending a read snapshot")
            .map_err(|e| e.in_store(&self.path))?;
        Ok(value)
    }

    /// Runs a read and fills the store path into its error.
    fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        f(&self.conn).map_err(|e| e.in_store(&self.path))
    }

    /// Runs single-statement writes outside an explicit transaction (each statement is atomic).
    fn write<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        f(&self.conn).map_err(|e| e.in_store(&self.path))
    }

    /// Runs `f` in one `BEGIN IMMEDIATE` transaction, committed when `f` succeeds, rolled back otherwise.
    /// Inside a [`Store::transaction`] it runs in a savepoint instead: rolled back alone on failure, made
    /// durable with the enclosing transaction.
    fn write_tx<T>(
        &mut self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        use sql::Ctx;
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let result = (|| {
            if self.conn.is_autocommit() {
                let tx = self
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .ctx("beginning a transaction")?;
                let value = f(&tx)?;
                tx.commit().ctx("committing a transaction")?;
                Ok(value)
            } else {
                let sp = self.conn.savepoint().ctx("beginning a savepoint")?;
                let value = f(&sp)?;
                sp.commit().ctx("releasing a savepoint")?;
                Ok(value)
            }
        })();
        result.map_err(|e: StoreError| e.in_store(&self.path))
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`): every write `f` makes becomes durable together
    /// when it returns `Ok`, and none does when it returns an error or panics (the panic then continues). Each
    /// write method called inside still succeeds or fails as a whole (a savepoint), so `f` may handle one
    /// failure and go on; reads inside see the transaction's own writes. Nested calls simply run `f` in the
    /// enclosing transaction.
    ///
    /// This is the bulk form of the store: thousands of commits in one transaction write each index page
    /// once instead of once per commit. Other connections wait (up to the busy timeout) to write meanwhile.
    pub fn transaction<T, E: From<StoreError>>(
        &mut self,
        f: impl FnOnce(&mut Store) -> Result<T, E>,
    ) -> Result<T, E> {
        transaction_of(self, |s| s, f)
    }

    /// True while a transaction is open on this store's connection.
    pub fn in_transaction(&self) -> bool {
        !self.conn.is_autocommit()
    }

    /// Opens a write transaction (`BEGIN IMMEDIATE`) that stays open across calls until
    /// [`Store::commit_transaction`] or [`Store::rollback_transaction`]: the explicit form of
    /// [`Store::transaction`], for callers that cannot pass a closure (the C API). Writes inside behave as in
    /// [`Store::transaction`]. Fails with [`StoreError::InvalidState`] when a transaction is already open.
    pub fn begin_transaction(&mut self) -> Result<(), StoreError> {
        use sql::Ctx;
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        if self.in_transaction() {
            return Err(StoreError::InvalidState {
                what: "transaction",
                detail: "a transaction is already open on this store".into(),
            });
        }
        self.conn
            .execute_batch("BEGIN IMMEDIATE")
            .ctx("beginning a transaction")
            .map_err(|e| e.in_store(&self.path))
    }

    /// Commits the transaction [`Store::begin_transaction`] opened: its writes become durable together. A
    /// failed COMMIT rolls the transaction back so that the store stays usable. Fails with
    /// [`StoreError::InvalidState`] when no transaction is open.
    pub fn commit_transaction(&mut self) -> Result<(), StoreError> {
        self.end_transaction("COMMIT", "committing a transaction")
    }

    /// Rolls back the transaction [`Store::begin_transaction`] opened: none of its writes stays. Fails with
    /// [`StoreError::InvalidState`] when no transaction is open.
    pub fn rollback_transaction(&mut self) -> Result<(), StoreError> {
        self.end_transaction("ROLLBACK", "rolling back a transaction")
    }

    fn end_transaction(&mut self, sql: &str, what: &'static str) -> Result<(), StoreError> {
        if !self.in_transaction() {
            return Err(StoreError::InvalidState {
                what: "transaction",
                detail: "no transaction is open on this store".into(),
            });
        }
        if let Err(e) = self.conn.execute_batch(sql) {
            if self.in_transaction() {
                let _ = self.conn.execute_batch("ROLLBACK");
            }
            return Err(StoreError::from_sqlite(what, e).in_store(&self.path));
        }
        Ok(())
    }
}

/// [`Store::transaction`] for anything that owns a store (the engine): `store` finds the store in `subject`,
/// and `f` gets the whole subject.
pub(crate) fn transaction_of<S, T, E: From<StoreError>>(
    subject: &mut S,
    store: impl Fn(&mut S) -> &mut Store,
    f: impl FnOnce(&mut S) -> Result<T, E>,
) -> Result<T, E> {
    let s = store(subject);
    if s.read_only {
        return Err(StoreError::ReadOnly.into());
    }
    if s.in_transaction() {
        return f(subject);
    }
    s.begin_transaction()?;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(subject)));
    let s = store(subject);
    match outcome {
        Ok(Ok(value)) => {
            s.commit_transaction()?;
            Ok(value)
        }
        Ok(Err(e)) => {
            // `f`'s error is the one to report; a ROLLBACK only fails when SQLite already ended the
            // transaction itself.
            let _ = s.rollback_transaction();
            Err(e)
        }
        Err(panic) => {
            let _ = s.rollback_transaction();
            std::panic::resume_unwind(panic)
        }
    }
}
