//! `kvit.Versioned`: a cursor on one branch of a store, over the core's
//! [`kvit::Versioned`] (or, for `kvit.GCVersioned`, [`kvit::GcVersioned`]).
//!
//! The core cursor sits behind a mutex, so one handle may be shared by
//! threads (calls take turns) while separate handles run in parallel: every
//! call that reaches storage releases the GIL, and waiting for the mutex
//! happens with the GIL released too, so a thread holding the mutex can
//! always take the GIL to run a Python merge function or backend.
//!
//! A handle given to `kvit.Staged` lends its cursor to the store: the core
//! `Staged` owns it from then on, and the handle's calls go through the
//! store (which drops its staged changes and caches if a call moves the
//! cursor), so `staged.versioned` and the handle stay one cursor.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple, PyType};

use kvit::{ChangeSet, CommitOptions, Engine, MergeFn, ObjectId, OnConflict};

use crate::codec::PyCodec;
use crate::convert;
use crate::engine::{thread_token, EngineMut, OwnerMark};
use crate::error::{reentrant_use, to_py_err, type_error};
use crate::gc_versioned::PyGcVersioned;
use crate::merge_fn;
use crate::merge_result::PyMergeResult;
use crate::python_store;
use crate::staged::Shared;

static DIFF_RESULT_CLASS: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// Where a handle's cursor is.
// One per handle, never held in bulk: boxing would only add a hop.
#[allow(clippy::large_enum_variant)]
enum Slot {
    /// The handle owns it.
    Own(Engine),
    /// A `Staged` store owns it; calls go through the store.
    Lent(Arc<Shared>),
    /// Being handed over (only ever seen under the lock).
    Moving,
}

/// A cursor on one branch of a store.
#[pyclass(module = "kvit", name = "Versioned", frozen, subclass)]
pub(crate) struct PyVersioned {
    slot: Mutex<Slot>,
    /// The thread inside a call on this handle, 0 for none: a merge function
    /// calling back into the handle that runs it would wait for itself.
    owner: AtomicUsize,
    /// The Python store object, handed to cursors opened from this one.
    store: Py<PyAny>,
}

/// What a call found in the slot: the result, or (for a lent cursor) the
/// store to run the work through.
enum Outcome<T, F> {
    Done(kvit::Result<T>),
    Lent(Arc<Shared>, F),
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

/// The change set of a commit's `updates` mapping and `removals` iterable.
fn change_set(
    updates: Option<&Bound<'_, PyAny>>,
    removals: Option<&Bound<'_, PyAny>>,
) -> PyResult<ChangeSet> {
    let mut changes = ChangeSet::new();
    let mut set_keys = std::collections::HashSet::new();
    if let Some(updates) = updates.filter(|updates| !updates.is_none()) {
        let items = match updates.downcast::<PyDict>() {
            Ok(dict) => dict.items().into_any(),
            Err(_) => updates.call_method0("items").map_err(|_| {
                type_error(format!(
                    "updates must be a mapping of str keys to bytes, not {}",
                    convert::type_name(updates)
                ))
            })?,
        };
        for pair in items.try_iter()? {
            let (key, value): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair?.extract()?;
            let key = convert::key(&key)?;
            let value = convert::value(&key, &value)?;
            changes
                .set(key.clone(), value)
                .map_err(|err| to_py_err(updates.py(), err))?;
            set_keys.insert(key);
        }
    }
    if let Some(removals) = removals.filter(|removals| !removals.is_none()) {
        for key in convert::key_iterable(removals, "removals")? {
            if set_keys.contains(&key) {
                return Err(PyValueError::new_err(format!(
                    "key {key:?} is both in updates and in removals"
                )));
            }
            changes
                .remove(key)
                .map_err(|err| to_py_err(removals.py(), err))?;
        }
    }
    Ok(changes)
}

/// The per-call merge functions of a commit.
fn merge_fns(merge_fns: Option<&Bound<'_, PyAny>>) -> PyResult<HashMap<String, MergeFn>> {
    convert::merge_fn_items(merge_fns)?
        .into_iter()
        .map(|(key, function)| Ok((key, merge_fn::from_callable(&function)?)))
        .collect()
}

impl PyVersioned {
    pub(crate) fn wrap(engine: Engine, store: Py<PyAny>) -> Self {
        PyVersioned {
            slot: Mutex::new(Slot::Own(engine)),
            owner: AtomicUsize::new(0),
            store,
        }
    }

    /// A new handle owning `engine`: a `GCVersioned` for a size-bounded one.
    pub(crate) fn create(py: Python<'_>, engine: Engine, store: Py<PyAny>) -> PyResult<Py<Self>> {
        let gc = matches!(engine, Engine::Gc(_));
        Self::instantiate(py, PyVersioned::wrap(engine, store), gc)
    }

    /// The handle of a cursor a `Staged` store owns (its `versioned`).
    pub(crate) fn lent(
        py: Python<'_>,
        shared: Arc<Shared>,
        store: Py<PyAny>,
    ) -> PyResult<Py<Self>> {
        let gc = shared.is_gc();
        let handle = PyVersioned {
            slot: Mutex::new(Slot::Lent(shared)),
            owner: AtomicUsize::new(0),
            store,
        };
        Self::instantiate(py, handle, gc)
    }

    /// `handle` as a Python object: a `GCVersioned` if `gc`, else a `Versioned`.
    fn instantiate(py: Python<'_>, handle: PyVersioned, gc: bool) -> PyResult<Py<Self>> {
        let base = PyClassInitializer::from(handle);
        if gc {
            Ok(Py::new(py, base.add_subclass(PyGcVersioned))?
                .into_bound(py)
                .into_super()
                .unbind())
        } else {
            Py::new(py, base)
        }
    }

    /// Hands the cursor to a new `Staged` store encoding with `codec`.
    ///
    /// # Errors
    /// `ValueError` if another `Staged` store already has it.
    pub(crate) fn lend(&self, py: Python<'_>, codec: PyCodec) -> PyResult<Arc<Shared>> {
        let me = thread_token();
        if OwnerMark::is_mine(&self.owner, me) {
            return Err(reentrant_use("this Versioned handle"));
        }
        let hot = PyDict::new(py).unbind();
        let store = self.store.clone_ref(py);
        let lent = py.allow_threads(|| {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            match std::mem::replace(&mut *slot, Slot::Moving) {
                Slot::Own(engine) => {
                    let shared = Arc::new(Shared::new(engine, codec, hot, store));
                    *slot = Slot::Lent(shared.clone());
                    Some(shared)
                }
                other => {
                    *slot = other;
                    None
                }
            }
        });
        lent.ok_or_else(|| {
            PyValueError::new_err(
                "this Versioned already backs a Staged store (one cursor stages one \
                 buffer); open another cursor for a second store, e.g. \
                 Versioned(v.store, branch=v.branch)",
            )
        })
    }

    /// Runs `work` on the core cursor with the GIL released.
    pub(crate) fn with_cursor<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&mut EngineMut<'_>) -> kvit::Result<T> + Send,
    ) -> PyResult<T> {
        let me = thread_token();
        if OwnerMark::is_mine(&self.owner, me) {
            return Err(reentrant_use("this Versioned handle"));
        }
        let outcome = py.allow_threads(|| {
            let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
            match &mut *slot {
                Slot::Own(engine) => {
                    let _mark = OwnerMark::set(&self.owner, me);
                    Outcome::Done(work(&mut EngineMut::from(engine)))
                }
                Slot::Lent(shared) => Outcome::Lent(shared.clone(), work),
                Slot::Moving => Outcome::Done(Err(kvit::Error::InvalidArgument(
                    "this Versioned is being handed to a Staged store".into(),
                ))),
            }
        });
        match outcome {
            Outcome::Done(result) => result.map_err(|err| to_py_err(py, err)),
            Outcome::Lent(shared, work) => shared.with_engine(py, work),
        }
    }

    /// Reads cursor state that needs no storage. It still waits (GIL
    /// released) for a call running on another thread to finish.
    fn peek<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&EngineMut<'_>) -> T + Send,
    ) -> PyResult<T> {
        self.with_cursor(py, |cursor| Ok(work(cursor)))
    }

    /// Runs `work` on the size-bounded cursor.
    pub(crate) fn with_gc<T: Send>(
        &self,
        py: Python<'_>,
        work: impl FnOnce(&mut kvit::GcVersioned) -> kvit::Result<T> + Send,
    ) -> PyResult<T> {
        self.with_cursor(py, |cursor| match cursor.gc() {
            Some(gc) => work(gc),
            None => Err(kvit::Error::InvalidArgument(
                "this cursor has no size bound (open a GCVersioned)".into(),
            )),
        })
    }

    /// A handle on a cursor opened from this one, of the same kind.
    fn opened(&self, py: Python<'_>, engine: Engine) -> PyResult<Py<PyAny>> {
        Ok(PyVersioned::create(py, engine, self.store.clone_ref(py))?.into_any())
    }
}

/// Opens the cursor of a `Versioned(store, commit_hash=..., branch=...)` call.
pub(crate) fn open_cursor(
    py: Python<'_>,
    store: Option<&Bound<'_, PyAny>>,
    commit_hash: Option<&str>,
    branch: &str,
) -> PyResult<(kvit::Versioned, Py<PyAny>)> {
    let (kv, store) = python_store::resolve(py, store)?;
    let mut options = kvit::OpenOptions::new().branch(branch);
    if let Some(hash) = commit_hash {
        options = options.at_commit_prefix(hash);
    }
    let cursor = py
        .allow_threads(|| options.open(kv))
        .map_err(|err| to_py_err(py, err))?;
    Ok((cursor, store))
}

/// `min_age` seconds as a duration.
pub(crate) fn min_age(seconds: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!(
            "min_age must be a non-negative number of seconds, not {seconds}"
        ))
    })
}

#[pymethods]
impl PyVersioned {
    /// Opens a cursor on `branch` of `store` (a fresh in-memory store if
    /// None), at `commit_hash` or else at the branch head, creating the
    /// branch at an empty root commit if it does not exist.
    #[new]
    #[pyo3(signature = (store=None, *, commit_hash=None, branch="main"))]
    fn new(
        py: Python<'_>,
        store: Option<&Bound<'_, PyAny>>,
        commit_hash: Option<&str>,
        branch: &str,
    ) -> PyResult<Self> {
        let (cursor, store) = open_cursor(py, store, commit_hash, branch)?;
        Ok(PyVersioned::wrap(Engine::Plain(cursor), store))
    }

    // ---- identity ---------------------------------------------------------

    /// The store this cursor reads and writes.
    #[getter]
    fn store(&self, py: Python<'_>) -> Py<PyAny> {
        self.store.clone_ref(py)
    }

    /// The branch this cursor commits to.
    #[getter]
    fn branch(&self, py: Python<'_>) -> PyResult<String> {
        self.peek(py, |cursor| cursor.branch().to_owned())
    }

    /// The commit reads come from.
    #[getter]
    fn current_commit(&self, py: Python<'_>) -> PyResult<String> {
        self.peek(py, |cursor| cursor.current_commit().to_hex())
    }

    /// The head this cursor last synchronised with.
    #[getter]
    fn base_commit(&self, py: Python<'_>) -> PyResult<String> {
        self.peek(py, |cursor| cursor.base_commit().to_hex())
    }

    /// The branch head as stored now (None if the branch does not exist).
    #[getter]
    fn latest_head(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.with_cursor(py, |cursor| Ok(cursor.latest_head()?.map(|id| id.to_hex())))
    }

    /// The root of the current commit's linear history.
    #[getter]
    fn initial_commit(&self, py: Python<'_>) -> PyResult<String> {
        self.with_cursor(py, |cursor| Ok(cursor.initial_commit()?.to_hex()))
    }

    /// The result of the last commit made through this cursor, or None.
    #[getter]
    fn last_merge_result(&self, py: Python<'_>) -> PyResult<Option<PyMergeResult>> {
        self.peek(py, |cursor| {
            cursor.last_merge_result().cloned().map(PyMergeResult::from)
        })
    }

    // ---- reads ------------------------------------------------------------

    /// The value of `key` in the current commit, or None.
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = convert::key(key)?;
        let value = self.with_cursor(py, |cursor| cursor.get(&key))?;
        Ok(value.map(|bytes| PyBytes::new(py, &bytes)))
    }

    /// The values of the existing keys among `keys`.
    #[pyo3(signature = (*keys))]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        keys: &Bound<'py, PyTuple>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let keys = convert::keys(keys)?;
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let values = self.with_cursor(py, |cursor| cursor.get_many(&refs))?;
        let found = PyDict::new(py);
        for (key, value) in keys.iter().zip(values) {
            if let Some(value) = value {
                found.set_item(key, PyBytes::new(py, &value))?;
            }
        }
        Ok(found)
    }

    /// Every key, sorted.
    fn keys<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let keys = self.with_cursor(py, |cursor| cursor.keys())?;
        PyList::new(py, keys)
    }

    /// The keys starting with `prefix`, sorted (a range scan).
    fn keys_with_prefix<'py>(&self, py: Python<'py>, prefix: &str) -> PyResult<Bound<'py, PyList>> {
        let keys = self.with_cursor(py, |cursor| cursor.keys_with_prefix(prefix))?;
        PyList::new(py, keys)
    }

    /// The `(key, value)` pairs whose keys start with `prefix`, sorted by key.
    #[pyo3(signature = (prefix=""))]
    fn items<'py>(&self, py: Python<'py>, prefix: &str) -> PyResult<Bound<'py, PyList>> {
        let items = self.with_cursor(py, |cursor| cursor.items_with_prefix(prefix))?;
        let list = PyList::empty(py);
        for (key, value) in items {
            list.append((key, PyBytes::new(py, &value)))?;
        }
        Ok(list)
    }

    fn __contains__(&self, py: Python<'_>, key: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(key) = convert::key(key) else {
            return Ok(false);
        };
        self.with_cursor(py, |cursor| cursor.contains(&key))
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        let len = self.with_cursor(py, |cursor| cursor.len())?;
        usize::try_from(len).map_err(|_| PyValueError::new_err("too many keys for len()"))
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.keys(py)?.try_iter().map(Bound::into_any)
    }

    // ---- commit -----------------------------------------------------------

    /// Commits `updates` (str -> bytes) and `removals` atomically and moves
    /// the branch head, merging three ways if another writer moved it.
    #[pyo3(signature = (
        updates=None,
        removals=None,
        *,
        on_conflict="raise",
        merge_fns=None,
        default_merge=None,
        info=None,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        py: Python<'_>,
        updates: Option<&Bound<'_, PyAny>>,
        removals: Option<&Bound<'_, PyAny>>,
        on_conflict: &str,
        merge_fns: Option<&Bound<'_, PyAny>>,
        default_merge: Option<&Bound<'_, PyAny>>,
        info: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyMergeResult> {
        let mut options = CommitOptions::new().on_conflict(self::on_conflict(on_conflict)?);
        let changes = change_set(updates, removals)?;
        options.merge_fns = self::merge_fns(merge_fns)?;
        if let Some(function) = default_merge.filter(|function| !function.is_none()) {
            options.default_merge = Some(merge_fn::from_callable(function)?);
        }
        options.info = convert::commit_info(info)?;
        let result = self.with_cursor(py, |cursor| cursor.commit(&changes, &options))?;
        Ok(PyMergeResult::from(result))
    }

    /// Registers `function(old, ours, theirs) -> bytes | None` for `key`
    /// (None unregisters it).
    fn set_merge_fn(
        &self,
        py: Python<'_>,
        key: &Bound<'_, PyAny>,
        function: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let key = convert::key(key)?;
        if function.is_none() {
            return self.with_cursor(py, |cursor| {
                cursor.clear_merge_fn(&key);
                Ok(())
            });
        }
        let function = merge_fn::from_callable(function)?;
        self.with_cursor(py, |cursor| {
            cursor.set_merge_fn(key, function);
            Ok(())
        })
    }

    /// Registers the merge function for keys without their own.
    fn set_default_merge(&self, py: Python<'_>, function: &Bound<'_, PyAny>) -> PyResult<()> {
        let function = merge_fn::from_callable(function)?;
        self.with_cursor(py, |cursor| {
            cursor.set_default_merge(function);
            Ok(())
        })
    }

    // ---- navigation -------------------------------------------------------

    /// Moves the cursor to the branch head, to see other writers' commits.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        self.with_cursor(py, |cursor| cursor.refresh())
    }

    /// A new cursor at `commit_hash` (None if there is no such commit), on
    /// this branch or on `branch`.
    #[pyo3(signature = (commit_hash, *, branch=None))]
    fn checkout(
        &self,
        py: Python<'_>,
        commit_hash: &str,
        branch: Option<&str>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let engine = self.with_cursor(py, |cursor| {
            let Some(commit) = convert::maybe_commit_id(cursor, commit_hash)? else {
                return Ok(None);
            };
            match cursor.checkout(commit, branch)? {
                Some(opened) => cursor.sibling(opened).map(Some),
                None => Ok(None),
            }
        })?;
        engine.map(|engine| self.opened(py, engine)).transpose()
    }

    /// Creates branch `name` at the current commit and returns a cursor on
    /// it; `ValueError` if the name is taken.
    fn create_branch(&self, py: Python<'_>, name: &str) -> PyResult<Py<PyAny>> {
        let engine = self.with_cursor(py, |cursor| {
            let opened = cursor.create_branch(name)?;
            cursor.sibling(opened)
        })?;
        self.opened(py, engine)
    }

    /// Deletes the commits no branch head reaches that are older than
    /// `min_age` seconds (with what only they hold); returns how many.
    #[pyo3(signature = (min_age=3600.0))]
    fn clean_orphans(&self, py: Python<'_>, min_age: f64) -> PyResult<usize> {
        let min_age = self::min_age(min_age)?;
        self.with_cursor(py, |cursor| cursor.clean_orphans(min_age))
    }

    /// Deletes branch `name`; returns whether it existed.
    fn delete_branch(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        self.with_cursor(py, |cursor| cursor.delete_branch(name))
    }

    /// Forces this branch's head to `commit_hash` and moves the cursor there;
    /// False (and nothing changed) if there is no such commit.
    fn reset_to(&self, py: Python<'_>, commit_hash: &str) -> PyResult<bool> {
        self.with_cursor(py, |cursor| {
            match convert::maybe_commit_id(cursor, commit_hash)? {
                Some(commit) => cursor.reset_to(commit),
                None => Ok(false),
            }
        })
    }

    /// Every branch name, sorted.
    fn list_branches(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.with_cursor(py, |cursor| cursor.list_branches())
    }

    // ---- history ----------------------------------------------------------

    /// Commit ids from `commit_hash` (default: the current commit) back to
    /// the root, newest first: first parents only, or the whole ancestry.
    #[pyo3(signature = (commit_hash=None, *, all_parents=false))]
    fn history(
        &self,
        py: Python<'_>,
        commit_hash: Option<&str>,
        all_parents: bool,
    ) -> PyResult<Vec<String>> {
        let ids = self.with_cursor(py, |cursor| {
            let start = commit_hash
                .map(|text| convert::commit_id(cursor, text))
                .transpose()?;
            match cursor.history(start, all_parents) {
                Err(kvit::Error::MissingObject { id, .. }) if Some(id) == start => {
                    Err(kvit::Error::CommitNotFound(id.to_hex()))
                }
                other => other,
            }
        })?;
        Ok(ids.iter().map(ObjectId::to_hex).collect())
    }

    /// The keys added, removed and modified from commit `a` to commit `b`.
    fn diff<'py>(&self, py: Python<'py>, a: &str, b: &str) -> PyResult<Bound<'py, PyAny>> {
        let diff = self.with_cursor(py, |cursor| {
            cursor.diff(
                convert::commit_id(cursor, a)?,
                convert::commit_id(cursor, b)?,
            )
        })?;
        let class = DIFF_RESULT_CLASS.import(py, "kvit.results", "DiffResult")?;
        let frozen =
            |keys: &std::collections::BTreeSet<String>| pyo3::types::PyFrozenSet::new(py, keys);
        class.call1((
            frozen(&diff.added)?,
            frozen(&diff.removed)?,
            frozen(&diff.modified)?,
        ))
    }

    /// The JSON info stored with `commit_hash` (default: the current commit):
    /// None where none was stored or there is no such commit.
    #[pyo3(signature = (commit_hash=None))]
    fn commit_info<'py>(
        &self,
        py: Python<'py>,
        commit_hash: Option<&str>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        let info = self.with_cursor(py, |cursor| {
            let commit = match commit_hash {
                None => None,
                Some(text) => match convert::maybe_commit_id(cursor, text)? {
                    Some(id) => Some(id),
                    None => return Ok(None),
                },
            };
            match cursor.commit_info(commit) {
                Err(kvit::Error::MissingObject { id, .. }) if Some(id) == commit => Ok(None),
                other => other,
            }
        })?;
        info.map(|value| convert::from_json(py, &value)).transpose()
    }

    /// The lowest common ancestor of two commits, or None.
    fn merge_base(&self, py: Python<'_>, a: &str, b: &str) -> PyResult<Option<String>> {
        let base = self.with_cursor(py, |cursor| {
            let (a, b) = (
                convert::commit_id(cursor, a)?,
                convert::commit_id(cursor, b)?,
            );
            match cursor.merge_base(a, b) {
                Err(kvit::Error::MissingObject { id, .. }) if id == a || id == b => {
                    Err(kvit::Error::CommitNotFound(id.to_hex()))
                }
                other => other,
            }
        })?;
        Ok(base.map(|id| id.to_hex()))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let (branch, commit, len, bounds) = self.with_cursor(py, |cursor| {
            let bounds = cursor.gc().map(|gc| {
                format!(
                    " high_water={} low_water={}",
                    gc.high_water(),
                    gc.low_water()
                )
            });
            Ok((
                cursor.branch().to_owned(),
                cursor.current_commit().short(12),
                cursor.len().ok(),
                bounds,
            ))
        })?;
        let class = match self.store.bind(py).get_type().name() {
            Ok(name) => name.to_string(),
            Err(_) => "?".to_owned(),
        };
        let keys = len.map_or_else(|| "?".to_owned(), |len| len.to_string());
        let branch = PyString::new(py, &branch).repr()?;
        let name = if bounds.is_some() {
            "GCVersioned"
        } else {
            "Versioned"
        };
        let bounds = bounds.unwrap_or_default();
        Ok(format!(
            "<kvit.{name} branch={branch} commit={commit} keys={keys}{bounds} store={class}>"
        ))
    }
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<PyVersioned>()
}
