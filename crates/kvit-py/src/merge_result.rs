//! `kvit.MergeResult`: the outcome of a commit, truthy iff it merged.

use std::collections::BTreeSet;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PySet;

use crate::convert;

const STRATEGIES: [&str; 3] = ["no_op", "fast_forward", "three_way"];

/// The outcome of a commit.
#[pyclass(module = "kvit", name = "MergeResult", frozen)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PyMergeResult {
    merged: bool,
    commit: Option<String>,
    strategy: &'static str,
    auto_merged_keys: BTreeSet<String>,
    carried_keys: BTreeSet<String>,
    conflicting_keys: BTreeSet<String>,
}

impl From<kvit::MergeResult> for PyMergeResult {
    fn from(result: kvit::MergeResult) -> Self {
        PyMergeResult {
            merged: result.merged,
            commit: result.commit.map(|id| id.to_hex()),
            strategy: result.strategy.as_str(),
            auto_merged_keys: result.auto_merged_keys,
            carried_keys: result.carried_keys,
            conflicting_keys: result.conflicting_keys,
        }
    }
}

fn key_set(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<BTreeSet<String>> {
    Ok(convert::key_iterable(obj, what)?.into_iter().collect())
}

#[pymethods]
impl PyMergeResult {
    #[new]
    #[pyo3(signature = (
        merged,
        commit=None,
        strategy="no_op",
        auto_merged_keys=None,
        carried_keys=None,
        conflicting_keys=None,
    ))]
    fn new(
        merged: bool,
        commit: Option<String>,
        strategy: &str,
        auto_merged_keys: Option<&Bound<'_, PyAny>>,
        carried_keys: Option<&Bound<'_, PyAny>>,
        conflicting_keys: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let Some(strategy) = STRATEGIES.into_iter().find(|known| *known == strategy) else {
            return Err(PyValueError::new_err(format!(
                "strategy must be one of {STRATEGIES:?}, not {strategy:?}"
            )));
        };
        let keys = |obj: Option<&Bound<'_, PyAny>>, what| {
            obj.map_or_else(|| Ok(BTreeSet::new()), |obj| key_set(obj, what))
        };
        Ok(PyMergeResult {
            merged,
            commit,
            strategy,
            auto_merged_keys: keys(auto_merged_keys, "auto_merged_keys")?,
            carried_keys: keys(carried_keys, "carried_keys")?,
            conflicting_keys: keys(conflicting_keys, "conflicting_keys")?,
        })
    }

    /// Whether the changes reached the branch.
    #[getter]
    fn merged(&self) -> bool {
        self.merged
    }

    /// The commit now at the head, or None if the commit was abandoned.
    #[getter]
    fn commit(&self) -> Option<String> {
        self.commit.clone()
    }

    /// `"no_op"`, `"fast_forward"` or `"three_way"`.
    #[getter]
    fn strategy(&self) -> &'static str {
        self.strategy
    }

    /// Keys both sides changed that were resolved automatically.
    #[getter]
    fn auto_merged_keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        PySet::new(py, &self.auto_merged_keys)
    }

    /// Keys only the other side changed, taken as they were.
    #[getter]
    fn carried_keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        PySet::new(py, &self.carried_keys)
    }

    /// Keys that could not be merged (only in an abandoned result).
    #[getter]
    fn conflicting_keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        PySet::new(py, &self.conflicting_keys)
    }

    fn __bool__(&self) -> bool {
        self.merged
    }

    fn __eq__(&self, other: &Bound<'_, Self>) -> bool {
        self == other.get()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let show = |keys: &BTreeSet<String>| -> PyResult<String> {
            if keys.is_empty() {
                return Ok("set()".to_owned());
            }
            Ok(PySet::new(py, keys)?.repr()?.to_cow()?.into_owned())
        };
        let commit = match &self.commit {
            Some(id) => format!("'{id}'"),
            None => "None".to_owned(),
        };
        let mut text = format!(
            "MergeResult(merged={}, commit={commit}, strategy='{}', auto_merged_keys={}, carried_keys={}",
            if self.merged { "True" } else { "False" },
            self.strategy,
            show(&self.auto_merged_keys)?,
            show(&self.carried_keys)?,
        );
        if !self.conflicting_keys.is_empty() {
            text.push_str(", conflicting_keys=");
            text.push_str(&show(&self.conflicting_keys)?);
        }
        text.push(')');
        Ok(text)
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyMergeResult>()
}
