//! The store's error type: one structured variant per failure a caller can act on, with a stable
//! `snake_case` [`StoreError::kind`] for bindings, logs and the audit.

use rusqlite::ErrorCode;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// `SQLite` could not open the file (missing directory, permissions, not a file, ...).
    #[error("cannot open the store {path}: {source}")]
    Open {
        /// The path given to `open`.
        path: String,
        /// The error `SQLite` reported.
        #[source]
        source: rusqlite::Error,
    },
    /// The file is not an `SQLite` database, or it is one that belongs to another application.
    #[error(
        "{path} is not a cosell store: it is not an SQLite database, or it is one that belongs to another application"
    )]
    NotAStore {
        /// The path given to `open`.
        path: String,
    },
    /// The store was written by a newer cosell. It is never touched.
    #[error(
        "{path} was written by a newer cosell (schema version {found}, this cosell supports up to {supported}); upgrade cosell to open it"
    )]
    NewerSchema {
        /// The path given to `open`.
        path: String,
        /// The schema version found in the file.
        found: i64,
        /// The newest schema version this build knows.
        supported: i64,
    },
    /// A read-only open found an older schema, which only a read-write open can migrate.
    #[error(
        "{path} has schema version {found}, older than {supported}; open it once read-write to upgrade it"
    )]
    OutdatedSchema {
        /// The path given to `open_read_only`.
        path: String,
        /// The schema version found in the file.
        found: i64,
        /// The schema version this build needs.
        supported: i64,
    },
    /// `SQLite` reported corruption, or a stored value is not one the store writes.
    #[error("the store {path} is corrupt: {detail}")]
    Corrupt {
        /// The store's path.
        path: String,
        /// What was found.
        detail: String,
    },
    /// A write on a store opened read-only, or on a file `SQLite` cannot write.
    #[error("the store is read-only: it was opened read-only or its file cannot be written")]
    ReadOnly,
    /// Another connection held the write lock for longer than the busy timeout (5 s).
    #[error("the store is busy: another connection held its lock for longer than the busy timeout")]
    Busy,
    /// The disk (or the `SQLite` size limit) is full.
    #[error("the store cannot grow: the disk is full")]
    Full,
    /// The row asked for does not exist.
    #[error("{what} {key} not found")]
    NotFound {
        /// The kind of row: `link`, `review`, `event`, `intent`.
        what: &'static str,
        /// Its key as given.
        key: String,
    },
    /// A link changed since it was read (another commit, possibly by another process, came first): read it
    /// again and re-plan.
    #[error(
        "link {id} changed since it was read (revision {expected} expected, another commit came first); plan again"
    )]
    StaleLink {
        /// The link id.
        id: i64,
        /// The revision the caller read.
        expected: i64,
    },
    /// The operation does not apply to the row's current state (a duplicate link, a review already
    /// resolved, an intent already completed, ...).
    #[error("invalid {what} state: {detail}")]
    InvalidState {
        /// The kind of row.
        what: &'static str,
        /// What is wrong, naming the key.
        detail: String,
    },
    /// An argument is malformed (a timestamp that is not RFC 3339 UTC, an unknown audit outcome, ...).
    #[error("invalid {what}: {detail}")]
    InvalidInput {
        /// The argument or field.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// Any other `SQLite` error.
    #[error("SQLite error while {context}: {source}")]
    Sqlite {
        /// What the store was doing.
        context: &'static str,
        /// The error `SQLite` reported.
        #[source]
        source: rusqlite::Error,
    },
    /// A JSON value could not be encoded, or a stored JSON column could not be decoded.
    #[error("JSON error in {context}: {source}")]
    Json {
        /// The column or value concerned.
        context: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
}

impl StoreError {
    /// A stable `snake_case` name per variant, for bindings (exception classes, status codes) and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::Open { .. } => "open",
            StoreError::NotAStore { .. } => "not_a_store",
            StoreError::NewerSchema { .. } => "newer_schema",
            StoreError::OutdatedSchema { .. } => "outdated_schema",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::ReadOnly => "read_only",
            StoreError::Busy => "busy",
            StoreError::Full => "full",
            StoreError::NotFound { .. } => "not_found",
            StoreError::StaleLink { .. } => "stale_link",
            StoreError::InvalidState { .. } => "invalid_state",
            StoreError::InvalidInput { .. } => "invalid_input",
            StoreError::Sqlite { .. } => "sqlite",
            StoreError::Json { .. } => "json",
        }
    }

    /// Maps a rusqlite error to the specific variant for its code, or [`StoreError::Sqlite`].
    ///
    /// The path of `Corrupt` is left empty and filled by [`StoreError::in_store`] at the public boundary.
    pub(crate) fn from_sqlite(context: &'static str, source: rusqlite::Error) -> StoreError {
        match source.sqlite_error_code() {
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => StoreError::Corrupt {
                path: String::new(),
                detail: format!("{source} (while {context})"),
            },
            Some(ErrorCode::ReadOnly) => StoreError::ReadOnly,
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            Some(ErrorCode::DiskFull) => StoreError::Full,
            _ => StoreError::Sqlite { context, source },
        }
    }

    /// A stored value the store never writes: the database was changed by something else.
    pub(crate) fn corrupt(detail: String) -> StoreError {
        StoreError::Corrupt {
            path: String::new(),
            detail,
        }
    }

    /// Fills the store path into variants that carry one and were built without it.
    pub(crate) fn in_store(mut self, store_path: &str) -> StoreError {
        match &mut self {
            StoreError::NotAStore { path }
            | StoreError::NewerSchema { path, .. }
            | StoreError::OutdatedSchema { path, .. }
            | StoreError::Corrupt { path, .. }
                if path.is_empty() =>
            {
                store_path.clone_into(path);
            }
            _ => {}
        }
        self
    }
}
