//! How a failed call is described: its status and a message that names the argument or the record and what was
//! expected. Engine calls keep the message as the engine's last error; constructors write it into the caller's
//! error buffer.

use std::ffi::c_char;

use crate::cosell_status;
use crate::handle::Handle;
use crate::text;

/// A failed call: its status and message.
pub(crate) type Failure = (cosell_status, String);

/// A core error as a failure (by value, to serve as `map_err(core)`).
#[allow(clippy::needless_pass_by_value)]
pub(crate) fn core(e: cosell_core::Error) -> Failure {
    (cosell_status::of(&e), e.to_string())
}

/// A failure of the C layer itself (a NULL, invalid UTF-8, a malformed argument), naming the argument.
pub(crate) fn arg(status: cosell_status, what: &str) -> Failure {
    (
        status,
        format!("{what}: {}", status.text().trim_end_matches('\0')),
    )
}

/// `COSELL_STATUS_NULL_ARGUMENT` for the required argument `name`.
pub(crate) fn null(name: &str) -> Failure {
    (cosell_status::NullArgument, format!("{name} is NULL"))
}

/// [`null`] when `ptr` is NULL.
pub(crate) fn need<T>(ptr: *const T, name: &str) -> Result<(), Failure> {
    if ptr.is_null() {
        Err(null(name))
    } else {
        Ok(())
    }
}

/// Reads an optional pointer + length text argument (`None` for NULL).
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    // SAFETY: forwarded contract.
    unsafe { text::opt_bytes_str(ptr, len) }.map_err(|s| arg(s, what))
}

/// Reads a required pointer + length text argument.
///
/// # Safety
/// As [`bytes_arg`].
pub(crate) unsafe fn required_bytes_arg<'a>(
    ptr: *const c_char,
    len: usize,
    what: &str,
) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    unsafe { bytes_arg(ptr, len, what) }?.ok_or_else(|| null(what))
}

/// Reads an optional NUL-terminated text argument (`None` for NULL).
///
/// # Safety
/// `ptr` is NULL or NUL-terminated.
pub(crate) unsafe fn c_str_arg<'a>(
    ptr: *const c_char,
    what: &str,
) -> Result<Option<&'a str>, Failure> {
    // SAFETY: forwarded contract.
    unsafe { text::opt_c_str(ptr) }.map_err(|s| arg(s, what))
}

/// Reads a required NUL-terminated text argument.
///
/// # Safety
/// As [`c_str_arg`].
pub(crate) unsafe fn required_c_str_arg<'a>(
    ptr: *const c_char,
    what: &str,
) -> Result<&'a str, Failure> {
    // SAFETY: forwarded contract.
    unsafe { c_str_arg(ptr, what) }?.ok_or_else(|| null(what))
}

/// The end of a constructor (`cosell_mapping_*`, `cosell_engine_open`, `cosell_plan_from_json`): checks the
/// out-param, runs `make`, and gives the new value to C through `out`, or writes the failure's message into the
/// caller's error buffer (nothing is written to `out` then).
///
/// # Safety
/// `out` is NULL or writable; `error_buf` is NULL or points to `error_len` writable bytes.
pub(crate) unsafe fn construct<H: Handle>(
    out: *mut *mut H,
    out_name: &str,
    error_buf: *mut c_char,
    error_len: usize,
    make: impl FnOnce() -> Result<H::Inner, Failure>,
) -> cosell_status {
    match need(out, out_name).and_then(|()| make()) {
        Ok(inner) => {
            // SAFETY: checked non-NULL; writable by contract.
            unsafe { *out = H::into_raw(inner) };
            cosell_status::Ok
        }
        Err((status, msg)) => {
            // SAFETY: by contract.
            unsafe { text::write_error(error_buf, error_len, &msg) };
            status
        }
    }
}
