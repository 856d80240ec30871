//! Tree nodes and their byte encoding (see `docs/format.md`).

use std::cmp::Ordering;
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

    /// The value as a leaf holds it.
    pub(crate) fn as_slot(&self) -> Slot<'_> {
        match self {
            ValueRef::Inline(bytes) => Slot::Inline(bytes),
            ValueRef::Blob { id, len } => Slot::Blob { id: *id, len: *len },
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

/// What an entry points at, owned: a value in a leaf, a child subtree above.
/// The form edits take; nodes keep theirs packed ([`Slot`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Payload {
    Value(ValueRef),
    Child(ChildRef),
}

impl Payload {
    /// The payload as a node would hold it.
    pub(crate) fn as_slot(&self) -> Slot<'_> {
        match self {
            Payload::Value(value) => value.as_slot(),
            Payload::Child(child) => Slot::Child(*child),
        }
    }
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

/// One entry's payload, borrowed from the node that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot<'a> {
    /// A small value, inside the leaf.
    Inline(&'a [u8]),
    /// A value in its own blob.
    Blob { id: ObjectId, len: u64 },
    /// A subtree, above the leaves.
    Child(ChildRef),
}

impl Slot<'_> {
    /// Bytes of value under the entry.
    pub(crate) fn value_bytes(self) -> u64 {
        match self {
            Slot::Inline(bytes) => bytes.len() as u64,
            Slot::Blob { len, .. } => len,
            Slot::Child(child) => child.value_bytes,
        }
    }

    /// The value of a leaf entry, owned.
    pub(crate) fn value(self) -> Option<ValueRef> {
        match self {
            Slot::Inline(bytes) => Some(ValueRef::Inline(bytes.into())),
            Slot::Blob { id, len } => Some(ValueRef::Blob { id, len }),
            Slot::Child(_) => None,
        }
    }
}

/// Where one entry sits in its node: where its key ends in the keys, where
/// its payload starts and where it ends in the body, and where an inline
/// value starts (0 for other payloads). Four words, whatever the payload.
type Record = [u32; 4];

/// A decoded node: a level (0 for leaves) and its entries in ascending key
/// order.
///
/// A node keeps its own encoding (all but the level and entry count, which
/// lead it), its keys end to end in one string, and a small fixed record per
/// entry pointing into both. It is a handful of allocations however many
/// entries it has, with no allocation per entry to copy or free;
/// encoding it is a copy; and replacing a value splices the encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) level: u8,
    /// Shared with every version of the node made by replacing payloads
    /// (a commit's path rewrites nodes whose keys stay put), so making one
    /// copies no keys. Only a node being built writes to it.
    keys: Arc<String>,
    /// The entries as encoded (see `docs/format.md`).
    body: Vec<u8>,
    /// Shared in the same way, while no payload changes length.
    records: Arc<Vec<Record>>,
}

const TAG_INLINE: u8 = 0;
const TAG_BLOB: u8 = 1;

/// An offset into a node. Nodes are far below 4 GiB: the chunker ends them
/// by weight, keys are at most 4 KiB, and `decode` refuses larger input.
fn offset(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Appends the encoding of a payload; returns where an inline value starts
/// (0 for other payloads).
fn encode_payload(out: &mut Vec<u8>, slot: Slot<'_>) -> u32 {
    match slot {
        Slot::Inline(bytes) => {
            out.push(TAG_INLINE);
            put_varint(out, bytes.len() as u64);
            let start = offset(out.len());
            out.extend_from_slice(bytes);
            start
        }
        Slot::Blob { id, len } => {
            out.push(TAG_BLOB);
            put_varint(out, len);
            out.extend_from_slice(id.as_bytes());
            0
        }
        Slot::Child(child) => {
            out.extend_from_slice(child.id.as_bytes());
            put_varint(out, child.count);
            put_varint(out, child.value_bytes);
            0
        }
    }
}

/// Moves `records`, which sat at or after `from` in a body, to where that
/// point now is (`to`): their payloads, and inline values, follow.
fn shift_records(records: &mut [Record], from: usize, to: usize) {
    if from == to {
        return;
    }
    let at = |old: u32| offset(old as usize - from + to);
    for record in records {
        record[1] = at(record[1]);
        record[2] = at(record[2]);
        if record[3] != 0 {
            record[3] = at(record[3]);
        }
    }
}

/// A reader at `pos` in a node's body. The body was checked when the node
/// was decoded, or written by `push`, so reads at entry offsets succeed;
/// were one ever to fail, it would read as zero rather than panic.
fn body_reader(body: &[u8], pos: usize) -> Reader<'_> {
    Reader { bytes: body, pos }
}

impl Node {
    /// An empty node of `level`.
    pub(crate) fn new(level: u8) -> Self {
        Node {
            level,
            ..Node::default()
        }
    }

    /// An empty node with room for `entries` entries of about `key_bytes`
    /// bytes of keys in all.
    pub(crate) fn with_capacity(level: u8, entries: usize, key_bytes: usize) -> Self {
        let payload = if level == 0 {
            INLINE_MAX / 2
        } else {
            ID_LEN + 4
        };
        Node {
            level,
            keys: Arc::new(String::with_capacity(key_bytes)),
            body: Vec::with_capacity(key_bytes / 2 + entries * (payload + 3)),
            records: Arc::new(Vec::with_capacity(entries)),
        }
    }

    /// Appends an entry; its key must sort after every key already in the
    /// node (callers build nodes in order), and its payload must suit the
    /// level (a value in a leaf, a child above).
    pub(crate) fn push(&mut self, key: &str, slot: Slot<'_>) {
        debug_assert!(self.last_key().is_none_or(|last| last < key));
        let previous = self.last_key().unwrap_or_default().as_bytes();
        let shared = common_prefix(previous, key.as_bytes());
        put_varint(&mut self.body, shared as u64);
        put_varint(&mut self.body, (key.len() - shared) as u64);
        self.body.extend_from_slice(&key.as_bytes()[shared..]);
        let payload_at = offset(self.body.len());
        let inline_at = encode_payload(&mut self.body, slot);
        Arc::make_mut(&mut self.keys).push_str(key);
        Arc::make_mut(&mut self.records).push([
            offset(self.keys.len()),
            payload_at,
            offset(self.body.len()),
            inline_at,
        ]);
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the node has no entries.
    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The key of entry `index` (which must exist).
    pub(crate) fn key(&self, index: usize) -> &str {
        let start = match index {
            0 => 0,
            _ => self.records[index - 1][0] as usize,
        };
        &self.keys[start..self.records[index][0] as usize]
    }

    /// The payload of entry `index` (which must exist).
    pub(crate) fn slot(&self, index: usize) -> Slot<'_> {
        let [_, payload_at, end, inline_at] = self.records[index];
        let (payload_at, end) = (payload_at as usize, end as usize);
        let zero = ObjectId::from_bytes([0; ID_LEN]);
        if self.level > 0 {
            let mut reader = body_reader(&self.body, payload_at);
            return Slot::Child(ChildRef {
                id: reader.id().unwrap_or(zero),
                count: reader.varint().unwrap_or_default(),
                value_bytes: reader.varint().unwrap_or_default(),
            });
        }
        if self.body[payload_at] == TAG_INLINE {
            return Slot::Inline(&self.body[inline_at as usize..end]);
        }
        let mut reader = body_reader(&self.body, payload_at + 1);
        Slot::Blob {
            len: reader.varint().unwrap_or_default(),
            id: reader.id().unwrap_or(zero),
        }
    }

    /// The child of entry `index`, if it exists and is interior.
    pub(crate) fn child(&self, index: usize) -> Option<ChildRef> {
        if index >= self.len() {
            return None;
        }
        match self.slot(index) {
            Slot::Child(child) => Some(child),
            Slot::Inline(_) | Slot::Blob { .. } => None,
        }
    }

    /// The entries in order.
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&str, Slot<'_>)> + '_ {
        (0..self.len()).map(|index| (self.key(index), self.slot(index)))
    }

    /// The number of entries whose keys are less than `key` (with `inclusive`,
    /// at most `key`): the index of the first entry past that bound.
    pub(crate) fn partition(&self, key: &str, inclusive: bool) -> usize {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            let before = match self.key(middle).cmp(key) {
                Ordering::Less => true,
                Ordering::Equal => inclusive,
                Ordering::Greater => false,
            };
            if before {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }

    /// The index of the entry with key `key`, if there is one.
    pub(crate) fn find(&self, key: &str) -> Option<usize> {
        let index = self.partition(key, false);
        (index < self.len() && self.key(index) == key).then_some(index)
    }

    /// The node's greatest key.
    pub(crate) fn last_key(&self) -> Option<&str> {
        self.len().checked_sub(1).map(|last| self.key(last))
    }

    /// Keys in the subtree under this node.
    pub(crate) fn count(&self) -> u64 {
        self.totals().0
    }

    /// Total length of the values in the subtree under this node.
    pub(crate) fn value_bytes(&self) -> u64 {
        self.totals().1
    }

    /// Keys and value bytes in the subtree, in one pass over the records.
    fn totals(&self) -> (u64, u64) {
        let mut value_bytes = 0;
        if self.level == 0 {
            for &[_, payload_at, end, inline_at] in self.records.iter() {
                value_bytes += if inline_at == 0 {
                    body_reader(&self.body, payload_at as usize + 1)
                        .varint()
                        .unwrap_or_default()
                } else {
                    u64::from(end - inline_at)
                };
            }
            return (self.len() as u64, value_bytes);
        }
        let mut count = 0;
        for &[_, payload_at, ..] in self.records.iter() {
            let mut reader = body_reader(&self.body, payload_at as usize + ID_LEN);
            count += reader.varint().unwrap_or_default();
            value_bytes += reader.varint().unwrap_or_default();
        }
        (count, value_bytes)
    }

    /// The summary a parent keeps of this node, once it is stored as `id`.
    pub(crate) fn child_ref(&self, id: ObjectId) -> ChildRef {
        let (count, value_bytes) = self.totals();
        ChildRef {
            id,
            count,
            value_bytes,
        }
    }

    /// The node with the payloads of some entries replaced: `replacements`
    /// holds entry indexes, ascending and each at most once, with their new
    /// payloads, which must suit the level. The keys, and so the node's
    /// boundaries, stay as they are.
    ///
    /// The new encoding is written in one pass: the stretches between
    /// replaced payloads are copied and each new payload is encoded in
    /// place. When every new payload encodes to the length of the one it
    /// replaces (a value of the same size; above the leaves, a child whose
    /// totals kept their width), nothing moved and the records are shared
    /// with this node; otherwise the records after each replacement move by
    /// what the encoding grew or shrank.
    pub(crate) fn with_payloads(&self, replacements: &[(usize, Slot<'_>)]) -> Node {
        debug_assert!(replacements.windows(2).all(|pair| pair[0].0 < pair[1].0));
        let room = replacements.len() * (INLINE_MAX + 2 * 10 + ID_LEN);
        let mut body = Vec::with_capacity(self.body.len() + room);
        // Per replacement: its new record, and where the stretch before it
        // started in the old body and starts in the new one.
        let mut placed = Vec::with_capacity(replacements.len());
        let mut copied = 0;
        for &(index, slot) in replacements {
            let [key_end, payload_at, end, _] = self.records[index];
            let gap = (copied, body.len());
            body.extend_from_slice(&self.body[copied..payload_at as usize]);
            let new_at = offset(body.len());
            let inline_at = encode_payload(&mut body, slot);
            placed.push((index, [key_end, new_at, offset(body.len()), inline_at], gap));
            copied = end as usize;
        }
        let tail = (copied, body.len());
        body.extend_from_slice(&self.body[copied..]);
        let moved = placed
            .iter()
            .any(|&(index, record, _)| self.records[index] != record);
        let records = if moved {
            let mut records = Vec::clone(&self.records);
            let mut unshifted = 0;
            for &(index, record, (from, to)) in &placed {
                shift_records(&mut records[unshifted..index], from, to);
                records[index] = record;
                unshifted = index + 1;
            }
            shift_records(&mut records[unshifted..], tail.0, tail.1);
            Arc::new(records)
        } else {
            Arc::clone(&self.records)
        };
        Node {
            level: self.level,
            keys: Arc::clone(&self.keys),
            body,
            records,
        }
    }

    /// Roughly the memory the node takes, for the cache's budget.
    pub(crate) fn footprint(&self) -> u64 {
        (self.keys.len()
            + self.body.len()
            + self.len() * std::mem::size_of::<Record>()
            + std::mem::size_of::<Node>()) as u64
    }

    /// Encodes the node; keys are prefix-compressed against their predecessor.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_bound());
        self.encode_into(&mut out);
        out
    }

    /// An upper bound on the encoding's length, to size buffers so that
    /// encoding never reallocates.
    pub(crate) fn encoded_len_bound(&self) -> usize {
        1 + 10 + self.body.len()
    }

    /// Appends the node's encoding to `out`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.level);
        put_varint(out, self.len() as u64);
        out.extend_from_slice(&self.body);
    }

    /// Decodes a node, checking everything a reader relies on: strictly
    /// ascending UTF-8 keys, a level in range, no trailing bytes.
    pub(crate) fn decode(id: ObjectId, bytes: &[u8]) -> Result<Node> {
        let corrupt = |reason: &str| Error::corrupt(Kind::Node.name(), id, reason);
        if u32::try_from(bytes.len()).is_err() {
            return Err(corrupt("node larger than 4 GiB"));
        }
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
        let count = count as usize;
        let body_start = reader.pos;
        let at = |pos: usize| offset(pos - body_start);
        // Keys are at most as long as the node.
        let mut keys: Vec<u8> = Vec::with_capacity(bytes.len());
        let mut records: Vec<Record> = Vec::with_capacity(count);
        let mut previous_start = 0;
        for index in 0..count {
            let truncated = || corrupt("truncated entry");
            let shared = reader.varint().ok_or_else(truncated)?;
            let shared = usize::try_from(shared).unwrap_or(usize::MAX);
            let suffix_len = reader.length().ok_or_else(truncated)?;
            let suffix = reader.take(suffix_len).ok_or_else(truncated)?;
            let previous_len = keys.len() - previous_start;
            if shared > previous_len {
                return Err(corrupt("key prefix longer than the previous key"));
            }
            let start = keys.len();
            keys.extend_from_within(previous_start..previous_start + shared);
            keys.extend_from_slice(suffix);
            if index > 0 && keys[start..] <= keys[previous_start..start] {
                return Err(corrupt("keys out of order"));
            }
            if std::str::from_utf8(&keys[start..]).is_err() {
                return Err(corrupt("key is not UTF-8"));
            }
            let key_end = offset(keys.len());
            previous_start = start;
            let payload_at = at(reader.pos);
            let inline_at = if level == 0 {
                match reader.byte().ok_or_else(truncated)? {
                    TAG_INLINE => {
                        let len = reader.length().ok_or_else(truncated)?;
                        if len > INLINE_MAX {
                            return Err(corrupt("inline value above the inline limit"));
                        }
                        let start = at(reader.pos);
                        reader.take(len).ok_or_else(truncated)?;
                        start
                    }
                    TAG_BLOB => {
                        reader.varint().ok_or_else(truncated)?;
                        reader.id().ok_or_else(truncated)?;
                        0
                    }
                    _ => return Err(corrupt("unknown value tag")),
                }
            } else {
                reader.id().ok_or_else(truncated)?;
                reader.varint().ok_or_else(truncated)?;
                reader.varint().ok_or_else(truncated)?;
                0
            };
            records.push([key_end, payload_at, at(reader.pos), inline_at]);
        }
        if reader.pos != bytes.len() {
            return Err(corrupt("trailing bytes after the last entry"));
        }
        if level > 0 && records.is_empty() {
            return Err(corrupt("interior node without children"));
        }
        // Each key was checked on its own, and keys are joined whole.
        let mut keys = String::from_utf8(keys).map_err(|_| corrupt("key is not UTF-8"))?;
        keys.shrink_to_fit();
        Ok(Node {
            level,
            keys: Arc::new(keys),
            body: bytes[body_start..].to_vec(),
            records: Arc::new(records),
        })
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
        let mut node = Node::new(0);
        for key in keys {
            node.push(key, Slot::Inline(key.as_bytes()));
        }
        node
    }

    #[test]
    fn round_trip() {
        let node = leaf(&["", "a", "ab", "abc", "b", "日本"]);
        let id = ObjectId::hash(2, b"x");
        assert_eq!(Node::decode(id, &node.encode()).unwrap(), node);
        let mut interior = Node::new(3);
        interior.push(
            "k",
            Slot::Child(ChildRef {
                id,
                count: 1 << 40,
                value_bytes: 7,
            }),
        );
        assert_eq!(Node::decode(id, &interior.encode()).unwrap(), interior);
        let mut blobs = Node::new(0);
        blobs.push("a", Slot::Inline(b"1"));
        blobs.push("b", Slot::Blob { id, len: 1000 });
        blobs.push("c", Slot::Inline(b""));
        blobs.push("d", Slot::Inline(b"4444"));
        let decoded = Node::decode(id, &blobs.encode()).unwrap();
        assert_eq!(decoded, blobs);
        assert_eq!(decoded.slot(3), Slot::Inline(b"4444"));
        assert_eq!(decoded.count(), 4);
        assert_eq!(decoded.value_bytes(), 1005);
    }

    #[test]
    fn lookups_find_keys_and_bounds() {
        let node = leaf(&["b", "d", "f"]);
        assert_eq!(node.find("d"), Some(1));
        assert_eq!(node.find("c"), None);
        assert_eq!(node.find("g"), None);
        assert_eq!(node.partition("d", false), 1);
        assert_eq!(node.partition("d", true), 2);
        assert_eq!(node.partition("a", true), 0);
        assert_eq!(node.partition("z", false), 3);
        assert_eq!(node.last_key(), Some("f"));
        assert_eq!(Node::new(0).last_key(), None);
    }

    #[test]
    fn replacing_payloads_keeps_keys_and_packs_values() {
        let id = ObjectId::hash(1, b"v");
        let blob = Slot::Blob { id, len: 99 };
        let values: [Slot<'_>; 5] = [
            Slot::Inline(b""),
            Slot::Inline(b"x"),
            Slot::Inline(b"y"),
            Slot::Inline(b"a longer value"),
            blob,
        ];
        // Every value at every position, from every starting value: the
        // result must be the node built that way from scratch.
        for start in values {
            let keys = ["a", "b", "c", "d"];
            let mut node = Node::new(0);
            for (index, key) in keys.iter().enumerate() {
                node.push(key, if index == 1 { blob } else { start });
            }
            for at in 0..keys.len() {
                for value in values {
                    let updated = node.with_payloads(&[(at, value)]);
                    let mut expected = Node::new(0);
                    for (index, key) in keys.iter().enumerate() {
                        expected.push(key, if index == at { value } else { node.slot(index) });
                    }
                    assert_eq!(updated, expected);
                    assert_eq!(updated.encode(), expected.encode());
                }
            }
        }
        let node = leaf(&["a", "b", "c"]);
        let updated = node.with_payloads(&[(0, Slot::Inline(b"longer value")), (2, blob)]);
        let mut expected = Node::new(0);
        expected.push("a", Slot::Inline(b"longer value"));
        expected.push("b", Slot::Inline(b"b"));
        expected.push("c", blob);
        assert_eq!(updated, expected);
    }

    #[test]
    fn a_rewrite_that_moves_nothing_shares_keys_and_records() {
        let node = leaf(&["a", "b", "c"]);
        let same_size = node.with_payloads(&[(1, Slot::Inline(b"B"))]);
        assert!(Arc::ptr_eq(&same_size.keys, &node.keys));
        assert!(Arc::ptr_eq(&same_size.records, &node.records));
        let grown = node.with_payloads(&[(1, Slot::Inline(b"bigger"))]);
        assert!(Arc::ptr_eq(&grown.keys, &node.keys));
        assert!(!Arc::ptr_eq(&grown.records, &node.records));
        assert_eq!(grown.slot(2), Slot::Inline(b"c"));
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
        let mut node = Node::new(0);
        node.push(&format!("{long}a"), Slot::Inline(b"v"));
        node.push(&format!("{long}b"), Slot::Inline(b"v"));
        assert_eq!(
            Node::decode(ObjectId::hash(2, b""), &node.encode()).unwrap(),
            node
        );
    }

    #[test]
    fn out_of_order_keys_are_corrupt() {
        let mut bytes = leaf(&["a", "b"]).encode();
        // level, count, then (shared, suffix length, suffix, tag, length, value) twice
        assert_eq!(&bytes[2..8], &[0, 1, b'a', 0, 1, b'a']);
        bytes[4] = b'c';
        let err = Node::decode(ObjectId::hash(2, b""), &bytes).unwrap_err();
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
