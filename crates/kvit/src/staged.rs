//! The staging layer: a dict of decoded values over a [`Versioned`] cursor.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::codec::Codec;
use crate::error::{Error, Result};
use crate::gc::{GcOptions, GcVersioned};
use crate::merge::{merge_fn, MergeFn};
use crate::object::ObjectId;
use crate::store::{Store, StoreCommitOptions, ValueMergeFn};
use crate::versioned::{validate_key, ChangeSet, CommitOptions, MergeResult, Strategy, Versioned};

/// Decoded committed values kept at most by default; past it the least used
/// go first, one by one, so no write ever pays for emptying the whole cache.
pub const VALUE_CACHE_LIMIT: usize = 100_000;

/// The cursor under a [`Staged`] store: plain, or size-bounded by GC.
// One engine per store, never held in bulk: boxing would only add a hop.
#[allow(clippy::large_enum_variant)]
pub enum Engine {
    /// A plain cursor.
    Plain(Versioned),
    /// A cursor that rebases when its values outgrow high water.
    Gc(GcVersioned),
}

impl From<Versioned> for Engine {
    fn from(versioned: Versioned) -> Self {
        Engine::Plain(versioned)
    }
}

impl From<GcVersioned> for Engine {
    fn from(gc: GcVersioned) -> Self {
        Engine::Gc(gc)
    }
}

impl std::ops::Deref for Engine {
    type Target = Versioned;

    fn deref(&self) -> &Versioned {
        match self {
            Engine::Plain(versioned) => versioned,
            Engine::Gc(gc) => gc,
        }
    }
}

impl std::ops::DerefMut for Engine {
    fn deref_mut(&mut self) -> &mut Versioned {
        match self {
            Engine::Plain(versioned) => versioned,
            Engine::Gc(gc) => gc,
        }
    }
}

impl Engine {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        match self {
            Engine::Plain(versioned) => versioned.get(key),
            Engine::Gc(gc) => gc.get(key),
        }
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        match self {
            Engine::Plain(versioned) => versioned.get_many(keys),
            Engine::Gc(gc) => gc.get_many(keys),
        }
    }

    fn commit(&mut self, changes: &ChangeSet, options: &CommitOptions) -> Result<MergeResult> {
        match self {
            Engine::Plain(versioned) => versioned.commit(changes, options),
            Engine::Gc(gc) => gc.commit(changes, options),
        }
    }

    /// The same kind of engine over another cursor (a branch or checkout).
    fn sibling(&self, versioned: Versioned) -> Result<Engine> {
        Ok(match self {
            Engine::Plain(_) => Engine::Plain(versioned),
            Engine::Gc(gc) => Engine::Gc(
                GcOptions::new(i64::try_from(gc.high_water()).unwrap_or(i64::MAX))
                    .low_water_bytes(i64::try_from(gc.low_water()).unwrap_or(i64::MAX))
                    .orphan_grace(gc.orphan_grace())
                    .wrap(versioned)?,
            ),
        })
    }
}

struct State<V> {
    versioned: Engine,
    /// Staged changes: `Some` sets, `None` removes.
    staged: BTreeMap<String, Option<V>>,
    /// Decoded values of the current commit, as read so far.
    cache: ValueCache<V>,
}

/// The decoded-value cache, or none (a limit of 0): a caller with a cache of
/// its own in front saves keeping every value twice.
struct ValueCache<V>(Option<quick_cache::unsync::Cache<String, V>>);

impl<V: Clone> ValueCache<V> {
    fn new(limit: usize) -> Self {
        ValueCache((limit > 0).then(|| quick_cache::unsync::Cache::new(limit)))
    }

    fn limit(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, quick_cache::unsync::Cache::capacity) as usize
    }

    fn get(&mut self, key: &str) -> Option<&V> {
        self.0.as_mut()?.get(key)
    }

    fn contains_key(&self, key: &str) -> bool {
        self.0.as_ref().is_some_and(|cache| cache.contains_key(key))
    }

    fn insert(&mut self, key: &str, value: &V) {
        if let Some(cache) = &mut self.0 {
            cache.insert(key.to_owned(), value.clone());
        }
    }

    fn remove(&mut self, key: &str) {
        if let Some(cache) = &mut self.0 {
            cache.remove(key);
        }
    }

    fn clear(&mut self) {
        if let Some(cache) = &mut self.0 {
            cache.clear();
        }
    }
}

/// Buffers writes in memory and flushes them with [`Staged::commit`] as one
/// atomic commit, encoding values with its codec. Reads see staged changes
/// first, then the current commit (through a cache of decoded values).
///
/// Clones are handles on the same staging buffer.
pub struct Staged<C: Codec> {
    codec: Arc<C>,
    state: Arc<Mutex<State<C::Value>>>,
}

impl<C: Codec> Clone for Staged<C> {
    fn clone(&self) -> Self {
        Staged {
            codec: self.codec.clone(),
            state: self.state.clone(),
        }
    }
}

impl<C: Codec> std::fmt::Debug for Staged<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Staged")
            .field("branch", &state.versioned.branch())
            .field("commit", &state.versioned.current_commit().short(12))
            .field("staged", &state.staged.len())
            .finish()
    }
}

impl<C: Codec> Staged<C> {
    /// Stages over a cursor (a [`Versioned`] or a [`GcVersioned`]), encoding with `codec`.
    pub fn new(versioned: impl Into<Engine>, codec: C) -> Self {
        Self::with_codec(versioned.into(), Arc::new(codec), VALUE_CACHE_LIMIT)
    }

    /// As [`Staged::new`], keeping at most `limit` decoded values read from
    /// commits (none for 0) instead of [`VALUE_CACHE_LIMIT`]. Branches and
    /// checkouts of the store keep the same limit.
    pub fn with_value_cache(versioned: impl Into<Engine>, codec: C, limit: usize) -> Self {
        Self::with_codec(versioned.into(), Arc::new(codec), limit)
    }

    fn with_codec(versioned: Engine, codec: Arc<C>, cache_limit: usize) -> Self {
        Staged {
            codec,
            state: Arc::new(Mutex::new(State {
                versioned,
                staged: BTreeMap::new(),
                cache: ValueCache::new(cache_limit),
            })),
        }
    }

    // The state is consistent between statements, so a panic elsewhere while
    // holding the lock cannot leave it half-changed.
    fn lock(&self) -> MutexGuard<'_, State<C::Value>> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The codec.
    pub fn codec(&self) -> &C {
        &self.codec
    }

    /// Runs `f` with the underlying cursor.
    pub fn with_versioned<T>(&self, f: impl FnOnce(&Versioned) -> T) -> T {
        f(&self.lock().versioned)
    }

    /// Runs `f` with the size-bounded cursor, if this store has one.
    pub fn with_gc<T>(&self, f: impl FnOnce(&mut GcVersioned) -> T) -> Option<T> {
        let mut state = self.lock();
        let before = state.versioned.current_commit();
        let out = match &mut state.versioned {
            Engine::Gc(gc) => Some(f(gc)),
            Engine::Plain(_) => None,
        };
        if state.versioned.current_commit() != before {
            state.staged.clear();
            state.cache.clear();
        }
        out
    }

    /// Runs `f` with the underlying cursor, mutably; staged changes and the
    /// decoded cache are dropped if it moves the cursor.
    pub fn with_versioned_mut<T>(&self, f: impl FnOnce(&mut Versioned) -> T) -> T {
        let mut state = self.lock();
        let before = state.versioned.current_commit();
        let out = f(&mut state.versioned);
        if state.versioned.current_commit() != before {
            state.staged.clear();
            state.cache.clear();
        }
        out
    }

    /// Whether anything is staged.
    pub fn has_changes(&self) -> bool {
        !self.lock().staged.is_empty()
    }

    /// Reloads from the branch head and discards staged changes.
    ///
    /// # Errors
    /// A backend failure.
    pub fn refresh(&self) -> Result<()> {
        let mut state = self.lock();
        state.versioned.refresh()?;
        state.staged.clear();
        state.cache.clear();
        Ok(())
    }

    /// The branch this store commits to.
    pub fn branch(&self) -> String {
        self.lock().versioned.branch().to_owned()
    }

    fn decode(&self, key: &str, bytes: &[u8]) -> Result<C::Value> {
        self.codec.decode(bytes).map_err(|source| Error::Codec {
            action: "decode",
            key: key.to_owned(),
            source,
        })
    }

    fn remember(state: &mut State<C::Value>, key: &str, value: &C::Value) {
        state.cache.insert(key, value);
    }

    fn read_committed(&self, state: &mut State<C::Value>, key: &str) -> Result<Option<C::Value>> {
        if let Some(value) = state.cache.get(key) {
            // Served from the cache, it still counts as a use for the GC.
            if let Engine::Gc(gc) = &state.versioned {
                gc.record_access(&[key]);
            }
            return Ok(Some(value.clone()));
        }
        let Some(bytes) = state.versioned.get(key)? else {
            return Ok(None);
        };
        let value = self.decode(key, &bytes)?;
        Self::remember(state, key, &value);
        Ok(Some(value))
    }

    /// Wraps a decoded-value merge function into one on stored bytes.
    fn wrap(&self, merge: ValueMergeFn<C::Value>) -> MergeFn {
        let codec = self.codec.clone();
        merge_fn(move |old, ours, theirs| {
            let decode = |bytes: Option<&[u8]>| bytes.map(|bytes| codec.decode(bytes)).transpose();
            let (old, ours, theirs) = (decode(old)?, decode(ours)?, decode(theirs)?);
            let merged = merge(old.as_ref(), ours.as_ref(), theirs.as_ref())?;
            Ok(Some(codec.encode(&merged)?))
        })
    }

    /// Creates a store over a new cursor of the same kind, sharing the codec.
    fn sibling(&self, state: &State<C::Value>, versioned: Versioned) -> Result<Self> {
        Ok(Self::with_codec(
            state.versioned.sibling(versioned)?,
            self.codec.clone(),
            state.cache.limit(),
        ))
    }
}

impl<C: Codec> Store for Staged<C> {
    type Value = C::Value;

    fn get(&self, key: &str) -> Result<Option<C::Value>> {
        let mut state = self.lock();
        if let Some(staged) = state.staged.get(key) {
            return Ok(staged.clone());
        }
        self.read_committed(&mut state, key)
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<(String, C::Value)>> {
        let mut state = self.lock();
        let mut found: Vec<Option<C::Value>> = Vec::with_capacity(keys.len());
        let mut to_read: Vec<(usize, &str)> = Vec::new();
        let mut cached: Vec<&str> = Vec::new();
        for (index, key) in keys.iter().enumerate() {
            if let Some(staged) = state.staged.get(*key) {
                found.push(staged.clone());
            } else if let Some(value) = state.cache.get(key) {
                found.push(Some(value.clone()));
                cached.push(key);
            } else {
                found.push(None);
                to_read.push((index, key));
            }
        }
        if let Engine::Gc(gc) = &state.versioned {
            gc.record_access(&cached);
        }
        let wanted: Vec<&str> = to_read.iter().map(|(_, key)| *key).collect();
        let values = state.versioned.get_many(&wanted)?;
        for ((index, key), bytes) in to_read.into_iter().zip(values) {
            if let Some(bytes) = bytes {
                let value = self.decode(key, &bytes)?;
                Self::remember(&mut state, key, &value);
                found[index] = Some(value);
            }
        }
        Ok(keys
            .iter()
            .zip(found)
            .filter_map(|(key, value)| Some(((*key).to_owned(), value?)))
            .collect())
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let state = self.lock();
        let committed = state.versioned.keys_with_prefix(prefix)?;
        if state.staged.is_empty() {
            return Ok(committed);
        }
        let mut keys: std::collections::BTreeSet<String> = committed.into_iter().collect();
        for (key, staged) in state
            .staged
            .range(prefix.to_owned()..)
            .take_while(|(key, _)| key.starts_with(prefix))
        {
            if staged.is_some() {
                keys.insert(key.clone());
            } else {
                keys.remove(key);
            }
        }
        Ok(keys.into_iter().collect())
    }

    fn contains(&self, key: &str) -> Result<bool> {
        let state = self.lock();
        match state.staged.get(key) {
            Some(staged) => Ok(staged.is_some()),
            None => Ok(state.cache.contains_key(key) || state.versioned.contains(key)?),
        }
    }

    fn len(&self) -> Result<usize> {
        let state = self.lock();
        let mut len = state.versioned.len()?;
        for (key, staged) in &state.staged {
            match (staged.is_some(), state.versioned.contains(key)?) {
                (true, false) => len += 1,
                (false, true) => len -= 1,
                _ => {}
            }
        }
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }

    fn set(&self, key: &str, value: C::Value) -> Result<()> {
        validate_key(key)?;
        self.lock().staged.insert(key.to_owned(), Some(value));
        Ok(())
    }

    fn remove(&self, key: &str) -> Result<bool> {
        validate_key(key)?;
        let mut state = self.lock();
        let present = match state.staged.get(key) {
            Some(staged) => staged.is_some(),
            None => state.cache.contains_key(key) || state.versioned.contains(key)?,
        };
        if present {
            state.staged.insert(key.to_owned(), None);
        }
        Ok(present)
    }

    fn commit(&self, options: &StoreCommitOptions<C::Value>) -> Result<MergeResult> {
        let mut state = self.lock();
        let (set, removed): (Vec<_>, Vec<_>) = state
            .staged
            .iter()
            .partition(|(_, staged)| staged.is_some());
        let values: Vec<&C::Value> = set.iter().filter_map(|(_, value)| value.as_ref()).collect();
        let encoded = self
            .codec
            .encode_all(&values)
            .map_err(|(at, source)| Error::Codec {
                action: "encode",
                key: set[at].0.clone(),
                source,
            })?;
        let changes = ChangeSet::from_entries(
            set.iter().map(|(key, _)| (*key).clone()).zip(encoded),
            removed.into_iter().map(|(key, _)| key.clone()),
        )?;
        let mut bytes_options = CommitOptions::new().on_conflict(options.on_conflict);
        bytes_options.info.clone_from(&options.info);
        for (key, merge) in &options.merge_fns {
            bytes_options
                .merge_fns
                .insert(key.clone(), self.wrap(merge.clone()));
        }
        bytes_options.default_merge = options.default_merge.clone().map(|merge| self.wrap(merge));

        let result = state.versioned.commit(&changes, &bytes_options)?;
        if !result.merged {
            return Ok(result);
        }
        let staged = std::mem::take(&mut state.staged);
        if result.commit != Some(state.versioned.current_commit()) {
            // A GC rebase moved the cursor past the commit: values were dropped.
            state.cache.clear();
            return Ok(result);
        }
        match result.strategy {
            Strategy::NoOp => {}
            Strategy::FastForward => {
                for (key, value) in staged {
                    match value {
                        Some(value) => Self::remember(&mut state, &key, &value),
                        None => {
                            state.cache.remove(&key);
                        }
                    }
                }
            }
            Strategy::ThreeWay => {
                // The merge already knows every key whose value can now differ
                // from what this handle read: the other side's changes, the
                // keys both sides changed, and our own. No second diff needed.
                let theirs_or_both = result.carried_keys.iter().chain(&result.auto_merged_keys);
                for key in theirs_or_both.chain(staged.keys()) {
                    state.cache.remove(key);
                }
            }
        }
        Ok(result)
    }

    fn reset(&self) -> Result<()> {
        self.lock().staged.clear();
        Ok(())
    }

    fn create_branch(&self, name: &str) -> Result<Self> {
        let state = self.lock();
        let versioned = state.versioned.create_branch(name)?;
        self.sibling(&state, versioned)
    }

    fn checkout(&self, commit: ObjectId, branch: Option<&str>) -> Result<Option<Self>> {
        let state = self.lock();
        match state.versioned.checkout(commit, branch)? {
            Some(versioned) => Ok(Some(self.sibling(&state, versioned)?)),
            None => Ok(None),
        }
    }

    fn list_branches(&self) -> Result<Vec<String>> {
        self.lock().versioned.list_branches()
    }

    fn set_merge_fn(&self, key: &str, merge: ValueMergeFn<C::Value>) -> Result<()> {
        let wrapped = self.wrap(merge);
        self.lock().versioned.set_merge_fn(key, wrapped);
        Ok(())
    }

    fn set_default_merge(&self, merge: ValueMergeFn<C::Value>) -> Result<()> {
        let wrapped = self.wrap(merge);
        self.lock().versioned.set_default_merge(wrapped);
        Ok(())
    }

    fn current_commit(&self) -> Result<ObjectId> {
        Ok(self.lock().versioned.current_commit())
    }

    fn base_commit(&self) -> Result<ObjectId> {
        Ok(self.lock().versioned.base_commit())
    }

    fn last_merge_result(&self) -> Result<Option<MergeResult>> {
        Ok(self.lock().versioned.last_merge_result().cloned())
    }
}
