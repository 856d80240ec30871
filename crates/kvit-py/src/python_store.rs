//! Any Python object implementing `kvit.KVStore`, as a core [`KvStore`].
//!
//! Each call takes the GIL and calls the object's method. Whatever the
//! object raises travels through the core boxed in [`kvit::Error::Backend`]
//! and is re-raised unchanged by [`crate::error::to_py_err`].

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple, PyType};

use kvit::{Error, KvStore, Result};

use crate::convert;
use crate::disk::PyDisk;
use crate::error::type_error;
use crate::memory::PyMemory;
use crate::postgres_store::PyPostgres;
use crate::redis_store::PyRedis;

static KV_STORE_CLASS: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// The backend for a `store` argument (None: a fresh `Memory`) and the
/// Python object to hand back as the cursor's `store`. Native backends are
/// used directly; any other `kvit.KVStore` through Python calls.
pub(crate) fn resolve(
    py: Python<'_>,
    store: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Arc<dyn KvStore>, Py<PyAny>)> {
    let Some(store) = store.filter(|store| !store.is_none()) else {
        let memory = Arc::new(kvit::Memory::new());
        let object = Py::new(py, PyMemory::wrap(memory.clone()))?.into_any();
        return Ok((memory, object));
    };
    if let Ok(memory) = store.downcast::<PyMemory>() {
        return Ok((memory.get().inner.clone(), store.clone().unbind()));
    }
    if let Ok(disk) = store.downcast::<PyDisk>() {
        return Ok((disk.get().inner.clone(), store.clone().unbind()));
    }
    if let Ok(redis) = store.downcast::<PyRedis>() {
        return Ok((redis.get().inner.clone(), store.clone().unbind()));
    }
    if let Ok(postgres) = store.downcast::<PyPostgres>() {
        return Ok((postgres.get().inner.clone(), store.clone().unbind()));
    }
    let kv_store = KV_STORE_CLASS.import(py, "kvit.kv.base", "KVStore")?;
    if store.is_instance(kv_store)? {
        let adapter = PythonStore::new(store.clone().unbind());
        return Ok((Arc::new(adapter), store.clone().unbind()));
    }
    Err(type_error(format!(
        "store must be a kvit.KVStore (Memory, Disk, Redis, Postgres or a KVStore \
         subclass), not {}",
        convert::type_name(store)
    )))
}

/// A Python `KVStore` object plugged into the Rust engine.
pub(crate) struct PythonStore {
    object: Py<PyAny>,
}

impl PythonStore {
    pub(crate) fn new(object: Py<PyAny>) -> Self {
        PythonStore { object }
    }

    /// Runs `work` on the object with the GIL held, boxing a raised exception.
    fn call<T>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Bound<'_, PyAny>) -> PyResult<T>,
    ) -> Result<T> {
        Python::with_gil(|py| work(self.object.bind(py)))
            .map_err(|err| Error::backend(operation, err))
    }
}

/// A value a backend returned for `key`: bytes or `None`.
fn returned_value(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
    convert::optional_value(key, obj)
}

/// Every key of an iterable of keys that starts with `prefix`, sorted.
fn filtered_keys(keys: &Bound<'_, PyAny>, prefix: &str) -> PyResult<Vec<String>> {
    let mut out = Vec::new();
    for item in keys.try_iter()? {
        let key = convert::key(&item?)?;
        if key.starts_with(prefix) {
            out.push(key);
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl KvStore for PythonStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.call("get", |store| {
            returned_value(key, &store.call_method1("get", (key,))?)
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.call("set", |store| {
            store.call_method1("set", (key, PyBytes::new(store.py(), value)))?;
            Ok(())
        })
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.call("remove", |store| {
            store.call_method1("remove", (key,))?;
            Ok(())
        })
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.call("cas", |store| {
            let py = store.py();
            let expected = expected.map(|bytes| PyBytes::new(py, bytes));
            store
                .call_method1("cas", (key, PyBytes::new(py, value), expected))?
                .is_truthy()
        })
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.call("keys", |store| {
            filtered_keys(&store.call_method0("keys")?, prefix)
        })
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.call("items", |store| {
            let mut out = Vec::new();
            for pair in store.call_method0("items")?.try_iter()? {
                let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
                let key = convert::key(&key)?;
                if key.starts_with(prefix) {
                    let value = convert::value(&key, &value)?;
                    out.push((key, value));
                }
            }
            out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            Ok(out)
        })
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        self.call("get_many", |store| {
            let py = store.py();
            let found = store.call_method1("get_many", PyTuple::new(py, keys)?)?;
            keys.iter()
                .map(|key| {
                    // A mapping of the existing keys: absent means missing.
                    match found.get_item(*key) {
                        Ok(value) => returned_value(key, &value),
                        Err(err) if err.is_instance_of::<pyo3::exceptions::PyKeyError>(py) => {
                            Ok(None)
                        }
                        Err(err) => Err(err),
                    }
                })
                .collect()
        })
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.call("set_many", |store| {
            let py = store.py();
            let kwargs = PyDict::new(py);
            for (key, value) in entries {
                kwargs.set_item(PyString::new(py, key), PyBytes::new(py, value))?;
            }
            store.call_method("set_many", (), Some(&kwargs))?;
            Ok(())
        })
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.call("remove_many", |store| {
            store.call_method1("remove_many", PyTuple::new(store.py(), keys)?)?;
            Ok(())
        })
    }

    fn contains(&self, key: &str) -> Result<bool> {
        self.call("contains", |store| store.contains(key))
    }

    fn keys(&self) -> Result<Vec<String>> {
        self.keys_with_prefix("")
    }

    fn items(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.scan_prefix("")
    }

    fn clear(&self) -> Result<()> {
        self.call("clear", |store| {
            store.call_method0("clear")?;
            Ok(())
        })
    }
}
