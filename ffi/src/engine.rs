//! `cosell_engine`: a mapping and a store. Opens and closes the store, plans pairs, commits what the host applied,
//! runs transactions, and reads the audit, the review queue and the links, with the message of its last failure.
//!
//! A `cosell_engine` may be moved between threads but must not be used by two threads at once.

use std::ffi::{CString, c_char};

use cosell_core::Engine;
use cosell_core::engine::CommitResults;
use cosell_core::model::CrmEntity;
use cosell_core::store::{AuditQuery, LinkStatus, ReviewChoice, ReviewStatus};
use serde::Serialize;

use crate::cosell_status;
use crate::failure::{
    Failure, arg, bytes_arg, c_str_arg, construct, core, need, null, required_bytes_arg,
    required_c_str_arg,
};
use crate::handle::{Handle, try_mut};
use crate::mapping::cosell_mapping;
use crate::panic::boundary;
use crate::plan::cosell_plan;
use crate::text::{self, into_c, message};

/// An engine: a mapping and an open store (opaque). May be moved between threads but must not be used by two
/// threads at once.
#[allow(non_camel_case_types)]
pub struct cosell_engine {
    _private: [u8; 0],
}

/// The Rust side of a `cosell_engine`.
pub struct EngineState {
    engine: Engine,
    last_error: CString,
}

impl Handle for cosell_engine {
    type Inner = EngineState;
}

/// One pair for `cosell_engine_plan_many`: each record is JSON text of `*_len` bytes, or NULL when that record
/// does not exist.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cosell_pair {
    /// The Partner Center referral JSON, or NULL.
    pub referral: *const c_char,
    /// Its length in bytes.
    pub referral_len: usize,
    /// The CRM record JSON (Dynamics 365 or Salesforce row), or NULL.
    pub crm: *const c_char,
    /// Its length in bytes.
    pub crm_len: usize,
}

impl EngineState {
    /// Runs `f`, records its message on failure (and clears it on success), and returns the status.
    fn run(&mut self, f: impl FnOnce(&mut Engine) -> Result<(), Failure>) -> cosell_status {
        match f(&mut self.engine) {
            Ok(()) => {
                self.last_error = CString::default();
                cosell_status::Ok
            }
            Err((status, msg)) => {
                self.last_error = message(&msg);
                status
            }
        }
    }
}

/// A malformed JSON argument, naming what was expected.
fn bad_json(what: &str, expected: &str, e: &serde_json::Error) -> Failure {
    (
        cosell_status::InvalidArgument,
        format!("{what}: {e}; expected {expected}"),
    )
}

/// One plan and its results for `cosell_engine_commit_many`: `results` is JSON text of `results_len` bytes, as
/// for `cosell_engine_commit`, or NULL when the plan writes nothing.
#[allow(non_camel_case_types)]
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cosell_commit_item {
    /// The plan.
    pub plan: *const cosell_plan,
    /// What the host applied, or NULL.
    pub results: *const c_char,
    /// Its length in bytes.
    pub results_len: usize,
}

/// A pair's texts for planning: the referral and the CRM record, each `None` when it does not exist.
type PairText<'a> = (Option<&'a str>, Option<&'a str>);

/// The documented form of the results of `cosell_engine_commit`, for messages.
const RESULTS_FORM: &str = "an object with any of \"partner_center\" and \"crm\" (each {\"outcome\": \"applied\", \
     \"id\": ..., \"version\": {...}} or {\"outcome\": \"failed\", \"kind\": ..., \"message\": ...}) and \"cause\"";

/// Borrows a plan argument.
///
/// # Safety
/// `ptr` is NULL or a live plan.
unsafe fn plan_arg<'a>(ptr: *const cosell_plan) -> Result<&'a cosell_core::Plan, Failure> {
    // SAFETY: forwarded contract.
    unsafe { cosell_plan::try_ref(ptr) }.ok_or_else(|| null("plan"))
}

/// Parses a JSON object argument (a JSON array or scalar is refused, as are unknown keys).
fn parse_object<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
    expected: &str,
) -> Result<T, Failure> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad_json(what, expected, &e))?;
    if !value.is_object() {
        return Err((
            cosell_status::InvalidArgument,
            format!("{what}: not a JSON object; expected {expected}"),
        ));
    }
    serde_json::from_value(value).map_err(|e| bad_json(what, expected, &e))
}

/// A name out of a closed set (a status), or `None` when not given; an unknown name fails listing the known ones.
fn one_of<T: Copy>(
    text: Option<&str>,
    what: &str,
    parse: fn(&str) -> Option<T>,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<Option<T>, Failure> {
    text.map(|t| {
        parse(t).ok_or_else(|| {
            let known: Vec<&str> = all.iter().map(|v| name(*v)).collect();
            (
                cosell_status::InvalidArgument,
                format!("{what} {t:?}: expected one of {}", known.join(", ")),
            )
        })
    })
    .transpose()
}

/// [`json_out`] when `out` is not NULL (an optional out-param).
fn json_out_if(value: &impl Serialize, out: *mut *mut c_char) -> Result<(), Failure> {
    if out.is_null() {
        Ok(())
    } else {
        json_out(value, out)
    }
}

/// Reads the results of a commit: `CommitResults::default()` for NULL (the plan writes nothing).
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes.
unsafe fn results_arg(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<CommitResults, Failure> {
    // SAFETY: forwarded contract.
    match unsafe { bytes_arg(ptr, len, what) }? {
        None => Ok(CommitResults::default()),
        Some(text) => parse_object(text, what, RESULTS_FORM),
    }
}

/// Gives a value to C as JSON.
fn json_out(value: &impl Serialize, out: *mut *mut c_char) -> Result<(), Failure> {
    let text = serde_json::to_string(value).map_err(|e| {
        (
            cosell_status::Panic,
            format!("could not write the result as JSON: {e}"),
        )
    })?;
    // SAFETY: every caller checked `out` non-NULL; writable by the export's contract.
    unsafe { *out = into_c(text) };
    Ok(())
}

/// Opens (creating it if needed) the store at `path` (`":memory:"` for a private in-memory store) with a copy of
/// `mapping` (the caller still owns and frees `mapping`).
///
/// On success writes a new engine to `*engine_out` (free it with `cosell_engine_free`). On failure writes nothing
/// to it and writes the message into `error_buf` (`error_len` bytes, NUL-terminated, cut to fit) when `error_buf`
/// is not NULL: for example `COSELL_STATUS_STORE_NOT_A_STORE` for another application's database.
///
/// # Safety
/// `path` is a NUL-terminated string; `mapping` is a live mapping; `engine_out` points to writable storage for a
/// pointer; `error_buf` is NULL or points to `error_len` writable bytes.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_open(
    path: *const c_char,
    mapping: *const cosell_mapping,
    engine_out: *mut *mut cosell_engine,
    error_buf: *mut c_char,
    error_len: usize,
) -> cosell_status {
    boundary(|| {
        // SAFETY: by contract.
        unsafe {
            construct(engine_out, "engine_out", error_buf, error_len, || {
                let mapping = cosell_mapping::try_ref(mapping).ok_or_else(|| null("mapping"))?;
                let path = required_c_str_arg(path, "path")?;
                let engine = Engine::open(path, mapping.clone()).map_err(core)?;
                Ok(EngineState {
                    engine,
                    last_error: CString::default(),
                })
            })
        }
    })
}

/// Closes the store and frees the engine. NULL is a no-op. An open transaction is rolled back.
///
/// # Safety
/// `engine` is NULL or a live engine, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_free(engine: *mut cosell_engine) {
    // SAFETY: by contract.
    boundary(|| unsafe { cosell_engine::free(engine) });
}

/// The message of the last failed call on `engine` (it names the record, the field and what was expected), or
/// `""` after a successful call. Owned by the engine: valid until the next call on it; do not free. `""` for NULL.
///
/// # Safety
/// `engine` is NULL or a live engine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_last_error(engine: *const cosell_engine) -> *const c_char {
    boundary(|| {
        // SAFETY: by contract.
        match unsafe { cosell_engine::try_ref(engine) } {
            Some(state) => state.last_error.as_ptr(),
            None => c"".as_ptr(),
        }
    })
}

/// Plans one pair against its stored link: `referral` (Partner Center referral JSON, `referral_len` bytes) and
/// `crm` (the CRM record JSON, `crm_len` bytes). Either may be NULL when that record does not exist (a referral to
/// create in the CRM, or a CRM record to share), not both. The whole text of each is validated.
///
/// On success writes a new plan to `*plan_out` (free it with `cosell_plan_free`). Planning changes nothing.
///
/// # Safety
/// `engine` is a live engine; `referral` and `crm` are NULL or point to their length in readable bytes;
/// `plan_out` points to writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_plan(
    engine: *mut cosell_engine,
    referral: *const c_char,
    referral_len: usize,
    crm: *const c_char,
    crm_len: usize,
    plan_out: *mut *mut cosell_plan,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            need(plan_out, "plan_out")?;
            // SAFETY: by contract.
            let referral = unsafe { bytes_arg(referral, referral_len, "referral") }?;
            // SAFETY: by contract.
            let crm = unsafe { bytes_arg(crm, crm_len, "CRM record") }?;
            let plan = engine.plan_json(referral, crm).map_err(core)?;
            // SAFETY: checked non-NULL; writable by contract.
            unsafe { *plan_out = cosell_plan::into_raw(plan) };
            Ok(())
        })
    })
}

/// Plans `count` pairs on one read snapshot (faster than one call per pair: the store is read once per batch).
///
/// `plans_out` and `statuses_out` are arrays of `count` elements. On success (the batch ran), `plans_out[i]` is
/// the plan of pair `i` (free each with `cosell_plan_free`) and `statuses_out[i]` is `COSELL_STATUS_OK`, or
/// `plans_out[i]` is NULL and `statuses_out[i]` says why that pair failed; `cosell_engine_last_error` then lists
/// the failed pairs' messages (`pair 3: ...`, one per line, the first 20). On failure of the batch itself
/// (a NULL argument, the store) neither array is written.
///
/// # Safety
/// `engine` is a live engine; `pairs` points to `count` readable `cosell_pair`s whose texts are NULL or readable
/// for their lengths; `plans_out` and `statuses_out` point to `count` writable elements each. `pairs` may be NULL
/// only when `count` is 0.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_plan_many(
    engine: *mut cosell_engine,
    pairs: *const cosell_pair,
    count: usize,
    plans_out: *mut *mut cosell_plan,
    statuses_out: *mut cosell_status,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        if count == 0 {
            state.last_error = CString::default();
            return cosell_status::Ok;
        }
        if let Err((status, msg)) = need(pairs, "pairs")
            .and(need(plans_out, "plans_out"))
            .and(need(statuses_out, "statuses_out"))
        {
            state.last_error = message(&msg);
            return status;
        }
        if count > isize::MAX as usize / size_of::<cosell_pair>() {
            state.last_error = message("count: larger than any array");
            return cosell_status::InvalidArgument;
        }
        // SAFETY: non-NULL, `count` readable elements by contract.
        let pairs = unsafe { std::slice::from_raw_parts(pairs, count) };
        // A pair whose text is not UTF-8 fails alone; the others are planned on one snapshot.
        let decoded: Vec<Result<PairText<'_>, Failure>> = pairs
            .iter()
            .map(|p| {
                // SAFETY: by contract.
                let referral = unsafe { text::opt_bytes_str(p.referral, p.referral_len) }
                    .map_err(|s| arg(s, "referral"))?;
                // SAFETY: by contract.
                let crm = unsafe { text::opt_bytes_str(p.crm, p.crm_len) }
                    .map_err(|s| arg(s, "CRM record"))?;
                Ok((referral, crm))
            })
            .collect();
        let valid = decoded.iter().filter_map(|d| d.as_ref().ok().copied());
        let mut planned = match state.engine.plan_many(valid) {
            Ok(planned) => planned.into_iter(),
            Err(e) => {
                let (status, msg) = core(e);
                state.last_error = message(&msg);
                return status;
            }
        };
        let mut messages = Vec::new();
        let mut failed = 0usize;
        for (i, d) in decoded.iter().enumerate() {
            let outcome = match d {
                Err(failure) => Err(failure.clone()),
                Ok(_) => planned.next().map_or_else(
                    || {
                        Err((
                            cosell_status::Panic,
                            "internal error: a pair was not planned".to_owned(),
                        ))
                    },
                    |result| result.map_err(core),
                ),
            };
            let (plan, status) = match outcome {
                Ok(plan) => (cosell_plan::into_raw(plan), cosell_status::Ok),
                Err((status, msg)) => {
                    failed += 1;
                    if messages.len() < 20 {
                        messages.push(format!("pair {i}: {msg}"));
                    }
                    (std::ptr::null_mut(), status)
                }
            };
            // SAFETY: `i < count`; both arrays have `count` writable elements by contract.
            unsafe {
                *plans_out.add(i) = plan;
                *statuses_out.add(i) = status;
            }
        }
        if failed > messages.len() {
            messages.push(format!("... and {} more", failed - messages.len()));
        }
        state.last_error = message(&messages.join("\n"));
        cosell_status::Ok
    })
}

/// Records what the host applied for `plan`: the new base (only for fields whose writes succeeded), each side's
/// version, the link's status, the audit rows and queued reviews, in one transaction.
///
/// `results_json` (`results_len` bytes) says what happened to each side the plan writes, or is NULL when the plan
/// writes nothing: `{"crm": {"outcome": "applied", "id": "006...", "version": {"etag": ..., "modified": ...,
/// "stamp": ...}}, "partner_center": {"outcome": "failed", "kind": "throttled", "message": "..."}, "cause":
/// "event:..."}` (`id` only for a created record; unknown keys are refused). Report the version each side has after
/// the write, so that the next plan of the pair is empty. Which sides a plan writes: `cosell_plan_writes_crm`,
/// `cosell_plan_writes_partner_center`.
///
/// On success writes the commit report (`{"link_id": 1, "status": "synced", "summary": "link", "audit_rows":
/// 1}`) to `*report_out` when `report_out` is not NULL (free it with `cosell_string_free`). A plan whose link
/// changed since it was planned fails with `COSELL_STATUS_COMMIT_STALE_PLAN`: plan again.
///
/// # Safety
/// `engine` is a live engine; `plan` is a live plan; `results_json` is NULL or points to `results_len` readable
/// bytes; `report_out` is NULL or points to writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_commit(
    engine: *mut cosell_engine,
    plan: *const cosell_plan,
    results_json: *const c_char,
    results_len: usize,
    report_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            // SAFETY: by contract.
            let plan = unsafe { plan_arg(plan) }?;
            // SAFETY: by contract.
            let results = unsafe { results_arg(results_json, results_len, "results") }?;
            let report = engine.commit(plan, &results).map_err(core)?;
            json_out_if(&report, report_out)
        })
    })
}

/// Commits `count` plans and their results in one transaction, all or nothing: the batch form of
/// `cosell_engine_commit` (each index page is written once per batch instead of once per plan). `items` is an array
/// of `count` plans with their results. On success writes the commit reports, a JSON array in the order of
/// `items`, to `*reports_out` when it is not NULL (free it with `cosell_string_free`). When one plan fails (a stale
/// plan, results that do not fit), nothing of the batch is written and the message names that plan.
///
/// # Safety
/// `engine` is a live engine; `items` points to `count` readable `cosell_commit_item`s with live plans and results
/// readable for their lengths (or NULL); `reports_out` is NULL or points to writable storage for a pointer. `items`
/// may be NULL only when `count` is 0.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_commit_many(
    engine: *mut cosell_engine,
    items: *const cosell_commit_item,
    count: usize,
    reports_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            let items: &[cosell_commit_item] = if count == 0 {
                &[]
            } else {
                need(items, "items")?;
                if count > isize::MAX as usize / size_of::<cosell_commit_item>() {
                    return Err((
                        cosell_status::InvalidArgument,
                        "count: larger than any array".to_owned(),
                    ));
                }
                // SAFETY: non-NULL, `count` readable elements by contract.
                unsafe { std::slice::from_raw_parts(items, count) }
            };
            let mut batch = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                // SAFETY: by contract.
                let plan = unsafe { plan_arg(item.plan) }
                    .map_err(|(s, m)| (s, format!("item {i}: {m}")))?;
                // SAFETY: by contract.
                let results = unsafe { results_arg(item.results, item.results_len, "results") }
                    .map_err(|(s, m)| (s, format!("item {i}: {m}")))?;
                batch.push((plan, results));
            }
            let refs: Vec<_> = batch.iter().map(|(p, r)| (*p, r)).collect();
            let reports = engine.commit_many(&refs).map_err(core)?;
            json_out_if(&reports, reports_out)
        })
    })
}

/// Records `plan` as a dry run: its decisions become audit rows with `dry_run = 1` and outcome `planned`
/// (refusals stay `refused`); nothing else changes. `cause` (NUL-terminated) may be NULL. On success writes the
/// number of rows to `*rows_out` when `rows_out` is not NULL.
///
/// # Safety
/// `engine` is a live engine; `plan` is a live plan; `cause` is NULL or NUL-terminated; `rows_out` is NULL or
/// writable.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_record_dry_run(
    engine: *mut cosell_engine,
    plan: *const cosell_plan,
    cause: *const c_char,
    rows_out: *mut usize,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            // SAFETY: by contract.
            let plan = unsafe { plan_arg(plan) }?;
            // SAFETY: by contract.
            let cause = unsafe { c_str_arg(cause, "cause") }?;
            let rows = engine.record_dry_run(plan, cause).map_err(core)?;
            if !rows_out.is_null() {
                // SAFETY: non-NULL and writable by contract.
                unsafe { *rows_out = rows };
            }
            Ok(())
        })
    })
}

/// Opens a transaction that stays open across calls: every commit until `cosell_engine_commit_transaction`
/// becomes durable together, and none does after `cosell_engine_rollback_transaction` (or `cosell_engine_free`).
/// Each `cosell_engine_commit` inside still succeeds or fails as a whole. For bulk work: linking a whole CRM in
/// transactions of thousands of pairs writes each index page once per transaction. Fails with
/// `COSELL_STATUS_STORE_INVALID_STATE` when one is already open.
///
/// # Safety
/// `engine` is a live engine.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_begin_transaction(
    engine: *mut cosell_engine,
) -> cosell_status {
    boundary(|| try_mut!(cosell_engine, engine).run(|e| e.begin_transaction().map_err(core)))
}

/// Commits the transaction `cosell_engine_begin_transaction` opened. `COSELL_STATUS_STORE_INVALID_STATE` when
/// none is open.
///
/// # Safety
/// `engine` is a live engine.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_commit_transaction(
    engine: *mut cosell_engine,
) -> cosell_status {
    boundary(|| try_mut!(cosell_engine, engine).run(|e| e.commit_transaction().map_err(core)))
}

/// Rolls back the transaction `cosell_engine_begin_transaction` opened. `COSELL_STATUS_STORE_INVALID_STATE` when
/// none is open.
///
/// # Safety
/// `engine` is a live engine.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_rollback_transaction(
    engine: *mut cosell_engine,
) -> cosell_status {
    boundary(|| try_mut!(cosell_engine, engine).run(|e| e.rollback_transaction().map_err(core)))
}

/// Reads audit rows as a JSON array, oldest first, each with its field changes. `query_json` (`query_len` bytes)
/// filters them, or is NULL for all: `{"referral_id": "...", "link_id": 1, "since": "2026-11-01T00:00:00Z",
/// "until": "...", "limit": 100}` (every key optional; `since` inclusive, `until` exclusive, RFC 3339 UTC).
/// On success writes the array to `*rows_out` (free it with `cosell_string_free`).
///
/// # Safety
/// `engine` is a live engine; `query_json` is NULL or points to `query_len` readable bytes; `rows_out` points to
/// writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_audit(
    engine: *mut cosell_engine,
    query_json: *const c_char,
    query_len: usize,
    rows_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            need(rows_out, "rows_out")?;
            // SAFETY: by contract.
            let query: AuditQuery = match unsafe { bytes_arg(query_json, query_len, "query") }? {
                None => AuditQuery::default(),
                Some(text) => parse_object(
                    text,
                    "audit query",
                    "an object with any of \"referral_id\", \"link_id\", \"since\", \"until\", \"limit\"",
                )?,
            };
            let rows = engine.audit(&query).map_err(core)?;
            json_out(&rows, rows_out)
        })
    })
}

/// The review queue as a JSON array: queued conflicts, optionally only those in `status` (`"open"`,
/// `"resolved"`, `"dismissed"`, `"applied"`) and of `referral_id` (both NUL-terminated, NULL for any). On success
/// writes the array to `*reviews_out` (free it with `cosell_string_free`).
///
/// # Safety
/// `engine` is a live engine; `status` and `referral_id` are NULL or NUL-terminated; `reviews_out` points to
/// writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_reviews(
    engine: *mut cosell_engine,
    status: *const c_char,
    referral_id: *const c_char,
    reviews_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            need(reviews_out, "reviews_out")?;
            // SAFETY: by contract.
            let status = unsafe { c_str_arg(status, "status") }?;
            let status = one_of(
                status,
                "status",
                ReviewStatus::parse,
                ReviewStatus::ALL,
                ReviewStatus::as_str,
            )?;
            // SAFETY: by contract.
            let referral = unsafe { c_str_arg(referral_id, "referral_id") }?;
            let reviews = engine.reviews(status, referral).map_err(core)?;
            json_out(&reviews, reviews_out)
        })
    })
}

/// Resolves a queued conflict: `choice_json` (`choice_len` bytes) is `"partner_center"`, `"crm"` or `{"value":
/// ...}`; `note` (NUL-terminated) may be NULL. The next plan of the pair writes the choice. On success writes the
/// review as JSON to `*review_out` when it is not NULL (free it with `cosell_string_free`).
///
/// # Safety
/// `engine` is a live engine; `choice_json` points to `choice_len` readable bytes; `note` is NULL or
/// NUL-terminated; `review_out` is NULL or points to writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_resolve_review(
    engine: *mut cosell_engine,
    review_id: i64,
    choice_json: *const c_char,
    choice_len: usize,
    note: *const c_char,
    review_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            // SAFETY: by contract.
            let choice = unsafe { required_bytes_arg(choice_json, choice_len, "choice") }?;
            let choice: ReviewChoice = serde_json::from_str(choice).map_err(|e| {
                bad_json(
                    "choice",
                    "\"partner_center\", \"crm\" or {\"value\": ...}",
                    &e,
                )
            })?;
            // SAFETY: by contract.
            let note = unsafe { c_str_arg(note, "note") }?;
            let review = engine
                .resolve_review(review_id, choice, note)
                .map_err(core)?;
            json_out_if(&review, review_out)
        })
    })
}

/// Dismisses a queued conflict (the field stays as it is on both sides, and is not queued again until one side
/// changes). `note` may be NULL. On success writes the review as JSON to `*review_out` when it is not NULL.
///
/// # Safety
/// `engine` is a live engine; `note` is NULL or NUL-terminated; `review_out` is NULL or points to writable storage
/// for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_dismiss_review(
    engine: *mut cosell_engine,
    review_id: i64,
    note: *const c_char,
    review_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            // SAFETY: by contract.
            let note = unsafe { c_str_arg(note, "note") }?;
            let review = engine.dismiss_review(review_id, note).map_err(core)?;
            json_out_if(&review, review_out)
        })
    })
}

/// The link of a referral as JSON (its base, versions, status, last error), or `null` when the referral is not
/// linked. On success writes it to `*link_out` (free it with `cosell_string_free`).
///
/// # Safety
/// `engine` is a live engine; `referral_id` is NUL-terminated; `link_out` points to writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_link(
    engine: *mut cosell_engine,
    referral_id: *const c_char,
    link_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            need(link_out, "link_out")?;
            // SAFETY: by contract.
            let id = unsafe { required_c_str_arg(referral_id, "referral_id") }?;
            let link = engine
                .store()
                .link_by_referral(id)
                .map_err(|e| core(e.into()))?;
            json_out(&link, link_out)
        })
    })
}

/// The link of a CRM record as JSON, or `null` when the record is not linked: `entity` is `"opportunity"` or
/// `"lead"`, `crm_id` the record's id (both NUL-terminated). On success writes it to `*link_out` (free it with
/// `cosell_string_free`).
///
/// # Safety
/// `engine` is a live engine; `entity` and `crm_id` are NUL-terminated; `link_out` points to writable storage for
/// a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_link_by_crm(
    engine: *mut cosell_engine,
    entity: *const c_char,
    crm_id: *const c_char,
    link_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            need(link_out, "link_out")?;
            // SAFETY: by contract.
            let entity = unsafe { required_c_str_arg(entity, "entity") }?;
            let entity = CrmEntity::parse(entity).ok_or_else(|| {
                (
                    cosell_status::InvalidArgument,
                    format!("entity {entity:?}: expected opportunity or lead"),
                )
            })?;
            // SAFETY: by contract.
            let id = unsafe { required_c_str_arg(crm_id, "crm_id") }?;
            let link = engine
                .store()
                .link_by_crm(entity, id)
                .map_err(|e| core(e.into()))?;
            json_out(&link, link_out)
        })
    })
}

/// Up to `limit` links with an id greater than `after_id` as a JSON array, by id, optionally only those in
/// `status` (`"synced"`, `"pending"`, `"error"`, `"conflict"`, `"orphaned"`; NULL for all). Page through all
/// links by passing the last id of one page as the `after_id` of the next (start at 0). On success writes the
/// array to `*links_out` (free it with `cosell_string_free`).
///
/// # Safety
/// `engine` is a live engine; `status` is NULL or NUL-terminated; `links_out` points to writable storage for a
/// pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_links(
    engine: *mut cosell_engine,
    status: *const c_char,
    limit: usize,
    after_id: i64,
    links_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            need(links_out, "links_out")?;
            // SAFETY: by contract.
            let status = unsafe { c_str_arg(status, "status") }?;
            let status = one_of(
                status,
                "status",
                LinkStatus::parse,
                LinkStatus::ALL,
                LinkStatus::as_str,
            )?;
            let links = engine
                .store()
                .links(status, limit, after_id)
                .map_err(|e| core(e.into()))?;
            json_out(&links, links_out)
        })
    })
}

/// The number of links in each status as a JSON object (`{"synced": 120, "pending": 0, ...}`, every status
/// listed). On success writes it to `*counts_out` (free it with `cosell_string_free`).
///
/// # Safety
/// `engine` is a live engine; `counts_out` points to writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_engine_link_counts(
    engine: *mut cosell_engine,
    counts_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let state = try_mut!(cosell_engine, engine);
        state.run(|engine| {
            need(counts_out, "counts_out")?;
            let counts = engine
                .store()
                .count_links_by_status()
                .map_err(|e| core(e.into()))?;
            let map: serde_json::Map<String, serde_json::Value> = counts
                .into_iter()
                .map(|(s, n)| (s.as_str().to_owned(), n.into()))
                .collect();
            json_out(&map, counts_out)
        })
    })
}
