//! `kvit.kv.disk.Disk`: the core's SQLite-backed directory store as a Python
//! `KVStore`. Every call releases the GIL: it may wait on the disk or on
//! other processes' transactions.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::error::to_py_err;
use crate::kv_methods::{kv_store_pymethods, Gil};

/// A persistent backend: one `SQLite` database in a directory, shared safely
/// by threads and processes.
#[pyclass(module = "kvit.kv.disk", name = "Disk", frozen)]
pub(crate) struct PyDisk {
    /// Shared, so that every cursor opened on this object is on one `Arc`
    /// and shares one object cache.
    pub(crate) inner: Arc<kvit::Disk>,
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

kv_store_pymethods!(PyDisk, Gil::Release, {
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
        Ok(PyDisk {
            inner: Arc::new(inner),
        })
    }

    /// The store's directory.
    #[getter]
    fn path(&self) -> PathBuf {
        self.inner.path().to_path_buf()
    }

    /// Closes the store's database connection now. From then on every call
    /// on it (and on cursors that reach it) raises `BackendError` saying it
    /// is closed; it is never reopened behind the caller's back. Closing
    /// twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| self.inner.close())
            .map_err(|err| to_py_err(py, err))
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        py.allow_threads(|| self.inner.is_closed())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the store at the end of a `with` block.
    /// An exception leaving the block is not ours to handle: it propagates.
    fn __exit__(
        &self,
        py: Python<'_>,
        exc_type: &Bound<'_, PyAny>,
        exc_value: &Bound<'_, PyAny>,
        traceback: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        let _ = (exc_type, exc_value, traceback);
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let path = self.inner.path().display().to_string();
        let closed = if py.allow_threads(|| self.inner.is_closed()) {
            " closed"
        } else {
            ""
        };
        Ok(format!(
            "<kvit.kv.disk.Disk path={}{closed}>",
            PyString::new(py, &path).repr()?
        ))
    }
});

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyDisk>()
}
