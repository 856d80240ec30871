use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use super::*;
use crate::backend::Memory;

fn tree() -> Tree {
    Tree::open(Arc::new(Memory::new()), DEFAULT_CACHE_BYTES).unwrap()
}

fn empty(tree: &Tree) -> ObjectId {
    let mut batch = WriteBatch::new();
    let root = Tree::empty_root(&mut batch);
    batch.write_to(tree.kv()).unwrap();
    root
}

/// Applies edits and writes them; returns the new root and the objects written.
fn apply(tree: &Tree, root: ObjectId, edits: &[(String, Option<Vec<u8>>)]) -> (ObjectId, usize) {
    let mut batch = WriteBatch::new();
    let edits: Edits = edits
        .iter()
        .map(|(key, value)| {
            (
                Arc::from(key.as_str()),
                value.as_ref().map(|v| ValueRef::store(v, &mut batch)),
            )
        })
        .collect();
    let root = tree.apply(root, &edits, &mut batch).unwrap();
    let written = batch.len();
    batch.write_to(tree.kv()).unwrap();
    (root, written)
}

fn key(i: usize) -> String {
    format!("key/{i:07}")
}

fn fill(tree: &Tree, n: usize) -> ObjectId {
    let edits: Vec<_> = (0..n)
        .map(|i| (key(i), Some(format!("value {i}").into_bytes())))
        .collect();
    apply(tree, empty(tree), &edits).0
}

/// The id of the leaf that holds (or would hold) `key`.
fn leaf_of(tree: &Tree, root: ObjectId, key: &str) -> ObjectId {
    let mut id = root;
    loop {
        let node = tree.node(id).unwrap();
        if node.level == 0 {
            return id;
        }
        id = node.child(node.partition(key, false)).unwrap().id;
    }
}

fn contents(tree: &Tree, root: ObjectId) -> Vec<(String, Vec<u8>)> {
    tree.range(root, Bound::Unbounded, Bound::Unbounded)
        .map(|item| {
            let (key, value) = item.unwrap();
            (key.to_string(), tree.read_value(&value).unwrap())
        })
        .collect()
}

#[test]
fn reads_back_what_was_written() {
    let tree = tree();
    let root = fill(&tree, 5_000);
    assert_eq!(tree.len(root).unwrap(), 5_000);
    assert!(
        tree.depth(root).unwrap() >= 2,
        "5000 keys should need more than one node"
    );
    for i in (0..5_000).step_by(97) {
        let value = tree.get(root, &key(i)).unwrap().unwrap();
        assert_eq!(
            tree.read_value(&value).unwrap(),
            format!("value {i}").into_bytes()
        );
    }
    assert_eq!(tree.get(root, "key/").unwrap(), None);
    assert_eq!(tree.get(root, "zzz").unwrap(), None);
    let expected_bytes: u64 = (0..5_000).map(|i| format!("value {i}").len() as u64).sum();
    assert_eq!(tree.value_bytes(root).unwrap(), expected_bytes);
}

#[test]
fn large_values_become_blobs_and_equal_values_are_stored_once() {
    let tree = tree();
    let big = vec![7u8; 1000];
    let (root, _) = apply(
        &tree,
        empty(&tree),
        &[
            ("a".into(), Some(big.clone())),
            ("b".into(), Some(big.clone())),
        ],
    );
    let a = tree.get(root, "a").unwrap().unwrap();
    assert!(matches!(a, ValueRef::Blob { .. }));
    assert_eq!(a, tree.get(root, "b").unwrap().unwrap());
    let blobs = tree.kv().keys_with_prefix(Kind::Blob.prefix()).unwrap();
    assert_eq!(blobs.len(), 1);
    assert_eq!(tree.read_value(&a).unwrap(), big);
}

#[test]
fn same_contents_give_the_same_root_whatever_the_order() {
    let tree = tree();
    let n = 3_000;
    let at_once = fill(&tree, n);

    // One key at a time, in reverse order.
    let mut root = empty(&tree);
    for i in (0..n).rev() {
        root = apply(
            &tree,
            root,
            &[(key(i), Some(format!("value {i}").into_bytes()))],
        )
        .0;
    }
    assert_eq!(root, at_once);

    // Extra keys added then removed, and values changed then changed back.
    let extra: Vec<_> = (0..500)
        .map(|i| (format!("key/{:07}x", i * 3), Some(b"tmp".to_vec())))
        .collect();
    let (with_extra, _) = apply(&tree, at_once, &extra);
    assert_ne!(with_extra, at_once);
    let removals: Vec<_> = extra.iter().map(|(k, _)| (k.clone(), None)).collect();
    assert_eq!(apply(&tree, with_extra, &removals).0, at_once);
    let (changed, _) = apply(&tree, at_once, &[(key(10), Some(b"other".to_vec()))]);
    assert_eq!(
        apply(&tree, changed, &[(key(10), Some(b"value 10".to_vec()))]).0,
        at_once
    );
}

#[test]
fn removing_everything_gives_the_empty_tree() {
    let tree = tree();
    let root = fill(&tree, 2_000);
    let removals: Vec<_> = (0..2_000).map(|i| (key(i), None)).collect();
    let (root, _) = apply(&tree, root, &removals);
    assert_eq!(root, empty(&tree));
    assert_eq!(tree.len(root).unwrap(), 0);
}

#[test]
fn a_single_key_update_rewrites_about_one_path() {
    let tree = tree();
    let root = fill(&tree, 20_000);
    let depth = tree.depth(root).unwrap() as usize;
    let mut total = 0;
    for i in (0..20_000).step_by(1_000) {
        let (_, written) = apply(&tree, root, &[(key(i), Some(b"changed".to_vec()))]);
        assert!(
            written <= depth + 2,
            "{written} nodes written for one key at depth {depth}"
        );
        total += written;
    }
    assert!(total <= 20 * (depth + 1));
}

#[test]
fn editing_a_value_never_moves_a_boundary() {
    let tree = tree();
    let root = fill(&tree, 5_000);
    let (changed, _) = apply(&tree, root, &[(key(2_500), Some(vec![1; 31]))]);
    // Same number of leaves and the same key at the end of each.
    let leaves = |root| {
        let mut ends = Vec::new();
        let mut stack = vec![tree.node(root).unwrap()];
        while let Some(node) = stack.pop() {
            if node.level == 0 {
                ends.push(node.last_key().map(str::to_owned));
            } else {
                for index in (0..node.len()).rev() {
                    stack.push(tree.node(node.child(index).unwrap().id).unwrap());
                }
            }
        }
        ends
    };
    assert_eq!(leaves(root), leaves(changed));
}

#[test]
fn ranges_and_prefixes() {
    let tree = tree();
    let edits: Vec<_> = [
        "a", "a/1", "a/2", "a/3/x", "ab", "b", "b/1", "日本/1", "日本/2",
    ]
    .iter()
    .map(|k| ((*k).to_string(), Some(k.as_bytes().to_vec())))
    .collect();
    let (root, _) = apply(&tree, empty(&tree), &edits);
    let keys = |range: Range<'_>| {
        range
            .map(|item| item.unwrap().0.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(tree.prefix(root, "a/")), ["a/1", "a/2", "a/3/x"]);
    assert_eq!(keys(tree.prefix(root, "日本/")), ["日本/1", "日本/2"]);
    assert_eq!(keys(tree.prefix(root, "c")), Vec::<String>::new());
    assert_eq!(
        keys(tree.range(root, Bound::Excluded("a/2"), Bound::Included("b"))),
        ["a/3/x", "ab", "b"]
    );
    assert_eq!(keys(tree.prefix(root, "")).len(), edits.len());
}

#[test]
fn diff_reports_exactly_the_changes() {
    let tree = tree();
    let base = fill(&tree, 10_000);
    let (other, _) = apply(
        &tree,
        base,
        &[
            (key(5), None),
            (key(5_000), Some(b"changed".to_vec())),
            ("new".into(), Some(b"n".to_vec())),
            (key(9_999), Some(b"value 9999".to_vec())),
        ],
    );
    let changes = tree.diff(base, other).unwrap();
    let summary: Vec<_> = changes
        .iter()
        .map(|c| (c.key.to_string(), c.old.is_some(), c.new.is_some()))
        .collect();
    assert_eq!(
        summary,
        [
            (key(5), true, false),
            (key(5_000), true, true),
            ("new".into(), false, true)
        ]
    );
    assert!(tree.diff(base, base).unwrap().is_empty());
    let reverse = tree.diff(other, base).unwrap();
    assert_eq!(reverse.len(), 3);
}

#[test]
fn a_corrupted_node_is_an_error_naming_it() {
    let memory = Memory::new();
    let tree = Tree::open(Arc::new(memory.clone()), DEFAULT_CACHE_BYTES).unwrap();
    let root = fill(&tree, 100);
    let key = Kind::Node.key(&root);
    let mut stored = memory.get(&key).unwrap().unwrap();
    let last = stored.len() - 1;
    stored[last] ^= 0x40;
    memory.set(&key, &stored).unwrap();
    let fresh = Tree::open(Arc::new(memory.clone()), DEFAULT_CACHE_BYTES).unwrap();
    let err = fresh.get(root, "key/0000001").unwrap_err();
    assert!(
        matches!(err, Error::CorruptObject { id, .. } if id == root),
        "{err}"
    );
    assert!(err.to_string().contains(&root.to_hex()));

    memory.set(&key, &stored[..5]).unwrap();
    let fresh = Tree::open(Arc::new(memory.clone()), DEFAULT_CACHE_BYTES).unwrap();
    assert!(matches!(fresh.len(root), Err(Error::CorruptObject { .. })));

    memory.remove(&key).unwrap();
    let fresh = Tree::open(Arc::new(memory), DEFAULT_CACHE_BYTES).unwrap();
    assert!(matches!(fresh.len(root), Err(Error::MissingObject { id, .. }) if id == root));
}

#[test]
fn model_check_random_batches() {
    // A quick deterministic model check; the proptest suite goes further.
    let tree = tree();
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut root = empty(&tree);
    let mut state = 0x1234_5678_u64;
    let mut rand = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..60 {
        let mut edits = Vec::new();
        for _ in 0..(rand() % 200) {
            let k = format!("k{:04}", rand() % 3_000);
            if rand() % 3 == 0 {
                model.remove(&k);
                edits.push((k, None));
            } else {
                let v = vec![(rand() % 256) as u8; (rand() % 60) as usize];
                model.insert(k.clone(), v.clone());
                edits.push((k, Some(v)));
            }
        }
        // Later edits to the same key win, as they do in the model.
        let mut last: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
        for (k, v) in edits {
            last.insert(k, v);
        }
        root = apply(&tree, root, &last.into_iter().collect::<Vec<_>>()).0;
        assert_eq!(tree.len(root).unwrap(), model.len() as u64);
    }
    let expected: Vec<_> = model.into_iter().collect();
    assert_eq!(contents(&tree, root), expected);
    let rebuilt = apply(
        &tree,
        empty(&tree),
        &expected
            .iter()
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect::<Vec<_>>(),
    )
    .0;
    assert_eq!(rebuilt, root);
}

#[test]
fn a_node_written_again_outlives_the_retirement_of_its_replaced_copy() {
    let tree = tree();
    let base = fill(&tree, 1_000);
    let leaf = leaf_of(&tree, base, &key(1));
    // Replace the leaf, then set the value back: the same leaf again.
    let (changed, _) = apply(&tree, base, &[(key(1), Some(b"other".to_vec()))]);
    let stale = leaf_of(&tree, changed, &key(1));
    // A writer still working from `base` finds its replaced leaf cached.
    assert!(
        tree.cache.get(&leaf).is_some(),
        "the base's leaf left at once"
    );
    let (back, _) = apply(&tree, changed, &[(key(1), Some(b"value 1".to_vec()))]);
    assert_eq!(back, base);
    // Enough commits elsewhere to push both retirements out of the queue.
    let mut root = back;
    let mut i = 0;
    while tree.retired.lock().unwrap().order.len() < RETIRE_AFTER_NODES {
        let key = key(500 + i % 400);
        root = apply(&tree, root, &[(key, Some(i.to_string().into_bytes()))]).0;
        i += 1;
    }
    for _ in 0..RETIRE_AFTER_BATCHES + RETIRE_AFTER_NODES {
        root = apply(&tree, root, &[(key(900), Some(i.to_string().into_bytes()))]).0;
        i += 1;
    }
    // Checked before anything reads the tree again (a read would fetch an
    // evicted node back).
    assert!(tree.cache.get(&leaf).is_some(), "the live leaf was evicted");
    // The leaf of `changed`, which nothing uses any more, did leave.
    assert!(tree.cache.get(&stale).is_none());
    assert_eq!(leaf_of(&tree, root, &key(1)), leaf);
}

#[test]
fn a_node_replaced_by_racing_writers_leaves_the_cache_once_its_turns_pass() {
    let tree = tree();
    let base = fill(&tree, 1_000);
    let leaf = leaf_of(&tree, base, &key(1));
    assert_eq!(
        leaf_of(&tree, base, &key(2)),
        leaf,
        "keys 1 and 2 share a leaf"
    );
    let get = |root: ObjectId, key: &str| {
        let value = tree.get(root, key).unwrap().unwrap();
        tree.read_value(&value).unwrap()
    };
    // Two writers on `base` both replace its leaf: it is queued twice.
    let (first, _) = apply(&tree, base, &[(key(1), Some(b"one".to_vec()))]);
    let (second, _) = apply(&tree, base, &[(key(2), Some(b"two".to_vec()))]);
    assert_ne!(leaf_of(&tree, first, &key(1)), leaf);
    assert_ne!(leaf_of(&tree, second, &key(2)), leaf);
    assert!(
        tree.cache.get(&leaf).is_some(),
        "the shared base left at once"
    );
    // Later commits elsewhere push both turns out of the queue.
    let mut root = first;
    for i in 0..RETIRE_AFTER_BATCHES + RETIRE_AFTER_NODES {
        root = apply(&tree, root, &[(key(900), Some(i.to_string().into_bytes()))]).0;
    }
    assert!(
        tree.cache.get(&leaf).is_none(),
        "the replaced base leaf stayed"
    );
    // Both writers' trees still read right (a read fetches what left).
    assert_eq!(get(first, &key(1)), b"one");
    assert_eq!(get(second, &key(2)), b"two");
    assert_eq!(get(base, &key(1)), b"value 1");
}
