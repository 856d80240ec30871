//! `kvit._native`: the Rust core of the Python package `kvit`.
//!
//! One file per exposed class, each with a `register` function; the Python
//! package (`python/kvit/`) re-exports these classes and adds what is better
//! written in Python (the `KVStore` base class, exceptions, merge helpers).
//! Every call that reaches storage releases the GIL.
#![deny(missing_docs)]

mod convert;
mod disk;
mod error;
mod kv_methods;
mod memory;
mod merge_fn;
mod merge_result;
mod python_store;
mod versioned;

use pyo3::prelude::*;

/// The extension module `kvit._native`.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    memory::register(module)?;
    disk::register(module)?;
    merge_result::register(module)?;
    versioned::register(module)?;
    Ok(())
}
