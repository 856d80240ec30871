//! Python values in the Rust store layer: a value handle the core can clone
//! and send between threads, the codec that calls the user's encoder and
//! decoder, and decoded-value merge functions.
//!
//! The core calls the codec and merge functions with the GIL released (in
//! the middle of a read or a commit); each call takes the GIL for itself. An
//! exception raised by Python travels through the core boxed as it is, so
//! that it can be handed back unchanged (in `MergeConflict.merge_errors`) or
//! re-raised naming the key (see [`crate::error`]).

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyByteArray, PyBytes};

use kvit::{BoxError, ValueMergeFn};

use crate::convert;
use crate::error::type_error;

/// A Python object held by the core: cloning it shares the object (no GIL
/// needed), and the object's reference is given back when the last clone
/// goes.
#[derive(Clone)]
pub(crate) struct PyValue(Arc<Py<PyAny>>);

impl PyValue {
    pub(crate) fn new(object: Bound<'_, PyAny>) -> Self {
        PyValue(Arc::new(object.unbind()))
    }

    pub(crate) fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.0.bind(py)
    }

    /// A new reference to the object.
    pub(crate) fn object(&self, py: Python<'_>) -> Py<PyAny> {
        self.0.clone_ref(py)
    }
}

static PICKLE_DUMPS: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
static PICKLE_LOADS: GILOnceCell<Py<PyAny>> = GILOnceCell::new();

/// The user's `encoder(value) -> bytes` and `decoder(bytes) -> value`.
pub(crate) struct PyCodec {
    encoder: Py<PyAny>,
    decoder: Py<PyAny>,
}

impl PyCodec {
    /// The codec of `encoder` and `decoder`, `pickle.dumps` / `pickle.loads`
    /// where None.
    ///
    /// # Errors
    /// `TypeError` if either is not callable.
    pub(crate) fn new(
        py: Python<'_>,
        encoder: Option<&Bound<'_, PyAny>>,
        decoder: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let pick = |given: Option<&Bound<'_, PyAny>>,
                    default: &'static GILOnceCell<Py<PyAny>>,
                    name: &str,
                    what: &str|
         -> PyResult<Py<PyAny>> {
            match given.filter(|given| !given.is_none()) {
                Some(given) if given.is_callable() => Ok(given.clone().unbind()),
                Some(given) => Err(type_error(format!(
                    "{what} must be callable, not {}",
                    convert::type_name(given)
                ))),
                None => Ok(default.import(py, "pickle", name)?.clone().unbind()),
            }
        };
        Ok(PyCodec {
            encoder: pick(encoder, &PICKLE_DUMPS, "dumps", "encoder")?,
            decoder: pick(decoder, &PICKLE_LOADS, "loads", "decoder")?,
        })
    }

    pub(crate) fn encoder(&self, py: Python<'_>) -> Py<PyAny> {
        self.encoder.clone_ref(py)
    }

    pub(crate) fn decoder(&self, py: Python<'_>) -> Py<PyAny> {
        self.decoder.clone_ref(py)
    }
}

fn boxed(err: PyErr) -> BoxError {
    Box::new(err)
}

/// Values a commit encodes per taking of the GIL: enough to make taking it
/// cheap per value, few enough that other threads get a turn in between.
const ENCODE_BATCH: usize = 512;

impl PyCodec {
    fn encode_with(&self, py: Python<'_>, value: &PyValue) -> Result<Vec<u8>, BoxError> {
        let encoded = self
            .encoder
            .bind(py)
            .call1((value.bind(py),))
            .map_err(boxed)?;
        if let Ok(bytes) = encoded.downcast::<PyBytes>() {
            return Ok(bytes.as_bytes().to_vec());
        }
        if let Ok(array) = encoded.downcast::<PyByteArray>() {
            return Ok(array.to_vec());
        }
        Err(boxed(type_error(format!(
            "the encoder must return bytes, not {}",
            convert::type_name(&encoded)
        ))))
    }
}

impl kvit::Codec for PyCodec {
    type Value = PyValue;

    fn encode(&self, value: &PyValue) -> Result<Vec<u8>, BoxError> {
        Python::with_gil(|py| self.encode_with(py, value))
    }

    fn encode_all(&self, values: &[&PyValue]) -> Result<Vec<Vec<u8>>, (usize, BoxError)> {
        let mut encoded = Vec::with_capacity(values.len());
        for batch in values.chunks(ENCODE_BATCH) {
            Python::with_gil(|py| {
                for value in batch {
                    let at = encoded.len();
                    encoded.push(self.encode_with(py, value).map_err(|err| (at, err))?);
                }
                Ok(())
            })?;
        }
        Ok(encoded)
    }

    fn decode(&self, bytes: &[u8]) -> Result<PyValue, BoxError> {
        Python::with_gil(|py| {
            let decoded = self.decoder.bind(py).call1((PyBytes::new(py, bytes),))?;
            Ok(PyValue::new(decoded))
        })
        .map_err(boxed)
    }
}

/// Wraps `callable(old, ours, theirs) -> merged` on decoded values; the
/// store wraps it again into a merge function on stored bytes.
///
/// # Errors
/// `TypeError` if `callable` is not callable.
pub(crate) fn value_merge_fn(callable: &Bound<'_, PyAny>) -> PyResult<ValueMergeFn<PyValue>> {
    if !callable.is_callable() {
        return Err(type_error(format!(
            "a merge function must be callable (old, ours, theirs) -> merged, not {}",
            convert::type_name(callable)
        )));
    }
    let callable = callable.clone().unbind();
    Ok(kvit::value_merge_fn(
        move |old: Option<&PyValue>, ours: Option<&PyValue>, theirs: Option<&PyValue>| {
            Python::with_gil(|py| {
                let side = |value: Option<&PyValue>| value.map(|value| value.object(py));
                let merged = callable
                    .bind(py)
                    .call1((side(old), side(ours), side(theirs)))?;
                Ok(PyValue::new(merged))
            })
            .map_err(boxed)
        },
    ))
}
