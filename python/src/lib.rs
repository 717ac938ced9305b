//! # cosell-python
//!
//! The private extension module `cosell._native` behind the `cosell` Python package (`py_src/cosell`): a thin
//! facade over `cosell-core`. Records, results and filters arrive as dicts or JSON text and leave as dicts; core
//! errors become the exception classes of `cosell.errors`; every call that does work releases the GIL.
//!
//! * `convert.rs`: Python objects to JSON text, core JSON values to Python objects.
//! * `errors.rs`: core errors to exceptions, and the panic guard.
//! * `mapping.rs`, `plan.rs`, `engine.rs`: one Python class each.

// pyo3 extracts arguments as owned values (`PyPlan`, `String`, `PathBuf`); borrowing them would mean `PyRef`s
// and `&str`s that must not cross `Python::detach`.
#![allow(clippy::needless_pass_by_value)]

use pyo3::prelude::*;

mod convert;
mod engine;
mod errors;
mod mapping;
mod plan;

/// The native half of the `cosell` package. Use `cosell`, not this module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<mapping::PyMapping>()?;
    m.add_class::<plan::PyPlan>()?;
    m.add_class::<engine::PyEngine>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("SCHEMA_VERSION", cosell_core::store::SCHEMA_VERSION)?;
    Ok(())
}
