//! Instrumented backends for tests: call counting, injected latency, faults.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::KvStore;
use crate::error::{Error, Result};

/// Per-operation call counts recorded by [`Counting`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CallCounts {
    /// Calls by operation name (`get`, `get_many`, `set_many`, ...).
    pub calls: BTreeMap<&'static str, u64>,
    /// Keys read across all read calls.
    pub keys_read: u64,
    /// Keys written across all write calls.
    pub keys_written: u64,
    /// Value bytes written across all write calls.
    pub bytes_written: u64,
}

impl CallCounts {
    /// Calls to the backend of any kind: its round trips.
    pub fn round_trips(&self) -> u64 {
        self.calls.values().sum()
    }

    /// Calls of one operation.
    pub fn calls_of(&self, operation: &str) -> u64 {
        self.calls.get(operation).copied().unwrap_or(0)
    }
}

/// Wraps a backend, counting calls, keys and bytes, optionally sleeping per call
/// to model a remote backend's latency.
pub struct Counting<S> {
    inner: S,
    counts: Mutex<CallCounts>,
    latency_micros: AtomicU64,
}

impl<S: KvStore> Counting<S> {
    /// Wraps `inner` with zero latency.
    pub fn new(inner: S) -> Self {
        Counting {
            inner,
            counts: Mutex::default(),
            latency_micros: AtomicU64::new(0),
        }
    }

    /// Sleeps this long in every call from now on.
    pub fn set_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_micros.store(micros, Ordering::Relaxed);
    }

    /// The counts so far.
    pub fn counts(&self) -> CallCounts {
        self.lock().clone()
    }

    /// Zeroes the counts.
    pub fn reset(&self) {
        *self.lock() = CallCounts::default();
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CallCounts> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn record(&self, operation: &'static str, read: usize, written: usize, bytes: usize) {
        {
            let mut counts = self.lock();
            *counts.calls.entry(operation).or_default() += 1;
            counts.keys_read += read as u64;
            counts.keys_written += written as u64;
            counts.bytes_written += bytes as u64;
        }
        let micros = self.latency_micros.load(Ordering::Relaxed);
        if micros > 0 {
            std::thread::sleep(Duration::from_micros(micros));
        }
    }
}

impl<S: KvStore> KvStore for Counting<S> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.record("get", 1, 0, 0);
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.record("set", 0, 1, value.len());
        self.inner.set(key, value)
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.record("remove", 0, 1, 0);
        self.inner.remove(key)
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.record("cas", 1, 1, value.len());
        self.inner.cas(key, value, expected)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let keys = self.inner.keys_with_prefix(prefix)?;
        self.record("keys_with_prefix", keys.len(), 0, 0);
        Ok(keys)
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let items = self.inner.scan_prefix(prefix)?;
        self.record("scan_prefix", items.len(), 0, 0);
        Ok(items)
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        self.record("get_many", keys.len(), 0, 0);
        self.inner.get_many(keys)
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        let bytes = entries.iter().map(|(_, v)| v.len()).sum();
        self.record("set_many", 0, entries.len(), bytes);
        self.inner.set_many(entries)
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        self.record("remove_many", 0, keys.len(), 0);
        self.inner.remove_many(keys)
    }

    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        self.record("remove_if_unchanged", entries.len(), entries.len(), 0);
        self.inner.remove_if_unchanged(entries)
    }

    fn contains(&self, key: &str) -> Result<bool> {
        self.record("contains", 1, 0, 0);
        self.inner.contains(key)
    }

    fn clear(&self) -> Result<()> {
        self.record("clear", 0, 0, 0);
        self.inner.clear()
    }
}

/// Wraps a backend and fails every operation once armed: a dead disk or a lost
/// connection, for testing that failures leave state untouched.
pub struct Failing<S> {
    inner: S,
    armed: std::sync::atomic::AtomicBool,
}

impl<S: KvStore> Failing<S> {
    /// Wraps `inner`, disarmed.
    pub fn new(inner: S) -> Self {
        Failing {
            inner,
            armed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// From now on every call fails (`true`) or passes through (`false`).
    pub fn arm(&self, armed: bool) {
        self.armed.store(armed, Ordering::SeqCst);
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn check(&self, operation: &'static str) -> Result<()> {
        if self.armed.load(Ordering::SeqCst) {
            return Err(Error::backend(operation, "injected failure"));
        }
        Ok(())
    }
}

impl<S: KvStore> KvStore for Failing<S> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.check("get")?;
        self.inner.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.check("set")?;
        self.inner.set(key, value)
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.check("remove")?;
        self.inner.remove(key)
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.check("cas")?;
        self.inner.cas(key, value, expected)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.check("keys_with_prefix")?;
        self.inner.keys_with_prefix(prefix)
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.check("scan_prefix")?;
        self.inner.scan_prefix(prefix)
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        self.check("get_many")?;
        self.inner.get_many(keys)
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        self.check("set_many")?;
        self.inner.set_many(entries)
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        self.check("remove_many")?;
        self.inner.remove_many(keys)
    }

    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        self.check("remove_if_unchanged")?;
        self.inner.remove_if_unchanged(entries)
    }
}
