//! Tree nodes and their byte encoding (see `docs/format.md`).

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::object::{Kind, ObjectId, WriteBatch, ID_LEN};

/// Values at most this long are stored inside leaf nodes instead of as blobs:
/// a separate object would cost more in key and header bytes than it holds.
pub(crate) const INLINE_MAX: usize = 64;

/// The deepest tree kvit will read. A history-independent tree over 2^64 keys
/// with the smallest possible fan-out of 2 stays below it; a node claiming a
/// higher level is corrupt, and the bound keeps descent from running away.
pub(crate) const MAX_LEVEL: u8 = 64;

/// Where a key's value lives.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum ValueRef {
    /// Small values live in the leaf itself.
    Inline(Arc<[u8]>),
    /// Larger ones in their own content-addressed blob.
    Blob {
        /// The blob's address.
        id: ObjectId,
        /// The value's length in bytes.
        len: u64,
    },
}

impl ValueRef {
    /// Adds `value` to `batch` (as a blob when it is too large to inline) and
    /// returns the reference a tree keeps for it.
    pub fn store(value: &[u8], batch: &mut WriteBatch) -> Self {
        if value.len() <= INLINE_MAX {
            ValueRef::Inline(value.into())
        } else {
            ValueRef::Blob {
                id: batch.put(Kind::Blob, value),
                len: value.len() as u64,
            }
        }
    }

    /// The value's length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u64 {
        match self {
            ValueRef::Inline(bytes) => bytes.len() as u64,
            ValueRef::Blob { len, .. } => *len,
        }
    }

    /// The blob this value lives in, if it is not inline.
    pub(crate) fn blob_id(&self) -> Option<ObjectId> {
        match self {
            ValueRef::Inline(_) => None,
            ValueRef::Blob { id, .. } => Some(*id),
        }
    }
}

impl std::fmt::Debug for ValueRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueRef::Inline(bytes) => write!(f, "Inline({bytes:?})"),
            ValueRef::Blob { id, len } => write!(f, "Blob({}, {len} bytes)", id.short(12)),
        }
    }
}

/// What an entry points at: a value in a leaf, a child subtree above.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    Value(ValueRef),
    Child(ChildRef),
}

/// A reference to a subtree with its summary, kept in the parent so that
/// `len` and total size are read from the root without a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildRef {
    pub(crate) id: ObjectId,
    /// Keys in the subtree.
    pub(crate) count: u64,
    /// Total length of the subtree's values.
    pub(crate) value_bytes: u64,
}

/// One entry of a node. In a leaf the key is a user key; above, it is the
/// greatest key of the child's subtree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) key: Arc<str>,
    pub(crate) payload: Payload,
}

impl Entry {
    pub(crate) fn count(&self) -> u64 {
        match &self.payload {
            Payload::Value(_) => 1,
            Payload::Child(child) => child.count,
        }
    }

    pub(crate) fn value_bytes(&self) -> u64 {
        match &self.payload {
            Payload::Value(value) => value.len(),
            Payload::Child(child) => child.value_bytes,
        }
    }

    pub(crate) fn child(&self) -> Option<&ChildRef> {
        match &self.payload {
            Payload::Child(child) => Some(child),
            Payload::Value(_) => None,
        }
    }
}

/// A decoded node: a level (0 for leaves) and its entries in ascending key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) level: u8,
    pub(crate) entries: Vec<Entry>,
}

const TAG_INLINE: u8 = 0;
const TAG_BLOB: u8 = 1;

impl Node {
    /// The summary a parent keeps of this node, once it is stored as `id`.
    pub(crate) fn child_ref(&self, id: ObjectId) -> ChildRef {
        ChildRef {
            id,
            count: self.entries.iter().map(Entry::count).sum(),
            value_bytes: self.entries.iter().map(Entry::value_bytes).sum(),
        }
    }

    /// The node's greatest key.
    pub(crate) fn last_key(&self) -> Option<&Arc<str>> {
        self.entries.last().map(|entry| &entry.key)
    }

    /// Encodes the node; keys are prefix-compressed against their predecessor.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_bound());
        self.encode_into(&mut out);
        out
    }

    /// An upper bound on the encoding's length (keys uncompressed, varints
    /// at their widest), to size buffers so that encoding never reallocates.
    pub(crate) fn encoded_len_bound(&self) -> usize {
        11 + self
            .entries
            .iter()
            .map(|entry| {
                entry.key.len()
                    + 20
                    + match &entry.payload {
                        Payload::Value(ValueRef::Inline(bytes)) => 1 + 10 + bytes.len(),
                        Payload::Value(ValueRef::Blob { .. }) => 1 + 10 + ID_LEN,
                        Payload::Child(_) => ID_LEN + 20,
                    }
            })
            .sum::<usize>()
    }

    /// Appends the node's encoding to `out`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.level);
        put_varint(out, self.entries.len() as u64);
        let mut previous: &[u8] = &[];
        for entry in &self.entries {
            let key = entry.key.as_bytes();
            let shared = common_prefix(previous, key);
            put_varint(out, shared as u64);
            put_varint(out, (key.len() - shared) as u64);
            out.extend_from_slice(&key[shared..]);
            previous = key;
            match &entry.payload {
                Payload::Value(ValueRef::Inline(bytes)) => {
                    out.push(TAG_INLINE);
                    put_varint(out, bytes.len() as u64);
                    out.extend_from_slice(bytes);
                }
                Payload::Value(ValueRef::Blob { id, len }) => {
                    out.push(TAG_BLOB);
                    put_varint(out, *len);
                    out.extend_from_slice(id.as_bytes());
                }
                Payload::Child(child) => {
                    out.extend_from_slice(child.id.as_bytes());
                    put_varint(out, child.count);
                    put_varint(out, child.value_bytes);
                }
            }
        }
    }

    /// Decodes a node, checking everything a reader relies on: strictly
    /// ascending UTF-8 keys, a level in range, no trailing bytes.
    pub(crate) fn decode(id: ObjectId, bytes: &[u8]) -> Result<Node> {
        let corrupt = |reason: &str| Error::corrupt(Kind::Node.name(), id, reason);
        let mut reader = Reader { bytes, pos: 0 };
        let level = reader.byte().ok_or_else(|| corrupt("empty node"))?;
        if level > MAX_LEVEL {
            return Err(corrupt("level out of range"));
        }
        let count = reader
            .varint()
            .ok_or_else(|| corrupt("truncated entry count"))?;
        // Every entry takes at least 3 bytes, so a larger count is a lie that
        // would otherwise make us allocate wildly.
        if count > (bytes.len() / 3) as u64 {
            return Err(corrupt("entry count exceeds node size"));
        }
        let mut entries = Vec::with_capacity(count as usize);
        let mut previous: Vec<u8> = Vec::new();
        for _ in 0..count {
            let truncated = || corrupt("truncated entry");
            let shared = reader.varint().ok_or_else(truncated)?;
            let shared = usize::try_from(shared).unwrap_or(usize::MAX);
            let suffix_len = reader.length().ok_or_else(truncated)?;
            let suffix = reader.take(suffix_len).ok_or_else(truncated)?;
            if shared > previous.len() {
                return Err(corrupt("key prefix longer than the previous key"));
            }
            let mut key = Vec::with_capacity(shared + suffix.len());
            key.extend_from_slice(&previous[..shared]);
            key.extend_from_slice(suffix);
            if !entries.is_empty() && key <= previous {
                return Err(corrupt("keys out of order"));
            }
            let text = std::str::from_utf8(&key).map_err(|_| corrupt("key is not UTF-8"))?;
            let key_arc: Arc<str> = Arc::from(text);
            let payload = if level == 0 {
                match reader.byte().ok_or_else(truncated)? {
                    TAG_INLINE => {
                        let len = reader.length().ok_or_else(truncated)?;
                        if len > INLINE_MAX {
                            return Err(corrupt("inline value above the inline limit"));
                        }
                        Payload::Value(ValueRef::Inline(
                            reader.take(len).ok_or_else(truncated)?.into(),
                        ))
                    }
                    TAG_BLOB => {
                        let len = reader.varint().ok_or_else(truncated)?;
                        let id = reader.id().ok_or_else(truncated)?;
                        Payload::Value(ValueRef::Blob { id, len })
                    }
                    _ => return Err(corrupt("unknown value tag")),
                }
            } else {
                let id = reader.id().ok_or_else(truncated)?;
                let count = reader.varint().ok_or_else(truncated)?;
                let value_bytes = reader.varint().ok_or_else(truncated)?;
                Payload::Child(ChildRef {
                    id,
                    count,
                    value_bytes,
                })
            };
            previous = key;
            entries.push(Entry {
                key: key_arc,
                payload,
            });
        }
        if reader.pos != bytes.len() {
            return Err(corrupt("trailing bytes after the last entry"));
        }
        if level > 0 && entries.is_empty() {
            return Err(corrupt("interior node without children"));
        }
        Ok(Node { level, entries })
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    // Eight bytes at a time: sorted keys often share long prefixes.
    let mut shared = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        if x != y {
            break;
        }
        shared += 8;
    }
    shared
        + a[shared..]
            .iter()
            .zip(&b[shared..])
            .take_while(|(x, y)| x == y)
            .count()
}

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    if value < 0x80 {
        out.push(value as u8);
        return;
    }
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A cursor over bytes that never panics: every read returns `None` past the end.
pub(crate) struct Reader<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    pub(crate) fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(len)?;
        let slice = self.bytes.get(self.pos..end)?;
        self.pos = end;
        Some(slice)
    }

    /// An unsigned LEB128 varint of at most 10 bytes, in its shortest form.
    pub(crate) fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                // A trailing zero byte would give a second encoding of the same
                // number, and with it a second hash for the same node.
                if byte == 0 && shift > 0 {
                    return None;
                }
                return Some(value);
            }
        }
        None
    }

    /// A varint used as a length, bounded by what is left to read.
    pub(crate) fn length(&mut self) -> Option<usize> {
        let value = usize::try_from(self.varint()?).ok()?;
        (value <= self.bytes.len() - self.pos).then_some(value)
    }

    pub(crate) fn id(&mut self) -> Option<ObjectId> {
        let bytes: [u8; ID_LEN] = self.take(ID_LEN)?.try_into().ok()?;
        Some(ObjectId::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(keys: &[&str]) -> Node {
        Node {
            level: 0,
            entries: keys
                .iter()
                .map(|k| Entry {
                    key: Arc::from(*k),
                    payload: Payload::Value(ValueRef::Inline(k.as_bytes().into())),
                })
                .collect(),
        }
    }

    #[test]
    fn round_trip() {
        let node = leaf(&["", "a", "ab", "abc", "b", "日本"]);
        let id = ObjectId::hash(2, b"x");
        assert_eq!(Node::decode(id, &node.encode()).unwrap(), node);
        let interior = Node {
            level: 3,
            entries: vec![Entry {
                key: Arc::from("k"),
                payload: Payload::Child(ChildRef {
                    id,
                    count: 1 << 40,
                    value_bytes: 7,
                }),
            }],
        };
        assert_eq!(Node::decode(id, &interior.encode()).unwrap(), interior);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = leaf(&["alpha", "beta", "gamma"]).encode();
        let id = ObjectId::hash(2, &bytes);
        for len in 0..bytes.len() {
            assert!(
                Node::decode(id, &bytes[..len]).is_err(),
                "truncated to {len} decoded"
            );
        }
    }

    #[test]
    fn long_shared_prefixes_near_the_end_decode() {
        let long = "p".repeat(300);
        let mut node = leaf(&[&format!("{long}a"), &format!("{long}b")]);
        for entry in &mut node.entries {
            entry.payload = Payload::Value(ValueRef::Inline(Arc::from(&b"v"[..])));
        }
        assert_eq!(
            Node::decode(ObjectId::hash(2, b""), &node.encode()).unwrap(),
            node
        );
    }

    #[test]
    fn out_of_order_keys_are_corrupt() {
        let mut node = leaf(&["a", "b"]);
        node.entries.swap(0, 1);
        let err = Node::decode(ObjectId::hash(2, b""), &node.encode()).unwrap_err();
        assert!(err.to_string().contains("out of order"), "{err}");
    }

    #[test]
    fn varints_are_canonical() {
        let mut out = Vec::new();
        for value in [0, 1, 127, 128, 300, u64::MAX] {
            out.clear();
            put_varint(&mut out, value);
            assert_eq!(
                Reader {
                    bytes: &out,
                    pos: 0
                }
                .varint(),
                Some(value)
            );
        }
        assert_eq!(
            Reader {
                bytes: &[0x80, 0x00],
                pos: 0
            }
            .varint(),
            None
        );
        assert_eq!(
            Reader {
                bytes: &[0xff; 11],
                pos: 0
            }
            .varint(),
            None
        );
    }
}
