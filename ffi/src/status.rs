//! `cosell_status`: what every fallible export returns, with explicit numbers that are never reused, one per core
//! error kind plus the C layer's own (`NULL_ARGUMENT`, `INVALID_UTF8`, `INVALID_ARGUMENT`, `PANIC`), and the static
//! text of each (`cosell_status_str`).

use std::ffi::c_char;

use cosell_core::Error;

/// The outcome of a call. `COSELL_STATUS_OK` (0) is success; anything else is an error whose message is in
/// `cosell_engine_last_error` (or the caller's error buffer for calls without an engine).
///
/// Numbers are grouped by family (1–99 the C layer, 100s the mapping, 200s records, 300s the store, 400s
/// commits) and are never reused or renumbered; new ones are only ever added. A `*_OTHER` value of a family
/// stands for an error of that family that this version of the header does not name yet.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a cosell_status says whether the call failed"]
pub enum cosell_status {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullArgument = 1,
    /// A text argument was not valid UTF-8.
    InvalidUtf8 = 2,
    /// A Rust panic was caught at the boundary (a bug in cosell: please report it). The handle stays usable.
    Panic = 3,
    /// An argument of the C API itself was malformed (results, query or choice JSON; an unknown name); the
    /// message names it and says what was expected.
    InvalidArgument = 4,

    /// The mapping text is not valid JSON or TOML, or does not follow the mapping format.
    MappingParse = 100,
    /// No built-in profile has this name.
    MappingUnknownProfile = 101,
    /// A mapping rule is invalid; the message names the rule and what is wrong.
    MappingInvalidRule = 102,
    /// A mapping file could not be read.
    MappingIo = 103,
    /// Another mapping error.
    MappingOther = 199,

    /// A record is not valid JSON.
    RecordInvalidJson = 200,
    /// A record is larger than cosell accepts (16 MiB).
    RecordTooLarge = 201,
    /// A record is not a JSON object.
    RecordNotAnObject = 202,
    /// A required field of a record is missing.
    RecordMissingField = 203,
    /// A field of a record has the wrong type or value.
    RecordInvalidField = 204,
    /// A CRM record's entity (opportunity or lead) could not be told.
    RecordUnknownEntity = 205,
    /// The records given do not belong together (another referral, another CRM, no record at all).
    RecordMismatch = 206,
    /// Another record error.
    RecordOther = 299,

    /// The store file could not be opened.
    StoreOpen = 300,
    /// The file is not a cosell store (another application's database, or not `SQLite`).
    StoreNotAStore = 301,
    /// The store was written by a newer cosell.
    StoreNewerSchema = 302,
    /// A read-only store is older than this cosell and must be opened writable once to migrate.
    StoreOutdatedSchema = 303,
    /// The store file is damaged.
    StoreCorrupt = 304,
    /// The store is read-only.
    StoreReadOnly = 305,
    /// Another connection holds the store's lock (after the busy timeout).
    StoreBusy = 306,
    /// The disk is full.
    StoreFull = 307,
    /// A row the call names does not exist.
    StoreNotFound = 308,
    /// A link changed since it was read.
    StoreStaleLink = 309,
    /// The call does not fit the current state (a transaction already open or not open, a closed review).
    StoreInvalidState = 310,
    /// A value given to the store is invalid (a timestamp, a limit).
    StoreInvalidInput = 311,
    /// Another `SQLite` error.
    StoreSqlite = 312,
    /// A JSON column could not be read or written.
    StoreJson = 313,
    /// Another store error.
    StoreOther = 399,

    /// The results given do not match the plan (a side it does not write, or a missing one).
    CommitResultMismatch = 400,
    /// The plan is stale: its link changed (or was created) since it was planned. Plan again.
    CommitStalePlan = 401,
    /// Another commit error.
    CommitOther = 499,
}

impl cosell_status {
    /// Every status, in number order.
    pub(crate) const ALL: [cosell_status; 36] = [
        cosell_status::Ok,
        cosell_status::NullArgument,
        cosell_status::InvalidUtf8,
        cosell_status::Panic,
        cosell_status::InvalidArgument,
        cosell_status::MappingParse,
        cosell_status::MappingUnknownProfile,
        cosell_status::MappingInvalidRule,
        cosell_status::MappingIo,
        cosell_status::MappingOther,
        cosell_status::RecordInvalidJson,
        cosell_status::RecordTooLarge,
        cosell_status::RecordNotAnObject,
        cosell_status::RecordMissingField,
        cosell_status::RecordInvalidField,
        cosell_status::RecordUnknownEntity,
        cosell_status::RecordMismatch,
        cosell_status::RecordOther,
        cosell_status::StoreOpen,
        cosell_status::StoreNotAStore,
        cosell_status::StoreNewerSchema,
        cosell_status::StoreOutdatedSchema,
        cosell_status::StoreCorrupt,
        cosell_status::StoreReadOnly,
        cosell_status::StoreBusy,
        cosell_status::StoreFull,
        cosell_status::StoreNotFound,
        cosell_status::StoreStaleLink,
        cosell_status::StoreInvalidState,
        cosell_status::StoreInvalidInput,
        cosell_status::StoreSqlite,
        cosell_status::StoreJson,
        cosell_status::StoreOther,
        cosell_status::CommitResultMismatch,
        cosell_status::CommitStalePlan,
        cosell_status::CommitOther,
    ];

    /// The status of a core error: one per detail kind, or the family's `*_OTHER`.
    pub fn of(error: &Error) -> cosell_status {
        use cosell_status as S;
        match (error, error.detail_kind()) {
            (Error::Mapping(_), "parse") => S::MappingParse,
            (Error::Mapping(_), "unknown_profile") => S::MappingUnknownProfile,
            (Error::Mapping(_), "invalid_rule") => S::MappingInvalidRule,
            (Error::Mapping(_), "io") => S::MappingIo,
            (Error::Mapping(_), _) => S::MappingOther,
            (Error::Record(_), "invalid_json") => S::RecordInvalidJson,
            (Error::Record(_), "too_large") => S::RecordTooLarge,
            (Error::Record(_), "not_an_object") => S::RecordNotAnObject,
            (Error::Record(_), "missing_field") => S::RecordMissingField,
            (Error::Record(_), "invalid_field") => S::RecordInvalidField,
            (Error::Record(_), "unknown_entity") => S::RecordUnknownEntity,
            (Error::Record(_), "mismatch") => S::RecordMismatch,
            (Error::Record(_), _) => S::RecordOther,
            (Error::Store(_), "open") => S::StoreOpen,
            (Error::Store(_), "not_a_store") => S::StoreNotAStore,
            (Error::Store(_), "newer_schema") => S::StoreNewerSchema,
            (Error::Store(_), "outdated_schema") => S::StoreOutdatedSchema,
            (Error::Store(_), "corrupt") => S::StoreCorrupt,
            (Error::Store(_), "read_only") => S::StoreReadOnly,
            (Error::Store(_), "busy") => S::StoreBusy,
            (Error::Store(_), "full") => S::StoreFull,
            (Error::Store(_), "not_found") => S::StoreNotFound,
            (Error::Store(_), "stale_link") => S::StoreStaleLink,
            (Error::Store(_), "invalid_state") => S::StoreInvalidState,
            (Error::Store(_), "invalid_input") => S::StoreInvalidInput,
            (Error::Store(_), "sqlite") => S::StoreSqlite,
            (Error::Store(_), "json") => S::StoreJson,
            (Error::Store(_), _) => S::StoreOther,
            (Error::Commit(_), "result_mismatch") => S::CommitResultMismatch,
            (Error::Commit(_), "stale_plan") => S::CommitStalePlan,
            _ => S::CommitOther,
        }
    }

    /// The static, NUL-terminated text of a status.
    pub fn text(self) -> &'static str {
        use cosell_status as S;
        match self {
            S::Ok => "ok\0",
            S::NullArgument => "a required pointer argument was NULL\0",
            S::InvalidUtf8 => "a text argument is not valid UTF-8\0",
            S::Panic => "internal error: a panic was caught (please report it)\0",
            S::InvalidArgument => "an argument is malformed\0",
            S::MappingParse => {
                "the mapping is not valid JSON or TOML, or not in the mapping format\0"
            }
            S::MappingUnknownProfile => "no built-in mapping profile has this name\0",
            S::MappingInvalidRule => "a mapping rule is invalid\0",
            S::MappingIo => "the mapping file could not be read\0",
            S::MappingOther => "mapping error\0",
            S::RecordInvalidJson => "a record is not valid JSON\0",
            S::RecordTooLarge => "a record is too large\0",
            S::RecordNotAnObject => "a record is not a JSON object\0",
            S::RecordMissingField => "a required field of a record is missing\0",
            S::RecordInvalidField => "a field of a record has the wrong type or value\0",
            S::RecordUnknownEntity => "the CRM record's entity could not be told\0",
            S::RecordMismatch => "the records do not belong together\0",
            S::RecordOther => "record error\0",
            S::StoreOpen => "the store could not be opened\0",
            S::StoreNotAStore => "the file is not a cosell store\0",
            S::StoreNewerSchema => "the store was written by a newer cosell\0",
            S::StoreOutdatedSchema => "the read-only store must be migrated first\0",
            S::StoreCorrupt => "the store file is damaged\0",
            S::StoreReadOnly => "the store is read-only\0",
            S::StoreBusy => "the store is locked by another connection\0",
            S::StoreFull => "the disk is full\0",
            S::StoreNotFound => "no such row in the store\0",
            S::StoreStaleLink => "the link changed since it was read\0",
            S::StoreInvalidState => "the call does not fit the store's current state\0",
            S::StoreInvalidInput => "a value given to the store is invalid\0",
            S::StoreSqlite => "SQLite error\0",
            S::StoreJson => "a JSON column could not be read or written\0",
            S::StoreOther => "store error\0",
            S::CommitResultMismatch => "the results do not match the plan\0",
            S::CommitStalePlan => "the plan is stale; plan again\0",
            S::CommitOther => "commit error\0",
        }
    }
}

/// The static text of a status (never NULL; "unknown status" for a number this version does not know). The text
/// is owned by the library and valid for the life of the process; do not free it.
#[unsafe(no_mangle)]
pub extern "C" fn cosell_status_str(status: u32) -> *const c_char {
    crate::panic::boundary(|| {
        let found = cosell_status::ALL.iter().find(|s| **s as u32 == status);
        let text = found.map_or("unknown status\0", |s| s.text());
        text.as_ptr().cast()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_unique_and_texts_terminated() {
        let mut seen = std::collections::HashSet::new();
        for s in cosell_status::ALL {
            assert!(seen.insert(s as u32), "{s:?} reuses a number");
            assert!(s.text().ends_with('\0') && !s.text()[..s.text().len() - 1].contains('\0'));
        }
        let mut sorted: Vec<u32> = seen.into_iter().collect();
        sorted.sort_unstable();
        assert_eq!(
            sorted,
            cosell_status::ALL
                .iter()
                .map(|s| *s as u32)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn core_errors_get_their_own_status() {
        use cosell_core::store::StoreError;
        use cosell_core::{Engine, Mapping};
        let of = |e: Error| cosell_status::of(&e);
        assert_eq!(of(StoreError::Busy.into()), cosell_status::StoreBusy);
        assert_eq!(
            of(StoreError::ReadOnly.into()),
            cosell_status::StoreReadOnly
        );
        let unknown = Mapping::builtin("nope").expect_err("no such profile");
        assert_eq!(of(unknown.into()), cosell_status::MappingUnknownProfile);
        let engine = Engine::open(":memory:", Mapping::builtin("salesforce").expect("profile"))
            .expect("in-memory store");
        let bad = engine.plan_json(Some("{"), None).expect_err("malformed");
        assert_eq!(of(bad), cosell_status::RecordInvalidJson);
        let none = engine.plan_json(None, None).expect_err("nothing to plan");
        assert_eq!(of(none), cosell_status::RecordMismatch);
    }
}
