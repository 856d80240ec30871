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
use std::time::{SystemTime, UNIX_EPOCH};

pub use id::{ObjectId, ParseObjectIdError, ID_LEN};

use crate::backend::KvStore;
use crate::error::{Error, Result};

/// Bytes before the payload in a stored object: the write time.
pub(crate) const HEADER_LEN: usize = 8;

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
#[derive(Default)]
pub struct WriteBatch {
    objects: HashMap<(Kind, ObjectId), Vec<u8>>,
    payload_bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an object and returns its id.
    pub(crate) fn put(&mut self, kind: Kind, payload: &[u8]) -> ObjectId {
        let id = ObjectId::hash(kind.tag(), payload);
        self.objects.entry((kind, id)).or_insert_with(|| {
            self.payload_bytes += payload.len();
            let mut stored = Vec::with_capacity(HEADER_LEN + payload.len());
            stored.extend_from_slice(&[0; HEADER_LEN]);
            stored.extend_from_slice(payload);
            stored
        });
        id
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
    pub fn write_to(mut self, kv: &dyn KvStore) -> Result<()> {
        if self.objects.is_empty() {
            return Ok(());
        }
        let stamp = now_millis().to_le_bytes();
        let keyed: Vec<(String, Vec<u8>)> = self
            .objects
            .drain()
            .map(|((kind, id), mut stored)| {
                stored[..HEADER_LEN].copy_from_slice(&stamp);
                (kind.key(&id), stored)
            })
            .collect();
        let entries: Vec<(&str, &[u8])> = keyed
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_slice()))
            .collect();
        kv.set_many(&entries)
    }
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
