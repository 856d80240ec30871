//! A store of hand-made objects: tree nodes encoded as `docs/format.md` says
//! but with arbitrary levels, keys (out of order, repeated, shared-prefix
//! lengths that lie), payload tags, child summaries and references to
//! missing objects — each stored under its true hash, so it passes the hash
//! check and reaches the decoders and the tree walks. A commit on `main`
//! points at one of them.
//!
//! Every read, a commit on top, a diff and `verify` must return `Ok` or a
//! typed error (corrupt or missing object), never panic; and when `verify`
//! calls the store clean, the reads must agree with each other.
#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use arbitrary::Arbitrary;
use kvit::{ChangeSet, CommitOptions, Error, KvStore, Memory, ObjectId, Versioned};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum PayloadSpec {
    Inline(Vec<u8>),
    /// A blob made earlier (by index), or a missing one past the end.
    Blob {
        blob: u8,
        len: u32,
    },
    /// A node made earlier (by index), or a missing one past the end.
    Child {
        node: u8,
        count: u32,
        value_bytes: u32,
    },
    /// Whatever tag and bytes follow the key.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct EntrySpec {
    key: String,
    /// Claim this many shared prefix bytes instead of the true number.
    shared: Option<u8>,
    payload: PayloadSpec,
}

#[derive(Arbitrary, Debug)]
struct NodeSpec {
    level: u8,
    entries: Vec<EntrySpec>,
    /// Count to write instead of the number of entries.
    count: Option<u8>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    blobs: Vec<Vec<u8>>,
    nodes: Vec<NodeSpec>,
    /// The root: a node by index (default: the last one).
    root: Option<u8>,
    probes: Vec<String>,
    writes: Vec<(String, Option<Vec<u8>>)>,
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Stores `payload` as an object of kind `tag` under its true address.
fn store(kv: &Memory, tag: u8, letter: char, payload: &[u8]) -> ObjectId {
    let id = ObjectId::hash(tag, payload);
    let mut stored = 0u64.to_le_bytes().to_vec();
    stored.extend_from_slice(payload);
    kv.set(&format!("obj/{letter}/{id}"), &stored)
        .expect("memory set");
    id
}

fn missing(seed: usize) -> ObjectId {
    ObjectId::hash(9, &seed.to_le_bytes())
}

fn encode_node(spec: &NodeSpec, blobs: &[ObjectId], nodes: &[ObjectId]) -> Vec<u8> {
    let level = spec.level % 4;
    let mut out = vec![level];
    let count = spec.count.map_or(spec.entries.len() as u64, u64::from);
    put_varint(&mut out, count);
    let mut previous: &[u8] = &[];
    for (index, entry) in spec.entries.iter().enumerate() {
        let key = entry.key.as_bytes();
        let true_shared = previous.iter().zip(key).take_while(|(a, b)| a == b).count();
        let shared = entry
            .shared
            .map_or(true_shared, |claim| usize::from(claim).min(key.len()));
        put_varint(&mut out, shared as u64);
        let suffix = key.get(shared..).unwrap_or_default();
        put_varint(&mut out, suffix.len() as u64);
        out.extend_from_slice(suffix);
        previous = key;
        match &entry.payload {
            PayloadSpec::Inline(bytes) => {
                out.push(0);
                put_varint(&mut out, bytes.len() as u64);
                out.extend_from_slice(bytes);
            }
            PayloadSpec::Blob { blob, len } => {
                out.push(1);
                put_varint(&mut out, u64::from(*len));
                let id = blobs
                    .get(usize::from(*blob))
                    .copied()
                    .unwrap_or_else(|| missing(index));
                out.extend_from_slice(id.as_bytes());
            }
            PayloadSpec::Child {
                node,
                count,
                value_bytes,
            } => {
                let id = nodes
                    .get(usize::from(*node))
                    .copied()
                    .unwrap_or_else(|| missing(index));
                out.extend_from_slice(id.as_bytes());
                put_varint(&mut out, u64::from(*count));
                put_varint(&mut out, u64::from(*value_bytes));
            }
            PayloadSpec::Raw(bytes) => out.extend_from_slice(bytes),
        }
    }
    out
}

/// A root commit (format version 1) at `root`.
fn commit_payload(root: ObjectId) -> Vec<u8> {
    let mut out = vec![1];
    out.extend_from_slice(root.as_bytes());
    out.extend_from_slice(&1u64.to_le_bytes()); // generation
    out.extend_from_slice(&0u64.to_le_bytes()); // time
    out.extend_from_slice(&[0; 16]); // salt
    out.push(0); // no origin: this is a root
    put_varint(&mut out, 0); // parents
    put_varint(&mut out, 0); // info
    out
}

/// `Ok`, or an error that says the store is damaged.
fn typed<T>(what: &str, outcome: kvit::Result<T>) -> Option<T> {
    match outcome {
        Ok(value) => Some(value),
        Err(Error::CorruptObject { .. } | Error::MissingObject { .. }) => None,
        Err(other) => panic!("{what}: untyped failure {other}"),
    }
}

fuzz_target!(|input: Input| {
    let kv = Arc::new(Memory::new());
    let blobs: Vec<ObjectId> = input
        .blobs
        .iter()
        .take(8)
        .map(|blob| store(&kv, 1, 'b', blob))
        .collect();
    let mut nodes = Vec::new();
    for spec in input.nodes.iter().take(16) {
        let payload = encode_node(spec, &blobs, &nodes);
        nodes.push(store(&kv, 2, 'n', &payload));
    }
    let root = input
        .root
        .and_then(|pick| nodes.get(usize::from(pick)))
        .or(nodes.last())
        .copied()
        .unwrap_or_else(|| missing(usize::MAX));
    let commit = store(&kv, 3, 'c', &commit_payload(root));
    kv.set(
        kvit::FORMAT_KEY,
        kvit::FORMAT_VERSION.to_string().as_bytes(),
    )
    .expect("memory set");
    kv.set("refs/heads/main", commit.to_hex().as_bytes())
        .expect("memory set");

    let shared: Arc<dyn KvStore> = kv.clone();
    let report = kvit::verify(&*shared).expect("verify reads a memory store");
    let Some(mut cursor) = typed("open", Versioned::open(shared)) else {
        assert!(!report.is_clean(), "open failed on a clean store");
        return;
    };

    let keys = typed("keys", cursor.keys());
    let len = typed("len", cursor.len());
    let size = typed("total size", cursor.total_value_bytes());
    let items = typed("items", cursor.items_with_prefix(""));
    let probes: Vec<&str> = input.probes.iter().take(8).map(String::as_str).collect();
    let many = typed("get_many", cursor.get_many(&probes));
    let singles: Vec<_> = probes
        .iter()
        .map(|key| typed("get", cursor.get(key)))
        .collect();
    for prefix in &probes {
        typed("prefix", cursor.keys_with_prefix(prefix));
    }

    if report.is_clean() {
        let keys = keys.expect("keys of a clean store");
        let items = items.expect("items of a clean store");
        assert!(
            keys.windows(2).all(|pair| pair[0] < pair[1]),
            "keys out of order"
        );
        assert_eq!(len, Some(keys.len() as u64), "len disagrees with keys");
        let total: usize = items.iter().map(|(_, value)| value.len()).sum();
        assert_eq!(size, Some(total as u64), "size disagrees with values");
        let model: BTreeMap<&str, &Vec<u8>> = items
            .iter()
            .map(|(key, value)| (key.as_str(), value))
            .collect();
        let many = many.expect("get_many of a clean store");
        for ((key, batched), single) in probes.iter().zip(many).zip(singles) {
            let expected = model.get(key).copied();
            assert_eq!(batched.as_ref(), expected, "get_many {key:?}");
            assert_eq!(single.expect("get").as_ref(), expected, "get {key:?}");
        }
    }

    let mut changes = ChangeSet::new();
    for (key, value) in input.writes.iter().take(8) {
        // Invalid keys are refused up front; that is covered elsewhere.
        let _ = match value {
            Some(value) => changes.set(key.clone(), value.clone()).map(drop),
            None => changes.remove(key.clone()).map(drop),
        };
    }
    let before = cursor.current_commit();
    if let Some(result) = typed("commit", cursor.commit(&changes, &CommitOptions::new())) {
        let after = result.commit.expect("a merged commit");
        typed("diff", cursor.diff(before, after));
        typed("keys after commit", cursor.keys());
        if report.is_clean() {
            let after_report = kvit::verify(cursor.kv()).expect("verify");
            assert!(
                after_report.is_clean(),
                "a commit on a clean store: {after_report}"
            );
        }
    } else {
        assert!(!report.is_clean(), "a commit failed on a clean store");
    }
});
