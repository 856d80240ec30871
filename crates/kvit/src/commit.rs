//! Commit objects.

use crate::backend::KvStore;
use crate::error::{Error, Result};
use crate::object::{self, Kind, ObjectId, WriteBatch};
use crate::tree::Reader;

const COMMIT_VERSION: u8 = 1;

/// A salt no other commit has: a keyed BLAKE3 hash of a counter, under a
/// key each thread draws from the system's random source when it makes its
/// first commit. Drawing 16 random bytes per commit instead cost a system
/// call of about 0.4 µs, several percent of a small commit.
///
/// A forked child inherits the forking thread's key and count, and would
/// salt its commits exactly as its parent goes on to: two processes making
/// the same change from the same commit in the same millisecond would then
/// make the same commit, and a counter merge would count one increment.
/// So the key belongs to a process id and is drawn again when that changes
/// (reading it costs about a third of drawing bytes). Thread-local state
/// takes no lock, so a fork can never copy one held.
fn fresh_salt() -> Result<[u8; 16]> {
    struct Source {
        process: u32,
        key: [u8; 32],
        count: u64,
    }
    thread_local! {
        static SOURCE: std::cell::RefCell<Option<Source>> = const { std::cell::RefCell::new(None) };
    }
    let process = std::process::id();
    SOURCE.with_borrow_mut(|source| {
        let current = match source {
            Some(current) if current.process == process => current,
            _ => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key)
                    .map_err(|err| Error::backend("random salt", err.to_string()))?;
                source.insert(Source {
                    process,
                    key,
                    count: 0,
                })
            }
        };
        current.count += 1;
        let digest = blake3::keyed_hash(&current.key, &current.count.to_le_bytes());
        let mut salt = [0u8; 16];
        salt.copy_from_slice(&digest.as_bytes()[..16]);
        Ok(salt)
    })
}

/// A decoded commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The commits this one was made from: none for a root, two for a merge.
    pub parents: Vec<ObjectId>,
    /// The root of the commit's key map.
    pub root: ObjectId,
    /// One more than the greatest generation of its parents (1 for a root);
    /// lets common-ancestor search stop early.
    pub generation: u64,
    /// When the commit was made, in milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Random bytes that make every commit's id unique, even when two writers
    /// make the same change from the same parent at the same moment.
    pub salt: [u8; 16],
    /// The root of this commit's first-parent history (`None` when this
    /// commit is that root), so it is found without walking the history.
    pub origin: Option<ObjectId>,
    /// A JSON object stored with the commit.
    pub info: Option<String>,
}

impl Commit {
    /// A new commit with a fresh salt and the current time.
    pub(crate) fn new(
        parents: Vec<ObjectId>,
        root: ObjectId,
        generation: u64,
        origin: Option<ObjectId>,
        info: Option<String>,
    ) -> Result<Self> {
        let salt = fresh_salt()?;
        Ok(Commit {
            parents,
            root,
            generation,
            time_ms: object::now_millis(),
            salt,
            origin,
            info,
        })
    }

    /// Encodes the commit (see `docs/format.md`).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96 + 20 * self.parents.len());
        out.push(COMMIT_VERSION);
        out.extend_from_slice(self.root.as_bytes());
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.time_ms.to_le_bytes());
        out.extend_from_slice(&self.salt);
        match &self.origin {
            Some(origin) => {
                out.push(1);
                out.extend_from_slice(origin.as_bytes());
            }
            None => out.push(0),
        }
        crate::tree::put_varint(&mut out, self.parents.len() as u64);
        for parent in &self.parents {
            out.extend_from_slice(parent.as_bytes());
        }
        let info = self.info.as_deref().unwrap_or("");
        crate::tree::put_varint(&mut out, info.len() as u64);
        out.extend_from_slice(info.as_bytes());
        out
    }

    /// Decodes a commit, refusing anything malformed.
    pub(crate) fn decode(id: ObjectId, bytes: &[u8]) -> Result<Commit> {
        let corrupt = |reason: &str| Error::corrupt(Kind::Commit.name(), id, reason);
        let truncated = || corrupt("truncated");
        let mut reader = Reader { bytes, pos: 0 };
        let version = reader.byte().ok_or_else(truncated)?;
        if version != COMMIT_VERSION {
            return Err(corrupt("unknown commit version"));
        }
        let root = reader.id().ok_or_else(truncated)?;
        let u64_at = |reader: &mut Reader<'_>| -> Option<u64> {
            Some(u64::from_le_bytes(reader.take(8)?.try_into().ok()?))
        };
        let generation = u64_at(&mut reader).ok_or_else(truncated)?;
        let time_ms = u64_at(&mut reader).ok_or_else(truncated)?;
        let salt: [u8; 16] = reader
            .take(16)
            .ok_or_else(truncated)?
            .try_into()
            .map_err(|_| truncated())?;
        let origin = match reader.byte().ok_or_else(truncated)? {
            0 => None,
            1 => Some(reader.id().ok_or_else(truncated)?),
            _ => return Err(corrupt("bad origin marker")),
        };
        let parent_count = reader.varint().ok_or_else(truncated)?;
        if parent_count > (bytes.len() / 20) as u64 {
            return Err(corrupt("parent count exceeds commit size"));
        }
        let parents = (0..parent_count)
            .map(|_| reader.id().ok_or_else(truncated))
            .collect::<Result<Vec<_>>>()?;
        let info_len = reader.length().ok_or_else(truncated)?;
        let info = reader.take(info_len).ok_or_else(truncated)?;
        if reader.pos != bytes.len() {
            return Err(corrupt("trailing bytes"));
        }
        let info = if info.is_empty() {
            None
        } else {
            Some(
                std::str::from_utf8(info)
                    .map_err(|_| corrupt("info is not UTF-8"))?
                    .to_owned(),
            )
        };
        if generation == 0 || (parents.is_empty() != (generation == 1)) {
            return Err(corrupt("generation inconsistent with parents"));
        }
        Ok(Commit {
            parents,
            root,
            generation,
            time_ms,
            salt,
            origin,
            info,
        })
    }

    /// Adds the commit to `batch` and returns its id.
    pub(crate) fn store(&self, batch: &mut WriteBatch) -> ObjectId {
        batch.put(Kind::Commit, &self.encode())
    }
}

/// Reads one commit.
///
/// # Errors
/// A backend failure, or a missing or corrupt commit.
pub(crate) fn read(kv: &dyn KvStore, id: ObjectId) -> Result<Commit> {
    Commit::decode(id, &object::read_one(kv, Kind::Commit, id)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let id = ObjectId::hash(3, b"");
        let commit = Commit::new(vec![id, id], id, 7, Some(id), Some("{\"a\":1}".into())).unwrap();
        let bytes = commit.encode();
        assert_eq!(Commit::decode(id, &bytes).unwrap(), commit);
        for len in 0..bytes.len() {
            assert!(Commit::decode(id, &bytes[..len]).is_err());
        }
    }

    #[test]
    fn salts_differ() {
        let id = ObjectId::hash(3, b"");
        let a = Commit::new(vec![id], id, 2, None, None).unwrap();
        let b = Commit {
            time_ms: a.time_ms,
            ..Commit::new(vec![id], id, 2, None, None).unwrap()
        };
        assert_ne!(a.encode(), b.encode());
    }

    #[test]
    fn salts_are_unique_across_commits_and_threads() {
        let draw = || {
            (0..1_000)
                .map(|_| fresh_salt().unwrap())
                .collect::<Vec<_>>()
        };
        let mut salts = draw();
        let others = std::thread::spawn(draw).join().unwrap();
        salts.extend(others);
        let distinct: std::collections::HashSet<_> = salts.iter().collect();
        assert_eq!(distinct.len(), salts.len());
    }
}
