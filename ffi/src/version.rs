//! The library's version at run time; the header's `COSELL_VERSION_*` macros give it at compile time (both come
//! from the crate version in `Cargo.toml`; `scripts/gen-header.sh` writes the macros).

use std::ffi::c_char;

/// `major.minor.patch` of the library, NUL-terminated.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library's version as text, `"major.minor.patch"` (static; do not free). Compare with `COSELL_VERSION` to
/// check that the header and the library match.
#[unsafe(no_mangle)]
pub extern "C" fn cosell_version() -> *const c_char {
    crate::panic::boundary(|| VERSION.as_ptr().cast())
}

/// The library's version as one number, `major * 1000000 + minor * 1000 + patch`, comparable with the header's
/// `COSELL_VERSION_NUMBER`.
#[unsafe(no_mangle)]
pub extern "C" fn cosell_version_number() -> u32 {
    crate::panic::boundary(|| {
        let part = |s: &str| s.parse::<u32>().unwrap_or(0);
        part(env!("CARGO_PKG_VERSION_MAJOR")) * 1_000_000
            + part(env!("CARGO_PKG_VERSION_MINOR")) * 1000
            + part(env!("CARGO_PKG_VERSION_PATCH"))
    })
}
