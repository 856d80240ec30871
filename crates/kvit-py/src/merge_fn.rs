//! Python callables as core merge functions.
//!
//! The core calls merge functions with the GIL released (it is in the middle
//! of a commit); the wrapper takes the GIL for the call. An exception the
//! callable raises is boxed as it is, so that `MergeConflict.merge_errors`
//! can hand the original object back to Python.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use kvit::{BoxError, MergeFn};

use crate::convert;
use crate::error::type_error;

/// Wraps `callable(old, ours, theirs) -> bytes | None` (None removes the key).
///
/// # Errors
/// `TypeError` if `callable` is not callable.
pub(crate) fn from_callable(callable: &Bound<'_, PyAny>) -> PyResult<MergeFn> {
    if !callable.is_callable() {
        return Err(type_error(format!(
            "a merge function must be callable (old, ours, theirs) -> bytes | None, not {}",
            convert::type_name(callable)
        )));
    }
    let callable = callable.clone().unbind();
    Ok(kvit::merge_fn(move |old, ours, theirs| {
        Python::with_gil(|py| {
            let bytes = |side: Option<&[u8]>| side.map(|value| PyBytes::new(py, value));
            let merged = callable
                .bind(py)
                .call1((bytes(old), bytes(ours), bytes(theirs)))?;
            if merged.is_none() {
                return Ok(None);
            }
            if let Ok(value) = merged.downcast::<PyBytes>() {
                return Ok(Some(value.as_bytes().to_vec()));
            }
            Err(type_error(format!(
                "a merge function must return bytes or None, not {}",
                convert::type_name(&merged)
            )))
        })
        .map_err(|err: PyErr| -> BoxError { Box::new(err) })
    }))
}
