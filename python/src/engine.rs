//! `cosell._native.Engine`: a mapping and a store, shared safely between Python threads.
//!
//! The core engine owns a `SQLite` connection and must not be used by two threads at once, so it sits behind a
//! mutex. Every call that does work releases the GIL first and only then takes the mutex: a thread never waits for
//! the engine while holding the GIL, so two Python threads cannot deadlock on the pair (GIL, engine).

use std::sync::Mutex;

use cosell_core::model::CrmEntity;
use cosell_core::store::{AuditQuery, LinkStatus, ReviewChoice, ReviewStatus};
use cosell_core::{CommitResults, Engine, Error, Mapping};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

use crate::convert::{json_text, opt_json_text, ser_to_py};
use crate::errors::{guard, raise, to_py_err};
use crate::mapping::PyMapping;
use crate::plan::PyPlan;

/// A mapping and a state store: plans pairs against their stored bases and commits what was applied.
///
/// Safe to share between threads: calls are serialized on the store's connection and release the GIL while they
/// work. `close()` (or leaving a `with` block) closes the store; later calls raise `InvalidStateError`.
#[pyclass(module = "cosell._native", name = "Engine", frozen)]
pub struct PyEngine {
    engine: Mutex<Option<Engine>>,
    path: String,
    mapping: Mapping,
}

/// What a call on the engine gave: its result, or the panic it raised, or "closed".
enum Outcome<T> {
    Done(Result<T, Error>),
    Closed,
}

impl PyEngine {
    /// Runs `f` on the engine with the GIL released, turning core errors and panics into exceptions.
    fn with<T: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Engine) -> Result<T, Error> + Send,
    ) -> PyResult<T> {
        let outcome = py.detach(|| {
            guard(|| {
                let mut slot = self
                    .engine
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                Ok(match slot.as_mut() {
                    Some(engine) => Outcome::Done(f(engine)),
                    None => Outcome::Closed,
                })
            })
        })?;
        match outcome {
            Outcome::Done(result) => result.map_err(|e| to_py_err(&e)),
            Outcome::Closed => Err(closed(py, &self.path)),
        }
    }
}

fn closed(py: Python<'_>, path: &str) -> PyErr {
    raise(
        py,
        "InvalidStateError",
        &format!("the engine of {path} is closed"),
        "store",
        "invalid_state",
    )
}

fn input_error(py: Python<'_>, message: String) -> PyErr {
    raise(py, "StoreInputError", &message, "store", "invalid_input")
}

/// One pair of a batch: `(referral, crm_record)`, each a dict, JSON text (`str` or `bytes`) or `None`.
fn pair_texts(item: &Bound<'_, PyAny>, index: usize) -> PyResult<(Option<String>, Option<String>)> {
    let len = item.len().ok();
    if len != Some(2) || item.cast::<PyString>().is_ok() {
        return Err(PyValueError::new_err(format!(
            "pairs[{index}]: expected a (referral, crm_record) pair"
        )));
    }
    let referral = item.get_item(0)?;
    let crm = item.get_item(1)?;
    Ok((
        opt_json_text(Some(&referral), &format!("pairs[{index}] referral"))?,
        opt_json_text(Some(&crm), &format!("pairs[{index}] CRM record"))?,
    ))
}

/// Commit results from `None`, a dict or JSON text.
fn results_of(
    py: Python<'_>,
    results: Option<&Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<CommitResults> {
    match opt_json_text(results, what)? {
        None => Ok(CommitResults::default()),
        Some(text) => serde_json::from_str(&text).map_err(|e| {
            raise(
                py,
                "ResultMismatchError",
                &format!(
                    "{what}: {e}; expected {{\"crm\": {{\"outcome\": \"applied\", \"id\": ..., \"version\": {{...}}}}, \
                     \"partner_center\": {{\"outcome\": \"failed\", \"kind\": ..., \"message\": ...}}, \"cause\": ...}}"
                ),
                "commit",
                "result_mismatch",
            )
        }),
    }
}

fn entity(py: Python<'_>, name: &str) -> PyResult<CrmEntity> {
    CrmEntity::parse(name).ok_or_else(|| {
        input_error(
            py,
            format!("crm_entity: {name:?} is not \"opportunity\" or \"lead\""),
        )
    })
}

#[pymethods]
impl PyEngine {
    /// Opens (or creates) the store at `path` (`":memory:"` for a throwaway one) with `mapping`.
    #[new]
    fn new(py: Python<'_>, path: std::path::PathBuf, mapping: PyMapping) -> PyResult<PyEngine> {
        let shown = path.display().to_string();
        let m = mapping.inner.clone();
        let opened = py.detach(|| guard(|| Ok(Engine::open(&shown, m))))?;
        let engine = opened.map_err(|e| to_py_err(&e))?;
        Ok(PyEngine {
            engine: Mutex::new(Some(engine)),
            path: path.display().to_string(),
            mapping: mapping.inner,
        })
    }

    /// The store's path.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// The mapping.
    #[getter]
    fn mapping(&self) -> PyMapping {
        PyMapping {
            inner: self.mapping.clone(),
        }
    }

    /// The CRM the mapping serves: `"salesforce"` or `"dynamics365"`.
    #[getter]
    fn crm(&self) -> &'static str {
        self.mapping.crm().as_str()
    }

    /// The store's schema version.
    #[getter]
    fn schema_version(&self, py: Python<'_>) -> PyResult<i64> {
        self.with(py, |e| Ok(e.store().schema_version()))
    }

    /// Stamps plans and audit rows with `at` (RFC 3339) from now on, or with the system clock again when `at` is
    /// `None`: for simulations, replays and tests.
    #[pyo3(signature = (at))]
    fn set_time(&self, py: Python<'_>, at: Option<&str>) -> PyResult<()> {
        let fixed = at
            .map(|text| {
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|e| {
                        input_error(py, format!("at: {text:?} is not an RFC 3339 time ({e})"))
                    })
            })
            .transpose()?;
        self.with(py, move |e| {
            match fixed {
                Some(t) => e.set_clock(Box::new(move || t)),
                None => e.set_clock(Box::new(time::OffsetDateTime::now_utc)),
            }
            Ok(())
        })
    }

    /// True once closed.
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        py.detach(|| {
            self.engine
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .is_none()
        })
    }

    /// Closes the store (an open transaction is rolled back). Closing twice is harmless.
    fn close(&self, py: Python<'_>) {
        let engine = py.detach(|| {
            self.engine
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take()
        });
        py.detach(move || drop(engine));
    }

    /// Plans one pair against its stored base. Each record is a dict, JSON text (`str` or `bytes`), or `None` when
    /// it does not exist (not created yet, or deleted).
    #[pyo3(signature = (referral, crm_record))]
    fn plan(
        &self,
        py: Python<'_>,
        referral: Option<&Bound<'_, PyAny>>,
        crm_record: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyPlan> {
        let referral = opt_json_text(referral, "referral")?;
        let crm = opt_json_text(crm_record, "crm_record")?;
        self.with(py, |e| e.plan_json(referral.as_deref(), crm.as_deref()))
            .map(PyPlan::new)
    }

    /// Plans many `(referral, crm_record)` pairs, `chunk_size` per store snapshot (500, the benchmark's `PLAN_BATCH`), with the GIL released while
    /// planning. Returns one item per pair, in order: a `Plan`, or the exception that pair raised (one bad pair
    /// does not stop the others). `progress(done, total)` is called after each chunk (`total` is `None` when
    /// `pairs` has no length).
    #[pyo3(signature = (pairs, chunk_size = 500, progress = None))]
    fn plan_many<'py>(
        &self,
        py: Python<'py>,
        pairs: &Bound<'py, PyAny>,
        chunk_size: usize,
        progress: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let chunk_size = chunk_size.max(1);
        let total = pairs.len().ok();
        let out = PyList::empty(py);
        let mut items = pairs.try_iter()?;
        let mut chunk: Vec<(Option<String>, Option<String>)> = Vec::with_capacity(chunk_size);
        let mut done = 0;
        loop {
            chunk.clear();
            for item in items.by_ref().take(chunk_size) {
                chunk.push(pair_texts(&item?, done + chunk.len())?);
            }
            if chunk.is_empty() {
                break;
            }
            let plans = self.with(py, |e| {
                e.plan_many(chunk.iter().map(|(r, c)| (r.as_deref(), c.as_deref())))
            })?;
            for plan in plans {
                match plan {
                    Ok(p) => out.append(Py::new(py, PyPlan::new(p))?)?,
                    Err(e) => out.append(to_py_err(&e).into_value(py))?,
                }
            }
            done += chunk.len();
            if let Some(callback) = progress {
                callback.call1((done, total))?;
            }
            py.check_signals()?;
        }
        Ok(out)
    }

    /// Records what was applied for `plan` (results: a dict or JSON text, see `cosell.Engine.commit`) and returns
    /// the commit report: `link_id`, `status`, `summary`, `audit_rows`.
    #[pyo3(signature = (plan, results = None))]
    fn commit<'py>(
        &self,
        py: Python<'py>,
        plan: PyPlan,
        results: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let results = results_of(py, results, "results")?;
        let report = self.with(py, |e| e.commit(&plan.inner, &results))?;
        ser_to_py(py, &report)
    }

    /// Commits many `(plan, results)` pairs in one transaction (all or nothing); returns one report per plan.
    fn commit_many<'py>(
        &self,
        py: Python<'py>,
        items: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut batch: Vec<(PyPlan, CommitResults)> = Vec::new();
        for (i, item) in items.try_iter()?.enumerate() {
            let item = item?;
            let (plan, results): (PyPlan, Option<Bound<'py, PyAny>>) =
                item.extract().map_err(|_| {
                    PyValueError::new_err(format!("items[{i}]: expected a (plan, results) pair"))
                })?;
            batch.push((
                plan,
                results_of(py, results.as_ref(), &format!("items[{i}] results"))?,
            ));
        }
        let reports = self.with(py, |e| {
            let pairs: Vec<_> = batch.iter().map(|(p, r)| (&*p.inner, r)).collect();
            e.commit_many(&pairs)
        })?;
        ser_to_py(py, &reports)
    }

    /// Records `plan` as a dry run in the audit (`dry_run = 1`, outcome `planned`); returns the rows written.
    #[pyo3(signature = (plan, cause = None))]
    fn record_dry_run(
        &self,
        py: Python<'_>,
        plan: PyPlan,
        cause: Option<String>,
    ) -> PyResult<usize> {
        self.with(py, |e| e.record_dry_run(&plan.inner, cause.as_deref()))
    }

    /// Opens a write transaction that lasts until `commit_transaction` or `rollback_transaction`.
    fn begin_transaction(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, Engine::begin_transaction)
    }

    /// Commits the open transaction.
    fn commit_transaction(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, Engine::commit_transaction)
    }

    /// Rolls the open transaction back.
    fn rollback_transaction(&self, py: Python<'_>) -> PyResult<()> {
        self.with(py, Engine::rollback_transaction)
    }

    /// True while a transaction is open.
    #[getter]
    fn in_transaction(&self, py: Python<'_>) -> PyResult<bool> {
        self.with(py, |e| Ok(e.store().in_transaction()))
    }

    /// Audit entries matching `query` (a dict or JSON text with `referral_id`, `link_id`, `since`, `until`,
    /// `limit`), oldest first, each with its field `changes`.
    #[pyo3(signature = (query = None))]
    fn audit<'py>(
        &self,
        py: Python<'py>,
        query: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let query: AuditQuery = match opt_json_text(query, "query")? {
            None => AuditQuery::default(),
            Some(text) => serde_json::from_str(&text).map_err(|e| {
                input_error(
                    py,
                    format!(
                        "audit query: {e}; the keys are referral_id, link_id, since, until and limit"
                    ),
                )
            })?,
        };
        let rows = self.with(py, |e| e.audit(&query))?;
        ser_to_py(py, &rows)
    }

    /// The review queue: conflicts held for a person, optionally one status (`open`, `resolved`, `dismissed`,
    /// `applied`) and one referral.
    #[pyo3(signature = (status = None, referral_id = None))]
    fn reviews<'py>(
        &self,
        py: Python<'py>,
        status: Option<&str>,
        referral_id: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let status = status
            .map(|s| {
                ReviewStatus::parse(s).ok_or_else(|| {
                    input_error(
                        py,
                        format!("status: {s:?} is not open, resolved, dismissed or applied"),
                    )
                })
            })
            .transpose()?;
        let reviews = self.with(py, |e| e.reviews(status, referral_id.as_deref()))?;
        ser_to_py(py, &reviews)
    }

    /// Resolves a queued conflict: `choice` is `"partner_center"`, `"crm"` or `{"value": ...}`. The next plan of
    /// the pair writes it. Returns the review.
    #[pyo3(signature = (review_id, choice, note = None))]
    fn resolve_review<'py>(
        &self,
        py: Python<'py>,
        review_id: i64,
        choice: &Bound<'py, PyAny>,
        note: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let text = match choice.cast::<PyString>() {
            Ok(s) => serde_json::Value::String(s.to_str()?.to_owned()).to_string(),
            Err(_) => json_text(choice, "choice")?,
        };
        let choice: ReviewChoice = serde_json::from_str(&text).map_err(|_| {
            input_error(
                py,
                format!(
                    "choice: expected \"partner_center\", \"crm\" or {{\"value\": ...}}, got {text}"
                ),
            )
        })?;
        let review = self.with(py, |e| e.resolve_review(review_id, choice, note.as_deref()))?;
        ser_to_py(py, &review)
    }

    /// Dismisses a queued conflict: the field stays as it is on both sides. Returns the review.
    #[pyo3(signature = (review_id, note = None))]
    fn dismiss_review<'py>(
        &self,
        py: Python<'py>,
        review_id: i64,
        note: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let review = self.with(py, |e| e.dismiss_review(review_id, note.as_deref()))?;
        ser_to_py(py, &review)
    }

    /// The link with this id, or `None`.
    fn link<'py>(&self, py: Python<'py>, link_id: i64) -> PyResult<Bound<'py, PyAny>> {
        let link = self.with(py, |e| Ok(e.store().link(link_id)?))?;
        ser_to_py(py, &link)
    }

    /// The link of a referral, or `None`.
    fn link_by_referral<'py>(
        &self,
        py: Python<'py>,
        referral_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let link = self.with(py, |e| Ok(e.store().link_by_referral(&referral_id)?))?;
        ser_to_py(py, &link)
    }

    /// The link of a CRM record (`crm_entity` is `"opportunity"` or `"lead"`), or `None`.
    fn link_by_crm<'py>(
        &self,
        py: Python<'py>,
        crm_entity: &str,
        crm_id: String,
    ) -> PyResult<Bound<'py, PyAny>> {
        let entity = entity(py, crm_entity)?;
        let link = self.with(py, |e| Ok(e.store().link_by_crm(entity, &crm_id)?))?;
        ser_to_py(py, &link)
    }

    /// Up to `limit` links with an id above `after_id`, by id, optionally one status (`synced`, `pending`,
    /// `error`, `conflict`, `orphaned`). Page by passing the last id as the next `after_id`.
    #[pyo3(signature = (status = None, limit = 100, after_id = 0))]
    fn links<'py>(
        &self,
        py: Python<'py>,
        status: Option<&str>,
        limit: usize,
        after_id: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let status = status
            .map(|s| {
                LinkStatus::parse(s).ok_or_else(|| {
                    input_error(
                        py,
                        format!(
                            "status: {s:?} is not synced, pending, error, conflict or orphaned"
                        ),
                    )
                })
            })
            .transpose()?;
        let links = self.with(py, |e| Ok(e.store().links(status, limit, after_id)?))?;
        ser_to_py(py, &links)
    }

    /// The number of links in each status (every status, zeros included).
    fn link_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let counts = self.with(py, |e| Ok(e.store().count_links_by_status()?))?;
        let out = PyDict::new(py);
        for (status, n) in counts {
            out.set_item(status.as_str(), n)?;
        }
        Ok(out)
    }

    fn __repr__(&self) -> String {
        format!(
            "Engine(path={:?}, crm={:?})",
            self.path,
            self.mapping.crm().as_str()
        )
    }
}
