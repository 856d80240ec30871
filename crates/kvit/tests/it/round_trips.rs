//! Round trips to the backend per operation, counted with an instrumented
//! backend: they must follow the tree's depth, never the number of keys.

use std::sync::Arc;

use kvit::testing::{conformance, Counting};
use kvit::{Cached, ChangeSet, CommitOptions, Composite, KvStore, Memory, Tree, Versioned};

/// A store of `n` keys whose values are large enough to live in blobs.
fn populated(n: usize) -> (Arc<Counting<Memory>>, Versioned) {
    let counting = Arc::new(Counting::new(Memory::new()));
    let mut v = Versioned::open(counting.clone()).unwrap();
    let mut change = ChangeSet::new();
    for i in 0..n {
        change
            .set(format!("user/{i:08}"), format!("{i:0>80}"))
            .unwrap();
    }
    v.commit(&change, &CommitOptions::new()).unwrap();
    (counting, v)
}

fn depth(kv: Arc<dyn KvStore>, v: &Versioned) -> u64 {
    u64::from(Tree::open(kv, 1 << 20).unwrap().depth(v.root()).unwrap())
}

#[test]
fn cold_open_and_one_read_take_depth_plus_three() {
    let (counting, v) = populated(100_000);
    let depth = depth(counting.clone(), &v);
    // Cursors on one backend handle share their caches: with `v` gone, the
    // next open starts cold.
    drop(v);
    counting.reset();
    let cold = Versioned::open(counting.clone()).unwrap();
    let value = cold.get("user/00054321").unwrap().unwrap();
    assert_eq!(value, format!("{:0>80}", 54321).into_bytes());
    let trips = counting.counts().round_trips();
    assert!(trips <= depth + 3, "{trips} round trips at depth {depth}");
}

#[test]
fn cursors_on_one_backend_handle_share_what_they_read_and_wrote() {
    let (counting, mut first) = populated(10_000);
    let mut change = ChangeSet::new();
    change.set("user/00000042", b"first".to_vec()).unwrap();
    first.commit(&change, &CommitOptions::new()).unwrap();
    counting.reset();
    // One round trip to open (format marker and head) and one for the blob
    // of an 80-byte value (values are not cached); every node and the
    // commit the first cursor wrote come from the shared caches.
    let second = Versioned::open(counting.clone()).unwrap();
    assert_eq!(second.get("user/00000042").unwrap().unwrap(), b"first");
    let large = second.get("user/00009999").unwrap().unwrap();
    assert_eq!(large, format!("{:0>80}", 9999).into_bytes());
    let counts = counting.counts();
    assert_eq!(counts.round_trips(), 2, "{counts:?}");
    assert_eq!(counts.keys_read, 3, "{counts:?}");
}

#[test]
fn single_key_commit_takes_depth_plus_two() {
    let (counting, _) = populated(100_000);
    let mut cold = Versioned::open(counting.clone()).unwrap();
    let depth = depth(counting.clone(), &cold);
    counting.reset();
    let mut change = ChangeSet::new();
    change.set("user/00000777", b"changed".to_vec()).unwrap();
    cold.commit(&change, &CommitOptions::new()).unwrap();
    let trips = counting.counts().round_trips();
    assert!(
        trips <= depth + 2,
        "{trips} round trips at depth {depth}: {:?}",
        counting.counts()
    );
}

#[test]
fn thousand_key_commits_take_a_few_trips_per_level() {
    let (counting, _) = populated(100_000);
    let depth = depth(
        counting.clone(),
        &Versioned::open(counting.clone()).unwrap(),
    );
    for (label, make) in [
        (
            "updates",
            (|i: usize| format!("user/{:08}", i * 97)) as fn(usize) -> String,
        ),
        ("inserts", |i: usize| format!("user/{:08}x", i * 97)),
    ] {
        let mut cold = Versioned::open(counting.clone()).unwrap();
        counting.reset();
        let mut change = ChangeSet::new();
        for i in 0..1_000 {
            change.set(make(i), format!("new {i}")).unwrap();
        }
        cold.commit(&change, &CommitOptions::new()).unwrap();
        let trips = counting.counts().round_trips();
        // One fetch per level, one write, one swap, and a handful of
        // neighbours reached when boundaries move: far below 1,000.
        assert!(
            trips <= 2 * depth + 12,
            "{label}: {trips} round trips at depth {depth}"
        );
    }
}

#[test]
fn cached_and_composite_backends_meet_the_contract() {
    conformance::run_all(&Cached::new(Memory::new(), 64 << 20));
    conformance::cas_thread_race(&Cached::new(Memory::new(), 1 << 20), 4, 25);
    let composite = Composite::new(vec![Arc::new(Memory::new()), Arc::new(Memory::new())]).unwrap();
    conformance::run_all(&composite);
    conformance::cas_thread_race(&composite, 4, 25);
    assert!(Composite::new(Vec::new()).is_err());
}

#[test]
fn the_object_cache_serves_repeat_reads_and_never_caches_heads() {
    let (counting, _) = populated(10_000);
    let cached: Arc<dyn KvStore> = Arc::new(Cached::new(counting.clone(), 64 << 20));
    let first = Versioned::open(cached.clone()).unwrap();
    first.get("user/00000042").unwrap();
    counting.reset();
    // A second cursor reads the head from the backend, everything else from the cache.
    let second = Versioned::open(cached.clone()).unwrap();
    assert_eq!(
        second.get("user/00000042").unwrap(),
        first.get("user/00000042").unwrap()
    );
    let counts = counting.counts();
    assert_eq!(counts.round_trips(), 1, "{counts:?}");

    // Another writer moves the head behind the cache's back: it is seen.
    let mut direct = Versioned::open(counting.clone()).unwrap();
    let mut change = ChangeSet::new();
    change.set("fresh", b"1".to_vec()).unwrap();
    direct.commit(&change, &CommitOptions::new()).unwrap();
    let third = Versioned::open(cached).unwrap();
    assert_eq!(third.get("fresh").unwrap(), Some(b"1".to_vec()));
}

#[test]
fn a_composite_backfills_its_fast_tier_and_keeps_heads_in_the_authority() {
    let fast = Arc::new(Memory::new());
    let slow = Arc::new(Counting::new(Memory::new()));
    let composite: Arc<dyn KvStore> =
        Arc::new(Composite::new(vec![fast.clone(), slow.clone()]).unwrap());
    let mut v = Versioned::open(composite.clone()).unwrap();
    let mut change = ChangeSet::new();
    change.set("k", vec![1; 100]).unwrap();
    v.commit(&change, &CommitOptions::new()).unwrap();
    assert!(
        fast.keys_with_prefix("refs/").unwrap().is_empty(),
        "heads live only in the authority"
    );
    assert!(
        !fast.keys_with_prefix("obj/").unwrap().is_empty(),
        "objects are written through"
    );
    fast.clear().unwrap();
    slow.reset();
    let cold = Versioned::open(composite.clone()).unwrap();
    assert_eq!(cold.get("k").unwrap(), Some(vec![1; 100]));
    assert!(
        !fast.keys_with_prefix("obj/").unwrap().is_empty(),
        "reads backfill the fast tier"
    );
    slow.reset();
    let again = Versioned::open(composite).unwrap();
    assert_eq!(again.get("k").unwrap(), Some(vec![1; 100]));
    assert_eq!(
        slow.counts().round_trips(),
        1,
        "only the head comes from the authority"
    );
}
