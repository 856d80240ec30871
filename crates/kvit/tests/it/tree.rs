//! Property tests of the key map against a `BTreeMap` model.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use kvit::testing::Counting;
use kvit::{Edits, Memory, ObjectId, Tree, ValueRef, WriteBatch};
use proptest::prelude::*;

const CACHE: u64 = 8 * 1024 * 1024;

type Model = BTreeMap<String, Vec<u8>>;

fn new_tree() -> Tree {
    Tree::open(Arc::new(Memory::new()), CACHE).unwrap()
}

fn empty_root(tree: &Tree) -> ObjectId {
    let mut batch = WriteBatch::new();
    let root = Tree::empty_root(&mut batch);
    batch.write_to(tree.kv()).unwrap();
    root
}

fn apply(tree: &Tree, root: ObjectId, batch_edits: &BTreeMap<String, Option<Vec<u8>>>) -> ObjectId {
    let mut batch = WriteBatch::new();
    let edits: Edits = batch_edits
        .iter()
        .map(|(key, value)| {
            (
                Arc::from(key.as_str()),
                value.as_deref().map(|v| ValueRef::store(v, &mut batch)),
            )
        })
        .collect();
    let root = tree.apply(root, &edits, &mut batch).unwrap();
    batch.write_to(tree.kv()).unwrap();
    root
}

fn read_all(tree: &Tree, range: kvit::Range<'_>) -> Vec<(String, Vec<u8>)> {
    range
        .map(|item| {
            let (key, value) = item.unwrap();
            (key.to_string(), tree.read_value(&value).unwrap())
        })
        .collect()
}

/// Keys from a small alphabet so batches collide, share prefixes and nest like namespaces.
fn key_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[ab/]{0,6}",
        "[a-d]{1,3}/[0-9]{1,4}",
        "(ns|日本|é)/[a-z]{1,8}",
        // Long shared prefixes stress prefix compression and node weights.
        "a{150,300}[bc]{0,3}",
    ]
}

fn value_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 33..200),
    ]
}

fn batches_strategy() -> impl Strategy<Value = Vec<BTreeMap<String, Option<Vec<u8>>>>> {
    proptest::collection::vec(
        proptest::collection::btree_map(
            key_strategy(),
            proptest::option::weighted(0.7, value_strategy()),
            0..120,
        ),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn behaves_like_a_btreemap(batches in batches_strategy(), prefix in "[ab/]{0,2}|[a-d]/|ns/|日本/") {
        let tree = new_tree();
        let mut model = Model::new();
        let mut root = empty_root(&tree);
        let mut roots = vec![(root, model.clone())];
        for batch in &batches {
            root = apply(&tree, root, batch);
            for (key, value) in batch {
                match value {
                    Some(value) => { model.insert(key.clone(), value.clone()); }
                    None => { model.remove(key); }
                }
            }
            prop_assert_eq!(tree.len(root).unwrap(), model.len() as u64);
            prop_assert_eq!(tree.value_bytes(root).unwrap(), model.values().map(|v| v.len() as u64).sum::<u64>());
            roots.push((root, model.clone()));
        }

        // Contents and order.
        let expected: Vec<_> = model.clone().into_iter().collect();
        prop_assert_eq!(read_all(&tree, tree.range(root, Bound::Unbounded, Bound::Unbounded)), expected);

        // Point reads, single and batched.
        let probe: Vec<String> = batches.iter().flat_map(|b| b.keys().cloned()).collect();
        let probe_refs: Vec<&str> = probe.iter().map(String::as_str).collect();
        let many = tree.get_many(root, &probe_refs).unwrap();
        for (key, found) in probe.iter().zip(many) {
            let single = tree.get(root, key).unwrap();
            prop_assert_eq!(&found, &single);
            prop_assert_eq!(found.map(|v| tree.read_value(&v).unwrap()), model.get(key).cloned());
        }

        // Prefix scan.
        let expected_prefix: Vec<_> = model.iter().filter(|(k, _)| k.starts_with(&prefix)).map(|(k, v)| (k.clone(), v.clone())).collect();
        prop_assert_eq!(read_all(&tree, tree.prefix(root, &prefix)), expected_prefix);

        // Diff between every earlier version and the last.
        for (old_root, old_model) in &roots {
            let changes = tree.diff(*old_root, root).unwrap();
            let mut expected_changes = Vec::new();
            let keys: std::collections::BTreeSet<&String> = old_model.keys().chain(model.keys()).collect();
            for key in keys {
                let (a, b) = (old_model.get(key), model.get(key));
                if a != b {
                    expected_changes.push((key.clone(), a.cloned(), b.cloned()));
                }
            }
            let got: Vec<_> = changes
                .iter()
                .map(|c| (
                    c.key.to_string(),
                    c.old.as_ref().map(|v| tree.read_value(v).unwrap()),
                    c.new.as_ref().map(|v| tree.read_value(v).unwrap()),
                ))
                .collect();
            prop_assert_eq!(got, expected_changes);
        }

        // History independence: the final contents built in one batch give the same root.
        let one_shot: BTreeMap<String, Option<Vec<u8>>> = model.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let fresh = new_tree();
        let rebuilt = apply(&fresh, empty_root(&fresh), &one_shot);
        prop_assert_eq!(rebuilt, root);
    }

    /// Batches that only give existing keys new values (the fast path of
    /// `apply`), now and then with one insertion or removal mixed in (which
    /// takes the general path), must leave the tree a one-shot build of the
    /// same contents would give; so must batches applied through a new
    /// handle, whose empty node cache sends the fast path to fetch first.
    #[test]
    fn value_updates_match_a_fresh_build(
        entries in proptest::collection::btree_map("[a-z0-9/]{1,12}", value_strategy(), 1..800),
        updates in proptest::collection::vec(
            (proptest::collection::vec((any::<proptest::sample::Index>(), value_strategy()), 1..40), 0u8..8),
            1..8,
        ),
    ) {
        let kv: Arc<dyn kvit::KvStore> = Arc::new(Memory::new());
        let tree = Tree::open(kv.clone(), CACHE).unwrap();
        let mut model: Model = entries.clone();
        let all: BTreeMap<String, Option<Vec<u8>>> = entries.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let mut root = apply(&tree, empty_root(&tree), &all);
        let keys: Vec<String> = entries.keys().cloned().collect();
        for (round, (batch, extra)) in updates.into_iter().enumerate() {
            let mut edits: BTreeMap<String, Option<Vec<u8>>> = batch
                .into_iter()
                .map(|(index, value)| (index.get(&keys).clone(), Some(value)))
                .collect();
            match extra {
                0 => { edits.insert("zz/new".to_owned(), Some(b"added".to_vec())); }
                1 => { edits.insert(keys[0].clone(), None); }
                _ => {}
            }
            let cold;
            let handle = if round % 2 == 1 {
                cold = Tree::open(kv.clone(), CACHE).unwrap();
                &cold
            } else {
                &tree
            };
            root = apply(handle, root, &edits);
            for (key, value) in edits {
                match value {
                    Some(value) => { model.insert(key, value); }
                    None => { model.remove(&key); }
                }
            }
            prop_assert_eq!(tree.len(root).unwrap(), model.len() as u64);
            prop_assert_eq!(tree.value_bytes(root).unwrap(), model.values().map(|v| v.len() as u64).sum::<u64>());
        }
        let expected: Vec<_> = model.clone().into_iter().collect();
        prop_assert_eq!(read_all(&tree, tree.range(root, Bound::Unbounded, Bound::Unbounded)), expected);
        let one_shot: BTreeMap<String, Option<Vec<u8>>> = model.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let fresh = new_tree();
        prop_assert_eq!(apply(&fresh, empty_root(&fresh), &one_shot), root);
    }

    #[test]
    fn insertion_order_never_changes_the_root(
        entries in proptest::collection::btree_map("[a-z0-9/]{1,12}", value_strategy(), 1..600),
        seed in any::<u64>(),
        pieces in 1usize..20,
    ) {
        let tree = new_tree();
        let all: BTreeMap<String, Option<Vec<u8>>> = entries.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect();
        let at_once = apply(&tree, empty_root(&tree), &all);

        // Shuffle the keys and insert them in `pieces` batches.
        let mut keys: Vec<&String> = entries.keys().collect();
        let mut state = seed | 1;
        for i in (1..keys.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            keys.swap(i, (state % (i as u64 + 1)) as usize);
        }
        let mut root = empty_root(&tree);
        for chunk in keys.chunks(keys.len().div_ceil(pieces)) {
            let batch = chunk.iter().map(|k| ((*k).clone(), Some(entries[*k].clone()))).collect();
            root = apply(&tree, root, &batch);
        }
        prop_assert_eq!(root, at_once);
    }
}

#[test]
fn reading_one_key_of_a_large_store_reads_one_path() {
    let counting = Arc::new(Counting::new(Memory::new()));
    let tree = Tree::open(counting.clone(), CACHE).unwrap();
    let n = 200_000;
    let batch: BTreeMap<String, Option<Vec<u8>>> = (0..n)
        .map(|i| (format!("user/{i:08}"), Some(format!("{i}").into_bytes())))
        .collect();
    let root = apply(&tree, empty_root(&tree), &batch);
    let depth = u64::from(tree.depth(root).unwrap());

    // A fresh handle has a cold cache, like a newly opened store.
    let cold = Tree::open(counting.clone(), CACHE).unwrap();
    counting.reset();
    let value = cold.get(root, "user/00123456").unwrap().unwrap();
    assert_eq!(cold.read_value(&value).unwrap(), b"123456");
    let counts = counting.counts();
    assert_eq!(counts.keys_read, depth, "read {counts:?} at depth {depth}");
    drop(cold);

    // A namespace scan of 100 keys touches the path plus the leaves holding them.
    let cold = Tree::open(counting.clone(), CACHE).unwrap();
    counting.reset();
    let found = cold
        .prefix(root, "user/0000")
        .filter_map(Result::ok)
        .count();
    assert_eq!(found, 10_000);
    let counts = counting.counts();
    assert!(counts.keys_read < 10_000 / 10, "{counts:?}");
    assert!(counts.round_trips() < 200, "{counts:?}");
}
