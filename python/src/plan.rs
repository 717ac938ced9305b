//! `cosell._native.Plan`: the decision for one pair, as a read-only object (the dry-run).

use std::sync::Arc;

use cosell_core::Plan;
use cosell_core::plan::Side;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::convert::{ser_to_py, to_py};

/// The plan for one pair: what to write on each side and why. Printing it gives the readable dry-run (actions,
/// each field's before and after, reasons); `to_dict()` gives all of it as data. Plans are immutable and cheap to
/// pass around (the data is shared).
#[pyclass(module = "cosell._native", name = "Plan", frozen)]
#[derive(Clone)]
pub struct PyPlan {
    pub(crate) inner: Arc<Plan>,
}

impl PyPlan {
    pub(crate) fn new(plan: Plan) -> PyPlan {
        PyPlan {
            inner: Arc::new(plan),
        }
    }
}

#[pymethods]
impl PyPlan {
    /// A deterministic id: 16 hex digits hashed from the pair, both versions and the planning time.
    #[getter]
    fn id(&self) -> &str {
        &self.inner.id
    }

    /// When it was planned (RFC 3339 UTC).
    #[getter]
    fn planned_at(&self) -> &str {
        &self.inner.planned_at
    }

    /// The overall shape: `nothing`, `link`, `converged`, `update_crm`, `update_partner_center`, `update_both`,
    /// `conflict`, `create_crm`, `create_referral`, `convert_lead`, `orphan` or `refused`.
    #[getter]
    fn summary(&self) -> &'static str {
        self.inner.summary.as_str()
    }

    /// The CRM: `salesforce` or `dynamics365`.
    #[getter]
    fn crm(&self) -> &'static str {
        self.inner.crm.as_str()
    }

    /// The referral id (`None` when the referral does not exist yet).
    #[getter]
    fn referral_id(&self) -> Option<&str> {
        self.inner.referral_id.as_deref()
    }

    /// The CRM entity: `opportunity` or `lead`.
    #[getter]
    fn crm_entity(&self) -> &'static str {
        self.inner.crm_entity.as_str()
    }

    /// The CRM record id (for a create, the id it will have when the CRM takes client-chosen ids).
    #[getter]
    fn crm_id(&self) -> Option<&str> {
        self.inner.crm_id.as_deref()
    }

    /// The stored link the plan was made against (`None` for a first sync).
    #[getter]
    fn link_id(&self) -> Option<i64> {
        self.inner.link_id
    }

    /// True when the plan writes nothing and changes nothing in the store.
    #[getter]
    fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// True when the plan writes to the CRM (its commit then needs a CRM result).
    #[getter]
    fn writes_crm(&self) -> bool {
        self.inner.writes(Side::Crm)
    }

    /// True when the plan writes to Partner Center (its commit then needs a Partner Center result).
    #[getter]
    fn writes_partner_center(&self) -> bool {
        self.inner.writes(Side::PartnerCenter)
    }

    /// The CRM write (`{"fields": {...}, "lookups": [...], "state_change": ...}`), or `None`.
    #[getter]
    fn crm_patch<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner.crm_patch().map(|w| ser_to_py(py, w)).transpose()
    }

    /// The Partner Center JSON Patch operations (`[{"op": "replace", "path": ..., "value": ...}]`), or `None`.
    #[getter]
    fn partner_center_patch<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.inner
            .partner_center_patch()
            .map(|ops| ser_to_py(py, &ops))
            .transpose()
    }

    /// The conflicts: field, base, both values, the policy and the winner (`None` when queued for review).
    #[getter]
    fn conflicts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner.conflicts)
    }

    /// The actions, in order, each a dict with its `action` name.
    #[getter]
    fn actions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner.actions)
    }

    /// The fields that changed on either side or were held back: before/after and the reason.
    #[getter]
    fn fields<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner.fields)
    }

    /// The rules that refused (part of) the sync: `code`, `field`, `message`.
    #[getter]
    fn refusals<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        ser_to_py(py, &self.inner.refusals)
    }

    /// The whole plan as a dict (the same shape as `to_json`).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        to_py(py, &self.inner.to_json())
    }

    /// The whole plan as JSON text; `Plan.from_json` reads it back (to commit later, or in another process).
    fn to_json(&self) -> PyResult<String> {
        serde_json::to_string(&*self.inner).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// A plan from the JSON text of `to_json`.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<PyPlan> {
        serde_json::from_str::<Plan>(text)
            .map(PyPlan::new)
            .map_err(|e| PyValueError::new_err(format!("plan JSON: {e}")))
    }

    fn __str__(&self) -> String {
        self.inner.to_string()
    }

    fn __repr__(&self) -> String {
        let py_str = |s: Option<&str>| s.map_or_else(|| "None".to_owned(), |s| format!("{s:?}"));
        format!(
            "Plan(id={:?}, summary={:?}, referral_id={}, crm_id={})",
            self.inner.id,
            self.inner.summary.as_str(),
            py_str(self.inner.referral_id.as_deref()),
            py_str(self.inner.crm_id.as_deref())
        )
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyPlan>()
            .is_ok_and(|o| *o.get().inner == *self.inner)
    }

    fn __hash__(&self) -> u64 {
        // Plans are immutable; equal plans have equal ids.
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.inner.id.hash(&mut h);
        h.finish()
    }
}
