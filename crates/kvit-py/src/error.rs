//! The one place where a [`kvit::Error`] becomes a Python exception.
//!
//! kvit's own exception classes live in Python (`kvit/errors.py`) so that
//! Python code can raise and subclass them like any other; this module looks
//! them up once per interpreter.

use pyo3::exceptions::{
    PyKeyError, PyNotImplementedError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyDict, PySet, PyString, PyType};

use kvit::{BoxError, Error};

const ERRORS_MODULE: &str = "kvit.errors";

static KVIT_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();
static BACKEND_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();
static CORRUPTION_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();
static INVALID_STORE_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();
static CONCURRENCY_ERROR: GILOnceCell<Py<PyType>> = GILOnceCell::new();
static MERGE_CONFLICT: GILOnceCell<Py<PyType>> = GILOnceCell::new();

/// An instance of one of `kvit.errors`' classes carrying `message`.
fn kvit_exception(
    py: Python<'_>,
    cell: &'static GILOnceCell<Py<PyType>>,
    name: &str,
    message: String,
) -> PyErr {
    match cell.import(py, ERRORS_MODULE, name) {
        Ok(class) => PyErr::from_type(class.clone(), message),
        // Only if the Python half of the package is broken.
        Err(import_error) => import_error,
    }
}

/// Converts a core error into the Python exception the API promises.
///
/// An error that came from Python (a Python-defined backend raising, carried
/// through the core as a boxed [`PyErr`]) is handed back unchanged.
pub(crate) fn to_py_err(py: Python<'_>, err: Error) -> PyErr {
    let message = err.to_string();
    match err {
        Error::Backend { source, .. } => match source.downcast::<PyErr>() {
            Ok(original) => *original,
            Err(_) => kvit_exception(py, &BACKEND_ERROR, "BackendError", message),
        },
        Error::Closed { .. } => kvit_exception(py, &BACKEND_ERROR, "BackendError", message),
        Error::MergeConflict(conflict) => merge_conflict(py, conflict, message),
        Error::Concurrency { .. } => {
            kvit_exception(py, &CONCURRENCY_ERROR, "ConcurrencyError", message)
        }
        Error::MissingObject { .. } | Error::CorruptObject { .. } | Error::CorruptRef { .. } => {
            kvit_exception(py, &CORRUPTION_ERROR, "CorruptionError", message)
        }
        Error::InvalidStore { .. } | Error::UnsupportedFormat { .. } => {
            kvit_exception(py, &INVALID_STORE_ERROR, "InvalidStoreError", message)
        }
        Error::InvalidKey { .. }
        | Error::ValueTooLarge { .. }
        | Error::InvalidArgument(_)
        | Error::InvalidBranchName { .. }
        | Error::BranchExists(_)
        | Error::AmbiguousCommitPrefix { .. } => PyValueError::new_err(message),
        Error::CommitNotFound(_) => PyKeyError::new_err(message),
        // Like a dict's KeyError: the key itself is the argument.
        Error::KeyNotFound(key) => PyKeyError::new_err(key),
        Error::Codec {
            action,
            key,
            source,
        } => match source.downcast::<PyErr>() {
            Ok(original) => codec_error(py, action, &key, *original),
            Err(_) => PyValueError::new_err(message),
        },
        Error::Unsupported { .. } => PyNotImplementedError::new_err(message),
        _ => kvit_exception(py, &KVIT_ERROR, "KvitError", message),
    }
}

/// An encoder's or decoder's exception, re-raised naming the key: an
/// exception of the same class whose message names the key, caused by the
/// original (`raise ... from original`). Where the class cannot be built
/// from a message alone, a `TypeError` (encoding) or `ValueError` (decoding).
fn codec_error(py: Python<'_>, action: &str, key: &str, original: PyErr) -> PyErr {
    let key = PyString::new(py, key)
        .repr()
        .map_or_else(|_| format!("{key:?}"), |repr| repr.to_string());
    let message = format!("cannot {action} the value of key {key}: {original}");
    let class = original.get_type(py);
    let same_class = class
        .call1((message.clone(),))
        .ok()
        .filter(|error| error.is_instance(&class).unwrap_or(false))
        .map(PyErr::from_value);
    let error = same_class.unwrap_or_else(|| {
        if action == "encode" {
            PyTypeError::new_err(message)
        } else {
            PyValueError::new_err(message)
        }
    });
    error.set_cause(py, Some(original));
    error
}

/// `kvit.MergeConflict(conflicting_keys, merge_errors, message)`, with each
/// merge function's original exception object where it raised one.
fn merge_conflict(py: Python<'_>, conflict: kvit::MergeConflict, message: String) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let keys = PySet::new(py, &conflict.conflicting_keys)?;
        let errors = PyDict::new(py);
        for (key, error) in conflict.merge_errors {
            errors.set_item(key, boxed_to_exception(py, error))?;
        }
        let class = MERGE_CONFLICT.import(py, ERRORS_MODULE, "MergeConflict")?;
        Ok(PyErr::from_value(class.call1((keys, errors, message))?))
    };
    build().unwrap_or_else(|err| err)
}

/// The Python exception object behind a boxed error: the original one if the
/// error came from Python, else a `ValueError` with its message.
fn boxed_to_exception(py: Python<'_>, error: BoxError) -> PyObject {
    match error.downcast::<PyErr>() {
        Ok(original) => original.into_value(py).into_any(),
        Err(other) => PyValueError::new_err(other.to_string())
            .into_value(py)
            .into_any(),
    }
}

/// The error for a type mismatch at the API boundary.
pub(crate) fn type_error(message: String) -> PyErr {
    PyTypeError::new_err(message)
}

/// The error for a handle used from inside one of its own callbacks.
pub(crate) fn reentrant_use(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!(
        "{what} was used from inside one of its own calls (a merge function or \
         backend method calling back into the handle that is running it); \
         use another handle"
    ))
}
