//! `kvit.GCVersioned`: a `Versioned` whose user values stay within a size
//! bound, over the core's [`kvit::GcVersioned`].
//!
//! It is a subclass of `kvit.Versioned` sharing its handle: every
//! `Versioned` method works on it, and reads and commits go through the
//! size-bounded cursor (which counts accesses and rebases after commits).

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PyFrozenSet, PyType};

use kvit::{Engine, GcOptions, RebaseResult};

use crate::convert;
use crate::error::{to_py_err, type_error};
use crate::versioned::{open_cursor, PyVersioned};

static REBASE_RESULT_CLASS: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// A cursor that rebases its branch onto a fresh root commit, dropping the
/// coldest keys, whenever a commit takes its user values above high water.
#[pyclass(module = "kvit", name = "GCVersioned", extends = PyVersioned, frozen, subclass)]
pub(crate) struct PyGcVersioned;

/// A core rebase result as a `kvit.RebaseResult`.
fn rebase_result<'py>(py: Python<'py>, result: &RebaseResult) -> PyResult<Bound<'py, PyAny>> {
    let class = REBASE_RESULT_CLASS.import(py, "kvit.results", "RebaseResult")?;
    class.call1((
        result.performed,
        result.new_commit.map(|id| id.to_hex()),
        PyFrozenSet::new(py, &result.dropped_keys)?,
        PyFrozenSet::new(py, &result.kept_keys)?,
        result.total_size_before,
        result.total_size_after,
        result.orphans_cleaned,
    ))
}

#[pymethods]
impl PyGcVersioned {
    /// Opens a size-bounded cursor on `branch` of `store` (see
    /// `kvit.Versioned`); low water defaults to 80% of high water, also when
    /// given as 0 or less or above high water.
    #[new]
    #[pyo3(signature = (
        store=None,
        *,
        commit_hash=None,
        branch="main",
        high_water_bytes,
        low_water_bytes=None,
    ))]
    fn new(
        py: Python<'_>,
        store: Option<&Bound<'_, PyAny>>,
        commit_hash: Option<&str>,
        branch: &str,
        high_water_bytes: i64,
        low_water_bytes: Option<i64>,
    ) -> PyResult<PyClassInitializer<Self>> {
        // Refused before the branch is created for it.
        if high_water_bytes <= 0 {
            return Err(PyValueError::new_err(format!(
                "high_water_bytes must be positive, not {high_water_bytes}"
            )));
        }
        let (cursor, store) = open_cursor(py, store, commit_hash, branch)?;
        let mut options = GcOptions::new(high_water_bytes);
        if let Some(low) = low_water_bytes {
            options = options.low_water_bytes(low);
        }
        let gc = options.wrap(cursor).map_err(|err| to_py_err(py, err))?;
        Ok(
            PyClassInitializer::from(PyVersioned::wrap(Engine::Gc(gc), store))
                .add_subclass(PyGcVersioned),
        )
    }

    /// The user-value total (bytes) above which a commit rebases.
    #[getter]
    fn high_water(slf: &Bound<'_, Self>) -> PyResult<u64> {
        slf.as_super()
            .get()
            .with_gc(slf.py(), |gc| Ok(gc.high_water()))
    }

    /// The user-value total (bytes) a rebase shrinks to.
    #[getter]
    fn low_water(slf: &Bound<'_, Self>) -> PyResult<u64> {
        slf.as_super()
            .get()
            .with_gc(slf.py(), |gc| Ok(gc.low_water()))
    }

    /// The last rebase performed through this cursor, or None.
    #[getter]
    fn last_rebase_result<'py>(slf: &Bound<'py, Self>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let py = slf.py();
        let result = slf
            .as_super()
            .get()
            .with_gc(py, |gc| Ok(gc.last_rebase_result().cloned()))?;
        result.map(|result| rebase_result(py, &result)).transpose()
    }

    /// Rebases if the user values total more than high water.
    fn maybe_rebase<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let result = slf
            .as_super()
            .get()
            .with_gc(py, kvit::GcVersioned::maybe_rebase)?;
        rebase_result(py, &result)
    }

    /// Moves the branch onto a fresh root commit keeping every system key
    /// and exactly `keep_keys` or, by default, the most recently used user
    /// keys up to low water; then cleans orphaned commits.
    #[pyo3(signature = (keep_keys=None, *, info=None))]
    fn rebase<'py>(
        slf: &Bound<'py, Self>,
        keep_keys: Option<&Bound<'py, PyAny>>,
        info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let keep = keep_keys
            .filter(|keys| !keys.is_none())
            .map(|keys| convert::key_iterable(keys, "keep_keys"))
            .transpose()?;
        let info = match info.filter(|info| !info.is_none()) {
            None => None,
            Some(info) if info.is_instance_of::<PyDict>() => Some(convert::to_json(info)?),
            Some(info) => {
                return Err(type_error(format!(
                    "rebase info must be a dict, not {}",
                    convert::type_name(info)
                )))
            }
        };
        let result = slf.as_super().get().with_gc(py, |gc| {
            let keep: Option<Vec<&str>> = keep
                .as_ref()
                .map(|keys| keys.iter().map(String::as_str).collect());
            gc.rebase(keep.as_deref(), info)
        })?;
        rebase_result(py, &result)
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyGcVersioned>()
}
