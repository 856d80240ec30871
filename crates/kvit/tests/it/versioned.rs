//! The versioned engine through its public API: every SPEC.md bullet for
//! `Versioned`, concurrency across threads and processes, and the cost of
//! common-ancestor search.

use std::collections::BTreeSet;
use std::sync::Arc;

use kvit::testing::counter_race::{increment, value as counter_value};
use kvit::testing::Counting;
use kvit::{
    counter, last_writer_wins, merge_fn, ChangeSet, CommitOptions, Disk, Error, KvStore, Memory,
    MergeFn, ObjectId, OnConflict, Strategy, Versioned,
};

fn changes(updates: &[(&str, &[u8])], removals: &[&str]) -> ChangeSet {
    let mut set = ChangeSet::new();
    for (key, value) in updates {
        set.set(*key, *value).unwrap();
    }
    for key in removals {
        set.remove(*key).unwrap();
    }
    set
}

fn commit(v: &mut Versioned, updates: &[(&str, &[u8])]) -> kvit::MergeResult {
    v.commit(&changes(updates, &[]), &CommitOptions::new())
        .unwrap()
}

fn shared() -> Arc<dyn KvStore> {
    Arc::new(Memory::new())
}

fn set_of(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

#[test]
fn fresh_store_starts_at_an_empty_root_commit() {
    let v = Versioned::in_memory().unwrap();
    assert_eq!(v.branch(), "main");
    assert_eq!(v.len().unwrap(), 0);
    assert_eq!(v.current_commit(), v.base_commit());
    assert_eq!(v.latest_head().unwrap(), Some(v.current_commit()));
    assert_eq!(v.initial_commit().unwrap(), v.current_commit());
    assert_eq!(v.list_branches().unwrap(), ["main"]);
    assert_eq!(v.current_commit().to_hex().len(), 40);
    assert!(v.last_merge_result().is_none());
}

#[test]
fn reads_see_committed_values() {
    let mut v = Versioned::in_memory().unwrap();
    let big = vec![9u8; 10_000];
    commit(&mut v, &[("a", b"1"), ("b", b"2"), ("big", &big)]);
    assert_eq!(v.get("a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(v.get("missing").unwrap(), None);
    assert_eq!(
        v.get_many(&["a", "missing", "big"]).unwrap(),
        [Some(b"1".to_vec()), None, Some(big)]
    );
    assert!(v.contains("b").unwrap());
    assert!(!v.contains("c").unwrap());
    assert_eq!(v.keys().unwrap(), ["a", "b", "big"]);
    assert_eq!(v.len().unwrap(), 3);
}

#[test]
fn resuming_a_branch_sees_its_head() {
    let kv = shared();
    let mut first = Versioned::open(kv.clone()).unwrap();
    commit(&mut first, &[("k", b"v")]);
    let second = Versioned::open(kv.clone()).unwrap();
    assert_eq!(second.current_commit(), first.current_commit());
    assert_eq!(second.get("k").unwrap(), Some(b"v".to_vec()));
    let at_root = Versioned::options()
        .at_commit(first.initial_commit().unwrap())
        .open(kv.clone())
        .unwrap();
    assert_eq!(at_root.len().unwrap(), 0);
    let bogus: ObjectId = "0".repeat(40).parse().unwrap();
    assert!(matches!(
        Versioned::options().at_commit(bogus).open(kv),
        Err(Error::CommitNotFound(_))
    ));
}

#[test]
fn nothing_to_commit_is_a_no_op() {
    let mut v = Versioned::in_memory().unwrap();
    let before = v.current_commit();
    let result = v.commit(&ChangeSet::new(), &CommitOptions::new()).unwrap();
    assert!(result.merged);
    assert_eq!(result.strategy, Strategy::NoOp);
    assert_eq!(v.current_commit(), before);
    assert_eq!(v.last_merge_result(), Some(&result));
}

#[test]
fn an_unmoved_head_fast_forwards() {
    let mut v = Versioned::in_memory().unwrap();
    let result = commit(&mut v, &[("a", b"1")]);
    assert!(result.merged);
    assert_eq!(result.strategy, Strategy::FastForward);
    assert_eq!(result.commit, Some(v.current_commit()));
    assert_eq!(v.latest_head().unwrap(), Some(v.current_commit()));
    let result = v
        .commit(&changes(&[], &["a"]), &CommitOptions::new())
        .unwrap();
    assert_eq!(result.strategy, Strategy::FastForward);
    assert_eq!(v.get("a").unwrap(), None);
}

#[test]
fn info_is_stored_with_the_commit() {
    let mut v = Versioned::in_memory().unwrap();
    let first = v.current_commit();
    let result = v
        .commit(
            &ChangeSet::new(),
            &CommitOptions::new().info(serde_json::json!({"msg": "hi", "n": 3})),
        )
        .unwrap();
    assert_eq!(
        result.strategy,
        Strategy::FastForward,
        "info alone makes a commit"
    );
    assert_ne!(v.current_commit(), first);
    assert_eq!(
        v.commit_info(None).unwrap(),
        Some(serde_json::json!({"msg": "hi", "n": 3}))
    );
    assert_eq!(v.commit_info(Some(first)).unwrap(), None);
    let err = v
        .commit(
            &ChangeSet::new(),
            &CommitOptions::new().info(serde_json::json!([1, 2])),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

#[test]
fn same_change_from_the_same_parent_makes_distinct_commits() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    let mut b = Versioned::open(kv).unwrap();
    let ra = commit(&mut a, &[("x", b"1")]);
    let rb = commit(&mut b, &[("x", b"1")]);
    assert_ne!(ra.commit, rb.commit);
    assert_eq!(rb.strategy, Strategy::ThreeWay);
}

#[test]
fn a_moved_head_merges_three_ways() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    commit(
        &mut a,
        &[("shared", b"0"), ("gone", b"x"), ("both_gone", b"y")],
    );
    let mut b = Versioned::open(kv.clone()).unwrap();
    // a: changes `mine`, removes `gone` and `both_gone`.
    a.commit(
        &changes(&[("mine", b"a")], &["gone", "both_gone"]),
        &CommitOptions::new(),
    )
    .unwrap();
    // b: changes `theirs`, removes `both_gone`, sets `same` like... nobody else.
    let result = b
        .commit(
            &changes(&[("theirs", b"b")], &["both_gone"]),
            &CommitOptions::new(),
        )
        .unwrap();
    assert!(result.merged);
    assert_eq!(result.strategy, Strategy::ThreeWay);
    assert_eq!(result.commit, Some(b.current_commit()));
    assert_eq!(b.latest_head().unwrap(), Some(b.current_commit()));
    assert_eq!(b.keys().unwrap(), ["mine", "shared", "theirs"]);
    assert_eq!(result.carried_keys, set_of(&["gone", "mine"]));
    assert_eq!(result.auto_merged_keys, set_of(&["both_gone"]));
    let merge = b.commit_object(b.current_commit()).unwrap();
    assert_eq!(merge.parents.len(), 2);
    assert_eq!(merge.parents[1], a.current_commit());
}

#[test]
fn identical_changes_merge_without_a_function_and_different_ones_conflict() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    let mut b = Versioned::open(kv.clone()).unwrap();
    commit(&mut a, &[("same", b"1"), ("diff", b"a")]);
    let before = (b.current_commit(), b.base_commit(), b.keys().unwrap());
    let err = b
        .commit(
            &changes(&[("same", b"1"), ("diff", b"b")], &[]),
            &CommitOptions::new(),
        )
        .unwrap_err();
    let Error::MergeConflict(conflict) = err else {
        panic!("expected a merge conflict, got {err}")
    };
    assert_eq!(conflict.conflicting_keys, set_of(&["diff"]));
    assert!(conflict.merge_errors.is_empty());
    // Nothing moved: the head is a's commit and b is where it was.
    assert_eq!(b.latest_head().unwrap(), Some(a.current_commit()));
    assert_eq!(
        (b.current_commit(), b.base_commit(), b.keys().unwrap()),
        before
    );
}

#[test]
fn a_change_against_a_removal_conflicts() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    commit(&mut a, &[("k", b"1")]);
    let mut b = Versioned::open(kv.clone()).unwrap();
    a.commit(&changes(&[], &["k"]), &CommitOptions::new())
        .unwrap();
    let err = b
        .commit(&changes(&[("k", b"2")], &[]), &CommitOptions::new())
        .unwrap_err();
    assert!(
        matches!(err, Error::MergeConflict(ref c) if c.conflicting_keys == set_of(&["k"])),
        "{err}"
    );
}

#[test]
fn merge_functions_get_old_ours_theirs_and_decide_even_identical_changes() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    commit(&mut a, &[("n", b"10")]);
    let mut b = Versioned::open(kv.clone()).unwrap();
    b.set_merge_fn("n", counter());
    commit(&mut a, &[("n", b"11")]);
    let result = commit(&mut b, &[("n", b"11")]);
    assert_eq!(result.auto_merged_keys, set_of(&["n"]));
    assert_eq!(
        b.get("n").unwrap(),
        Some(b"12".to_vec()),
        "two increments of a counter are two increments"
    );

    // A function sees None where the key is absent.
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let probe: MergeFn = merge_fn(move |old, ours, theirs| {
        record.lock().unwrap().push((
            old.map(<[u8]>::to_vec),
            ours.map(<[u8]>::to_vec),
            theirs.map(<[u8]>::to_vec),
        ));
        Ok(Some(b"merged".to_vec()))
    });
    let mut c = Versioned::open(kv.clone()).unwrap();
    commit(&mut a, &[("fresh", b"A")]);
    let result = c
        .commit(
            &changes(&[("fresh", b"C")], &[]),
            &CommitOptions::new().merge_fn("fresh", probe),
        )
        .unwrap();
    assert!(result.merged);
    assert_eq!(
        *seen.lock().unwrap(),
        [(None, Some(b"C".to_vec()), Some(b"A".to_vec()))]
    );
    assert_eq!(c.get("fresh").unwrap(), Some(b"merged".to_vec()));
}

#[test]
fn per_call_functions_override_registered_ones_and_defaults_apply_last() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    commit(&mut a, &[("k", b"base"), ("other", b"base")]);
    let mut b = Versioned::open(kv.clone()).unwrap();
    commit(&mut a, &[("k", b"theirs"), ("other", b"theirs")]);
    let ours_wins = merge_fn(|_, ours, _| Ok(ours.map(<[u8]>::to_vec)));
    b.set_merge_fn("k", ours_wins.clone());
    b.set_default_merge(ours_wins);
    let options = CommitOptions::new().merge_fn("k", last_writer_wins());
    commit_with(&mut b, &[("k", b"ours"), ("other", b"ours")], &options);
    assert_eq!(
        b.get("k").unwrap(),
        Some(b"theirs".to_vec()),
        "per-call function wins over registered"
    );
    assert_eq!(
        b.get("other").unwrap(),
        Some(b"ours".to_vec()),
        "registered default applies"
    );
}

fn commit_with(
    v: &mut Versioned,
    updates: &[(&str, &[u8])],
    options: &CommitOptions,
) -> kvit::MergeResult {
    v.commit(&changes(updates, &[]), options).unwrap()
}

#[test]
fn a_failing_merge_function_is_a_conflict_with_its_error() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    let mut b = Versioned::open(kv.clone()).unwrap();
    commit(&mut a, &[("k", b"1"), ("ok", b"1")]);
    let failing = merge_fn(|_, _, _| Err("refused by policy".into()));
    let options = CommitOptions::new()
        .merge_fn("k", failing)
        .default_merge(last_writer_wins());
    let err = b
        .commit(&changes(&[("k", b"2"), ("ok", b"2")], &[]), &options)
        .unwrap_err();
    let Error::MergeConflict(conflict) = err else {
        panic!("{err}")
    };
    assert_eq!(conflict.conflicting_keys, set_of(&["k"]));
    assert_eq!(conflict.merge_errors["k"].to_string(), "refused by policy");
}

#[test]
fn abandon_returns_an_unmerged_result_instead_of_raising() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    let mut b = Versioned::open(kv.clone()).unwrap();
    commit(&mut a, &[("k", b"1")]);
    let head = a.current_commit();
    let before = b.current_commit();
    let result = b
        .commit(
            &changes(&[("k", b"2")], &[]),
            &CommitOptions::new().on_conflict(OnConflict::Abandon),
        )
        .unwrap();
    assert!(!result.merged);
    assert_eq!(result.commit, None);
    assert_eq!(result.conflicting_keys, set_of(&["k"]));
    assert_eq!(b.latest_head().unwrap(), Some(head));
    assert_eq!(b.current_commit(), before);
}

/// A backend whose branch-head swaps start failing once armed: another
/// writer always gets there first.
struct RacingHead {
    inner: Memory,
    armed: std::sync::atomic::AtomicBool,
}

impl KvStore for RacingHead {
    fn get(&self, key: &str) -> kvit::Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> kvit::Result<()> {
        self.inner.set(key, value)
    }
    fn remove(&self, key: &str) -> kvit::Result<()> {
        self.inner.remove(key)
    }
    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> kvit::Result<bool> {
        if self.armed.load(std::sync::atomic::Ordering::SeqCst) && key.starts_with("refs/") {
            // Someone else commits just before every swap of ours.
            let mut other = Versioned::open(Arc::new(self.inner.clone())).unwrap();
            other
                .commit(
                    &changes(
                        &[("noise", other.current_commit().to_hex().as_bytes())],
                        &[],
                    ),
                    &CommitOptions::new(),
                )
                .unwrap();
        }
        self.inner.cas(key, value, expected)
    }
    fn keys_with_prefix(&self, prefix: &str) -> kvit::Result<Vec<String>> {
        self.inner.keys_with_prefix(prefix)
    }
    fn scan_prefix(&self, prefix: &str) -> kvit::Result<Vec<(String, Vec<u8>)>> {
        self.inner.scan_prefix(prefix)
    }
}

#[test]
fn losing_the_head_race_raises_a_concurrency_error_or_abandons() {
    let racing = Arc::new(RacingHead {
        inner: Memory::new(),
        armed: false.into(),
    });
    let mut v = Versioned::open(racing.clone()).unwrap();
    commit(&mut v, &[("k", b"1")]);
    racing
        .armed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let before = (v.current_commit(), v.base_commit());
    let err = v
        .commit(&changes(&[("k", b"2")], &[]), &CommitOptions::new())
        .unwrap_err();
    assert!(matches!(err, Error::Concurrency { .. }), "{err}");
    assert!(err.to_string().contains("main"));
    assert_eq!((v.current_commit(), v.base_commit()), before);
    let result = v
        .commit(
            &changes(&[("k", b"2")], &[]),
            &CommitOptions::new().on_conflict(OnConflict::Abandon),
        )
        .unwrap();
    assert!(!result.merged);
    assert_eq!((v.current_commit(), v.base_commit()), before);
    racing
        .armed
        .store(false, std::sync::atomic::Ordering::SeqCst);
    v.refresh().unwrap();
    assert!(commit(&mut v, &[("k", b"3")]).merged);
}

#[test]
fn refresh_sees_other_writers() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    let mut b = Versioned::open(kv.clone()).unwrap();
    commit(&mut a, &[("k", b"1")]);
    assert_eq!(b.get("k").unwrap(), None);
    b.refresh().unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"1".to_vec()));
    assert_eq!(b.current_commit(), a.current_commit());
}

#[test]
fn checkout_opens_a_commit_on_this_or_another_branch() {
    let mut v = Versioned::in_memory().unwrap();
    commit(&mut v, &[("k", b"1")]);
    let first = v.current_commit();
    commit(&mut v, &[("k", b"2")]);
    let old = v.checkout(first, None).unwrap().unwrap();
    assert_eq!(old.get("k").unwrap(), Some(b"1".to_vec()));
    assert_eq!(old.branch(), "main");
    assert_eq!(old.current_commit(), first);
    let other = v.checkout(first, Some("elsewhere")).unwrap().unwrap();
    assert_eq!(other.branch(), "elsewhere");
    let missing: ObjectId = "f".repeat(40).parse().unwrap();
    assert!(v.checkout(missing, None).unwrap().is_none());
    // Committing from an old commit merges onto the head.
    let mut old = old;
    let result = commit(&mut old, &[("new", b"x")]);
    assert_eq!(result.strategy, Strategy::ThreeWay);
    assert_eq!(old.get("k").unwrap(), Some(b"2".to_vec()));
}

#[test]
fn branches_are_created_atomically_and_listed_sorted() {
    let mut v = Versioned::in_memory().unwrap();
    commit(&mut v, &[("k", b"1")]);
    let mut dev = v.create_branch("dev").unwrap();
    assert_eq!(dev.branch(), "dev");
    assert_eq!(dev.current_commit(), v.current_commit());
    commit(&mut dev, &[("k", b"dev")]);
    assert_eq!(
        v.get("k").unwrap(),
        Some(b"1".to_vec()),
        "branches are isolated"
    );
    assert!(matches!(
        v.create_branch("dev"),
        Err(Error::BranchExists(_))
    ));
    assert!(matches!(
        v.create_branch("bad..name"),
        Err(Error::InvalidBranchName { .. })
    ));
    v.create_branch("a-first").unwrap();
    assert_eq!(v.list_branches().unwrap(), ["a-first", "dev", "main"]);

    // Racing creators: exactly one wins.
    let kv = v.shared_kv();
    let wins: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let kv = kv.clone();
                scope.spawn(move || Versioned::open(kv).unwrap().create_branch("race").is_ok())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum()
    });
    assert_eq!(wins, 1);
}

#[test]
fn reset_to_forces_the_head() {
    let mut v = Versioned::in_memory().unwrap();
    commit(&mut v, &[("k", b"1")]);
    let first = v.current_commit();
    commit(&mut v, &[("k", b"2")]);
    assert!(v.reset_to(first).unwrap());
    assert_eq!(v.latest_head().unwrap(), Some(first));
    assert_eq!(v.get("k").unwrap(), Some(b"1".to_vec()));
    let missing: ObjectId = "e".repeat(40).parse().unwrap();
    assert!(!v.reset_to(missing).unwrap());
    assert_eq!(v.latest_head().unwrap(), Some(first));
}

#[test]
fn history_first_parent_and_full() {
    let kv = shared();
    let mut a = Versioned::open(kv.clone()).unwrap();
    let root = a.current_commit();
    commit(&mut a, &[("a", b"1")]);
    let mut b = Versioned::open(kv.clone()).unwrap();
    let a1 = commit(&mut a, &[("a", b"2")]).commit.unwrap();
    let b1 = b.current_commit();
    let merged = commit(&mut b, &[("b", b"1")]);
    let merge_commit = merged.commit.unwrap();
    let ours = b.commit_object(merge_commit).unwrap().parents[0];
    assert_eq!(
        b.history(None, false).unwrap(),
        [merge_commit, ours, b1, root]
    );
    let full = b.history(None, true).unwrap();
    assert_eq!(full.len(), 5);
    assert_eq!(full[0], merge_commit);
    assert_eq!(*full.last().unwrap(), root);
    assert!(full.contains(&a1));
    assert_eq!(
        full.iter().collect::<BTreeSet<_>>().len(),
        5,
        "each commit once"
    );
    assert_eq!(b.history(Some(b1), false).unwrap(), [b1, root]);
    assert_eq!(b.initial_commit().unwrap(), root);
}

#[test]
fn diff_between_commits() {
    let mut v = Versioned::in_memory().unwrap();
    commit(&mut v, &[("keep", b"1"), ("change", b"1"), ("drop", b"1")]);
    let a = v.current_commit();
    v.commit(
        &changes(&[("change", b"2"), ("add", b"1")], &["drop"]),
        &CommitOptions::new(),
    )
    .unwrap();
    let diff = v.diff(a, v.current_commit()).unwrap();
    assert_eq!(diff.added, set_of(&["add"]));
    assert_eq!(diff.removed, set_of(&["drop"]));
    assert_eq!(diff.modified, set_of(&["change"]));
    let missing: ObjectId = "d".repeat(40).parse().unwrap();
    assert!(matches!(v.diff(a, missing), Err(Error::CommitNotFound(_))));
}

#[test]
fn bad_keys_and_values_are_refused_by_name() {
    let mut set = ChangeSet::new();
    for key in ["", "a\0b"] {
        let err = set.set(key, b"v".to_vec()).unwrap_err();
        assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
    }
    let long = "k".repeat(kvit::MAX_KEY_LEN + 1);
    assert!(matches!(set.remove(long), Err(Error::InvalidKey { .. })));
    assert!(set.is_empty());
}

// ---- concurrency --------------------------------------------------------

fn hammer_with_threads(kv: &Arc<dyn KvStore>, threads: usize, commits: usize) {
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let kv = kv.clone();
            scope.spawn(move || {
                let mut v = Versioned::open(kv).unwrap();
                v.set_merge_fn("counter", counter());
                for _ in 0..commits {
                    increment(&mut v);
                }
            });
        }
    });
}

#[test]
fn eight_threads_lose_no_counter_increments_on_memory() {
    for _ in 0..3 {
        let kv = shared();
        hammer_with_threads(&kv, 8, 100);
        assert_eq!(counter_value(kv), 800);
    }
}

#[test]
fn eight_threads_lose_no_counter_increments_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(Disk::open(dir.path()).unwrap());
    hammer_with_threads(&kv, 8, 100);
    assert_eq!(counter_value(kv), 800);
}

const CHILD_ENV: &str = "KVIT_COUNTER_CHILD";

/// Run as a child process: increments the counter in the Disk store named by
/// the environment, then reports its retries.
#[test]
fn counter_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (dir, commits) = spec.split_once(',').unwrap();
    let mut v = Versioned::open(Arc::new(Disk::open(dir).unwrap())).unwrap();
    v.set_merge_fn("counter", counter());
    let retries: usize = (0..commits.parse::<usize>().unwrap())
        .map(|_| increment(&mut v))
        .sum();
    println!("retries={retries}");
}

#[test]
fn four_processes_lose_no_counter_increments_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    // Create the store first so the children race on commits, not on setup.
    drop(Versioned::open(Arc::new(Disk::open(dir.path()).unwrap())).unwrap());
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..4)
        .map(|_| {
            std::process::Command::new(&exe)
                .args([
                    "versioned::counter_child_process",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, format!("{},100", dir.path().display()))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "child failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("retries="));
    }
    assert_eq!(
        counter_value(Arc::new(Disk::open(dir.path()).unwrap())),
        400
    );
}

// ---- cost of common-ancestor search ------------------------------------

#[test]
fn common_ancestor_search_reads_only_the_forked_commits() {
    let counting = Arc::new(Counting::new(Memory::new()));
    let kv: Arc<dyn KvStore> = counting.clone();
    let mut main = Versioned::open(kv.clone()).unwrap();
    for i in 0..10_000u32 {
        commit(&mut main, &[("k", i.to_string().as_bytes())]);
    }
    let mut side = main.create_branch("side").unwrap();
    let k = 10;
    for i in 0..k {
        commit(&mut main, &[("main", i.to_string().as_bytes())]);
        commit(&mut side, &[("side", i.to_string().as_bytes())]);
    }
    let fork = side.history(None, false).unwrap()[k];
    // A cold handle: nothing cached.
    let cold = Versioned::open(kv).unwrap();
    counting.reset();
    let base = cold
        .merge_base(main.current_commit(), side.current_commit())
        .unwrap();
    assert_eq!(base, Some(fork));
    let reads = counting.counts().keys_read;
    assert!(
        reads <= 2 * k as u64 + 4,
        "read {reads} objects for a fork {k} commits ago"
    );
}
