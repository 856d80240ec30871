//! Conversions at the Python boundary: keys, byte values, commit ids and
//! JSON-like commit info. Every type error names what was wrong and where.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};

use kvit::ObjectId;

use crate::error::type_error;

/// The Python type name of `obj`, for error messages.
pub(crate) fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |name| name.to_string())
}

/// A key: must be a `str`.
pub(crate) fn key(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    match obj.downcast::<PyString>() {
        Ok(text) => Ok(text.to_cow()?.into_owned()),
        Err(_) => Err(type_error(format!(
            "keys must be str, not {}",
            type_name(obj)
        ))),
    }
}

/// A timeout argument in seconds as a duration: finite and not negative.
pub(crate) fn seconds(name: &str, seconds: f64) -> PyResult<std::time::Duration> {
    std::time::Duration::try_from_secs_f64(seconds).map_err(|_| {
        PyValueError::new_err(format!(
            "{name} must be a non-negative number of seconds, not {seconds}"
        ))
    })
}

/// Every key of a `*keys` argument.
pub(crate) fn keys(args: &Bound<'_, PyTuple>) -> PyResult<Vec<String>> {
    args.iter().map(|item| key(&item)).collect()
}

/// The keys of an iterable of keys (not a lone string, which would iterate
/// its characters).
pub(crate) fn key_iterable(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(type_error(format!(
            "{what} must be an iterable of str keys, not a single {}",
            type_name(obj)
        )));
    }
    obj.try_iter()?.map(|item| key(&item?)).collect()
}

/// A value: must be `bytes` (or a `bytearray`), reported against its key.
pub(crate) fn value(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = obj.downcast::<PyBytes>() {
        return Ok(bytes.as_bytes().to_vec());
    }
    if let Ok(array) = obj.downcast::<PyByteArray>() {
        return Ok(array.to_vec());
    }
    Err(type_error(format!(
        "value for key {key:?} must be bytes, not {}",
        type_name(obj)
    )))
}

/// An optional value: `None` or bytes.
pub(crate) fn optional_value(key: &str, obj: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
    if obj.is_none() {
        Ok(None)
    } else {
        value(key, obj).map(Some)
    }
}

/// The commit `text` names: a full id or a unique prefix of one (at least
/// 4 lowercase hex characters), looked up in the cursor's store.
///
/// # Errors
/// As [`kvit::Versioned::resolve_commit`]: `InvalidArgument` (a
/// `ValueError`) for text that cannot be an id, `CommitNotFound` (a
/// `KeyError`) for an unknown one, `AmbiguousCommitPrefix` (a `ValueError`).
pub(crate) fn commit_id(cursor: &kvit::Versioned, text: &str) -> kvit::Result<ObjectId> {
    cursor.resolve_commit(text)
}

/// The commit `text` names, or `None` where it names none (text that cannot
/// be an id, or an unknown one), for the calls whose answer to an unknown
/// commit is `None` / `False`. An ambiguous prefix is still an error: there
/// are commits, and the caller must say which.
///
/// # Errors
/// `AmbiguousCommitPrefix`, or a backend failure.
pub(crate) fn maybe_commit_id(
    cursor: &kvit::Versioned,
    text: &str,
) -> kvit::Result<Option<ObjectId>> {
    match cursor.resolve_commit(text) {
        Ok(id) => Ok(Some(id)),
        Err(kvit::Error::InvalidArgument(_) | kvit::Error::CommitNotFound(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

const MAX_JSON_DEPTH: usize = 128;

/// A JSON-like Python value (dict with str keys, list, tuple, str, int,
/// float, bool, None) as JSON.
pub(crate) fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    to_json_at(obj, 0)
}

fn to_json_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<serde_json::Value> {
    use serde_json::Value;
    if depth > MAX_JSON_DEPTH {
        return Err(PyValueError::new_err("commit info is nested too deeply"));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    // bool before int: a Python bool is an int.
    if let Ok(flag) = obj.downcast::<PyBool>() {
        return Ok(Value::Bool(flag.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(number) = obj.extract::<i64>() {
            return Ok(Value::from(number));
        }
        if let Ok(number) = obj.extract::<u64>() {
            return Ok(Value::from(number));
        }
        return Err(PyValueError::new_err(
            "integers in commit info must fit in 64 bits",
        ));
    }
    if let Ok(number) = obj.downcast::<PyFloat>() {
        return serde_json::Number::from_f64(number.value())
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err("commit info cannot hold NaN or infinity"));
    }
    if let Ok(text) = obj.downcast::<PyString>() {
        return Ok(Value::String(text.to_cow()?.into_owned()));
    }
    if let Ok(dict) = obj.downcast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (name, item) in dict.iter() {
            let Ok(name) = name.downcast::<PyString>() else {
                return Err(PyTypeError::new_err(format!(
                    "keys in commit info must be str, not {}",
                    type_name(&name)
                )));
            };
            map.insert(name.to_cow()?.into_owned(), to_json_at(&item, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        return obj
            .try_iter()?
            .map(|item| to_json_at(&item?, depth + 1))
            .collect::<PyResult<Vec<_>>>()
            .map(Value::Array);
    }
    Err(PyTypeError::new_err(format!(
        "commit info must be JSON-like (dict, list, str, int, float, bool, None), not {}",
        type_name(obj)
    )))
}

/// JSON as the matching Python value.
pub(crate) fn from_json<'py>(
    py: Python<'py>,
    value: &serde_json::Value,
) -> PyResult<Bound<'py, PyAny>> {
    use serde_json::Value;
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                int.into_pyobject(py)?.into_any()
            } else if let Some(int) = number.as_u64() {
                int.into_pyobject(py)?.into_any()
            } else {
                number
                    .as_f64()
                    .unwrap_or(f64::NAN)
                    .into_pyobject(py)?
                    .into_any()
            }
        }
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_json(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (name, item) in map {
                dict.set_item(name, from_json(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// The `(key, function)` pairs of a commit's `merge_fns` mapping (None: no
/// pairs), keys checked; the caller wraps the functions.
pub(crate) fn merge_fn_items<'py>(
    merge_fns: Option<&Bound<'py, PyAny>>,
) -> PyResult<Vec<(String, Bound<'py, PyAny>)>> {
    let Some(merge_fns) = merge_fns.filter(|fns| !fns.is_none()) else {
        return Ok(Vec::new());
    };
    let items = merge_fns.call_method0("items").map_err(|_| {
        type_error(format!(
            "merge_fns must be a mapping of keys to merge functions, not {}",
            type_name(merge_fns)
        ))
    })?;
    let mut pairs = Vec::new();
    for pair in items.try_iter()? {
        let (key, function): (Bound<'py, PyAny>, Bound<'py, PyAny>) = pair?.extract()?;
        pairs.push((self::key(&key)?, function));
    }
    Ok(pairs)
}

/// A commit's `info` (None: none) as JSON; it must be a dict.
pub(crate) fn commit_info(info: Option<&Bound<'_, PyAny>>) -> PyResult<Option<serde_json::Value>> {
    let Some(info) = info.filter(|info| !info.is_none()) else {
        return Ok(None);
    };
    if !info.is_instance_of::<PyDict>() {
        return Err(type_error(format!(
            "commit info must be a dict, not {}",
            type_name(info)
        )));
    }
    to_json(info).map(Some)
}
