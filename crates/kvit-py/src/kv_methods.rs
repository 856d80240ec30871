//! The `KVStore` methods shared by the native backends (`Memory`, `Disk`,
//! `Redis`, `Postgres`):
//! argument checks and conversions in one place, the storage call in the
//! backend's own class.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use kvit::KvStore;

use crate::convert;
use crate::error::to_py_err;

/// Whether a backend's calls release the GIL: yes for anything that may
/// block on I/O or on other processes, no for in-memory maps where taking
/// and giving back the GIL costs more than the call.
#[derive(Clone, Copy)]
pub(crate) enum Gil {
    Keep,
    Release,
}

fn run<T: Send>(
    py: Python<'_>,
    gil: Gil,
    work: impl FnOnce() -> kvit::Result<T> + Send,
) -> PyResult<T> {
    let result = match gil {
        Gil::Keep => work(),
        Gil::Release => py.allow_threads(work),
    };
    result.map_err(|err| to_py_err(py, err))
}

pub(crate) fn get<'py>(
    py: Python<'py>,
    gil: Gil,
    store: &dyn KvStore,
    key: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let key = convert::key(key)?;
    let value = run(py, gil, || store.get(&key))?;
    Ok(value.map(|bytes| PyBytes::new(py, &bytes)))
}

pub(crate) fn set(
    py: Python<'_>,
    gil: Gil,
    store: &dyn KvStore,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let key = convert::key(key)?;
    let value = convert::value(&key, value)?;
    run(py, gil, || store.set(&key, &value))
}

pub(crate) fn get_many<'py>(
    py: Python<'py>,
    gil: Gil,
    store: &dyn KvStore,
    keys: &Bound<'py, PyTuple>,
) -> PyResult<Bound<'py, PyDict>> {
    let keys = convert::keys(keys)?;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = run(py, gil, || store.get_many(&refs))?;
    let found = PyDict::new(py);
    for (key, value) in keys.iter().zip(values) {
        if let Some(value) = value {
            found.set_item(key, PyBytes::new(py, &value))?;
        }
    }
    Ok(found)
}

pub(crate) fn set_many(
    py: Python<'_>,
    gil: Gil,
    store: &dyn KvStore,
    entries: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let Some(entries) = entries else {
        return Ok(());
    };
    let mut pairs = Vec::with_capacity(entries.len());
    for (key, value) in entries.iter() {
        let key = convert::key(&key)?;
        let value = convert::value(&key, &value)?;
        pairs.push((key, value));
    }
    let refs: Vec<(&str, &[u8])> = pairs
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_slice()))
        .collect();
    run(py, gil, || store.set_many(&refs))
}

pub(crate) fn keys<'py>(
    py: Python<'py>,
    gil: Gil,
    store: &dyn KvStore,
) -> PyResult<Bound<'py, PyList>> {
    let keys = run(py, gil, || store.keys())?;
    PyList::new(py, keys)
}

pub(crate) fn items<'py>(
    py: Python<'py>,
    gil: Gil,
    store: &dyn KvStore,
) -> PyResult<Bound<'py, PyList>> {
    let items = run(py, gil, || store.items())?;
    let list = PyList::empty(py);
    for (key, value) in items {
        list.append((key, PyBytes::new(py, &value)))?;
    }
    Ok(list)
}

pub(crate) fn contains(
    py: Python<'_>,
    gil: Gil,
    store: &dyn KvStore,
    key: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    // `x in store` answers False for a non-str, as a dict does for a missing key.
    let Ok(key) = convert::key(key) else {
        return Ok(false);
    };
    run(py, gil, || store.contains(&key))
}

pub(crate) fn remove(
    py: Python<'_>,
    gil: Gil,
    store: &dyn KvStore,
    key: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let key = convert::key(key)?;
    run(py, gil, || store.remove(&key))
}

pub(crate) fn remove_many(
    py: Python<'_>,
    gil: Gil,
    store: &dyn KvStore,
    keys: &Bound<'_, PyTuple>,
) -> PyResult<()> {
    let keys = convert::keys(keys)?;
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    run(py, gil, || store.remove_many(&refs))
}

pub(crate) fn cas(
    py: Python<'_>,
    gil: Gil,
    store: &dyn KvStore,
    key: &Bound<'_, PyAny>,
    value: &Bound<'_, PyAny>,
    expected: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    let key = convert::key(key)?;
    let value = convert::value(&key, value)?;
    let expected = convert::optional_value(&key, expected)?;
    run(py, gil, || store.cas(&key, &value, expected.as_deref()))
}

pub(crate) fn clear(py: Python<'_>, gil: Gil, store: &dyn KvStore) -> PyResult<()> {
    run(py, gil, || store.clear())
}

/// Writes a backend pyclass's `#[pymethods]`: the `KVStore` methods every
/// native backend shares, each forwarding to this module with `self.inner`
/// and the class's GIL policy, plus the class's own items.
macro_rules! kv_store_pymethods {
    ($class:ident, $gil:expr, { $($items:tt)* }) => {
        #[pymethods]
        impl $class {
            fn get<'py>(
                &self,
                py: Python<'py>,
                key: &Bound<'py, PyAny>,
            ) -> PyResult<Option<Bound<'py, PyBytes>>> {
                $crate::kv_methods::get(py, $gil, &self.inner, key)
            }

            fn set(&self, py: Python<'_>, key: &Bound<'_, PyAny>, value: &Bound<'_, PyAny>) -> PyResult<()> {
                $crate::kv_methods::set(py, $gil, &self.inner, key, value)
            }

            #[pyo3(signature = (*keys))]
            fn get_many<'py>(&self, py: Python<'py>, keys: &Bound<'py, PyTuple>) -> PyResult<Bound<'py, PyDict>> {
                $crate::kv_methods::get_many(py, $gil, &self.inner, keys)
            }

            #[pyo3(signature = (**entries))]
            fn set_many(&self, py: Python<'_>, entries: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
                $crate::kv_methods::set_many(py, $gil, &self.inner, entries)
            }

            fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
                $crate::kv_methods::keys(py, $gil, &self.inner)
            }

            fn items<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
                $crate::kv_methods::items(py, $gil, &self.inner)
            }

            fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
                $crate::kv_methods::contains(py, $gil, &self.inner, key)
            }

            fn remove(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
                $crate::kv_methods::remove(py, $gil, &self.inner, key)
            }

            #[pyo3(signature = (*keys))]
            fn remove_many(&self, py: Python<'_>, keys: &Bound<'_, PyTuple>) -> PyResult<()> {
                $crate::kv_methods::remove_many(py, $gil, &self.inner, keys)
            }

            fn cas(
                &self,
                py: Python<'_>,
                key: &Bound<'_, PyAny>,
                value: &Bound<'_, PyAny>,
                expected: &Bound<'_, PyAny>,
            ) -> PyResult<bool> {
                $crate::kv_methods::cas(py, $gil, &self.inner, key, value, expected)
            }

            fn clear(&self, py: Python<'_>) -> PyResult<()> {
                $crate::kv_methods::clear(py, $gil, &self.inner)
            }

            $($items)*
        }
    };
}
pub(crate) use kv_store_pymethods;
