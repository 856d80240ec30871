//! Byte backends: the bottom layer, bytes by string key with an atomic `cas`.
//!
//! Everything kvit stores goes through [`KvStore`]. Objects are immutable and
//! content-addressed, so the only operation that needs to be atomic across
//! writers is [`KvStore::cas`], which moves a branch head.

mod cached;
mod composite;
mod disk;
mod memory;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
pub mod counter_race;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

use std::sync::Arc;

pub use cached::Cached;
pub use composite::Composite;
pub use disk::{Disk, DiskOptions, DiskPragmas, Durability};
pub use memory::Memory;

use crate::error::Result;

/// A key-value store of bytes by string key: the contract every backend meets.
///
/// Implementations must be safe to share between threads. Batch operations
/// have default implementations in terms of the single-key ones; backends
/// override them to save round trips or to make them one transaction.
pub trait KvStore: Send + Sync {
    /// The value stored under `key`, or `None`.
    ///
    /// # Errors
    /// A backend failure.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Stores `value` under `key`, replacing any previous value.
    ///
    /// # Errors
    /// A backend failure.
    fn set(&self, key: &str, value: &[u8]) -> Result<()>;

    /// Removes `key`; removing a missing key is not an error.
    ///
    /// # Errors
    /// A backend failure.
    fn remove(&self, key: &str) -> Result<()>;

    /// Atomically sets `key` to `value` if its current value equals `expected`
    /// (`None`: the key must not exist). Returns whether the swap happened.
    ///
    /// # Errors
    /// A backend failure; a lost race is `Ok(false)`, not an error.
    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool>;

    /// Every key starting with `prefix`, in ascending byte order.
    ///
    /// # Errors
    /// A backend failure.
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>>;

    /// Every pair whose key starts with `prefix`, in ascending key order.
    ///
    /// # Errors
    /// A backend failure.
    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>>;

    /// The values of `keys`, position by position; `None` where a key is missing.
    ///
    /// # Errors
    /// A backend failure.
    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    /// Stores every pair; backends make this one transaction where they can.
    ///
    /// # Errors
    /// A backend failure.
    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        entries
            .iter()
            .try_for_each(|(key, value)| self.set(key, value))
    }

    /// Removes every key; missing keys are ignored.
    ///
    /// # Errors
    /// A backend failure.
    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        keys.iter().try_for_each(|key| self.remove(key))
    }

    /// Removes each key whose value still equals the one given with it; a
    /// key whose value changed (or that is gone) is left alone. Returns how
    /// many were removed. Garbage collection deletes through this, so an
    /// object a writer stored again after the collector looked is kept.
    ///
    /// The default checks and removes one key at a time and is not atomic;
    /// every backend kvit ships overrides it with an atomic version.
    ///
    /// # Errors
    /// A backend failure.
    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        let mut removed = 0;
        for (key, expected) in entries {
            if self.get(key)?.as_deref() == Some(*expected) {
                self.remove(key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Whether `key` is present.
    ///
    /// # Errors
    /// A backend failure.
    fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// Every key, in ascending byte order.
    ///
    /// # Errors
    /// A backend failure.
    fn keys(&self) -> Result<Vec<String>> {
        self.keys_with_prefix("")
    }

    /// Every pair, in ascending key order.
    ///
    /// # Errors
    /// A backend failure.
    fn items(&self) -> Result<Vec<(String, Vec<u8>)>> {
        self.scan_prefix("")
    }

    /// Removes every key.
    ///
    /// # Errors
    /// A backend failure.
    fn clear(&self) -> Result<()> {
        let keys = self.keys()?;
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        self.remove_many(&keys)
    }
}

macro_rules! forward_kv_store {
    ($($target:ty),*) => {$(
        impl<T: KvStore + ?Sized> KvStore for $target {
            fn get(&self, key: &str) -> Result<Option<Vec<u8>>> { (**self).get(key) }
            fn set(&self, key: &str, value: &[u8]) -> Result<()> { (**self).set(key, value) }
            fn remove(&self, key: &str) -> Result<()> { (**self).remove(key) }
            fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
                (**self).cas(key, value, expected)
            }
            fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
                (**self).keys_with_prefix(prefix)
            }
            fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
                (**self).scan_prefix(prefix)
            }
            fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
                (**self).get_many(keys)
            }
            fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
                (**self).set_many(entries)
            }
            fn remove_many(&self, keys: &[&str]) -> Result<()> { (**self).remove_many(keys) }
            fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
                (**self).remove_if_unchanged(entries)
            }
            fn contains(&self, key: &str) -> Result<bool> { (**self).contains(key) }
            fn keys(&self) -> Result<Vec<String>> { (**self).keys() }
            fn items(&self) -> Result<Vec<(String, Vec<u8>)>> { (**self).items() }
            fn clear(&self) -> Result<()> { (**self).clear() }
        }
    )*};
}

forward_kv_store!(&T, Arc<T>, Box<T>);

/// The smallest string greater than every string starting with `prefix`, if any:
/// the exclusive upper bound of a prefix range.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        // Skip the surrogate gap; char::MAX has no successor.
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(c as u32 + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn upper_bounds() {
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }
}
