//! `cosell_plan`: one pair's plan (the dry-run: actions, field changes with before/after and reasons, conflicts,
//! refusals), as JSON or readable text, and back from JSON.
//!
//! A `cosell_plan` is immutable: it may be shared between threads.

use std::collections::HashMap;
use std::ffi::{CStr, CString, c_char};
use std::sync::{Mutex, OnceLock};

use cosell_core::Plan;
use cosell_core::plan::Side;

use crate::cosell_status;
use crate::failure::{construct, required_bytes_arg};
use crate::handle::{Handle, check_out, try_ref};
use crate::panic::boundary;
use crate::text::into_c;

/// A plan for one pair (opaque). Immutable: may be shared between threads.
#[allow(non_camel_case_types)]
pub struct cosell_plan {
    _private: [u8; 0],
}

impl Handle for cosell_plan {
    type Inner = Plan;
}

/// The plan as JSON: every action (CRM field map, Partner Center JSON Patch, lookups, state changes), the field
/// changes with before and after, conflicts, refusals with their reasons, and the new base. Keep it to commit later
/// with `cosell_plan_from_json`. On success writes it to `*json_out` (free it with `cosell_string_free`).
///
/// # Safety
/// `plan` is a live plan; `json_out` points to writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_plan_to_json(
    plan: *const cosell_plan,
    json_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let plan = try_ref!(cosell_plan, plan);
        check_out!(json_out);
        match serde_json::to_string(plan) {
            Ok(text) => {
                // SAFETY: checked non-NULL; writable by contract.
                unsafe { *json_out = into_c(text) };
                cosell_status::Ok
            }
            Err(_) => cosell_status::Panic,
        }
    })
}

/// The plan as readable text (what a salesperson would read: each action, each field's before and after, each
/// reason). On success writes it to `*text_out` (free it with `cosell_string_free`).
///
/// # Safety
/// `plan` is a live plan; `text_out` points to writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_plan_to_text(
    plan: *const cosell_plan,
    text_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let plan = try_ref!(cosell_plan, plan);
        check_out!(text_out);
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { *text_out = into_c(plan.to_string()) };
        cosell_status::Ok
    })
}

/// What the plan does in one word: `"nothing"`, `"link"`, `"converged"`, `"update_crm"`,
/// `"update_partner_center"`, `"update_both"`, `"conflict"`, `"create_crm"`, `"create_referral"`,
/// `"convert_lead"`, `"orphan"` or `"refused"` (static text; do not free). NULL when `plan` is NULL.
///
/// # Safety
/// `plan` is NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_plan_summary(plan: *const cosell_plan) -> *const c_char {
    boundary(|| {
        // SAFETY: by contract.
        match unsafe { cosell_plan::try_ref(plan) } {
            Some(plan) => static_c(plan.summary.as_str()).as_ptr(),
            None => std::ptr::null(),
        }
    })
}

/// True when committing the plan would change nothing: no action, no base change, no conflict, no refusal.
/// False when `plan` is NULL.
///
/// # Safety
/// `plan` is NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_plan_is_empty(plan: *const cosell_plan) -> bool {
    boundary(|| {
        // SAFETY: by contract.
        unsafe { cosell_plan::try_ref(plan) }.is_some_and(Plan::is_empty)
    })
}

/// True when the plan writes the CRM (creates, updates or closes a record, stamps the referral id): commit it with
/// a `"crm"` result. False when `plan` is NULL.
///
/// # Safety
/// `plan` is NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_plan_writes_crm(plan: *const cosell_plan) -> bool {
    boundary(|| {
        // SAFETY: by contract.
        unsafe { cosell_plan::try_ref(plan) }.is_some_and(|p| p.writes(Side::Crm))
    })
}

/// True when the plan writes Partner Center (creates or updates the referral): commit it with a
/// `"partner_center"` result. False when `plan` is NULL.
///
/// # Safety
/// `plan` is NULL or a live plan.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_plan_writes_partner_center(plan: *const cosell_plan) -> bool {
    boundary(|| {
        // SAFETY: by contract.
        unsafe { cosell_plan::try_ref(plan) }.is_some_and(|p| p.writes(Side::PartnerCenter))
    })
}

/// A plan back from the JSON `cosell_plan_to_json` gave (`len` bytes), to commit it later. On success writes a new
/// plan to `*plan_out` (free it with `cosell_plan_free`); on failure writes the message into `error_buf`
/// (`error_len` bytes, NUL-terminated, cut to fit) when it is not NULL.
///
/// # Safety
/// `json` points to `len` readable bytes; `plan_out` points to writable storage for a pointer; `error_buf` is NULL
/// or points to `error_len` writable bytes.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_plan_from_json(
    json: *const c_char,
    len: usize,
    plan_out: *mut *mut cosell_plan,
    error_buf: *mut c_char,
    error_len: usize,
) -> cosell_status {
    boundary(|| {
        // SAFETY: by contract.
        unsafe {
            construct(plan_out, "plan_out", error_buf, error_len, || {
                let text = required_bytes_arg(json, len, "plan JSON")?;
                serde_json::from_str::<Plan>(text).map_err(|e| {
                    (
                        cosell_status::InvalidArgument,
                        format!("plan JSON: {e}; expected what cosell_plan_to_json gave"),
                    )
                })
            })
        }
    })
}

/// Frees a plan. NULL is a no-op.
///
/// # Safety
/// `plan` is NULL or a live plan, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_plan_free(plan: *mut cosell_plan) {
    // SAFETY: by contract.
    boundary(|| unsafe { cosell_plan::free(plan) });
}

/// A NUL-terminated copy of a static name, made once per name for the life of the process.
fn static_c(name: &'static str) -> &'static CStr {
    static NAMES: OnceLock<Mutex<HashMap<&'static str, &'static CStr>>> = OnceLock::new();
    let names = NAMES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut names = names
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    names.entry(name).or_insert_with(|| {
        let owned = CString::new(name).unwrap_or_default();
        Box::leak(owned.into_boxed_c_str())
    })
}
