//! `cosell_mapping`: a compiled field mapping (a built-in profile, or mapping JSON/TOML text), validated when it
//! is made, and what it can tell about itself.
//!
//! A `cosell_mapping` is immutable: it may be used by several threads at once, and freed once no call uses it.

use std::ffi::c_char;

use cosell_core::Mapping;

use crate::cosell_status;
use crate::failure::{construct, core, null, required_bytes_arg, required_c_str_arg};
use crate::handle::{Handle, check_out, try_ref};
use crate::panic::boundary;
use crate::text::into_c;

/// A compiled, validated field mapping (opaque). Immutable: may be shared between threads.
#[allow(non_camel_case_types)]
pub struct cosell_mapping {
    _private: [u8; 0],
}

impl Handle for cosell_mapping {
    type Inner = Mapping;
}

/// The format of mapping text.
#[allow(non_camel_case_types)]
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum cosell_mapping_format {
    /// JSON (the format of `core/mapping.schema.json`).
    Json = 0,
    /// TOML with the same structure.
    Toml = 1,
}

/// Loads a built-in profile (`"salesforce"` or `"dynamics365"`).
///
/// On success writes a new mapping to `*mapping_out` (free it with `cosell_mapping_free`). On failure writes
/// nothing to it, and writes the message into `error_buf` (`error_len` bytes, NUL-terminated, cut to fit) when
/// `error_buf` is not NULL.
///
/// # Safety
/// `name` is a NUL-terminated string; `mapping_out` points to writable storage for a pointer; `error_buf` is NULL
/// or points to `error_len` writable bytes.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_mapping_builtin(
    name: *const c_char,
    mapping_out: *mut *mut cosell_mapping,
    error_buf: *mut c_char,
    error_len: usize,
) -> cosell_status {
    boundary(|| {
        // SAFETY: by contract.
        unsafe {
            construct(mapping_out, "mapping_out", error_buf, error_len, || {
                let name = required_c_str_arg(name, "name")?;
                Mapping::builtin(name).map_err(|e| core(e.into()))
            })
        }
    })
}

/// Loads and validates a mapping from JSON or TOML text (`text` of `len` bytes, UTF-8); `format` is a
/// `cosell_mapping_format` (another number is `COSELL_STATUS_INVALID_ARGUMENT`). The text may `extend` a
/// built-in profile and override its fields. An invalid mapping fails with a message that names the rule and what
/// is wrong (`COSELL_STATUS_MAPPING_INVALID_RULE`, `_PARSE`, `_UNKNOWN_PROFILE`).
///
/// Out-params and the error buffer as in `cosell_mapping_builtin`.
///
/// # Safety
/// `text` points to `len` readable bytes; `mapping_out` points to writable storage for a pointer; `error_buf` is
/// NULL or points to `error_len` writable bytes.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_mapping_from_text(
    text: *const c_char,
    len: usize,
    format: u32,
    mapping_out: *mut *mut cosell_mapping,
    error_buf: *mut c_char,
    error_len: usize,
) -> cosell_status {
    boundary(|| {
        // SAFETY: by contract.
        unsafe {
            construct(mapping_out, "mapping_out", error_buf, error_len, || {
                let text = required_bytes_arg(text, len, "text")?;
                match format {
                    0 => Mapping::from_json_str(text),
                    1 => Mapping::from_toml_str(text),
                    other => {
                        return Err((
                            cosell_status::InvalidArgument,
                            format!(
                                "format {other}: expected COSELL_MAPPING_FORMAT_JSON (0) or COSELL_MAPPING_FORMAT_TOML (1)"
                            ),
                        ));
                    }
                }
                .map_err(|e| core(e.into()))
            })
        }
    })
}

/// Loads and validates a mapping file (`path`, NUL-terminated): TOML when its name ends in `.toml`, JSON
/// otherwise. Errors as in `cosell_mapping_from_text`, plus `COSELL_STATUS_MAPPING_IO` when the file cannot be
/// read.
///
/// Out-params and the error buffer as in `cosell_mapping_builtin`.
///
/// # Safety
/// `path` is a NUL-terminated string; `mapping_out` points to writable storage for a pointer; `error_buf` is NULL
/// or points to `error_len` writable bytes.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_mapping_from_file(
    path: *const c_char,
    mapping_out: *mut *mut cosell_mapping,
    error_buf: *mut c_char,
    error_len: usize,
) -> cosell_status {
    boundary(|| {
        // SAFETY: by contract.
        unsafe {
            construct(mapping_out, "mapping_out", error_buf, error_len, || {
                let path = required_c_str_arg(path, "path")?;
                Mapping::from_file(path).map_err(|e| core(e.into()))
            })
        }
    })
}

/// A new mapping: `overrides` (partial mapping JSON, `len` bytes: `{"fields": {"deal_value": {"crm":
/// "Expected_Revenue__c"}}}`; `null` or `false` for a field removes it) laid over `base`, validated. `base` is
/// unchanged.
///
/// Out-params and the error buffer as in `cosell_mapping_builtin`.
///
/// # Safety
/// `base` is a live mapping; `overrides` points to `len` readable bytes; `mapping_out` points to writable storage
/// for a pointer; `error_buf` is NULL or points to `error_len` writable bytes.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_mapping_override(
    base: *const cosell_mapping,
    overrides: *const c_char,
    len: usize,
    mapping_out: *mut *mut cosell_mapping,
    error_buf: *mut c_char,
    error_len: usize,
) -> cosell_status {
    boundary(|| {
        // SAFETY: by contract.
        unsafe {
            construct(mapping_out, "mapping_out", error_buf, error_len, || {
                let base = cosell_mapping::try_ref(base).ok_or_else(|| null("base"))?;
                let overrides = required_bytes_arg(overrides, len, "overrides")?;
                base.override_with(overrides).map_err(|e| core(e.into()))
            })
        }
    })
}

/// The resolved mapping as JSON (every field with its rule, no `extends`): what a user could write to get exactly
/// this mapping. On success writes a string to `*json_out` (free it with `cosell_string_free`).
///
/// # Safety
/// `mapping` is a live mapping; `json_out` points to writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_mapping_to_json(
    mapping: *const cosell_mapping,
    json_out: *mut *mut c_char,
) -> cosell_status {
    boundary(|| {
        let mapping = try_ref!(cosell_mapping, mapping);
        check_out!(json_out);
        let out = into_c(mapping.to_json());
        if out.is_null() {
            return cosell_status::Panic;
        }
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { *json_out = out };
        cosell_status::Ok
    })
}

/// The CRM the mapping is for: `"salesforce"` or `"dynamics365"` (static text; do not free). NULL when `mapping`
/// is NULL.
///
/// # Safety
/// `mapping` is NULL or a live mapping.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_mapping_crm(mapping: *const cosell_mapping) -> *const c_char {
    boundary(|| {
        // SAFETY: by contract.
        match unsafe { cosell_mapping::try_ref(mapping) } {
            Some(m) => match m.crm() {
                cosell_core::model::CrmSystem::Salesforce => c"salesforce".as_ptr(),
                cosell_core::model::CrmSystem::Dynamics365 => c"dynamics365".as_ptr(),
            },
            None => std::ptr::null(),
        }
    })
}

/// The names of the built-in profiles as a JSON array (`["dynamics365","salesforce"]`). On success writes a string
/// to `*json_out` (free it with `cosell_string_free`).
///
/// # Safety
/// `json_out` points to writable storage for a pointer.
#[must_use = "a cosell_status says whether the call failed"]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_mapping_builtin_names(json_out: *mut *mut c_char) -> cosell_status {
    boundary(|| {
        check_out!(json_out);
        let names = serde_json::to_string(&Mapping::builtin_names()).unwrap_or_default();
        // SAFETY: checked non-NULL; writable by contract.
        unsafe { *json_out = into_c(names) };
        cosell_status::Ok
    })
}

/// Frees a mapping. NULL is a no-op. Engines opened with it keep their own copy.
///
/// # Safety
/// `mapping` is NULL or a live mapping, not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_mapping_free(mapping: *mut cosell_mapping) {
    // SAFETY: by contract.
    boundary(|| unsafe { cosell_mapping::free(mapping) });
}
