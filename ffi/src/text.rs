//! Text across the boundary: inputs are NUL-terminated UTF-8 (`const char *`) or pointer + length; outputs the
//! library allocates are `char *` freed with `cosell_string_free` (never `free()`); error messages of calls
//! without an engine go into a caller's buffer.

use std::ffi::{CStr, CString, c_char};

use crate::cosell_status;

/// Reads an optional NUL-terminated UTF-8 argument: `None` for NULL.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid for `'a`.
pub(crate) unsafe fn opt_c_str<'a>(ptr: *const c_char) -> Result<Option<&'a str>, cosell_status> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: non-NULL and NUL-terminated by the caller's contract.
    let bytes = unsafe { CStr::from_ptr(ptr) }.to_bytes();
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|_| cosell_status::InvalidUtf8)
}

/// Reads an optional pointer + length UTF-8 argument: `None` for a NULL pointer (whatever the length).
///
/// # Safety
/// `ptr` is NULL or points to `len` readable bytes that stay valid for `'a`.
pub(crate) unsafe fn opt_bytes_str<'a>(
    ptr: *const c_char,
    len: usize,
) -> Result<Option<&'a str>, cosell_status> {
    if ptr.is_null() {
        return Ok(None);
    }
    if len > isize::MAX as usize {
        return Err(cosell_status::InvalidArgument);
    }
    // SAFETY: non-NULL, `len` readable bytes by the caller's contract, and `len` fits `isize`.
    let bytes = unsafe { std::slice::from_raw_parts(ptr.cast::<u8>(), len) };
    std::str::from_utf8(bytes)
        .map(Some)
        .map_err(|_| cosell_status::InvalidUtf8)
}

/// Gives `text` to C as a NUL-terminated string freed with `cosell_string_free`. A NUL inside (only possible in
/// text quoted from a record) becomes U+FFFD, so the string is never cut short.
pub(crate) fn into_c(text: String) -> *mut c_char {
    let text = if text.contains('\0') {
        text.replace('\0', "\u{FFFD}")
    } else {
        text
    };
    CString::new(text).map_or(std::ptr::null_mut(), CString::into_raw)
}

/// A message as a `CString` (NULs replaced as in [`into_c`]).
pub(crate) fn message(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

/// Writes `msg` into the caller's buffer `buf` of `cap` bytes, NUL-terminated and cut at a character boundary when
/// it does not fit. Nothing is written when `buf` is NULL or `cap` is 0.
///
/// # Safety
/// `buf` is NULL or points to `cap` writable bytes.
pub(crate) unsafe fn write_error(buf: *mut c_char, cap: usize, msg: &str) {
    if buf.is_null() || cap == 0 {
        return;
    }
    let mut n = msg.len().min(cap - 1);
    while !msg.is_char_boundary(n) {
        n -= 1;
    }
    let bytes = &msg.as_bytes()[..n];
    // SAFETY: `buf` has `cap > n` writable bytes by the caller's contract; the source is a distinct Rust string.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n);
        *buf.add(n) = 0;
    }
}

/// Frees a string the library returned. NULL is a no-op. Never pass these strings to `free()`, and never pass
/// anything else here.
///
/// # Safety
/// `text` is NULL or a string returned by this library and not freed yet; it is not used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cosell_string_free(text: *mut c_char) {
    crate::panic::boundary(|| {
        if !text.is_null() {
            // SAFETY: by contract `text` came from `CString::into_raw` in `into_c` and is not reused.
            drop(unsafe { CString::from_raw(text) });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_cut_at_a_character_boundary() {
        let mut buf = [1 as c_char; 6];
        // SAFETY: `buf` has 6 writable bytes.
        unsafe { write_error(buf.as_mut_ptr(), buf.len(), "héllo wörld") };
        // SAFETY: `write_error` NUL-terminated it.
        let text = unsafe { CStr::from_ptr(buf.as_ptr()) };
        assert_eq!(text.to_str(), Ok("héll"));
    }

    #[test]
    fn nuls_never_cut_output_short() {
        let ptr = into_c("a\0b".to_owned());
        // SAFETY: `into_c` returned a NUL-terminated string.
        let text = unsafe { CStr::from_ptr(ptr) }.to_str().map(str::to_owned);
        // SAFETY: returned by `into_c`, freed once.
        unsafe { cosell_string_free(ptr) };
        assert_eq!(text.as_deref(), Ok("a\u{FFFD}b"));
    }
}
