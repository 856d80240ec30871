//! `kvit.kv.postgres.Postgres`: the kvit-postgres backend as a Python
//! `KVStore`. Every call releases the GIL: each is at least one round trip
//! to the server, and may wait for a pooled connection.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::convert;
use crate::error::to_py_err;
use crate::kv_methods::{kv_store_pymethods, Gil};

/// A network backend: one `PostgreSQL` table, shared safely by threads,
/// processes and machines.
#[pyclass(module = "kvit.kv.postgres", name = "Postgres", frozen)]
pub(crate) struct PyPostgres {
    /// Shared, so that every cursor opened on this object is on one `Arc`
    /// and shares one object cache.
    pub(crate) inner: Arc<kvit_postgres::Postgres>,
}

kv_store_pymethods!(PyPostgres, Gil::Release, {
    /// Connects to the database `url` names, creates the table if it is
    /// missing and checks that it is a kvit table.
    #[new]
    #[pyo3(signature = (url, *, table="kvit_kv", pool_size=None, connect_timeout=None))]
    fn new(
        py: Python<'_>,
        url: &str,
        table: &str,
        pool_size: Option<usize>,
        connect_timeout: Option<f64>,
    ) -> PyResult<Self> {
        let mut options = kvit_postgres::PostgresOptions::new(url).table(table);
        if let Some(connections) = pool_size {
            options = options.pool_size(connections);
        }
        if let Some(seconds) = connect_timeout {
            options = options.connect_timeout(convert::seconds("connect_timeout", seconds)?);
        }
        let inner = py
            .allow_threads(|| options.open())
            .map_err(|err| to_py_err(py, err))?;
        Ok(PyPostgres {
            inner: Arc::new(inner),
        })
    }

    /// The table holding the store.
    #[getter]
    fn table(&self) -> &str {
        self.inner.table().as_str()
    }

    /// The most connections this handle keeps open.
    #[getter]
    fn pool_size(&self) -> usize {
        self.inner.pool_size()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<kvit.kv.postgres.Postgres table={} pool_size={}>",
            PyString::new(py, self.inner.table().as_str()).repr()?,
            self.inner.pool_size()
        ))
    }
});

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyPostgres>()
}
