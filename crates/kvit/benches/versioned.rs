//! Versioned-engine benchmarks: commits of 1 and 1,000 keys on Memory and
//! Disk, fast-forward vs three-way merge (disjoint keys, and overlapping keys
//! resolved by `kvit::counter()`), and the store layer (`Staged`) over it.
//!
//! ```text
//! cargo bench -p kvit --bench versioned
//! ```
//!
//! Under `cargo test` (no `--bench` flag) the sizes shrink so the benchmarks
//! are only exercised, not measured. Figures go to `docs/benchmarks.md`.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode};
use kvit::{
    ChangeSet, CommitOptions, DiskOptions, Durability, Json, KvStore, Memory, MergeResult, Staged,
    Store, StoreCommitOptions, Strategy, Versioned,
};
use tempfile::TempDir;

/// Every stored value, base or changed, is a 16-digit decimal integer: 16
/// bytes (inline in the leaf), valid JSON for `Json<i64>`, and what
/// `kvit::counter()` parses.
const VALUE_BASE: i64 = 1_000_000_000_000_000;
/// Added to a key's base value to change it.
const CHANGED: i64 = 500_000_000;
/// A step coprime with every store size used, so a run of slots spreads over
/// the key range.
const SLOT_STEP: usize = 7_919;
/// Single-key commits cycle through this many distinct keys.
const PROBES: usize = 1024;
/// Keys in a large commit.
const LARGE: usize = 1_000;
/// Keys per side in the merge benchmarks.
const MERGE_KEYS: usize = 100;
/// Disjoint key groups each multi-key commit benchmark cycles through.
const GROUPS: usize = 8;

/// Each benchmark on a shared store owns its own run of slots, so one
/// benchmark's changes never touch another's keys.
const ONE_KEY_SLOTS: usize = 0;
const LARGE_SLOTS: usize = ONE_KEY_SLOTS + PROBES;
const FAST_FORWARD_SLOTS: usize = LARGE_SLOTS + GROUPS * LARGE;
const THEIRS_SLOTS: usize = FAST_FORWARD_SLOTS + GROUPS * MERGE_KEYS;
const OURS_SLOTS: usize = THEIRS_SLOTS + GROUPS * MERGE_KEYS;
const COUNTER_SLOTS: usize = OURS_SLOTS + GROUPS * MERGE_KEYS;
/// Slots used on the largest store; every store must hold at least this many keys.
const SLOTS_USED: usize = COUNTER_SLOTS + GROUPS * MERGE_KEYS;

/// Store sizes: the real ones under `cargo bench`, small ones under `cargo test`.
struct Scale {
    commit_sizes: Vec<usize>,
    merge: usize,
    staged: usize,
}

impl Scale {
    fn from_args() -> Scale {
        if std::env::args().any(|arg| arg == "--bench") {
            Scale {
                commit_sizes: vec![100_000, 1_000_000],
                merge: 1_000_000,
                staged: 100_000,
            }
        } else {
            Scale {
                commit_sizes: vec![15_000, 20_000],
                merge: 20_000,
                staged: 15_000,
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Backend {
    Memory,
    Disk(Durability),
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Disk(Durability::Normal) => "disk_normal",
            Backend::Disk(_) => "disk_full",
        }
    }

    /// A fresh, empty store; the directory (for Disk) must outlive the store.
    fn open(self) -> (Arc<dyn KvStore>, Option<TempDir>) {
        match self {
            Backend::Memory => (Arc::new(Memory::new()), None),
            Backend::Disk(durability) => {
                // Beside `target/`, on the build disk: `/tmp` may be a tmpfs,
                // where a sync costs nothing.
                let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
                let disk = DiskOptions::new()
                    .durability(durability)
                    .open(dir.path())
                    .expect("open disk");
                (Arc::new(disk), Some(dir))
            }
        }
    }
}

fn key(index: usize) -> String {
    format!("user/{index:08}")
}

fn base_value(index: usize) -> i64 {
    VALUE_BASE + i64::try_from(index).expect("index fits i64")
}

fn encode(value: i64) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// The key index of a slot: distinct slots below `n` give distinct keys.
fn slot_index(slot: usize, n: usize) -> usize {
    assert!(slot < n, "slot {slot} outside a store of {n} keys");
    (slot * SLOT_STEP) % n
}

/// A store of `n` keys, built by one commit, and a cursor at its head.
struct Built {
    cursor: Versioned,
    n: usize,
    _dir: Option<TempDir>,
}

fn build(backend: Backend, n: usize) -> Built {
    assert!(n >= SLOTS_USED, "stores need at least {SLOTS_USED} keys");
    let (kv, dir) = backend.open();
    let mut cursor = Versioned::open(kv).expect("open cursor");
    let mut changes = ChangeSet::new();
    for index in 0..n {
        changes
            .set(key(index), encode(base_value(index)))
            .expect("valid key");
    }
    let result = cursor
        .commit(&changes, &CommitOptions::new())
        .expect("initial commit");
    assert_eq!(result.strategy, Strategy::FastForward);
    assert_eq!(cursor.len().expect("len"), n as u64);
    Built {
        cursor,
        n,
        _dir: dir,
    }
}

/// Change sets that cycle: `groups` disjoint groups of `size` keys from slot
/// `first`, first each set to a changed value, then each back to its base
/// value. Every commit changes every key it names, and after a whole cycle
/// the store holds its initial contents again, so the tree nodes the
/// benchmark writes repeat instead of growing the store without bound.
fn cycle(n: usize, first: usize, groups: usize, size: usize) -> Vec<ChangeSet> {
    let group_indexes =
        |group: usize| (0..size).map(move |offset| slot_index(first + group * size + offset, n));
    let mut sets = Vec::with_capacity(2 * groups);
    for changed in [CHANGED, 0] {
        for group in 0..groups {
            let mut changes = ChangeSet::new();
            for index in group_indexes(group) {
                changes
                    .set(key(index), encode(base_value(index) + changed))
                    .expect("valid key");
            }
            sets.push(changes);
        }
    }
    sets
}

fn expect_strategy(result: &MergeResult, strategy: Strategy) {
    assert!(result.merged, "commit not merged");
    assert_eq!(result.strategy, strategy);
}

/// Times `Versioned::commit` of the change sets in `sets`, in turn.
fn bench_commits(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    id: BenchmarkId,
    cursor: &mut Versioned,
    sets: &[ChangeSet],
) {
    let options = CommitOptions::new();
    let mut next = 0;
    group.bench_function(id, |bench| {
        bench.iter(|| {
            let result = cursor
                .commit(&sets[next % sets.len()], &options)
                .expect("commit");
            next += 1;
            expect_strategy(&result, Strategy::FastForward);
            result
        });
    });
}

fn commits(criterion: &mut Criterion, scale: &Scale) {
    let mut stores = Vec::new();
    for backend in [
        Backend::Memory,
        Backend::Disk(Durability::Full),
        Backend::Disk(Durability::Normal),
    ] {
        for &n in &scale.commit_sizes {
            stores.push((backend, build(backend, n)));
        }
    }

    let mut group = criterion.benchmark_group("commit_1_key");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (backend, built) in &mut stores {
        let sets = cycle(built.n, ONE_KEY_SLOTS, PROBES, 1);
        bench_commits(
            &mut group,
            BenchmarkId::new(backend.label(), built.n),
            &mut built.cursor,
            &sets,
        );
    }
    group.finish();

    let mut group = criterion.benchmark_group("commit_1000_keys");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for (backend, built) in &mut stores {
        if let Backend::Disk(Durability::Normal) = backend {
            continue;
        }
        let sets = cycle(built.n, LARGE_SLOTS, GROUPS, LARGE);
        bench_commits(
            &mut group,
            BenchmarkId::new(backend.label(), built.n),
            &mut built.cursor,
            &sets,
        );
    }
    group.finish();
}

/// Two cursors at the head of `main`: ours and theirs. Theirs commits first
/// (a fast-forward); ours, started from the same commit, must then merge.
fn merge_pair(main: &mut Versioned, theirs_changes: &ChangeSet) -> Versioned {
    main.refresh().expect("refresh");
    let head = main.current_commit();
    // Checked-out cursors share `main`'s node and commit caches.
    let mut theirs = main.checkout(head, None).expect("checkout").expect("head");
    let ours = main.checkout(head, None).expect("checkout").expect("head");
    let result = theirs
        .commit(theirs_changes, &CommitOptions::new())
        .expect("their commit");
    expect_strategy(&result, Strategy::FastForward);
    ours
}

fn merges(criterion: &mut Criterion, scale: &Scale) {
    let Built {
        cursor: mut main,
        n,
        _dir,
    } = build(Backend::Memory, scale.merge);
    let options = CommitOptions::new();

    let mut group = criterion.benchmark_group("merge_100_keys");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    // A fast-forward commit of the same size, for comparison.
    let sets = cycle(n, FAST_FORWARD_SLOTS, GROUPS, MERGE_KEYS);
    bench_commits(
        &mut group,
        BenchmarkId::new("fast_forward", n),
        &mut main,
        &sets,
    );

    // Disjoint keys: theirs are carried, ours applied on top of their head.
    let theirs_sets = cycle(n, THEIRS_SLOTS, GROUPS, MERGE_KEYS);
    let ours_sets = cycle(n, OURS_SLOTS, GROUPS, MERGE_KEYS);
    let round = Cell::new(0);
    let mut setup = || {
        let at = round.get() % theirs_sets.len();
        round.set(round.get() + 1);
        (merge_pair(&mut main, &theirs_sets[at]), at)
    };
    {
        let (mut ours, at) = setup();
        let result = ours.commit(&ours_sets[at], &options).expect("merge");
        expect_strategy(&result, Strategy::ThreeWay);
        assert_eq!(result.carried_keys.len(), MERGE_KEYS);
        assert!(result.auto_merged_keys.is_empty());
    }
    group.bench_function(BenchmarkId::new("three_way_disjoint", n), |bench| {
        bench.iter_batched(
            &mut setup,
            // The cursor is returned so it is dropped outside the timing.
            |(mut ours, at)| {
                let result = ours.commit(&ours_sets[at], &options).expect("merge");
                expect_strategy(&result, Strategy::ThreeWay);
                (ours, result)
            },
            BatchSize::PerIteration,
        );
    });

    // Overlapping keys resolved by `counter()`: both sides always write base
    // + 1, so on a key at its base value both add 1 (merged: base + 2) and on
    // a key at base + 2 both subtract 1 (merged: base). Values cycle.
    let counter_keys: Vec<usize> = (0..GROUPS * MERGE_KEYS)
        .map(|offset| slot_index(COUNTER_SLOTS + offset, n))
        .collect();
    for &index in &counter_keys {
        // Checked-out cursors inherit the registered merge functions.
        main.set_merge_fn(key(index), kvit::counter());
    }
    let counter_sets: Vec<ChangeSet> = counter_keys
        .chunks(MERGE_KEYS)
        .map(|indexes| {
            let mut changes = ChangeSet::new();
            for &index in indexes {
                changes
                    .set(key(index), encode(base_value(index) + 1))
                    .expect("valid key");
            }
            changes
        })
        .collect();
    let round = Cell::new(0);
    let mut setup = || {
        let at = round.get() % counter_sets.len();
        round.set(round.get() + 1);
        (merge_pair(&mut main, &counter_sets[at]), at)
    };
    {
        let (mut ours, at) = setup();
        let result = ours.commit(&counter_sets[at], &options).expect("merge");
        expect_strategy(&result, Strategy::ThreeWay);
        assert_eq!(result.auto_merged_keys.len(), MERGE_KEYS);
        assert!(result.carried_keys.is_empty());
        let index = counter_keys[at * MERGE_KEYS];
        assert_eq!(
            ours.get(&key(index)).expect("get"),
            Some(encode(base_value(index) + 2))
        );
    }
    group.bench_function(BenchmarkId::new("three_way_counter", n), |bench| {
        bench.iter_batched(
            &mut setup,
            |(mut ours, at)| {
                let result = ours.commit(&counter_sets[at], &options).expect("merge");
                expect_strategy(&result, Strategy::ThreeWay);
                (ours, result)
            },
            BatchSize::PerIteration,
        );
    });
    group.finish();
}

fn staged(criterion: &mut Criterion, scale: &Scale) {
    let Built { cursor, n, _dir } = build(Backend::Memory, scale.staged);
    let staged: Staged<Json<i64>> = kvit::store()
        .backend(cursor.shared_kv())
        .open(Json::<i64>::new())
        .expect("open store");
    drop(cursor);
    let probes: Vec<usize> = (0..PROBES)
        .map(|probe| slot_index(ONE_KEY_SLOTS + probe, n))
        .collect();
    let keys: Vec<String> = probes.iter().map(|&index| key(index)).collect();

    let mut group = criterion.benchmark_group("staged");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));

    // `set` plus `commit`: what a caller does to change one key.
    let options = StoreCommitOptions::new();
    let mut next = 0;
    group.bench_function(BenchmarkId::new("set_commit_1_key", n), |bench| {
        bench.iter(|| {
            let (key, index) = (&keys[next % PROBES], probes[next % PROBES]);
            // The first pass over the probes changes them, the second restores them.
            let changed = if (next / PROBES).is_multiple_of(2) {
                CHANGED
            } else {
                0
            };
            next += 1;
            staged.set(key, base_value(index) + changed).expect("set");
            let result = staged.commit(&options).expect("commit");
            expect_strategy(&result, Strategy::FastForward);
            result
        });
    });

    // Reads of the same keys: from the store's decoded-value cache, and from
    // a plain cursor at the same commit sharing the store's node cache.
    for key in &keys {
        staged.get(key).expect("get").expect("present");
    }
    let cursor = staged
        .with_versioned(|cursor| cursor.checkout(cursor.current_commit(), None))
        .expect("checkout")
        .expect("current commit");
    let mut next = 0;
    group.bench_function(BenchmarkId::new("get_cached", n), |bench| {
        bench.iter(|| {
            next += 1;
            staged
                .get(&keys[next % PROBES])
                .expect("get")
                .expect("present")
        });
    });
    let mut next = 0;
    group.bench_function(BenchmarkId::new("versioned_get", n), |bench| {
        bench.iter(|| {
            next += 1;
            cursor
                .get(&keys[next % PROBES])
                .expect("get")
                .expect("present")
        });
    });
    group.finish();
}

fn main() {
    let scale = Scale::from_args();
    let mut criterion = Criterion::default().configure_from_args();
    commits(&mut criterion, &scale);
    merges(&mut criterion, &scale);
    staged(&mut criterion, &scale);
    criterion.final_summary();
}
