//! Garbage collection and store checking through the public API: every
//! SPEC.md bullet for `GcVersioned`, orphan cleanup and its grace rule,
//! `verify` finding each kind of damage, and a stress test of cleanup running
//! beside concurrent writers on Memory and on Disk.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kvit::{
    clean_orphans, counter, last_writer_wins, verify, ChangeSet, CommitOptions, DiskOptions,
    Durability, Error, GcOptions, GcVersioned, KvStore, Memory, ObjectId, Versioned,
};

fn shared() -> Arc<dyn KvStore> {
    Arc::new(Memory::new())
}

fn changes(updates: &[(&str, &[u8])]) -> ChangeSet {
    let mut set = ChangeSet::new();
    for (key, value) in updates {
        set.set(*key, *value).unwrap();
    }
    set
}

fn commit(v: &mut Versioned, updates: &[(&str, &[u8])]) -> ObjectId {
    v.commit(&changes(updates), &CommitOptions::new())
        .unwrap()
        .commit
        .unwrap()
}

fn gc_commit(gc: &mut GcVersioned, updates: &[(&str, &[u8])]) {
    assert!(
        gc.commit(&changes(updates), &CommitOptions::new())
            .unwrap()
            .merged
    );
}

fn set_of(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

fn assert_clean(kv: &dyn KvStore) {
    let report = verify(kv).unwrap();
    assert!(report.is_clean(), "{report}");
}

fn object_count(kv: &dyn KvStore) -> usize {
    kv.keys_with_prefix("obj/").unwrap().len()
}

/// Lets the millisecond write-time clock move past everything written so far.
fn tick() {
    thread::sleep(Duration::from_millis(5));
}

fn gc_on(kv: &Arc<dyn KvStore>, options: GcOptions) -> GcVersioned {
    options.open(kv.clone()).unwrap()
}

// ---- water marks ----------------------------------------------------------

#[test]
fn high_water_must_be_positive() {
    for high in [0, -1, i64::MIN] {
        let err = GcVersioned::new(Versioned::in_memory().unwrap(), high).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    }
}

#[test]
fn low_water_defaults_to_eighty_percent() {
    let kv = shared();
    let gc = GcVersioned::new(Versioned::open(kv.clone()).unwrap(), 1000).unwrap();
    assert_eq!((gc.high_water(), gc.low_water()), (1000, 800));
    for (given, expected) in [(0, 800), (-5, 800), (1001, 800), (500, 500), (1000, 1000)] {
        let gc = gc_on(&kv, GcOptions::new(1000).low_water_bytes(given));
        assert_eq!(gc.low_water(), expected, "low water {given}");
    }
    assert_eq!(gc.orphan_grace(), kvit::DEFAULT_ORPHAN_GRACE);
    assert_eq!(kvit::DEFAULT_ORPHAN_GRACE, Duration::from_secs(60));
    assert!(gc.last_rebase_result().is_none());
}

#[test]
fn handles_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<GcVersioned>();
    send::<kvit::RebaseResult>();
    send::<kvit::VerifyReport>();
}

// ---- maybe_rebase ---------------------------------------------------------

#[test]
fn commits_under_high_water_do_not_rebase() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(1000));
    let first = gc.current_commit();
    gc_commit(&mut gc, &[("a", &[1; 400])]);
    gc_commit(&mut gc, &[("b", &[2; 600])]);
    assert!(gc.last_rebase_result().is_none());
    assert_eq!(gc.history(None, false).unwrap().last(), Some(&first));
    let result = gc.maybe_rebase().unwrap();
    assert!(!result.performed);
    assert_eq!(result.total_size_before, 1000);
    assert_clean(&*kv);
}

#[test]
fn a_commit_over_high_water_rebases_to_low_water() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(1000));
    gc_commit(&mut gc, &[("a", &[1; 300])]);
    gc_commit(&mut gc, &[("b", &[2; 300])]);
    gc_commit(&mut gc, &[("c", &[3; 300])]);
    assert!(gc.last_rebase_result().is_none());
    gc_commit(&mut gc, &[("d", &[4; 300])]);
    let result = gc.last_rebase_result().unwrap().clone();
    assert!(result.performed);
    // a and b are the coldest: dropping them leaves 600 <= 800.
    assert_eq!(result.dropped_keys, set_of(&["a", "b"]));
    assert_eq!(result.kept_keys, set_of(&["c", "d"]));
    assert_eq!(result.total_size_before, 1200);
    assert_eq!(result.total_size_after, 600);
    let head = gc.latest_head().unwrap().unwrap();
    assert_eq!(result.new_commit, Some(head));
    assert_eq!(gc.current_commit(), head);
    assert_eq!(gc.base_commit(), head);
    let root = gc.commit_object(head).unwrap();
    assert!(root.parents.is_empty());
    assert_eq!(root.generation, 1);
    assert_eq!(gc.keys().unwrap(), ["c", "d"]);
    assert_eq!(gc.history(None, false).unwrap(), [head]);
    assert!(gc.last_rebase_error().is_none());
    assert_clean(&*kv);
}

#[test]
fn system_keys_are_kept_and_not_counted() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(100));
    // Far above high water in total, but none of it is user data.
    gc_commit(
        &mut gc,
        &[
            ("__meta", &[1; 500]),
            ("ns/__index", &[2; 500]),
            ("u", &[3; 50]),
        ],
    );
    assert!(gc.last_rebase_result().is_none());
    assert!(!gc.maybe_rebase().unwrap().performed);
    gc_commit(&mut gc, &[("v", &[4; 60])]);
    let result = gc.last_rebase_result().unwrap();
    assert_eq!(result.total_size_before, 110);
    assert_eq!(result.dropped_keys, set_of(&["u"]));
    assert_eq!(result.kept_keys, set_of(&["__meta", "ns/__index", "v"]));
    // Even when told to keep nothing, system keys stay.
    let result = gc.rebase(Some(&[]), None).unwrap();
    assert_eq!(result.dropped_keys, set_of(&["v"]));
    assert_eq!(result.kept_keys, set_of(&["__meta", "ns/__index"]));
    assert_eq!(gc.get("ns/__index").unwrap(), Some(vec![2; 500]));
    assert_eq!(result.total_size_after, 0);
    assert_clean(&*kv);
}

#[test]
fn coldest_first_never_accessed_first_ties_larger_first() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(1_000_000).low_water_bytes(100));
    // One commit: one tick for all five keys.
    gc_commit(
        &mut gc,
        &[
            ("k1", &[1; 10]),
            ("k2", &[2; 20]),
            ("k3", &[3; 30]),
            ("k4", &[4; 40]),
            ("k5", &[5; 50]),
        ],
    );
    // Reading k5 makes it the hottest.
    gc.get("k5").unwrap();
    // A key another writer added was never touched through this cursor.
    let mut other = Versioned::open(kv.clone()).unwrap();
    commit(&mut other, &[("x", &[9; 5])]);
    gc.refresh().unwrap();
    // 155 bytes: x (never accessed) goes first, then k4 and k3 (equal ticks,
    // larger first), leaving 80 <= 100.
    let result = gc.rebase(None, None).unwrap();
    assert_eq!(result.total_size_before, 155);
    assert_eq!(result.dropped_keys, set_of(&["k3", "k4", "x"]));
    assert_eq!(result.kept_keys, set_of(&["k1", "k2", "k5"]));
    assert_eq!(result.total_size_after, 80);

    // Already at or below low water: a rebase drops nothing.
    let again = gc.rebase(None, None).unwrap();
    assert!(again.performed);
    assert!(again.dropped_keys.is_empty());
    assert_clean(&*kv);
}

#[test]
fn get_many_counts_as_an_access() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(1_000_000).low_water_bytes(40));
    gc_commit(&mut gc, &[("a", &[1; 30]), ("b", &[2; 20])]);
    // Without the read, a (larger, same tick) would go; now b is colder.
    gc.get_many(&["a", "missing"]).unwrap();
    let result = gc.rebase(None, None).unwrap();
    assert_eq!(result.dropped_keys, set_of(&["b"]));
}

#[test]
fn writes_count_as_accesses() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(1_000_000).low_water_bytes(40));
    gc_commit(&mut gc, &[("a", &[1; 30]), ("b", &[2; 30])]);
    gc_commit(&mut gc, &[("a", &[3; 30])]);
    let result = gc.rebase(None, None).unwrap();
    assert_eq!(result.dropped_keys, set_of(&["b"]));
    assert_eq!(gc.get("a").unwrap(), Some(vec![3; 30]));
}

#[test]
fn keep_keys_keeps_exactly_those_that_exist() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(1_000_000));
    gc_commit(
        &mut gc,
        &[("a", b"1"), ("b", b"2"), ("c", b"3"), ("__sys", b"s")],
    );
    let result = gc.rebase(Some(&["a", "c", "missing"]), None).unwrap();
    assert!(result.performed);
    assert_eq!(result.dropped_keys, set_of(&["b"]));
    assert_eq!(result.kept_keys, set_of(&["__sys", "a", "c"]));
    assert_eq!(gc.keys().unwrap(), ["__sys", "a", "c"]);
    assert_eq!((result.total_size_before, result.total_size_after), (3, 2));
    assert_clean(&*kv);
}

#[test]
fn rebase_info_is_stored_with_the_new_root() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(1_000_000));
    gc_commit(&mut gc, &[("a", b"1")]);
    let info = serde_json::json!({"reason": "manual", "n": 3});
    let result = gc.rebase(None, Some(info.clone())).unwrap();
    assert_eq!(gc.commit_info(result.new_commit).unwrap(), Some(info));
    assert_eq!(gc.commit_info(None).unwrap().unwrap()["reason"], "manual");
    let head = gc.current_commit();
    let err = gc
        .rebase(None, Some(serde_json::json!([1, 2])))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert_eq!(gc.current_commit(), head);
    let plain = gc.rebase(None, None).unwrap();
    assert_eq!(gc.commit_info(plain.new_commit).unwrap(), None);
}

#[test]
fn rebase_fails_if_the_head_moved() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(1_000_000));
    gc_commit(&mut gc, &[("a", b"1")]);
    let before = gc.current_commit();
    let mut other = Versioned::open(kv.clone()).unwrap();
    let theirs = commit(&mut other, &[("b", b"2")]);
    let err = gc.rebase(None, None).unwrap_err();
    assert!(matches!(err, Error::Concurrency { .. }), "{err}");
    assert_eq!(gc.current_commit(), before);
    assert_eq!(gc.base_commit(), before);
    assert_eq!(gc.latest_head().unwrap(), Some(theirs));
    assert!(gc.last_rebase_result().is_none());
    // After a refresh it goes through.
    gc.refresh().unwrap();
    assert!(gc.rebase(None, None).unwrap().performed);
    assert_clean(&*kv);
}

#[test]
fn a_merged_commit_rebases_from_the_merge() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(100));
    let mut other = Versioned::open(kv.clone()).unwrap();
    commit(&mut other, &[("o", &[1; 10])]);
    // The commit three-way merges with `other`'s, lands, and then rebases
    // from the merge commit.
    gc_commit(&mut gc, &[("big", &[2; 200])]);
    assert!(gc.last_rebase_result().unwrap().performed);
    assert!(gc.last_rebase_error().is_none());
    assert_clean(&*kv);
}

#[test]
fn other_writers_merge_into_a_rebased_branch() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(1_000_000));
    let mut other = Versioned::open(kv.clone()).unwrap();
    gc_commit(&mut gc, &[("a", b"1"), ("b", b"2")]);
    other.refresh().unwrap();
    gc.rebase(Some(&["a"]), None).unwrap();
    commit(&mut other, &[("c", b"3")]);
    let mut fresh = Versioned::open(kv.clone()).unwrap();
    fresh.refresh().unwrap();
    assert_eq!(fresh.keys().unwrap(), ["a", "c"]);
    assert_clean(&*kv);
}

/// Two stale cursors merge, one after the other, into a rebased branch. The
/// first merge must not attach its old history to the branch again: the
/// second would then find a common ancestor in that old history, far below
/// what the head already holds, and count the increments in between twice
/// (the GC stress test found this: counters above the increments landed).
#[test]
fn stale_cursors_merging_into_a_rebased_branch_count_each_change_once() {
    let kv = shared();
    let read = |v: &Versioned| -> u64 {
        std::str::from_utf8(&v.get("n").unwrap().unwrap())
            .unwrap()
            .parse()
            .unwrap()
    };
    let increment = |v: &mut Versioned| {
        let next = (read(v) + 1).to_string();
        commit(v, &[("n", next.as_bytes())]);
    };
    let open = || {
        let mut v = Versioned::open(kv.clone()).unwrap();
        v.set_default_merge(counter());
        v
    };
    let mut main = open();
    commit(&mut main, &[("n", b"1")]);
    let mut oldest = open();
    increment(&mut main);
    let mut older = open();
    increment(&mut main);
    let mut gc = gc_on(&kv, GcOptions::new(1_000_000));
    gc.rebase(Some(&["n"]), None).unwrap();
    assert_eq!(read(&gc), 3);

    increment(&mut oldest);
    assert_eq!(read(&oldest), 4);
    let merge = oldest.commit_object(oldest.current_commit()).unwrap();
    assert_eq!(
        merge.parents,
        [gc.current_commit()],
        "old history stays out"
    );
    increment(&mut older);
    assert_eq!(read(&older), 5, "each of the five increments once");
    // The rebase's cut holds: only the rebased root and the two merges.
    assert_eq!(older.history(None, true).unwrap().len(), 3);
    assert_clean(&*kv);
}

/// Fails the test unless `result` is a missing commit.
fn missing<T>(result: Result<T, Error>, what: &str) {
    match result {
        Err(Error::MissingObject { kind: "commit", .. }) => {}
        Err(other) => panic!("{what}: {other}"),
        Ok(_) => panic!("{what}: went through"),
    }
}

/// A cursor left on a commit that a reset or a branch deletion orphaned and
/// a collection then removed: committing from it (a merge that would keep
/// that commit as an ancestor, or recreating the deleted branch) and
/// branching from it fail with a missing commit, and no head ever names a
/// history with a hole in it. Before the check, the commit landed and
/// `verify` found the cursor's commit missing below the new head.
#[test]
fn a_cursor_on_a_collected_commit_publishes_nothing() {
    let kv = shared();
    let mut main = Versioned::open(kv.clone()).unwrap();
    let first = commit(&mut main, &[("a", &[1; 100])]);
    commit(&mut main, &[("b", &[2; 100])]);
    let mut stale = Versioned::open(kv.clone()).unwrap();
    let mut side = main.create_branch("side").unwrap();
    commit(&mut side, &[("s", &[3; 100])]);
    assert!(main.reset_to(first).unwrap());
    assert!(main.delete_branch("side").unwrap());
    tick();
    assert_eq!(clean_orphans(&*kv, Duration::ZERO).unwrap(), 2);

    missing(
        stale.commit(&changes(&[("c", b"3")]), &CommitOptions::new()),
        "merge",
    );
    missing(stale.create_branch("from-stale"), "branch");
    missing(
        side.commit(&changes(&[("t", b"4")]), &CommitOptions::new()),
        "recreate",
    );
    assert_eq!(main.latest_head().unwrap(), Some(first));
    assert_eq!(main.list_branches().unwrap(), ["main"]);
    assert_clean(&*kv);
    // Refreshed, the cursor commits again.
    stale.refresh().unwrap();
    commit(&mut stale, &[("c", b"3")]);
    assert_clean(&*kv);
}

// ---- orphan cleanup ---------------------------------------------------------

#[test]
fn clean_orphans_counts_and_respects_min_age() {
    let kv = shared();
    let mut v = Versioned::open(kv.clone()).unwrap();
    let c1 = commit(&mut v, &[("a", &[1; 100])]);
    let c2 = commit(&mut v, &[("b", &[2; 100])]);
    let c3 = commit(&mut v, &[("c", &[3; 100])]);
    assert!(v.reset_to(c1).unwrap());
    // Young orphans are protected.
    assert_eq!(clean_orphans(&*kv, Duration::from_secs(60)).unwrap(), 0);
    assert!(v.checkout(c3, None).unwrap().is_some());
    tick();
    let before = object_count(&*kv);
    assert_eq!(v.clean_orphans(Duration::ZERO).unwrap(), 2);
    assert!(object_count(&*kv) < before);
    // A fresh handle: `v`'s commit cache still remembers what it wrote.
    let fresh = Versioned::open(kv.clone()).unwrap();
    assert!(fresh.checkout(c2, None).unwrap().is_none());
    assert!(fresh.checkout(c3, None).unwrap().is_none());
    assert!(fresh.checkout(c1, None).unwrap().is_some());
    // Blobs only the orphans held are gone; the head's stays.
    assert_eq!(kv.keys_with_prefix("obj/b/").unwrap().len(), 1);
    assert_eq!(clean_orphans(&*kv, Duration::ZERO).unwrap(), 0);
    assert_eq!(v.get("a").unwrap(), Some(vec![1; 100]));
    assert_clean(&*kv);
}

#[test]
fn deleted_branches_are_collected_but_shared_objects_stay() {
    let kv = shared();
    let mut v = Versioned::open(kv.clone()).unwrap();
    commit(&mut v, &[("shared", &[7; 100])]);
    let mut side = v.create_branch("side").unwrap();
    commit(&mut side, &[("only-side", &[8; 100])]);
    commit(&mut side, &[("only-side-2", &[9; 100])]);
    assert!(v.delete_branch("side").unwrap());
    tick();
    assert_eq!(clean_orphans(&*kv, Duration::ZERO).unwrap(), 2);
    assert_eq!(kv.keys_with_prefix("obj/b/").unwrap().len(), 1);
    assert_eq!(v.get("shared").unwrap(), Some(vec![7; 100]));
    assert_clean(&*kv);
}

#[test]
fn a_reused_object_is_refreshed_and_survives() {
    // The dedup trap: an orphan's blob, old enough to collect, is written
    // again by a new commit; the new write time protects it.
    let kv = shared();
    let mut v = Versioned::open(kv.clone()).unwrap();
    let mut side = v.create_branch("side").unwrap();
    commit(&mut side, &[("k", &[5; 100])]);
    v.delete_branch("side").unwrap();
    thread::sleep(Duration::from_millis(120));
    commit(&mut v, &[("k", &[5; 100])]);
    assert_eq!(clean_orphans(&*kv, Duration::from_millis(100)).unwrap(), 1);
    assert_eq!(v.get("k").unwrap(), Some(vec![5; 100]));
    assert_clean(&*kv);
}

#[test]
fn storage_shrinks_after_rebase_and_cleanup() {
    let kv = shared();
    let mut gc = gc_on(&kv, GcOptions::new(10_000).orphan_grace(Duration::ZERO));
    for round in 0..20u8 {
        let key = format!("key{round:02}");
        let value = vec![round; 1000];
        gc_commit(&mut gc, &[(&key, &value)]);
        tick();
    }
    let result = gc.last_rebase_result().unwrap().clone();
    assert!(result.performed);
    assert!(result.orphans_cleaned > 0, "{result:?}");
    assert!(gc.total_value_bytes().unwrap() <= gc.high_water());
    // What the rebase's own cleanup left (anything written in its very
    // millisecond) goes now: only the head's history remains, and one blob
    // per key it holds.
    tick();
    clean_orphans(&*kv, Duration::ZERO).unwrap();
    let blobs = kv.keys_with_prefix("obj/b/").unwrap().len();
    assert_eq!(blobs as u64, gc.len().unwrap());
    let commits = kv.keys_with_prefix("obj/c/").unwrap().len();
    assert_eq!(commits, gc.history(None, true).unwrap().len());
    gc.rebase(None, None).unwrap();
    tick();
    clean_orphans(&*kv, Duration::ZERO).unwrap();
    assert_eq!(kv.keys_with_prefix("obj/c/").unwrap().len(), 1);
    assert_clean(&*kv);
}

// ---- verify ---------------------------------------------------------------

/// A store with history, a branch, blobs and a tree of more than one level.
fn populated() -> (Arc<dyn KvStore>, Versioned) {
    let kv = shared();
    let mut v = Versioned::open(kv.clone()).unwrap();
    let mut set = ChangeSet::new();
    for i in 0..400 {
        set.set(format!("key/{i:04}"), format!("value {i}").into_bytes())
            .unwrap();
    }
    set.set("big", vec![1u8; 5000]).unwrap();
    v.commit(&set, &CommitOptions::new()).unwrap();
    commit(&mut v, &[("other", &[2; 100])]);
    let mut side = v.create_branch("side").unwrap();
    commit(&mut side, &[("side-only", &[3; 100])]);
    assert!(v.kv().keys_with_prefix("obj/n/").unwrap().len() > 3);
    (kv, v)
}

fn object_key(kind: &str, id: ObjectId) -> String {
    format!("obj/{kind}/{id}")
}

fn blob_ids(kv: &dyn KvStore) -> Vec<ObjectId> {
    kv.keys_with_prefix("obj/b/")
        .unwrap()
        .iter()
        .map(|key| key["obj/b/".len()..].parse().unwrap())
        .collect()
}

#[test]
fn a_clean_store_is_clean() {
    let (kv, v) = populated();
    let report = v.verify().unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.commits, 4, "empty root, two on main, one on side");
    assert_eq!(report.blobs, 3);
    assert_eq!(
        report.nodes as usize,
        kv.keys_with_prefix("obj/n/").unwrap().len()
    );
    assert!(report.to_string().ends_with("clean"));
}

#[test]
fn verify_names_a_missing_blob_node_and_commit() {
    let (kv, v) = populated();
    let blob = blob_ids(&*kv)[0];
    kv.remove(&object_key("b", blob)).unwrap();
    let root = v.root();
    kv.remove(&object_key("n", root)).unwrap();
    let parent = v.commit_object(v.current_commit()).unwrap().parents[0];
    kv.remove(&object_key("c", parent)).unwrap();
    let report = verify(&*kv).unwrap();
    assert!(!report.is_clean());
    let missing: BTreeSet<(&str, ObjectId)> = report.missing.iter().copied().collect();
    assert!(missing.contains(&("value blob", blob)), "{report}");
    assert!(missing.contains(&("tree node", root)), "{report}");
    assert!(missing.contains(&("commit", parent)), "{report}");
    assert!(report.corrupt.is_empty(), "{report}");
    // It kept going: the side branch's commits were still checked.
    assert!(report.commits >= 2);
}

#[test]
fn verify_names_flipped_and_truncated_objects() {
    let (kv, v) = populated();
    let blob = blob_ids(&*kv)[0];
    let key = object_key("b", blob);
    let mut stored = kv.get(&key).unwrap().unwrap();
    *stored.last_mut().unwrap() ^= 1;
    kv.set(&key, &stored).unwrap();

    let root = v.root();
    let key = object_key("n", root);
    let stored = kv.get(&key).unwrap().unwrap();
    kv.set(&key, &stored[..stored.len() - 3]).unwrap();

    // The empty root commit every branch descends from.
    let first = *v.history(None, false).unwrap().last().unwrap();
    kv.set(&object_key("c", first), b"short").unwrap();

    let report = verify(&*kv).unwrap();
    let corrupt: BTreeSet<(&str, ObjectId)> = report
        .corrupt
        .iter()
        .map(|(kind, id, _)| (*kind, *id))
        .collect();
    assert!(corrupt.contains(&("value blob", blob)), "{report}");
    assert!(corrupt.contains(&("commit", first)), "{report}");
    assert!(corrupt.contains(&("tree node", root)), "{report}");
    let reason = &report
        .corrupt
        .iter()
        .find(|(_, id, _)| *id == first)
        .unwrap()
        .2;
    assert!(reason.contains("header"), "{reason}");
}

#[test]
fn a_changed_write_time_is_not_corruption() {
    let (kv, v) = populated();
    let key = object_key("c", v.current_commit());
    let mut stored = kv.get(&key).unwrap().unwrap();
    stored[0] ^= 0xff;
    kv.set(&key, &stored).unwrap();
    assert_clean(&*kv);
}

#[test]
fn verify_names_bad_refs() {
    let (kv, _v) = populated();
    kv.set("refs/heads/broken", b"not a commit id").unwrap();
    let nowhere = ObjectId::from_bytes([7; 20]);
    kv.set("refs/heads/dangling", nowhere.to_hex().as_bytes())
        .unwrap();
    let report = verify(&*kv).unwrap();
    assert_eq!(
        report.bad_refs,
        [("broken".to_owned(), "not a commit id".to_owned())]
    );
    assert_eq!(report.missing, [("commit", nowhere)]);
    // Cleanup refuses to guess what a garbage head meant.
    assert!(clean_orphans(&*kv, Duration::ZERO).is_err());
}

// ---- stress: cleanup beside concurrent writers ------------------------------

const WRITERS: usize = 3;
const RUN: Duration = Duration::from_secs(3);
/// Small, yet far above the time a commit takes from storing to moving its head.
const GRACE: Duration = Duration::from_secs(1);
const COUNTERS: u64 = 48;
const REUSE_KEYS: u64 = 16;

/// xorshift64*: enough randomness for key choice, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn parse_counter(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes).unwrap().parse().unwrap()
}

/// A value no one has written before, large enough to be a blob.
fn fresh_value(seed: u64, round: u64, index: u64) -> Vec<u8> {
    format!("{seed:>4} {round:>10} {index:>4} ")
        .repeat(3)
        .into_bytes()
}

/// Commits counter increments until `deadline`, and sets the dedup trap:
/// every few rounds it builds a side branch holding fresh blobs and deletes
/// it, and once those orphaned blobs are old enough to collect it writes the
/// same values on the main branch, re-using the objects while collections
/// may be deleting them. Returns the number of increments that landed.
fn writer(kv: Arc<dyn KvStore>, seed: u64, deadline: Instant) -> u64 {
    let mut v = Versioned::open(kv).unwrap();
    v.set_default_merge(counter());
    for slot in 0..REUSE_KEYS {
        v.set_merge_fn(format!("reuse/{slot}"), last_writer_wins());
    }
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut orphaned: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let (mut landed, mut round, mut reused) = (0, 0u64, 0u64);
    while Instant::now() < deadline {
        round += 1;
        let key = format!("count/{:02}", rng.next() % COUNTERS);
        let mut again = Vec::new();
        while again.len() < 4
            && orphaned
                .front()
                .is_some_and(|(at, _)| at.elapsed() >= GRACE)
        {
            again.extend(orphaned.pop_front().map(|(_, value)| value));
        }
        loop {
            let current = v
                .get(&key)
                .unwrap()
                .map_or(0, |bytes| parse_counter(&bytes));
            let mut set = ChangeSet::new();
            set.set(key.clone(), (current + 1).to_string()).unwrap();
            for (offset, value) in (0u64..).zip(&again) {
                set.set(
                    format!("reuse/{}", (reused + offset) % REUSE_KEYS),
                    value.clone(),
                )
                .unwrap();
            }
            match v.commit(&set, &CommitOptions::new()) {
                Ok(result) => {
                    assert!(result.merged);
                    landed += 1;
                    reused += again.len() as u64;
                    break;
                }
                Err(Error::Concurrency { .. }) => v.refresh().unwrap(),
                Err(err) => panic!("writer {seed}: {err}"),
            }
        }
        // A little pacing keeps the history, and so each collection's walk,
        // small enough for many collections to run beside the writers.
        thread::sleep(Duration::from_micros(500));
        if round % 4 == 0 {
            let name = format!("side-{seed}-{round}");
            let mut side = v.create_branch(&name).unwrap();
            let mut set = ChangeSet::new();
            for index in 0..3 {
                let value = fresh_value(seed, round, index);
                set.set(format!("side/{index}"), value.clone()).unwrap();
                orphaned.push_back((Instant::now(), value));
            }
            side.commit(&set, &CommitOptions::new()).unwrap();
            assert!(v.delete_branch(&name).unwrap());
        }
    }
    landed
}

fn stress(kv: &Arc<dyn KvStore>) -> usize {
    drop(Versioned::open(kv.clone()).unwrap());
    let deadline = Instant::now() + RUN;
    let writers: Vec<_> = (0..WRITERS as u64)
        .map(|seed| {
            let kv = kv.clone();
            thread::spawn(move || writer(kv, seed + 1, deadline))
        })
        .collect();
    let done = Arc::new(AtomicBool::new(false));
    let collector = {
        let (kv, done) = (kv.clone(), done.clone());
        thread::spawn(move || {
            let (mut deleted, mut runs) = (0, 0);
            while !done.load(Ordering::Relaxed) {
                deleted += clean_orphans(&*kv, GRACE).unwrap();
                runs += 1;
                thread::sleep(Duration::from_millis(10));
            }
            eprintln!("{runs} collections beside the writers deleted {deleted} commits");
            deleted
        })
    };
    let landed: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    eprintln!("{landed} increments landed");
    done.store(true, Ordering::Relaxed);
    let deleted_concurrently = collector.join().unwrap();
    assert_clean(&**kv);

    // With the writers gone, a zero grace is safe: collect everything.
    tick();
    clean_orphans(&**kv, Duration::ZERO).unwrap();
    assert_clean(&**kv);
    assert_eq!(kv.keys_with_prefix("refs/heads/").unwrap().len(), 1);
    let v = Versioned::open(kv.clone()).unwrap();
    for branch in v.list_branches().unwrap() {
        let cursor = Versioned::options()
            .branch(branch)
            .open(kv.clone())
            .unwrap();
        cursor.items_with_prefix("").unwrap();
    }
    // No increment was lost, so no object the head needs was lost either.
    let total: u64 = v
        .items_with_prefix("count/")
        .unwrap()
        .iter()
        .map(|(_, value)| parse_counter(value))
        .sum();
    assert_eq!(total, landed);
    assert!(landed > 0);
    deleted_concurrently
}

#[test]
fn cleanup_beside_writers_on_memory() {
    let deleted = stress(&shared());
    assert!(
        deleted > 0,
        "the collector never found an orphan old enough"
    );
}

#[test]
fn cleanup_beside_writers_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskOptions::new()
        .durability(Durability::Normal)
        .open(dir.path())
        .unwrap();
    stress(&(Arc::new(disk) as Arc<dyn KvStore>));
}
