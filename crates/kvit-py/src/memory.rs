//! `kvit.kv.memory.Memory`: the core's in-memory backend as a Python `KVStore`.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::kv_methods::{self as kv, Gil};

/// An in-memory backend: fast, no persistence, every operation thread-safe.
#[pyclass(module = "kvit.kv.memory", name = "Memory", frozen)]
pub(crate) struct PyMemory {
    pub(crate) inner: kvit::Memory,
}

impl PyMemory {
    pub(crate) fn wrap(inner: kvit::Memory) -> Self {
        PyMemory { inner }
    }
}

#[pymethods]
impl PyMemory {
    #[new]
    fn new() -> Self {
        PyMemory::wrap(kvit::Memory::new())
    }

    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        kv::get(py, Gil::Keep, &self.inner, key)
    }

    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        kv::set(py, Gil::Keep, &self.inner, key, value)
    }

    #[pyo3(signature = (*keys))]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyDict>> {
        kv::get_many(py, Gil::Keep, &self.inner, keys)
    }

    #[pyo3(signature = (**entries))]
    fn set_many(&self, py: Python<'_>, entries: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
        kv::set_many(py, Gil::Keep, &self.inner, entries)
    }

    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        kv::keys(py, Gil::Keep, &self.inner)
    }

    fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        kv::items(py, Gil::Keep, &self.inner)
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        kv::contains(py, Gil::Keep, &self.inner, key)
    }

    fn remove(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        kv::remove(py, Gil::Keep, &self.inner, key)
    }

    #[pyo3(signature = (*keys))]
    fn remove_many(&self, py: Python<'_>, keys: &Bound<'_, PyTuple>) -> PyResult<()> {
        kv::remove_many(py, Gil::Keep, &self.inner, keys)
    }

    fn cas(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
        expected: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        kv::cas(py, Gil::Keep, &self.inner, key, value, expected)
    }

    fn clear(&self, py: Python<'_>) -> PyResult<()> {
        kv::clear(py, Gil::Keep, &self.inner)
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
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyMemory>()
}
