//! The in-memory backend.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{prefix_upper_bound, KvStore};
use crate::error::Result;
use crate::object::{is_object_key, OBJECT_PREFIX};

/// An in-memory backend: fast, no persistence, every operation thread-safe.
///
/// Cloning gives another handle on the same map.
#[derive(Clone, Default)]
pub struct Memory {
    maps: Arc<RwLock<Maps>>,
}

/// The keys, split in two. Content-addressed objects
/// ([`is_object_key`]) are most of the keys and nearly every write, but they
/// are only ever looked up one by one (listing them is a garbage collector's
/// full walk anyway), so they live in a hash map: no ordered insert
/// comparing long shared prefixes on every commit. Every other key stays
/// ordered for cheap prefix scans. Both give the same answers for any key;
/// only the cost differs.
#[derive(Default)]
struct Maps {
    objects: HashMap<String, Vec<u8>, ahash::RandomState>,
    ordered: BTreeMap<String, Vec<u8>>,
}

impl Maps {
    fn get(&self, key: &str) -> Option<&Vec<u8>> {
        if is_object_key(key) {
            self.objects.get(key)
        } else {
            self.ordered.get(key)
        }
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Vec<u8>> {
        if is_object_key(key) {
            self.objects.get_mut(key)
        } else {
            self.ordered.get_mut(key)
        }
    }

    fn insert(&mut self, key: String, value: Vec<u8>) {
        if is_object_key(&key) {
            self.objects.insert(key, value);
        } else {
            self.ordered.insert(key, value);
        }
    }

    fn remove(&mut self, key: &str) -> Option<Vec<u8>> {
        if is_object_key(key) {
            self.objects.remove(key)
        } else {
            self.ordered.remove(key)
        }
    }

    fn len(&self) -> usize {
        self.objects.len() + self.ordered.len()
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &Vec<u8>)> {
        self.objects.iter().chain(&self.ordered)
    }

    /// The entries whose keys start with `prefix`, in key order.
    fn range(&self, prefix: &str) -> Vec<(&String, &Vec<u8>)> {
        let upper = prefix_upper_bound(prefix);
        let end = match &upper {
            Some(bound) => Bound::Excluded(bound.as_str()),
            None => Bound::Unbounded,
        };
        let mut found: Vec<(&String, &Vec<u8>)> = self
            .ordered
            .range::<str, _>((Bound::Included(prefix), end))
            .collect();
        if OBJECT_PREFIX.starts_with(prefix) || prefix.starts_with(OBJECT_PREFIX) {
            found.extend(
                self.objects
                    .iter()
                    .filter(|(key, _)| key.starts_with(prefix)),
            );
            found.sort_unstable_by(|a, b| a.0.cmp(b.0));
        }
        found
    }
}

impl Memory {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of keys held.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store holds no keys.
    pub fn is_empty(&self) -> bool {
        self.read().len() == 0
    }

    /// A copy of the whole map, for debugging and tests.
    pub fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        self.read()
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }

    /// The total size of keys and values held, in bytes.
    pub fn size_bytes(&self) -> usize {
        self.read().iter().map(|(k, v)| k.len() + v.len()).sum()
    }

    // A panic while the lock is held cannot leave the maps half-updated
    // (every mutation is a single map call), so a poisoned lock is still usable.
    fn read(&self) -> RwLockReadGuard<'_, Maps> {
        self.maps.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Maps> {
        self.maps.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Memory").field("keys", &self.len()).finish()
    }
}

impl KvStore for Memory {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.read().get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.write().remove(key);
        Ok(())
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        let mut maps = self.write();
        match maps.get_mut(key) {
            Some(current) if expected == Some(current.as_slice()) => {
                // Moving a head: its key stays, and so can its buffer.
                current.clear();
                current.extend_from_slice(value);
            }
            None if expected.is_none() => maps.insert(key.to_owned(), value.to_vec()),
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .read()
            .range(prefix)
            .into_iter()
            .map(|(k, _)| k.clone())
            .collect())
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self
            .read()
            .range(prefix)
            .into_iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let maps = self.read();
        Ok(keys.iter().map(|key| maps.get(key).cloned()).collect())
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        let mut maps = self.write();
        for (key, value) in entries {
            maps.insert((*key).to_owned(), value.to_vec());
        }
        Ok(())
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        let mut maps = self.write();
        for key in keys {
            maps.remove(key);
        }
        Ok(())
    }

    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        let mut maps = self.write();
        let mut removed = 0;
        for (key, expected) in entries {
            if maps.get(key).map(Vec::as_slice) == Some(*expected) {
                maps.remove(key);
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.read().get(key).is_some())
    }

    fn clear(&self) -> Result<()> {
        let mut maps = self.write();
        maps.objects.clear();
        maps.ordered.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects live in a hash map and the rest in an ordered one; scans must
    /// still see both, in key order, exactly as one ordered map would.
    #[test]
    fn prefix_scans_see_both_maps_in_order() {
        let memory = Memory::new();
        let mut model = BTreeMap::new();
        let keys = [
            "obj/n/00aa",
            "obj/c/ff00",
            "obj/b/1234",
            "obj/",
            "obj",
            "ob",
            "o",
            "refs/heads/main",
            "objects",
            "obj/n/00ab",
            "zeta",
            "",
            "obj/n",
        ];
        for (index, key) in keys.iter().enumerate() {
            let value = vec![u8::try_from(index).unwrap_or(0)];
            memory.set(key, &value).unwrap();
            model.insert((*key).to_owned(), value);
        }
        memory.remove("obj/c/ff00").unwrap();
        model.remove("obj/c/ff00");
        for prefix in [
            "",
            "o",
            "ob",
            "obj",
            "obj/",
            "obj/n",
            "obj/n/00a",
            "objects",
            "r",
            "z",
            "x",
        ] {
            let expected: Vec<(String, Vec<u8>)> = model
                .iter()
                .filter(|(key, _)| key.starts_with(prefix))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            assert_eq!(
                memory.scan_prefix(prefix).unwrap(),
                expected,
                "prefix {prefix:?}"
            );
            let keys: Vec<String> = expected.into_iter().map(|(key, _)| key).collect();
            assert_eq!(
                memory.keys_with_prefix(prefix).unwrap(),
                keys,
                "prefix {prefix:?}"
            );
        }
        assert_eq!(memory.snapshot(), model);
        assert_eq!(memory.len(), model.len());
        assert_eq!(
            memory.get("obj/n/00aa").unwrap(),
            model.get("obj/n/00aa").cloned()
        );
        assert!(!memory.contains("obj/c/ff00").unwrap());
        memory.clear().unwrap();
        assert!(memory.is_empty());
    }
}
