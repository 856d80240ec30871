//! `kvit.kv.redis.Redis`: the kvit-redis backend as a Python `KVStore`.
//! Every call releases the GIL: each is at least one round trip to the
//! server.

use pyo3::exceptions::PyValueError;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

use crate::convert;
use crate::error::to_py_err;
use crate::kv_methods::{kv_store_pymethods, Gil};

/// A network backend: one Redis string per key, every key under the store's
/// prefix, shared safely by threads, processes and machines.
#[pyclass(module = "kvit.kv.redis", name = "Redis", frozen)]
pub(crate) struct PyRedis {
    /// Shared, so that every cursor opened on this object is on one `Arc`
    /// and shares one object cache.
    pub(crate) inner: Arc<kvit_redis::Redis>,
}

/// Refuses a URL the Redis client cannot parse, before any connection is
/// tried: kvit-redis reports that as a backend error, like an unreachable
/// server, but it is the caller's mistake. The message never repeats the URL,
/// so never its password.
fn check_url(url: &str) -> PyResult<()> {
    use redis::IntoConnectionInfo;

    url.into_connection_info()
        .map(drop)
        .map_err(|error| PyValueError::new_err(format!("invalid Redis URL: {error}")))
}

kv_store_pymethods!(PyRedis, Gil::Release, {
    /// Connects to the server at `url` and checks that it answers.
    #[new]
    #[pyo3(signature = (url, *, prefix="", connect_timeout=None, response_timeout=None))]
    fn new(
        py: Python<'_>,
        url: &str,
        prefix: &str,
        connect_timeout: Option<f64>,
        response_timeout: Option<f64>,
    ) -> PyResult<Self> {
        check_url(url)?;
        let mut options = kvit_redis::RedisOptions::new(url).prefix(prefix);
        if let Some(seconds) = connect_timeout {
            options = options.connect_timeout(convert::seconds("connect_timeout", seconds)?);
        }
        if let Some(seconds) = response_timeout {
            options =
                options.response_timeout(Some(convert::seconds("response_timeout", seconds)?));
        }
        let inner = py
            .allow_threads(|| options.open())
            .map_err(|err| to_py_err(py, err))?;
        Ok(PyRedis {
            inner: Arc::new(inner),
        })
    }

    /// The prefix in front of every key this store writes.
    #[getter]
    fn prefix(&self) -> &str {
        self.inner.prefix()
    }

    /// The server's URL, with any password replaced by `***`.
    #[getter]
    fn address(&self) -> &str {
        self.inner.address()
    }

    /// Checks that the server answers (`PING`).
    fn ping(&self, py: Python<'_>) -> PyResult<()> {
        py.allow_threads(|| self.inner.ping())
            .map_err(|err| to_py_err(py, err))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "<kvit.kv.redis.Redis address={} prefix={}>",
            PyString::new(py, self.inner.address()).repr()?,
            PyString::new(py, self.inner.prefix()).repr()?
        ))
    }
});

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyRedis>()
}
