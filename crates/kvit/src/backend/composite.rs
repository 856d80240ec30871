//! Tiered backends: a fast local tier in front of a durable remote one.

use std::sync::Arc;

use super::KvStore;
use crate::error::{Error, Result};
use crate::object::is_object_key;

/// Several backends as one, fastest first, the last one authoritative.
///
/// Reads of objects try each tier in order and copy what a slower tier had
/// into the faster ones; writes go to the authoritative tier first, so
/// nothing is acknowledged that it does not hold, then to the others.
/// Branch heads and everything else that is not an object live only in the
/// authoritative tier, where `cas` runs.
pub struct Composite {
    tiers: Vec<Arc<dyn KvStore>>,
}

impl Composite {
    /// Tiers from fastest to authoritative.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](Error::InvalidArgument) with no tiers.
    pub fn new(tiers: Vec<Arc<dyn KvStore>>) -> Result<Self> {
        if tiers.is_empty() {
            return Err(Error::InvalidArgument(
                "a composite backend needs at least one tier".into(),
            ));
        }
        Ok(Composite { tiers })
    }

    fn authority(&self) -> &dyn KvStore {
        // `new` refuses an empty list, so there is a last tier.
        &**self
            .tiers
            .last()
            .unwrap_or_else(|| unreachable!("composite without tiers"))
    }

    fn caches(&self) -> &[Arc<dyn KvStore>] {
        &self.tiers[..self.tiers.len() - 1]
    }
}

impl KvStore for Composite {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.get_many(&[key])?.pop().flatten())
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let mut values: Vec<Option<Vec<u8>>> = vec![None; keys.len()];
        let mut missing: Vec<usize> = (0..keys.len()).collect();
        for (tier_index, tier) in self.tiers.iter().enumerate() {
            let authoritative = tier_index + 1 == self.tiers.len();
            let wanted: Vec<usize> = missing
                .iter()
                .copied()
                .filter(|&index| authoritative || is_object_key(keys[index]))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let wanted_keys: Vec<&str> = wanted.iter().map(|&index| keys[index]).collect();
            let found = tier.get_many(&wanted_keys)?;
            let mut backfill: Vec<(&str, &[u8])> = Vec::new();
            for (&index, value) in wanted.iter().zip(found) {
                values[index] = value;
            }
            for &index in &wanted {
                if let Some(value) = &values[index] {
                    if is_object_key(keys[index]) {
                        backfill.push((keys[index], value));
                    }
                }
            }
            for faster in &self.tiers[..tier_index] {
                if !backfill.is_empty() {
                    faster.set_many(&backfill)?;
                }
            }
            missing.retain(|&index| values[index].is_none());
            if missing.is_empty() {
                break;
            }
        }
        Ok(values)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.set_many(&[(key, value)])
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        self.authority().set_many(entries)?;
        let objects: Vec<(&str, &[u8])> = entries
            .iter()
            .copied()
            .filter(|(key, _)| is_object_key(key))
            .collect();
        if !objects.is_empty() {
            for tier in self.caches() {
                tier.set_many(&objects)?;
            }
        }
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.remove_many(&[key])
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        // Faster tiers first, so no tier keeps what the authority lost.
        for tier in self.caches() {
            tier.remove_many(keys)?;
        }
        self.authority().remove_many(keys)
    }

    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        // The authority decides; the faster tiers only drop their copies of
        // what it removed, whatever bytes those copies hold.
        let mut removed = Vec::new();
        for entry in entries {
            if self.authority().remove_if_unchanged(&[*entry])? == 1 {
                removed.push(entry.0);
            }
        }
        for tier in self.caches() {
            tier.remove_many(&removed)?;
        }
        Ok(removed.len())
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        self.authority().cas(key, value, expected)
    }

    fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.authority().keys_with_prefix(prefix)
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.authority().scan_prefix(prefix)
    }

    fn clear(&self) -> Result<()> {
        for tier in &self.tiers {
            tier.clear()?;
        }
        Ok(())
    }
}
