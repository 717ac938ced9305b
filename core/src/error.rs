//! Errors: one `thiserror` enum per concern, each with stable kinds.
//!
//! The kinds ([`ErrorKind`]) are a public contract: they become C status codes and Python exception classes, so a
//! kind is never renamed or reused. Messages name the record, the field and what was expected.

use thiserror::Error;

pub use crate::mapping::MappingError;
pub use crate::store::StoreError;

/// A record (referral or CRM row) that cannot be read.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum RecordError {
    /// The text is not JSON (or exceeds the parser's nesting limit of 128 levels).
    #[error("{record}: not valid JSON: {detail}")]
    InvalidJson {
        /// What was being read, e.g. `Partner Center referral`.
        record: String,
        /// The parser's message, with line and column.
        detail: String,
    },
    /// The input is larger than the record size limit.
    #[error("{record}: {size} bytes is more than the {limit}-byte limit for one record")]
    TooLarge {
        /// What was being read.
        record: String,
        /// Input size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The JSON is valid but not an object.
    #[error("{record}: expected a JSON object, found {found}")]
    NotAnObject {
        /// What was being read.
        record: String,
        /// The JSON type found.
        found: &'static str,
    },
    /// A required field is missing.
    #[error("{record}: field `{field}` is missing; expected {expected}")]
    MissingField {
        /// What was being read, with its id when known.
        record: String,
        /// The field, as a JSON pointer or field name.
        field: String,
        /// What was expected there.
        expected: String,
    },
    /// A field has the wrong type or an unknown value.
    #[error("{record}: field `{field}`: expected {expected}, found {found}")]
    InvalidField {
        /// What was being read, with its id when known.
        record: String,
        /// The field, as a JSON pointer or field name.
        field: String,
        /// What was expected.
        expected: String,
        /// What was found (shortened).
        found: String,
    },
    /// The entity (opportunity or lead) cannot be told from the record.
    #[error("{record}: cannot tell whether this is an opportunity or a lead: {detail}")]
    UnknownEntity {
        /// What was being read.
        record: String,
        /// What was looked at.
        detail: String,
    },
    /// The referral and the CRM record given as a pair belong to different deals.
    #[error("{detail}")]
    Mismatch {
        /// Which identifiers disagree.
        detail: String,
    },
}

/// A commit whose results do not fit the plan they claim to be for.
#[derive(Debug, Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum CommitError {
    /// A result was given for a side the plan does not write, or a result is missing for a side it writes.
    #[error("plan {plan_id} for referral {referral}: {detail}")]
    ResultMismatch {
        /// The plan's id.
        plan_id: String,
        /// The referral id, or `(none)`.
        referral: String,
        /// What does not fit.
        detail: String,
    },
    /// The stored link changed since the plan was made (another process committed first): re-plan.
    #[error(
        "plan {plan_id} for referral {referral} is stale: the stored link changed since it was planned; plan again"
    )]
    StalePlan {
        /// The plan's id.
        plan_id: String,
        /// The referral id, or `(none)`.
        referral: String,
    },
}

/// Any error of the core.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// A mapping that cannot be loaded or is invalid.
    #[error(transparent)]
    Mapping(#[from] MappingError),
    /// A record that cannot be read.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A commit that does not fit its plan.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// The stable kind of an [`Error`]: the contract for C status codes and Python exception classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::Mapping`].
    Mapping,
    /// [`Error::Record`].
    Record,
    /// [`Error::Store`].
    Store,
    /// [`Error::Commit`].
    Commit,
}

impl ErrorKind {
    /// The stable `snake_case` name (`mapping`, `record`, `store`, `commit`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Mapping => "mapping",
            ErrorKind::Record => "record",
            ErrorKind::Store => "store",
            ErrorKind::Commit => "commit",
        }
    }
}

impl Error {
    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Mapping(_) => ErrorKind::Mapping,
            Error::Record(_) => ErrorKind::Record,
            Error::Store(_) => ErrorKind::Store,
            Error::Commit(_) => ErrorKind::Commit,
        }
    }

    /// The stable `snake_case` name of the specific error within its kind (`invalid_field`, `stale_plan`,
    /// `newer_schema`, ...): the finer contract for C status codes and Python exception classes.
    pub fn detail_kind(&self) -> &'static str {
        match self {
            Error::Mapping(e) => e.kind(),
            Error::Record(e) => e.kind(),
            Error::Store(e) => e.kind(),
            Error::Commit(e) => e.kind(),
        }
    }
}

impl RecordError {
    /// A stable `snake_case` name per variant.
    pub fn kind(&self) -> &'static str {
        match self {
            RecordError::InvalidJson { .. } => "invalid_json",
            RecordError::TooLarge { .. } => "too_large",
            RecordError::NotAnObject { .. } => "not_an_object",
            RecordError::MissingField { .. } => "missing_field",
            RecordError::InvalidField { .. } => "invalid_field",
            RecordError::UnknownEntity { .. } => "unknown_entity",
            RecordError::Mismatch { .. } => "mismatch",
        }
    }
}

impl CommitError {
    /// A stable `snake_case` name per variant.
    pub fn kind(&self) -> &'static str {
        match self {
            CommitError::ResultMismatch { .. } => "result_mismatch",
            CommitError::StalePlan { .. } => "stale_plan",
        }
    }
}

/// Shortens a value for an error message: at most 80 characters, never splitting a character.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 80;
    if text.chars().count() <= MAX {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(MAX).collect();
    out.push('…');
    out
}
