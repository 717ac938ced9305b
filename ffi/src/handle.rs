//! Opaque handles: each C type (`cosell_engine`, `cosell_mapping`, `cosell_plan`) is a zero-sized `#[repr(C)]`
//! struct that C only ever sees behind a pointer; the pointer is really a `Box` of the Rust value behind it.
//! [`Handle`] is the one place that casts between the two, and `NULL` is checked on every way in.

/// A C type backed by a boxed Rust value.
pub(crate) trait Handle: Sized {
    /// The Rust value behind the handle.
    type Inner;

    /// Gives ownership of `inner` to C.
    fn into_raw(inner: Self::Inner) -> *mut Self {
        Box::into_raw(Box::new(inner)).cast()
    }

    /// Borrows the value behind `ptr`; `None` for NULL.
    ///
    /// # Safety
    /// `ptr` is NULL or was returned by [`Handle::into_raw`] for this type and not freed, and no `&mut` borrow
    /// of it is alive.
    unsafe fn try_ref<'a>(ptr: *const Self) -> Option<&'a Self::Inner> {
        // SAFETY: the caller guarantees that a non-NULL `ptr` came from `into_raw` of this type.
        unsafe { ptr.cast::<Self::Inner>().as_ref() }
    }

    /// Mutably borrows the value behind `ptr`; `None` for NULL.
    ///
    /// # Safety
    /// As [`Handle::try_ref`], and no other borrow of it is alive (one thread at a time).
    unsafe fn try_mut<'a>(ptr: *mut Self) -> Option<&'a mut Self::Inner> {
        // SAFETY: the caller guarantees that a non-NULL `ptr` came from `into_raw` of this type.
        unsafe { ptr.cast::<Self::Inner>().as_mut() }
    }

    /// Takes the value back and drops it; NULL is a no-op.
    ///
    /// # Safety
    /// `ptr` is NULL or was returned by [`Handle::into_raw`] for this type and is not used afterwards.
    unsafe fn free(ptr: *mut Self) {
        if !ptr.is_null() {
            // SAFETY: the caller guarantees `ptr` came from `into_raw` (a `Box` of `Inner`) and is not reused.
            drop(unsafe { Box::from_raw(ptr.cast::<Self::Inner>()) });
        }
    }
}

/// Borrows a handle or returns `COSELL_STATUS_NULL_ARGUMENT` from the enclosing function.
macro_rules! try_ref {
    ($ty:ty, $ptr:expr) => {
        // SAFETY: the export's contract (its `# Safety` section) makes `$ptr` NULL or a live handle of `$ty`.
        match unsafe { <$ty as $crate::handle::Handle>::try_ref($ptr) } {
            Some(inner) => inner,
            None => return $crate::cosell_status::NullArgument,
        }
    };
}

/// Mutably borrows a handle or returns `COSELL_STATUS_NULL_ARGUMENT` from the enclosing function.
macro_rules! try_mut {
    ($ty:ty, $ptr:expr) => {
        // SAFETY: the export's contract (its `# Safety` section) makes `$ptr` NULL or a live handle of `$ty` that no
        // other thread uses.
        match unsafe { <$ty as $crate::handle::Handle>::try_mut($ptr) } {
            Some(inner) => inner,
            None => return $crate::cosell_status::NullArgument,
        }
    };
}

/// Returns `COSELL_STATUS_NULL_ARGUMENT` from the enclosing function when an out-param pointer is NULL.
macro_rules! check_out {
    ($($ptr:expr),+) => {
        $(if $ptr.is_null() {
            return $crate::cosell_status::NullArgument;
        })+
    };
}

pub(crate) use {check_out, try_mut, try_ref};
