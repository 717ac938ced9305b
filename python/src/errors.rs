//! Core errors as the exception classes of `cosell.errors`, and the panic guard.
//!
//! The classes are defined in Python (`py_src/cosell/errors.py`) because some of them also derive from a built-in
//! (`RecordError` is a `ValueError`, `NotFoundError` a `LookupError`), which an extension class cannot. Each
//! exception carries `kind` (`mapping`, `record`, `store`, `commit`) and `detail` (the finer stable name:
//! `invalid_field`, `stale_plan`, `newer_schema`, ...).

use std::panic::{AssertUnwindSafe, catch_unwind};

use cosell_core::Error;
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

/// The `cosell.errors` class for a core error.
fn class_name(e: &Error) -> &'static str {
    match (e.kind().as_str(), e.detail_kind()) {
        ("mapping", _) => "MappingError",
        ("record", _) => "RecordError",
        ("commit", "stale_plan") => "StalePlanError",
        ("commit", "result_mismatch") => "ResultMismatchError",
        ("commit", _) => "CommitError",
        ("store", "not_found") => "NotFoundError",
        ("store", "invalid_input") => "StoreInputError",
        ("store", "invalid_state") => "InvalidStateError",
        ("store", "busy") => "BusyError",
        ("store", _) => "StoreError",
        _ => "CosellError",
    }
}

/// The Python exception for a core error.
pub(crate) fn to_py_err(e: &Error) -> PyErr {
    Python::attach(|py| {
        raise(
            py,
            class_name(e),
            &e.to_string(),
            e.kind().as_str(),
            e.detail_kind(),
        )
    })
}

/// An instance of `cosell.errors.<class>(message, kind, detail)` as a `PyErr`.
pub(crate) fn raise(py: Python<'_>, class: &str, message: &str, kind: &str, detail: &str) -> PyErr {
    let made = py
        .import("cosell.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((message, kind, detail)));
    match made {
        Ok(instance) => PyErr::from_value(instance),
        // The package is broken (its errors module cannot be imported): say so rather than lose the message.
        Err(import) => {
            PyRuntimeError::new_err(format!("{message} (and cosell.errors failed: {import})"))
        }
    }
}

/// A core call's result, with its error as the matching exception.
pub(crate) fn core<T>(result: Result<T, Error>) -> PyResult<T> {
    result.map_err(|e| to_py_err(&e))
}

/// Runs `f`, turning a panic into `cosell.errors.CosellError` (kind `internal`) instead of pyo3's
/// `PanicException`, which derives from `BaseException` and escapes `except Exception`.
pub(crate) fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(Python::attach(|py| {
                raise(
                    py,
                    "CosellError",
                    &format!("internal error in cosell (please report it): {what}"),
                    "internal",
                    "panic",
                )
            }))
        }
    }
}
