//! Immutable, content-addressed objects: value blobs, tree nodes and commits.
//!
//! An object lives under `obj/<kind letter>/<id>` where the id is the hash of
//! its kind tag and payload. What is stored is an 8-byte little-endian write
//! time in milliseconds followed by the payload; the write time is not hashed,
//! so a writer that stores an object again (even one that already exists)
//! refreshes it, which the garbage collector's grace rule relies on.

mod id;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use id::{ObjectId, ParseObjectIdError, ID_LEN};

use crate::backend::KvStore;
use crate::error::{Error, Result};

/// Bytes before the payload in a stored object: the write time.
pub(crate) const HEADER_LEN: usize = 8;

/// Every object's backend key starts with this (then the kind, then the id).
pub(crate) const OBJECT_PREFIX: &str = "obj/";

/// Whether `key` names a content-addressed object: immutable, so a cached
/// copy can never be stale, and only ever looked up by its exact key (only a
/// collector lists them). Everything else (branch heads, the format marker)
/// is mutable. Backends may rely on this: `Cached` and `Composite` cache only
/// objects, and `Memory` keeps them in a hash map.
pub(crate) fn is_object_key(key: &str) -> bool {
    key.starts_with(OBJECT_PREFIX)
}

/// The kinds of object, each with its own hash tag and key space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    /// A user value too large to inline in a tree node.
    Blob,
    /// A node of a commit's key map.
    Node,
    /// A commit.
    Commit,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Blob, Kind::Node, Kind::Commit];

    /// The byte hashed before the payload.
    pub(crate) const fn tag(self) -> u8 {
        match self {
            Kind::Blob => 1,
            Kind::Node => 2,
            Kind::Commit => 3,
        }
    }

    /// The backend key prefix of this kind's objects.
    pub(crate) const fn prefix(self) -> &'static str {
        match self {
            Kind::Blob => "obj/b/",
            Kind::Node => "obj/n/",
            Kind::Commit => "obj/c/",
        }
    }

    /// A human name, used in error messages.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Kind::Blob => "value blob",
            Kind::Node => "tree node",
            Kind::Commit => "commit",
        }
    }

    /// Where the kind goes in a batch write: what others refer to first.
    const fn write_rank(self) -> usize {
        match self {
            Kind::Blob => 0,
            Kind::Node => 1,
            Kind::Commit => 2,
        }
    }

    pub(crate) fn key(self, id: &ObjectId) -> String {
        let mut key = String::with_capacity(self.prefix().len() + ID_LEN * 2);
        key.push_str(self.prefix());
        id.push_hex(&mut key);
        key
    }
}

/// Milliseconds since the Unix epoch, the clock of write times and commits.
pub(crate) fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Checks a stored object against its address and returns its payload.
pub(crate) fn verify(kind: Kind, id: ObjectId, stored: &[u8]) -> Result<&[u8]> {
    let Some(payload) = stored.get(HEADER_LEN..) else {
        return Err(Error::corrupt(
            kind.name(),
            id,
            format!(
                "{} bytes is shorter than the {HEADER_LEN}-byte header",
                stored.len()
            ),
        ));
    };
    if ObjectId::hash(kind.tag(), payload) != id {
        return Err(Error::corrupt(
            kind.name(),
            id,
            "content does not match its hash",
        ));
    }
    Ok(payload)
}

/// The write time recorded in a stored object, if it has a header.
pub(crate) fn write_time(stored: &[u8]) -> Option<u64> {
    let header: [u8; HEADER_LEN] = stored.get(..HEADER_LEN)?.try_into().ok()?;
    Some(u64::from_le_bytes(header))
}

/// Objects to be written together with one `set_many`.
///
/// Objects are collected by id, so an object added twice is written once.
pub struct WriteBatch {
    objects: HashMap<(Kind, ObjectId), Vec<u8>, ahash::RandomState>,
    payload_bytes: usize,
}

impl Default for WriteBatch {
    fn default() -> Self {
        WriteBatch {
            // A commit's tree path, its commit and a few values.
            objects: HashMap::with_capacity_and_hasher(8, ahash::RandomState::default()),
            payload_bytes: 0,
        }
    }
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an object and returns its id.
    pub(crate) fn put(&mut self, kind: Kind, payload: &[u8]) -> ObjectId {
        self.put_with(kind, payload.len(), |out| out.extend_from_slice(payload))
    }

    /// Adds the object that `encode` appends to a buffer (of about
    /// `size_hint` bytes) and returns its id: the payload is built where it
    /// is stored, behind room for the header, and never copied.
    pub(crate) fn put_with(
        &mut self,
        kind: Kind,
        size_hint: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> ObjectId {
        let mut stored = Vec::with_capacity(HEADER_LEN + size_hint);
        // The header's last byte holds the kind tag while the object is
        // hashed, so tag and payload are hashed as one buffer; the write
        // time replaces the whole header before anything is stored.
        stored.extend_from_slice(&[0; HEADER_LEN]);
        stored[HEADER_LEN - 1] = kind.tag();
        encode(&mut stored);
        let id = ObjectId::hash_tagged(&stored[HEADER_LEN - 1..]);
        self.keep((kind, id), stored);
        id
    }

    /// Adds every object of `other`.
    pub(crate) fn absorb(&mut self, other: WriteBatch) {
        if self.objects.is_empty() {
            *self = other;
            return;
        }
        for (key, stored) in other.objects {
            self.keep(key, stored);
        }
    }

    /// Keeps a stored object (header and payload) unless the batch has it.
    fn keep(&mut self, key: (Kind, ObjectId), stored: Vec<u8>) {
        if let std::collections::hash_map::Entry::Vacant(slot) = self.objects.entry(key) {
            self.payload_bytes += stored.len() - HEADER_LEN;
            slot.insert(stored);
        }
    }

    /// The number of objects collected.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The payload bytes collected.
    pub fn payload_bytes(&self) -> usize {
        self.payload_bytes
    }

    /// Writes every object with one `set_many`, stamped with the current time.
    ///
    /// # Errors
    /// A backend failure; nothing refers to these objects until a head moves,
    /// so a partial write leaves only unreferenced objects behind.
    pub fn write_to(self, kv: &dyn KvStore) -> Result<()> {
        self.write_kept(kv).map(drop)
    }

    /// Writes every object as [`WriteBatch::write_to`] does and keeps them,
    /// so that a writer can store them again before moving a head
    /// ([`Written::restamp_if_stale`]).
    ///
    /// Value blobs come first, then tree nodes, then commits: on a backend
    /// whose `set_many` is not atomic a crash partway then never leaves a
    /// stored commit whose tree is incomplete, which the garbage collector's
    /// rule that a young commit protects its tree relies on.
    pub(crate) fn write_kept(mut self, kv: &dyn KvStore) -> Result<Written> {
        let stamp = now_millis();
        let mut ranked: Vec<(usize, String, Vec<u8>)> = self
            .objects
            .drain()
            .map(|((kind, id), mut stored)| {
                stored[..HEADER_LEN].copy_from_slice(&stamp.to_le_bytes());
                (kind.write_rank(), kind.key(&id), stored)
            })
            .collect();
        ranked.sort_by_key(|(rank, ..)| *rank);
        #[cfg(feature = "failpoints")]
        let count = |rank: usize| ranked.iter().filter(|(r, ..)| *r == rank).count();
        let mut written = Written {
            #[cfg(feature = "failpoints")]
            blob_count: count(Kind::Blob.write_rank()),
            #[cfg(feature = "failpoints")]
            node_count: count(Kind::Node.write_rank()),
            entries: ranked
                .into_iter()
                .map(|(_, key, stored)| (key, stored))
                .collect(),
            stamp,
            finished: None,
        };
        if !written.entries.is_empty() {
            written.store(kv)?;
        }
        Ok(written)
    }
}

/// How long a writer may hold objects it stored before it moves a branch
/// head to them: past this, it stores them again first, with a fresh write
/// time (a commit, a merge, a new branch and a rebase all do). The garbage
/// collector never deletes an object written within its grace period, so
/// any collection whose grace exceeds this plus the time a commit takes to
/// write its objects cannot remove what a commit is about to publish, however
/// long its writer paused between the two steps; and one that did (a zero
/// grace) finds everything written back before the head moves. See
/// `docs/gc.md`.
pub const RESTAMP_AFTER: Duration = Duration::from_millis(250);

/// The objects of a batch as stored, kept until the head that needs them
/// has moved.
pub(crate) struct Written {
    /// Blobs, then nodes, then commits.
    entries: Vec<(String, Vec<u8>)>,
    /// Where the nodes and the commits start, to write kind by kind.
    #[cfg(feature = "failpoints")]
    blob_count: usize,
    #[cfg(feature = "failpoints")]
    node_count: usize,
    stamp: u64,
    /// When the last store of them returned (`None` before the first, and
    /// for a batch with nothing to store).
    finished: Option<Instant>,
}

impl Written {
    /// Stores the objects again, with a fresh write time, if their last store
    /// returned more than [`RESTAMP_AFTER`] ago. Anything a collection removed
    /// meanwhile comes back, and a collection that scanned them before cannot
    /// remove them after: it deletes only objects that still hold the bytes it
    /// saw, and the write time is part of those bytes.
    ///
    /// # Errors
    /// A backend failure.
    pub(crate) fn restamp_if_stale(&mut self, kv: &dyn KvStore) -> Result<()> {
        if self
            .finished
            .is_none_or(|finished| finished.elapsed() <= RESTAMP_AFTER)
        {
            return Ok(());
        }
        // Strictly later than the first stamp, even if the clock stepped
        // back, so the bytes differ from any copy a collection scanned.
        self.stamp = now_millis().max(self.stamp.saturating_add(1));
        for (_, stored) in &mut self.entries {
            stored[..HEADER_LEN].copy_from_slice(&self.stamp.to_le_bytes());
        }
        self.store(kv)
    }

    /// Stores the objects and notes when that returned, before any failpoint
    /// can hold the writer up: a pause there counts towards staleness.
    fn store(&mut self, kv: &dyn KvStore) -> Result<()> {
        #[cfg(feature = "failpoints")]
        if split_for_failpoints() {
            return self.store_by_kind(kv);
        }
        kv.set_many(&as_refs(&self.entries))?;
        self.finished = Some(Instant::now());
        failpoint!("commit::after-commit-object");
        Ok(())
    }

    /// Stores blobs, nodes and commits with one `set_many` each, hitting a
    /// failpoint after each: what a backend without multi-key atomicity
    /// could leave behind if the process died between them.
    #[cfg(feature = "failpoints")]
    fn store_by_kind(&mut self, kv: &dyn KvStore) -> Result<()> {
        let (blobs, rest) = self.entries.split_at(self.blob_count);
        let (nodes, commits) = rest.split_at(self.node_count);
        kv.set_many(&as_refs(blobs))?;
        // The age of the oldest part, the blobs.
        self.finished = Some(Instant::now());
        failpoint!("commit::after-blobs");
        kv.set_many(&as_refs(nodes))?;
        failpoint!("commit::after-nodes");
        kv.set_many(&as_refs(commits))?;
        failpoint!("commit::after-commit-object");
        Ok(())
    }
}

fn as_refs(entries: &[(String, Vec<u8>)]) -> Vec<(&str, &[u8])> {
    entries
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_slice()))
        .collect()
}

/// Whether a test configured a failpoint between the kinds of a batch: only
/// then is the batch split, so that every other build and test keeps the one
/// atomic `set_many` per commit.
#[cfg(feature = "failpoints")]
fn split_for_failpoints() -> bool {
    fail::list().iter().any(|(name, actions)| {
        matches!(name.as_str(), "commit::after-blobs" | "commit::after-nodes")
            && !actions.is_empty()
            && actions != "off"
    })
}

/// Reads and verifies objects of one kind, many at a time.
///
/// # Errors
/// A backend failure, a missing object or one whose bytes fail verification.
pub(crate) fn read_many(kv: &dyn KvStore, kind: Kind, ids: &[ObjectId]) -> Result<Vec<Vec<u8>>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = ids.iter().map(|id| kind.key(id)).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let values = kv.get_many(&key_refs)?;
    if values.len() != ids.len() {
        return Err(Error::backend(
            "get_many",
            format!(
                "backend returned {} values for {} keys",
                values.len(),
                ids.len()
            ),
        ));
    }
    ids.iter()
        .zip(values)
        .map(|(id, stored)| {
            let stored = stored.ok_or(Error::MissingObject {
                kind: kind.name(),
                id: *id,
            })?;
            verify(kind, *id, &stored)?;
            let mut payload = stored;
            payload.drain(..HEADER_LEN);
            Ok(payload)
        })
        .collect()
}

/// Reads and verifies one object.
///
/// # Errors
/// As [`read_many`].
pub(crate) fn read_one(kv: &dyn KvStore, kind: Kind, id: ObjectId) -> Result<Vec<u8>> {
    let stored = kv.get(&kind.key(&id))?.ok_or(Error::MissingObject {
        kind: kind.name(),
        id,
    })?;
    verify(kind, id, &stored)?;
    let mut payload = stored;
    payload.drain(..HEADER_LEN);
    Ok(payload)
}

/// A shared handle to a backend, as every layer above objects holds it.
pub(crate) type SharedKv = Arc<dyn KvStore>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_object_has_an_object_key() {
        let id = ObjectId::hash(0, b"x");
        for kind in Kind::ALL {
            assert!(kind.prefix().starts_with(OBJECT_PREFIX));
            assert!(is_object_key(&kind.key(&id)));
        }
        assert!(!is_object_key("refs/heads/main"));
    }
}
