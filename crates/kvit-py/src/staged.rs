//! `kvit.Staged`'s native core: the core's [`kvit::Staged`] over a Python
//! codec, with a dict of decoded values in front of it for fast reads.
//!
//! # Locking
//!
//! Every call into the core store goes through one gate (a mutex) per store.
//! Work that may reach storage, a codec or a merge function runs with the
//! GIL released, and waits for the gate with the GIL released: the thread
//! holding the gate may need the GIL (to decode, to merge, to call a
//! Python backend), so nobody may wait for the gate while holding it. Work
//! that cannot block (staging a value, reading cursor state) first tries the
//! gate with the GIL held and only falls back to releasing it when another
//! thread is inside.
//!
//! # The read cache
//!
//! `hot` maps keys to the values reads have returned, as the store sees them
//! now (staged changes first). A read that hits it costs one dict lookup
//! under the GIL and never touches the gate. It changes only under the gate
//! *and* the GIL, right after the core call that made it stale: a write
//! drops its key; commits that bring in other writers' changes (three-way
//! merges, GC rebases), `refresh`, `reset`, and any call through `versioned`
//! that moves the cursor clear it. A fast-forward commit keeps it: a staged
//! value it holds is now the committed one. It holds at most `HOT_LIMIT`
//! values; a read that finds it full lets the oldest `HOT_EVICT` go first,
//! so no single read pays for freeing all of them.
//!
//! Writes do not fill it. A value written and never read is dropped when its
//! commit lands, as the staging buffer lets it go; keeping it would hold on
//! to every value a bulk load wrote, and make each later write of one of
//! those keys free a long-cold object (at n = 1e5 that cost a one-key write
//! and commit about 1.5 µs of some 15). The first read of a key after its
//! commit decodes it once.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use kvit::{Engine, OnConflict, Store, StoreCommitOptions, Strategy};

use crate::codec::{value_merge_fn, PyCodec, PyValue};
use crate::convert;
use crate::engine::{thread_token, EngineMut, OwnerMark};
use crate::error::{reentrant_use, to_py_err, type_error};
use crate::merge_result::PyMergeResult;
use crate::versioned::PyVersioned;

/// Values the read cache holds at most.
const HOT_LIMIT: usize = 100_000;

/// Values the read cache lets go at once when a read finds it full: the
/// oldest entries, a slice at a time, so that no single read frees the
/// whole cache (it may hold the only reference to its values).
const HOT_EVICT: usize = HOT_LIMIT / 64;

/// What one `Staged` store's handles share: the core store, its gate and
/// its read cache.
pub(crate) struct Shared {
    core: kvit::Staged<PyCodec>,
    gate: Mutex<()>,
    /// The thread holding the gate, 0 for none (to refuse reentrant calls).
    owner: AtomicUsize,
    hot: Py<PyDict>,
    gc: bool,
    /// The Python backend object (a `KVStore`).
    store: Py<PyAny>,
}

/// Holds the gate and marks its owner until dropped.
struct Entered<'a> {
    _mark: OwnerMark<'a>,
    _guard: MutexGuard<'a, ()>,
}

impl Shared {
    pub(crate) fn new(engine: Engine, codec: PyCodec, hot: Py<PyDict>, store: Py<PyAny>) -> Self {
        let gc = matches!(engine, Engine::Gc(_));
        // `hot` is the read cache: the core keeps no second copy of values.
        Shared::over(
            kvit::Staged::with_value_cache(engine, codec, 0),
            gc,
            hot,
            store,
        )
    }

    fn over(core: kvit::Staged<PyCodec>, gc: bool, hot: Py<PyDict>, store: Py<PyAny>) -> Self {
        Shared {
            core,
            gate: Mutex::new(()),
            owner: AtomicUsize::new(0),
            hot,
            gc,
            store,
        }
    }

    /// Whether the cursor is size-bounded.
    pub(crate) fn is_gc(&self) -> bool {
        self.gc
    }

    fn entered<'a>(&'a self, guard: MutexGuard<'a, ()>, me: usize) -> Entered<'a> {
        Entered {
            _mark: OwnerMark::set(&self.owner, me),
            _guard: guard,
        }
    }

    fn check_reentry(&self) -> PyResult<usize> {
        let me = thread_token();
        if OwnerMark::is_mine(&self.owner, me) {
            return Err(reentrant_use("this Staged store"));
        }
        Ok(me)
    }

    /// Runs `work` holding the gate, with the GIL released for the wait and
    /// the work.
    fn run<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&Self) -> kvit::Result<T> + Send,
    ) -> PyResult<T> {
        let me = self.check_reentry()?;
        py.allow_threads(|| {
            let guard = self.gate.lock().unwrap_or_else(PoisonError::into_inner);
            let _entered = self.entered(guard, me);
            work(self)
        })
        .map_err(|err| to_py_err(py, err))
    }

    /// Runs `work`, which must not block, holding the gate: with the GIL
    /// held if the gate is free, else as [`Shared::run`].
    fn run_quick<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&Self) -> kvit::Result<T> + Send,
    ) -> PyResult<T> {
        let me = self.check_reentry()?;
        let guard = match self.gate.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return self.run(py, work),
        };
        let _entered = self.entered(guard, me);
        work(self).map_err(|err| to_py_err(py, err))
    }

    /// Runs `work` on the cursor the store owns (for its `versioned`
    /// handle); if that moves the cursor, staged changes and caches go.
    pub(crate) fn with_engine<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&mut EngineMut<'_>) -> kvit::Result<T> + Send,
    ) -> PyResult<T> {
        self.run(py, |shared| {
            let before = shared.core.current_commit()?;
            let result = if shared.gc {
                shared
                    .core
                    .with_gc(|gc| work(&mut EngineMut::Gc(gc)))
                    .unwrap_or_else(|| Err(kvit::Error::InvalidArgument("no GC cursor".into())))
            } else {
                shared
                    .core
                    .with_versioned_mut(|versioned| work(&mut EngineMut::Plain(versioned)))
            };
            if shared.core.current_commit()? != before {
                shared.forget_all();
            }
            result
        })
    }

    // ---- the read cache: changed only under the gate ------------------------

    fn remember(&self, key: &Py<PyString>, value: &PyValue) {
        Python::with_gil(|py| {
            let hot = self.hot.bind(py);
            if hot.len() >= HOT_LIMIT {
                // A dict iterates in insertion order: the first are the oldest.
                let oldest: Vec<Bound<'_, PyAny>> =
                    hot.iter().take(HOT_EVICT).map(|(old, _)| old).collect();
                for old in oldest {
                    if hot.del_item(old).is_err() {
                        hot.clear();
                        break;
                    }
                }
            }
            if hot.set_item(key, value.bind(py)).is_err() {
                hot.clear();
            }
        });
    }

    fn forget(&self, key: &Py<PyString>) {
        Python::with_gil(|py| {
            let hot = self.hot.bind(py);
            if hot.contains(key).unwrap_or(true) && hot.del_item(key).is_err() {
                hot.clear();
            }
        });
    }

    fn forget_all(&self) {
        Python::with_gil(|py| self.hot.bind(py).clear());
    }

    /// Stages the removal of `key`; returns whether it was there.
    fn remove(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let (name, cache_key) = cache_key(key)?;
        self.run(py, |shared| {
            let present = shared.core.remove(&name)?;
            shared.forget(&cache_key);
            Ok(present)
        })
    }

    /// A read of `key` that missed the cache.
    fn read(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Option<Py<PyAny>>> {
        let (name, cache_key) = cache_key(key)?;
        let found = self.run(py, |shared| {
            let value = shared.core.get(&name)?;
            if let Some(value) = &value {
                shared.remember(&cache_key, value);
            }
            Ok(value)
        })?;
        Ok(found.map(|value| value.object(py)))
    }
}

/// A key as a Rust string and as the exact `str` to cache it under.
fn cache_key(key: &Bound<'_, PyAny>) -> PyResult<(String, Py<PyString>)> {
    let name = convert::key(key)?;
    let object = match key.downcast_exact::<PyString>() {
        Ok(text) => text.clone().unbind(),
        Err(_) => PyString::new(key.py(), &name).unbind(),
    };
    Ok((name, object))
}

fn on_conflict(name: &str) -> PyResult<OnConflict> {
    match name {
        "raise" => Ok(OnConflict::Raise),
        "abandon" => Ok(OnConflict::Abandon),
        other => Err(PyValueError::new_err(format!(
            "on_conflict must be \"raise\" or \"abandon\", not {other:?}"
        ))),
    }
}

/// A store handed from a native call to the Python class's constructor, so
/// that branches and checkouts are instances of the caller's own class.
#[pyclass(module = "kvit._native", name = "_StagedSeed", frozen)]
pub(crate) struct StagedSeed {
    parts: Mutex<Option<(Arc<Shared>, Py<PyVersioned>)>>,
}

/// The native core of `kvit.Staged`: a staging buffer of decoded values over
/// a `Versioned` or `GCVersioned` cursor. Use `kvit.Staged`, its subclass
/// with the full mapping interface.
#[pyclass(module = "kvit._native", name = "StagedCore", frozen, subclass)]
pub(crate) struct PyStaged {
    shared: Arc<Shared>,
    versioned: Py<PyVersioned>,
}

impl PyStaged {
    /// A new store of `slf`'s class over `core`, a sibling of `slf`'s.
    fn sibling(slf: &Bound<'_, Self>, core: kvit::Staged<PyCodec>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let this = slf.get();
        let shared = Arc::new(Shared::over(
            core,
            this.shared.gc,
            PyDict::new(py).unbind(),
            this.shared.store.clone_ref(py),
        ));
        let versioned = PyVersioned::lent(py, shared.clone(), this.shared.store.clone_ref(py))?;
        let seed = StagedSeed {
            parts: Mutex::new(Some((shared, versioned))),
        };
        Ok(slf.get_type().call1((seed,))?.unbind())
    }

    fn commit_options(
        on_conflict: &str,
        merge_fns: Option<&Bound<'_, PyAny>>,
        default_merge: Option<&Bound<'_, PyAny>>,
        info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<StoreCommitOptions<PyValue>> {
        let mut options = StoreCommitOptions::new().on_conflict(self::on_conflict(on_conflict)?);
        for (key, function) in convert::merge_fn_items(merge_fns)? {
            options = options.merge_fn(key, value_merge_fn(&function)?);
        }
        if let Some(function) = default_merge.filter(|function| !function.is_none()) {
            options = options.default_merge(value_merge_fn(function)?);
        }
        if let Some(info) = convert::commit_info(info)? {
            options = options.info(info);
        }
        Ok(options)
    }
}

#[pymethods]
impl PyStaged {
    /// Stages over `versioned` (a `Versioned` or `GCVersioned`, which the
    /// store takes over: `staged.versioned` is it), encoding values with
    /// `encoder` and decoding with `decoder` (pickle by default).
    #[new]
    #[pyo3(signature = (versioned, *, encoder=None, decoder=None))]
    fn new(
        py: Python<'_>,
        versioned: &Bound<'_, PyAny>,
        encoder: Option<&Bound<'_, PyAny>>,
        decoder: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        if let Ok(seed) = versioned.downcast::<StagedSeed>() {
            let parts = seed
                .get()
                .parts
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            let (shared, versioned) =
                parts.ok_or_else(|| PyValueError::new_err("this store was already opened"))?;
            return Ok(PyStaged { shared, versioned });
        }
        let Ok(handle) = versioned.downcast::<PyVersioned>() else {
            return Err(type_error(format!(
                "Staged needs a kvit.Versioned or kvit.GCVersioned, not {}",
                convert::type_name(versioned)
            )));
        };
        let codec = PyCodec::new(py, encoder, decoder)?;
        let shared = handle.get().lend(py, codec)?;
        Ok(PyStaged {
            shared,
            versioned: handle.clone().unbind(),
        })
    }

    // ---- reads --------------------------------------------------------------

    fn __getitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        if let Some(value) = self.shared.hot.bind(py).get_item(key)? {
            return Ok(value.unbind());
        }
        match self.shared.read(py, key)? {
            Some(value) => Ok(value),
            None => Err(PyKeyError::new_err(key.clone().unbind())),
        }
    }

    /// The value of `key` (staged first, then committed), or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        if let Some(value) = self.shared.hot.bind(py).get_item(key)? {
            return Ok(value.unbind());
        }
        Ok(self
            .shared
            .read(py, key)?
            .or(default)
            .unwrap_or_else(|| py.None()))
    }

    /// The values of the existing keys among `keys`.
    #[pyo3(signature = (*keys))]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut names = Vec::with_capacity(keys.len());
        for key in keys.iter() {
            names.push(cache_key(&key)?);
        }
        let found = self.shared.run(py, |shared| {
            let refs: Vec<&str> = names.iter().map(|(name, _)| name.as_str()).collect();
            let found = shared.core.get_many(&refs)?;
            let cache_keys: HashMap<&str, &Py<PyString>> = names
                .iter()
                .map(|(name, key)| (name.as_str(), key))
                .collect();
            for (name, value) in &found {
                if let Some(cache_key) = cache_keys.get(name.as_str()) {
                    shared.remember(cache_key, value);
                }
            }
            Ok(found)
        })?;
        let out = PyDict::new(py);
        for (key, value) in found {
            out.set_item(key, value.bind(py))?;
        }
        Ok(out)
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        if !key.is_instance_of::<PyString>() {
            return Ok(false);
        }
        if self.shared.hot.bind(py).contains(key)? {
            return Ok(true);
        }
        let name = convert::key(key)?;
        self.shared.run(py, |shared| shared.core.contains(&name))
    }

    /// The keys starting with `prefix`, sorted (a range scan of the commit,
    /// merged with the staged changes).
    fn keys_with_prefix<'py>(&self, py: Python<'py>, prefix: &str) -> PyResult<Bound<'py, PyList>> {
        let keys = self
            .shared
            .run(py, |shared| shared.core.keys_with_prefix(prefix))?;
        PyList::new(py, keys)
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.keys_with_prefix(py, "")?
            .try_iter()
            .map(Bound::into_any)
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.shared.run(py, |shared| shared.core.len())
    }

    // ---- writes -------------------------------------------------------------

    /// Stages `key = value`.
    fn set(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let (name, cache_key) = cache_key(key)?;
        let value = PyValue::new(value.clone());
        self.shared.run_quick(py, move |shared| {
            shared.core.set(&name, value)?;
            shared.forget(&cache_key);
            Ok(())
        })
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.set(py, key, value)
    }

    /// Stages the removal of `key` (nothing to do if it is not there).
    fn remove(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        self.shared.remove(py, key).map(drop)
    }

    fn __delitem__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.shared.remove(py, key)? {
            Ok(())
        } else {
            Err(PyKeyError::new_err(key.clone().unbind()))
        }
    }

    /// Whether anything is staged.
    #[getter]
    fn has_changes(&self, py: Python<'_>) -> PyResult<bool> {
        self.shared
            .run_quick(py, |shared| Ok(shared.core.has_changes()))
    }

    // ---- commit and navigation ----------------------------------------------

    /// Encodes the staged changes and commits them as one atomic commit;
    /// they are cleared if it lands and kept if it fails.
    #[pyo3(signature = (*, on_conflict="raise", merge_fns=None, default_merge=None, info=None))]
    fn commit(
        &self,
        py: Python<'_>,
        on_conflict: &str,
        merge_fns: Option<&Bound<'_, PyAny>>,
        default_merge: Option<&Bound<'_, PyAny>>,
        info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyMergeResult> {
        let options = Self::commit_options(on_conflict, merge_fns, default_merge, info)?;
        let result = self.shared.run(py, |shared| {
            let result = shared.core.commit(&options)?;
            if result.merged && (result.strategy == Strategy::ThreeWay || shared.gc) {
                shared.forget_all();
            }
            Ok(result)
        })?;
        Ok(PyMergeResult::from(result))
    }

    /// Discards the staged changes.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        self.shared.run_quick(py, |shared| {
            shared.core.reset()?;
            shared.forget_all();
            Ok(())
        })
    }

    /// Moves to the branch head (to see other writers' commits) and discards
    /// the staged changes.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        self.shared.run(py, |shared| {
            shared.core.refresh()?;
            shared.forget_all();
            Ok(())
        })
    }

    /// Creates branch `name` at the current commit; returns a store on it.
    fn create_branch(slf: &Bound<'_, Self>, name: &str) -> PyResult<Py<PyAny>> {
        let core = slf
            .get()
            .shared
            .run(slf.py(), |shared| shared.core.create_branch(name))?;
        Self::sibling(slf, core)
    }

    /// A store at `commit_hash` (None if there is no such commit), on this
    /// branch or on `branch`.
    #[pyo3(signature = (commit_hash, *, branch=None))]
    fn checkout(
        slf: &Bound<'_, Self>,
        commit_hash: &str,
        branch: Option<&str>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let core = slf.get().shared.run(slf.py(), |shared| {
            let commit = shared
                .core
                .with_versioned(|cursor| convert::maybe_commit_id(cursor, commit_hash))?;
            match commit {
                Some(commit) => shared.core.checkout(commit, branch),
                None => Ok(None),
            }
        })?;
        core.map(|core| Self::sibling(slf, core)).transpose()
    }

    /// Every branch name, sorted.
    fn list_branches(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.shared.run(py, |shared| shared.core.list_branches())
    }

    /// Registers `function(old, ours, theirs) -> merged` on decoded values
    /// for `key` (None unregisters it).
    fn set_merge_fn(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        function: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = convert::key(key)?;
        if function.is_none() {
            return self.shared.run_quick(py, |shared| {
                shared
                    .core
                    .with_versioned_mut(|versioned| versioned.clear_merge_fn(&key));
                Ok(())
            });
        }
        let function = value_merge_fn(function)?;
        self.shared
            .run_quick(py, |shared| shared.core.set_merge_fn(&key, function))
    }

    /// Registers the merge function on decoded values for keys without one.
    fn set_default_merge(&self, py: Python<'_>, function: &Bound<'_, PyAny>) -> PyResult<()> {
        let function = value_merge_fn(function)?;
        self.shared
            .run_quick(py, |shared| shared.core.set_default_merge(function))
    }

    // ---- properties ---------------------------------------------------------

    /// The cursor under the store (the `Versioned` it was opened with).
    #[getter]
    fn versioned(&self, py: Python<'_>) -> Py<PyVersioned> {
        self.versioned.clone_ref(py)
    }

    /// The branch the store commits to.
    #[getter]
    fn branch(&self, py: Python<'_>) -> PyResult<String> {
        self.shared.run_quick(py, |shared| Ok(shared.core.branch()))
    }

    /// The commit reads come from.
    #[getter]
    fn current_commit(&self, py: Python<'_>) -> PyResult<String> {
        self.shared
            .run_quick(py, |shared| Ok(shared.core.current_commit()?.to_hex()))
    }

    /// The head the store last synchronised with.
    #[getter]
    fn base_commit(&self, py: Python<'_>) -> PyResult<String> {
        self.shared
            .run_quick(py, |shared| Ok(shared.core.base_commit()?.to_hex()))
    }

    /// The result of the last commit, or None.
    #[getter]
    fn last_merge_result(&self, py: Python<'_>) -> PyResult<Option<PyMergeResult>> {
        self.shared.run_quick(py, |shared| {
            Ok(shared.core.last_merge_result()?.map(PyMergeResult::from))
        })
    }

    /// The function values are encoded with.
    #[getter]
    fn encoder(&self, py: Python<'_>) -> Py<PyAny> {
        self.shared.core.codec().encoder(py)
    }

    /// The function values are decoded with.
    #[getter]
    fn decoder(&self, py: Python<'_>) -> Py<PyAny> {
        self.shared.core.codec().decoder(py)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let py = slf.py();
        let (branch, commit, keys, staged) = slf.get().shared.run(py, |shared| {
            Ok((
                shared.core.branch(),
                shared.core.current_commit()?.short(12),
                shared.core.len().ok(),
                shared.core.has_changes(),
            ))
        })?;
        let name = slf.get_type().qualname()?;
        let keys = keys.map_or_else(|| "?".to_owned(), |len| len.to_string());
        let branch = PyString::new(py, &branch).repr()?;
        let staged = if staged { " (changes staged)" } else { "" };
        Ok(format!(
            "<kvit.{name} branch={branch} commit={commit} keys={keys}{staged}>"
        ))
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<StagedSeed>()?;
    module.add_class::<PyStaged>()
}
