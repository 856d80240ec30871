//! `kvit.kv.disk.Disk`: the core's SQLite-backed directory store as a Python
//! `KVStore`. Every call releases the GIL: it may wait on the disk or on
//! other processes' transactions.

use std::path::PathBuf;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::error::to_py_err;
use crate::kv_methods::{self as kv, Gil};

/// A persistent backend: one `SQLite` database in a directory, shared safely
/// by threads and processes.
#[pyclass(module = "kvit.kv.disk", name = "Disk", frozen)]
pub(crate) struct PyDisk {
    pub(crate) inner: kvit::Disk,
}

fn durability(name: &str) -> PyResult<kvit::Durability> {
    match name {
        "full" => Ok(kvit::Durability::Full),
        "normal" => Ok(kvit::Durability::Normal),
        other => Err(PyValueError::new_err(format!(
            "durability must be \"full\" or \"normal\", not {other:?}"
        ))),
    }
}

#[pymethods]
impl PyDisk {
    /// Opens (creating if needed) the store in directory `path`.
    #[new]
    #[pyo3(signature = (path, *, durability="full", busy_timeout=None))]
    fn new(
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        durability: &str,
        busy_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let mut options = kvit::DiskOptions::new().durability(self::durability(durability)?);
        if let Some(seconds) = busy_timeout {
            let timeout = Duration::try_from_secs_f64(seconds).map_err(|_| {
                PyValueError::new_err(format!(
                    "busy_timeout must be a non-negative number of seconds, not {seconds}"
                ))
            })?;
            options = options.busy_timeout(timeout);
        }
        let path: PathBuf = path.extract()?;
        let inner = py
            .allow_threads(|| options.open(&path))
            .map_err(|err| to_py_err(py, err))?;
        Ok(PyDisk { inner })
    }

    /// The store's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }

    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        kv::get(py, Gil::Release, &self.inner, key)
    }

    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        kv::set(py, Gil::Release, &self.inner, key, value)
    }

    #[pyo3(signature = (*keys))]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyDict>> {
        kv::get_many(py, Gil::Release, &self.inner, keys)
    }

    #[pyo3(signature = (**entries))]
    fn set_many(&self, py: Python<'_>, entries: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        kv::set_many(py, Gil::Release, &self.inner, entries)
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        kv::keys(py, Gil::Release, &self.inner)
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        kv::items(py, Gil::Release, &self.inner)
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        kv::contains(py, Gil::Release, &self.inner, key)
    }

    fn remove(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        kv::remove(py, Gil::Release, &self.inner, key)
    }

    #[pyo3(signature = (*keys))]
    fn remove_many(&self, py: Python<'_>, keys: &Bound<'_, PyTuple>) -> PyResult<()> {
        kv::remove_many(py, Gil::Release, &self.inner, keys)
    }

    fn cas(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        expected: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        kv::cas(py, Gil::Release, &self.inner, key, value, expected)
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        kv::clear(py, Gil::Release, &self.inner)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let path = self.inner.path().display().to_string();
        Ok(format!(
            "<kvit.kv.disk.Disk path={}>",
            PyString::new(py, &path).repr()?
        ))
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyDisk>()
}
