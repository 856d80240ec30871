//! `kvit._native`: the Rust core of the Python package `kvit`.
//!
//! One file per exposed class, each with a `register` function; the Python
//! package (`python/kvit/`) re-exports these classes and adds what is better
//! written in Python (the `KVStore` base class, the `Store` protocol and the
//! mapping classes over the native cores, `Live`, `Namespaced`, `store()`,
//! exceptions, merge helpers). Every call that reaches storage releases the
//! GIL; Python values reach the core as opaque handles, and only the
//! user's encoder and decoder turn them into bytes.
#![deny(missing_docs)]

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod codec;
mod convert;
mod disk;
mod engine;
mod error;
mod gc_versioned;
mod kv_methods;
mod memory;
mod merge_fn;
mod merge_result;
mod postgres_store;
mod python_store;
mod redis_store;
mod staged;
mod versioned;

use pyo3::prelude::*;

/// The extension module `kvit._native`.
#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    memory::register(module)?;
    disk::register(module)?;
    redis_store::register(module)?;
    postgres_store::register(module)?;
    merge_result::register(module)?;
    versioned::register(module)?;
    gc_versioned::register(module)?;
    staged::register(module)?;
    Ok(())
}
