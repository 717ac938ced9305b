//! `cosell._native.Mapping`: a compiled, immutable field mapping.

use cosell_core::Mapping;
use cosell_core::model::CrmEntity;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{json_text, to_py};
use crate::errors::{core, guard, raise};

/// A field mapping: which canonical fields sync, between which Partner Center JSON pointers and CRM fields, with
/// which types, transforms, directions and conflict policies. Immutable; `override` returns a new mapping.
#[pyclass(module = "cosell._native", name = "Mapping", frozen)]
#[derive(Clone)]
pub struct PyMapping {
    pub(crate) inner: Mapping,
}

fn wrap(result: Result<Mapping, cosell_core::mapping::MappingError>) -> PyResult<PyMapping> {
    core(result.map_err(cosell_core::Error::from)).map(|inner| PyMapping { inner })
}

#[pymethods]
impl PyMapping {
    /// A built-in profile, `"salesforce"` or `"dynamics365"`: the incumbent connector's mapping.
    #[staticmethod]
    fn builtin(py: Python<'_>, name: &str) -> PyResult<PyMapping> {
        py.detach(|| guard(|| wrap(Mapping::builtin(name))))
    }

    /// The names of the built-in profiles.
    #[staticmethod]
    fn builtin_names() -> Vec<&'static str> {
        Mapping::builtin_names()
    }

    /// Reads a mapping file: `.toml` files are TOML, everything else JSON.
    #[staticmethod]
    fn from_file(py: Python<'_>, path: std::path::PathBuf) -> PyResult<PyMapping> {
        py.detach(|| guard(|| wrap(Mapping::from_file(&path))))
    }

    /// Parses a mapping from JSON text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<PyMapping> {
        let text = text.to_owned();
        py.detach(|| guard(|| wrap(Mapping::from_json_str(&text))))
    }

    /// Parses a mapping from TOML text.
    #[staticmethod]
    fn from_toml(py: Python<'_>, text: &str) -> PyResult<PyMapping> {
        let text = text.to_owned();
        py.detach(|| guard(|| wrap(Mapping::from_toml_str(&text))))
    }

    /// A mapping from a dict shaped like a mapping file (`{"extends": "salesforce", "fields": {...}}`).
    #[staticmethod]
    fn from_dict(py: Python<'_>, spec: &Bound<'_, PyAny>) -> PyResult<PyMapping> {
        let text = json_text(spec, "mapping")?;
        py.detach(|| guard(|| wrap(Mapping::from_json_str(&text))))
    }

    /// A new mapping with `overrides` laid over this one and validated: a partial mapping's `fields` (a dict, or
    /// JSON text), e.g. `{"deal_value": {"crm": "Expected_Revenue__c"}}` or `{"fields": {...}}`.
    #[pyo3(name = "override")]
    fn override_with(&self, py: Python<'_>, overrides: &Bound<'_, PyAny>) -> PyResult<PyMapping> {
        let text = json_text(overrides, "overrides")?;
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            raise(
                py,
                "MappingError",
                &format!("mapping <override>: not JSON: {e}"),
                "mapping",
                "parse",
            )
        })?;
        // A bare field table is the common case; a partial mapping file (with "fields") works too.
        let text = match &value {
            serde_json::Value::Object(map) if !map.contains_key("fields") => {
                serde_json::json!({ "fields": value }).to_string()
            }
            _ => text,
        };
        let base = self.inner.clone();
        py.detach(|| guard(|| wrap(base.override_with(&text))))
    }

    /// The CRM this mapping serves: `"salesforce"` or `"dynamics365"`.
    #[getter]
    fn crm(&self) -> &'static str {
        self.inner.crm().as_str()
    }

    /// The canonical field names of one entity (`"opportunity"` or `"lead"`), in mapping order.
    #[pyo3(signature = (entity = "opportunity"))]
    fn field_names(&self, entity: &str) -> PyResult<Vec<String>> {
        let entity = CrmEntity::parse(entity).ok_or_else(|| {
            PyValueError::new_err(format!(
                "entity: {entity:?} is not \"opportunity\" or \"lead\""
            ))
        })?;
        Ok(self
            .inner
            .fields(entity)
            .iter()
            .map(|f| f.name().to_owned())
            .collect())
    }

    /// The resolved mapping (no `extends`) as a dict shaped like a mapping file.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let value: serde_json::Value = serde_json::from_str(&self.inner.to_json())
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        to_py(py, &value)
    }

    /// The resolved mapping as pretty JSON text.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    fn __repr__(&self) -> String {
        let fields = self.inner.fields(CrmEntity::Opportunity).len();
        format!(
            "Mapping(crm={:?}, fields={fields})",
            self.inner.crm().as_str()
        )
    }
}
