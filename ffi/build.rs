//! Link settings of the shared library: a versioned SONAME (`libcosell.so.<major>`), so that hosts bind to an ABI
//! generation and not to a file name.

fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".to_owned());
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libcosell.so.{major}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
