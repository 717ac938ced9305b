//! The one panic boundary every export runs inside: a panic never unwinds into C. A function returning
//! `cosell_status` gives `COSELL_STATUS_PANIC`; one returning a pointer or a number gives its documented neutral
//! value.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// What an export returns when its body panicked.
pub(crate) trait PanicDefault {
    /// The neutral value.
    fn on_panic() -> Self;
}

impl PanicDefault for crate::cosell_status {
    fn on_panic() -> Self {
        crate::cosell_status::Panic
    }
}

impl<T> PanicDefault for *const T {
    fn on_panic() -> Self {
        std::ptr::null()
    }
}

impl<T> PanicDefault for *mut T {
    fn on_panic() -> Self {
        std::ptr::null_mut()
    }
}

impl PanicDefault for () {
    fn on_panic() -> Self {}
}

impl PanicDefault for bool {
    fn on_panic() -> Self {
        false
    }
}

impl PanicDefault for u32 {
    fn on_panic() -> Self {
        0
    }
}

/// Runs `body`, turning a panic into `R::on_panic()`.
pub(crate) fn boundary<R: PanicDefault>(body: impl FnOnce() -> R) -> R {
    catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| R::on_panic())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cosell_status;

    #[test]
    fn a_panic_becomes_the_neutral_value() {
        assert_eq!(
            boundary(|| -> cosell_status { panic!("a bug") }),
            cosell_status::Panic
        );
        assert!(boundary(|| -> *const u8 { panic!("a bug") }).is_null());
        assert!(!boundary(|| -> bool { panic!("a bug") }));
        assert_eq!(boundary(|| cosell_status::Ok), cosell_status::Ok);
    }
}
