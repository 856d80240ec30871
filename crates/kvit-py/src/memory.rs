//! `kvit.kv.memory.Memory`: the core's in-memory backend as a Python `KVStore`.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::kv_methods::{kv_store_pymethods, Gil};

/// An in-memory backend: fast, no persistence, every operation thread-safe.
#[pyclass(module = "kvit.kv.memory", name = "Memory", frozen)]
pub(crate) struct PyMemory {
    /// Shared, so that every cursor opened on this object is on one `Arc`
    /// and shares one object cache.
    pub(crate) inner: Arc<kvit::Memory>,
}

impl PyMemory {
    pub(crate) fn wrap(inner: Arc<kvit::Memory>) -> Self {
        PyMemory { inner }
    }
}

kv_store_pymethods!(PyMemory, Gil::Keep, {
    #[new]
    fn new() -> Self {
        PyMemory::wrap(Arc::new(kvit::Memory::new()))
    }

    /// A copy of the whole map as a dict, for debugging.
    #[getter]
    fn memory<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (key, value) in self.inner.snapshot() {
            dict.set_item(key, PyBytes::new(py, &value))?;
        }
        Ok(dict)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        format!(
            "<kvit.kv.memory.Memory keys={} bytes={}>",
            self.inner.len(),
            self.inner.size_bytes()
        )
    }
});

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyMemory>()
}
