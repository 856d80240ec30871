//! Garbage collection beside writers, made deterministic with failpoints: a
//! writer held between storing its objects and moving its head while a
//! collection runs (default grace and zero grace), the dedup trap (a writer
//! storing again objects a collection is deleting as orphans), two
//! collections at once, a collection stopped mid-sweep, and a timed stress
//! of writers, collections, rebases and branch churn (`KVIT_GC_STRESS_SECS`).
//!
//! Every test holds a `fail::FailScenario`, which serialises them: the
//! failpoint registry is global to the process.

// A failed `unwrap` in a test is a test failure with a backtrace.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fail::FailScenario;
use kvit::{
    clean_orphans, counter, last_writer_wins, ChangeSet, CommitOptions, DiskOptions, Durability,
    Error, GcOptions, KvStore, Memory, Strategy, Versioned, DEFAULT_ORPHAN_GRACE, RESTAMP_AFTER,
};
use support::{check_sound, soundness_problems, unreachable_objects, Gate, Rng};

/// A backend for one test, with the directory a Disk store lives in.
struct Store {
    name: &'static str,
    kv: Arc<dyn KvStore>,
    _dir: Option<tempfile::TempDir>,
}

fn memory() -> Store {
    Store {
        name: "memory",
        kv: Arc::new(Memory::new()),
        _dir: None,
    }
}

fn disk() -> Store {
    let dir = tempfile::tempdir().unwrap();
    let disk = DiskOptions::new()
        .durability(Durability::Normal)
        .open(dir.path())
        .unwrap();
    Store {
        name: "disk",
        kv: Arc::new(disk),
        _dir: Some(dir),
    }
}

fn backends() -> [Store; 2] {
    [memory(), disk()]
}

/// A value long enough to be stored as a blob, not inline.
fn blob(tag: &str) -> Vec<u8> {
    format!("{tag:-<100}").into_bytes()
}

fn changes(updates: &[(&str, &[u8])]) -> ChangeSet {
    let mut set = ChangeSet::new();
    for (key, value) in updates {
        set.set(*key, *value).unwrap();
    }
    set
}

fn commit(v: &mut Versioned, updates: &[(&str, &[u8])]) {
    assert!(
        v.commit(&changes(updates), &CommitOptions::new())
            .unwrap()
            .merged
    );
}

fn keys(kv: &dyn KvStore, prefix: &str) -> BTreeSet<String> {
    kv.keys_with_prefix(prefix).unwrap().into_iter().collect()
}

fn new_keys(kv: &dyn KvStore, prefix: &str, before: &BTreeSet<String>) -> BTreeSet<String> {
    keys(kv, prefix).difference(before).cloned().collect()
}

fn present(kv: &dyn KvStore, keys: &BTreeSet<String>) -> usize {
    keys.iter().filter(|key| kv.contains(key).unwrap()).count()
}

fn cursor(kv: &Arc<dyn KvStore>) -> Versioned {
    let mut v = Versioned::open(kv.clone()).unwrap();
    v.set_default_merge(last_writer_wins());
    v
}

/// Lets the millisecond write-time clock move past everything written so far.
fn tick() {
    thread::sleep(Duration::from_millis(5));
}

// ---- a writer held before its head moves ----------------------------------

/// The points where a writer has stored its objects and not yet moved its
/// head, with the strategy its commit lands by.
const BEFORE_HEAD: [(&str, Strategy); 3] = [
    ("commit::after-commit-object", Strategy::FastForward),
    ("commit::before-head-cas", Strategy::FastForward),
    ("merge::before-head-cas", Strategy::ThreeWay),
];

/// A writer held at `point` while a full collection with `grace` runs, then
/// released after [`RESTAMP_AFTER`]. Returns how many of the objects it had
/// stored the collection removed while it was held.
fn held_writer(kv: &Arc<dyn KvStore>, point: &str, strategy: Strategy, grace: Duration) -> usize {
    let mut main = cursor(kv);
    commit(&mut main, &[("base", &blob("base"))]);
    let mut writer = cursor(kv);
    if strategy == Strategy::ThreeWay {
        // The writer's base is now behind the head: its commit must merge.
        commit(&mut main, &[("theirs", &blob("theirs"))]);
    }
    let before = keys(&**kv, "obj/");
    let gate = Gate::new(point, "writer");
    let handle = thread::Builder::new()
        .name("writer".into())
        .spawn(move || {
            let result = writer.commit(
                &changes(&[("ours", &blob("ours")), ("small", b"s")]),
                &CommitOptions::new(),
            );
            (result, writer)
        })
        .unwrap();
    gate.wait(point);
    let stored = new_keys(&**kv, "obj/", &before);
    assert!(!stored.is_empty(), "{point}: the writer stored nothing");
    clean_orphans(&**kv, grace).unwrap();
    let collected = stored.len() - present(&**kv, &stored);
    // Long enough that the writer finds its objects stale and stores them again.
    thread::sleep(RESTAMP_AFTER + Duration::from_millis(50));
    gate.open();
    let (result, writer) = handle.join().unwrap();
    let result = result.unwrap_or_else(|err| panic!("{point}: the held commit failed: {err}"));
    assert!(result.merged, "{point}: {result:?}");
    assert_eq!(result.strategy, strategy, "{point}");
    assert_eq!(writer.latest_head().unwrap(), result.commit, "{point}");
    check_sound(kv, point);
    assert_eq!(writer.get("ours").unwrap(), Some(blob("ours")), "{point}");
    assert_eq!(writer.get("base").unwrap(), Some(blob("base")), "{point}");
    if strategy == Strategy::ThreeWay {
        assert_eq!(
            writer.get("theirs").unwrap(),
            Some(blob("theirs")),
            "{point}"
        );
    }
    collected
}

#[test]
fn a_held_writer_keeps_everything_under_the_default_grace() {
    for (point, strategy) in BEFORE_HEAD {
        for store in backends() {
            let scenario = FailScenario::setup();
            let collected = held_writer(&store.kv, point, strategy, DEFAULT_ORPHAN_GRACE);
            assert_eq!(collected, 0, "{}: {point}", store.name);
            scenario.teardown();
        }
    }
}

/// A zero grace collects a held writer's objects: the hazard is real. The
/// writer, finding them stale, stores them again before its head moves, so
/// the head never names a missing commit (before that fix it did).
#[test]
fn a_held_writer_under_zero_grace_never_publishes_missing_objects() {
    for (point, strategy) in BEFORE_HEAD {
        for store in backends() {
            let scenario = FailScenario::setup();
            let collected = held_writer(&store.kv, point, strategy, Duration::ZERO);
            assert!(collected > 0, "{}: {point}: nothing collected", store.name);
            scenario.teardown();
        }
    }
}

/// The writer is held after storing only its blobs, or only its blobs and
/// nodes (the write is split by kind while these points are configured), as
/// a backend without multi-key atomicity could leave it.
#[test]
fn a_writer_held_between_kinds_under_zero_grace() {
    for point in ["commit::after-blobs", "commit::after-nodes"] {
        for store in backends() {
            let scenario = FailScenario::setup();
            let collected = held_writer(&store.kv, point, Strategy::FastForward, Duration::ZERO);
            assert!(collected > 0, "{}: {point}: nothing collected", store.name);
            scenario.teardown();
        }
    }
}

// ---- the dedup trap ---------------------------------------------------------

/// A grace long enough for the test's own steps, short enough to wait out.
const SHORT_GRACE: Duration = Duration::from_millis(200);

/// A store whose only copy of `value` is an orphan older than [`SHORT_GRACE`]:
/// committed on a branch since deleted. Returns the orphaned blob's key.
fn orphan_value(kv: &Arc<dyn KvStore>, value: &[u8]) -> String {
    let mut main = cursor(kv);
    commit(&mut main, &[("base", &blob("base"))]);
    let before = keys(&**kv, "obj/b/");
    let mut side = main.create_branch("side").unwrap();
    commit(&mut side, &[("k", value)]);
    let blobs = new_keys(&**kv, "obj/b/", &before);
    assert_eq!(blobs.len(), 1);
    assert!(main.delete_branch("side").unwrap());
    thread::sleep(SHORT_GRACE + Duration::from_millis(50));
    blobs.into_iter().next().unwrap()
}

fn collect_in_thread(
    kv: &Arc<dyn KvStore>,
    name: &str,
    grace: Duration,
) -> thread::JoinHandle<kvit::Result<usize>> {
    let kv = kv.clone();
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || clean_orphans(&*kv, grace))
        .unwrap()
}

/// A collection has scanned the orphan (and is held before marking) when a
/// writer commits the same value, storing the blob again; the collection
/// then deletes only what still holds the bytes it scanned.
#[test]
fn dedup_trap_collection_held_after_its_scan() {
    for (point, grace) in [
        ("gc::mark", SHORT_GRACE),
        ("gc::mark", Duration::ZERO),
        ("gc::sweep", SHORT_GRACE),
        ("gc::sweep", Duration::ZERO),
    ] {
        for store in backends() {
            let scenario = FailScenario::setup();
            let kv = &store.kv;
            let value = blob("deduplicated");
            let blob_key = orphan_value(kv, &value);
            let gate = Gate::new(point, "gc");
            let collector = collect_in_thread(kv, "gc", grace);
            gate.wait(point);
            let mut writer = cursor(kv);
            commit(&mut writer, &[("k", &value)]);
            gate.open();
            let deleted = collector.join().unwrap().unwrap();
            assert!(
                deleted >= 1,
                "{}: {point}: the orphan commit stays",
                store.name
            );
            assert!(kv.contains(&blob_key).unwrap(), "{}: {point}", store.name);
            check_sound(kv, point);
            assert_eq!(writer.get("k").unwrap(), Some(value));
            scenario.teardown();
        }
    }
}

/// A writer that stored the orphan's value again is held before its head
/// moves while a whole collection runs: its young commit protects the blob
/// (short grace), or the blob is collected and stored again (zero grace).
#[test]
fn dedup_trap_writer_held_before_its_head_moves() {
    for grace in [SHORT_GRACE, Duration::ZERO] {
        for store in backends() {
            let scenario = FailScenario::setup();
            let kv = &store.kv;
            let value = blob("deduplicated");
            let blob_key = orphan_value(kv, &value);
            let gate = Gate::new("commit::before-head-cas", "writer");
            let mut writer = cursor(kv);
            let handle = thread::Builder::new()
                .name("writer".into())
                .spawn({
                    let value = value.clone();
                    move || {
                        commit(&mut writer, &[("k", &value)]);
                        writer
                    }
                })
                .unwrap();
            gate.wait("writer");
            clean_orphans(&**kv, grace).unwrap();
            if grace == SHORT_GRACE {
                assert!(kv.contains(&blob_key).unwrap(), "{}", store.name);
            }
            thread::sleep(RESTAMP_AFTER + Duration::from_millis(50));
            gate.open();
            let writer = handle.join().unwrap();
            assert!(kv.contains(&blob_key).unwrap(), "{}", store.name);
            check_sound(kv, "dedup, writer held");
            assert_eq!(writer.get("k").unwrap(), Some(value));
            scenario.teardown();
        }
    }
}

// ---- two collections at once ------------------------------------------------

/// Several branches' worth of orphans, older than [`SHORT_GRACE`].
fn orphans(kv: &Arc<dyn KvStore>, branches: usize) -> Versioned {
    let mut main = cursor(kv);
    commit(&mut main, &[("base", &blob("base"))]);
    for index in 0..branches {
        let name = format!("side-{index}");
        let mut side = main.create_branch(&name).unwrap();
        for round in 0..3 {
            let value = blob(&format!("{name} {round}"));
            commit(&mut side, &[(&format!("k{round}"), &value)]);
        }
        assert!(main.delete_branch(&name).unwrap());
    }
    thread::sleep(SHORT_GRACE + Duration::from_millis(50));
    main
}

/// One collection is held mid-sweep (or before marking) while a second runs
/// to the end and a writer commits, re-using an orphaned value; then the
/// first finishes. Nothing reachable is lost, and a last collection leaves
/// no orphan behind.
#[test]
fn two_collections_at_once() {
    for point in ["gc::mark", "gc::sweep"] {
        for store in backends() {
            let scenario = FailScenario::setup();
            let kv = &store.kv;
            let mut main = orphans(kv, 3);
            let gate = Gate::new(point, "gc-1");
            let first = collect_in_thread(kv, "gc-1", SHORT_GRACE);
            gate.wait(point);
            let second = clean_orphans(&**kv, SHORT_GRACE).unwrap();
            commit(&mut main, &[("again", &blob("side-1 2"))]);
            gate.open();
            let first = first.join().unwrap().unwrap();
            assert_eq!(
                first + second,
                9,
                "{}: {point}: {first} + {second}",
                store.name
            );
            check_sound(kv, point);
            tick();
            clean_orphans(&**kv, Duration::ZERO).unwrap();
            check_sound(kv, point);
            assert_eq!(unreachable_objects(&**kv), (0, 0, 0), "{}", store.name);
            assert_eq!(main.get("again").unwrap(), Some(blob("side-1 2")));
            scenario.teardown();
        }
    }
}

// ---- a collection stopped mid-sweep -----------------------------------------

/// A collection that fails after deleting some kinds (as one killed there
/// would stop) leaves a sound store, and the next one finishes the job.
#[test]
fn a_collection_stopped_mid_sweep_is_finished_by_the_next() {
    for store in backends() {
        let scenario = FailScenario::setup();
        let kv = &store.kv;
        orphans(kv, 3);
        let (commits, nodes, blobs) = unreachable_objects(&**kv);
        assert!(
            commits == 9 && nodes > 0 && blobs == 9,
            "{commits} {nodes} {blobs}"
        );

        // Stopped after its first deletion chunk: the orphaned commits.
        fail::cfg("gc::sweep", "return").unwrap();
        let err = clean_orphans(&**kv, Duration::ZERO).unwrap_err();
        assert!(err.to_string().contains("gc::sweep"), "{err}");
        check_sound(kv, "after deleting commits");
        assert_eq!(
            unreachable_objects(&**kv),
            (0, nodes, blobs),
            "{}",
            store.name
        );

        // Stopped again, now after the nodes.
        let err = clean_orphans(&**kv, Duration::ZERO).unwrap_err();
        assert!(matches!(err, Error::Backend { .. }), "{err}");
        check_sound(kv, "after deleting nodes");
        assert_eq!(unreachable_objects(&**kv), (0, 0, blobs), "{}", store.name);

        fail::remove("gc::sweep");
        assert_eq!(clean_orphans(&**kv, Duration::ZERO).unwrap(), 0);
        check_sound(kv, "finished");
        assert_eq!(unreachable_objects(&**kv), (0, 0, 0), "{}", store.name);
        scenario.teardown();
    }
}

// ---- stochastic stress ----------------------------------------------------------

/// The collections' grace beside live writers: above [`RESTAMP_AFTER`] plus
/// the time one small commit takes to write its objects, even on a loaded
/// machine.
const STRESS_GRACE: Duration = Duration::from_secs(1);
const WRITERS: u64 = 3;
const COLLECTORS: u64 = 2;
const CYCLE: Duration = Duration::from_secs(3);
/// How long a writer's dormant cursor waits between commits: more than the
/// grace, so what it stands on can be gone.
const DORMANT: Duration = Duration::from_millis(1300);

#[derive(Default)]
struct Counters {
    cycles: AtomicU64,
    commits: AtomicU64,
    increments: AtomicU64,
    lost_races: AtomicU64,
    stale_refusals: AtomicU64,
    branch_churn: AtomicU64,
    reused_values: AtomicU64,
    collections: AtomicU64,
    deleted_commits: AtomicU64,
    rebases: AtomicU64,
    violations: Mutex<Vec<String>>,
}

impl Counters {
    fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn violation(&self, what: String) {
        eprintln!("VIOLATION: {what}");
        self.violations.lock().unwrap().push(what);
    }

    fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

fn parse_count(bytes: &[u8]) -> u64 {
    std::str::from_utf8(bytes).unwrap().parse().unwrap()
}

/// One writer thread of the stress: counter increments on `main` through a
/// fresh and a stale cursor, a side branch deleted and recreated, and values
/// from deleted branches committed again (the dedup trap).
fn stress_writer(kv: &Arc<dyn KvStore>, seed: u64, deadline: Instant, counters: &Counters) {
    let mut rng = Rng::new(seed);
    let open = || {
        let mut v = Versioned::open(kv.clone()).unwrap();
        v.set_default_merge(counter());
        for slot in 0..8 {
            v.set_merge_fn(format!("reuse/{slot}"), last_writer_wins());
        }
        v
    };
    let mut fresh = open();
    // Refreshed only now and then: it merges into a branch that may have
    // been rebased, and its commit may have been collected.
    let mut stale = open();
    // Used only once every [`DORMANT`], never refreshed otherwise: by then a
    // rebase has often orphaned its commit and a collection removed it.
    let mut dormant = open();
    let mut dormant_used = Instant::now();
    let mut orphaned: Vec<(Instant, Vec<u8>)> = Vec::new();
    let mut round = 0u64;
    while Instant::now() < deadline {
        round += 1;
        let use_dormant = dormant_used.elapsed() > DORMANT;
        let use_stale = use_dormant || rng.chance(25);
        let cursor = if use_dormant {
            dormant_used = Instant::now();
            &mut dormant
        } else if use_stale {
            &mut stale
        } else {
            &mut fresh
        };
        let key = format!("count/{:02}", rng.below(24));
        let mut reused = Vec::new();
        if let Some(index) = orphaned
            .iter()
            .position(|(at, _)| at.elapsed() > STRESS_GRACE)
        {
            reused.push(orphaned.swap_remove(index).1);
        }
        let mut retries = 0;
        loop {
            let current = cursor
                .get(&key)
                .ok()
                .flatten()
                .map_or(0, |b| parse_count(&b));
            let mut set = ChangeSet::new();
            set.set(key.clone(), (current + 1).to_string()).unwrap();
            for value in &reused {
                set.set(format!("reuse/{}", rng.below(8)), value.clone())
                    .unwrap();
            }
            match cursor.commit(&set, &CommitOptions::new()) {
                Ok(result) if result.merged => {
                    Counters::add(&counters.commits, 1);
                    Counters::add(&counters.increments, 1);
                    Counters::add(&counters.reused_values, reused.len() as u64);
                    break;
                }
                Ok(result) => {
                    counters.violation(format!("writer {seed}: unmerged {result:?}"));
                    return;
                }
                Err(Error::Concurrency { .. }) => Counters::add(&counters.lost_races, 1),
                // The stale cursor's commit was collected: refused, not published.
                Err(Error::MissingObject { .. }) if use_stale => {
                    Counters::add(&counters.stale_refusals, 1);
                }
                Err(err) => {
                    counters.violation(format!("writer {seed}: commit: {err}"));
                    return;
                }
            }
            retries += 1;
            if retries > 1000 {
                counters.violation(format!("writer {seed}: 1000 retries"));
                return;
            }
            if let Err(err) = cursor.refresh() {
                counters.violation(format!("writer {seed}: refresh: {err}"));
                return;
            }
        }
        if rng.chance(10) && stale.refresh().is_err() {
            counters.violation(format!("writer {seed}: refresh of the stale cursor"));
            return;
        }
        if round.is_multiple_of(6) {
            let deleted = rng.chance(70);
            churn_side_branch(&mut fresh, seed, round, deleted, &mut orphaned, counters);
        }
        thread::sleep(Duration::from_micros(300));
    }
}

/// Branch churn: recreates the writer's side branch, commits fresh values
/// there and (mostly) deletes it again; the values become old orphans for the
/// writer to commit again later.
fn churn_side_branch(
    fresh: &mut Versioned,
    seed: u64,
    round: u64,
    delete_after: bool,
    orphaned: &mut Vec<(Instant, Vec<u8>)>,
    counters: &Counters,
) {
    let name = format!("side-{seed}");
    if let Err(err) = fresh.delete_branch(&name) {
        counters.violation(format!("writer {seed}: delete branch: {err}"));
        return;
    }
    match fresh.create_branch(&name) {
        Ok(mut side) => {
            let mut set = ChangeSet::new();
            for index in 0..2 {
                let value = blob(&format!("{seed} {round} {index}"));
                set.set(format!("side/{index}"), value.clone()).unwrap();
                orphaned.push((Instant::now(), value));
            }
            match side.commit(&set, &CommitOptions::new()) {
                Ok(_) => Counters::add(&counters.commits, 1),
                Err(err) => counters.violation(format!("writer {seed}: side: {err}")),
            }
            if delete_after {
                if let Err(err) = fresh.delete_branch(&name) {
                    counters.violation(format!("writer {seed}: delete branch: {err}"));
                }
            }
            Counters::add(&counters.branch_churn, 1);
        }
        // The fresh cursor may stand on a commit a rebase orphaned and a
        // collection removed: no branch may be made there.
        Err(Error::MissingObject { .. }) => {
            Counters::add(&counters.stale_refusals, 1);
            fresh.refresh().unwrap();
        }
        Err(err) => counters.violation(format!("writer {seed}: create branch: {err}")),
    }
}

/// One collector thread: full collections, and now and then a rebase of
/// `main` that keeps every key (so no increment is dropped) but cuts its
/// history, orphaning every writer's base.
fn stress_collector(kv: &Arc<dyn KvStore>, seed: u64, stop: &AtomicBool, counters: &Counters) {
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::Relaxed) {
        if rng.chance(20) {
            let rebased = GcOptions::new(i64::MAX)
                .orphan_grace(STRESS_GRACE)
                .open(kv.clone())
                .and_then(|mut gc| {
                    let keys = gc.keys()?;
                    let keep: Vec<&str> = keys.iter().map(String::as_str).collect();
                    gc.rebase(Some(&keep), None)
                });
            match rebased {
                Ok(result) => {
                    Counters::add(&counters.rebases, 1);
                    Counters::add(&counters.deleted_commits, result.orphans_cleaned as u64);
                }
                Err(Error::Concurrency { .. }) => Counters::add(&counters.lost_races, 1),
                Err(err) => counters.violation(format!("collector {seed}: rebase: {err}")),
            }
        } else {
            match clean_orphans(&**kv, STRESS_GRACE) {
                Ok(deleted) => Counters::add(&counters.deleted_commits, deleted as u64),
                Err(err) => counters.violation(format!("collector {seed}: collect: {err}")),
            }
        }
        Counters::add(&counters.collections, 1);
        thread::sleep(Duration::from_millis(rng.between(2, 30)));
    }
}

/// One cycle: writers and collectors for [`CYCLE`], then, with everything
/// stopped, the store must be sound and hold every increment that landed.
fn stress_cycle(kv: &Arc<dyn KvStore>, cycle: u64, counters: &Arc<Counters>) {
    let before = Counters::get(&counters.increments);
    let expected_before: u64 = count_total(kv);
    let deadline = Instant::now() + CYCLE;
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..WRITERS)
        .map(|index| {
            let (kv, counters) = (kv.clone(), counters.clone());
            thread::spawn(move || stress_writer(&kv, cycle * 100 + index, deadline, &counters))
        })
        .collect();
    let collectors: Vec<_> = (0..COLLECTORS)
        .map(|index| {
            let (kv, counters, stop) = (kv.clone(), counters.clone(), stop.clone());
            thread::spawn(move || stress_collector(&kv, cycle * 100 + 50 + index, &stop, &counters))
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for collector in collectors {
        collector.join().unwrap();
    }
    for problem in soundness_problems(kv) {
        counters.violation(format!("cycle {cycle}: {problem}"));
    }
    let landed = Counters::get(&counters.increments) - before;
    let total = count_total(kv);
    if total != expected_before + landed {
        counters.violation(format!(
            "cycle {cycle}: counters hold {total}, expected {expected_before} + {landed}"
        ));
    }
    // Nobody writes now: a zero grace collects every orphan.
    tick();
    if let Err(err) = clean_orphans(&**kv, Duration::ZERO) {
        counters.violation(format!("cycle {cycle}: final collection: {err}"));
    }
    for problem in soundness_problems(kv) {
        counters.violation(format!(
            "cycle {cycle}, after the final collection: {problem}"
        ));
    }
    if unreachable_objects(&**kv) != (0, 0, 0) {
        counters.violation(format!(
            "cycle {cycle}: orphans left after a quiet collection: {:?}",
            unreachable_objects(&**kv)
        ));
    }
    Counters::add(&counters.cycles, 1);
}

fn count_total(kv: &Arc<dyn KvStore>) -> u64 {
    Versioned::open(kv.clone())
        .unwrap()
        .items_with_prefix("count/")
        .unwrap()
        .iter()
        .map(|(_, value)| parse_count(value))
        .sum()
}

/// Writers, two collectors, rebases and branch churn for
/// `KVIT_GC_STRESS_SECS` seconds (default 4), alternating Memory and Disk
/// cycles; every counter and the violations (which must be none) printed.
#[test]
fn gc_stress_beside_writers() {
    let scenario = FailScenario::setup();
    let seconds: u64 = std::env::var("KVIT_GC_STRESS_SECS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(4);
    let counters = Arc::new(Counters::default());
    let started = Instant::now();
    let (memory, disk) = (memory(), disk());
    let mut cycle = 0;
    while cycle == 0 || started.elapsed() < Duration::from_secs(seconds) {
        let store = if cycle % 2 == 0 { &memory } else { &disk };
        stress_cycle(&store.kv, cycle, &counters);
        cycle += 1;
    }
    let violations = counters.violations.lock().unwrap().clone();
    let c = &*counters;
    println!(
        "gc-stress: {:.0} s, {} cycles (memory and disk alternating), {} writers, {} collectors\n\
         | counter | value |\n|---|---|\n\
         | commits landed | {} |\n| counter increments landed (all found) | {} |\n\
         | lost races retried | {} |\n| stale cursors refused (commit collected) | {} |\n\
         | side branches recreated | {} |\n| orphaned values committed again | {} |\n\
         | collections (incl. rebases) | {} |\n| rebases of main | {} |\n\
         | commits deleted beside writers | {} |\n| violations | {} |",
        started.elapsed().as_secs_f64(),
        Counters::get(&c.cycles),
        WRITERS,
        COLLECTORS,
        Counters::get(&c.commits),
        Counters::get(&c.increments),
        Counters::get(&c.lost_races),
        Counters::get(&c.stale_refusals),
        Counters::get(&c.branch_churn),
        Counters::get(&c.reused_values),
        Counters::get(&c.collections),
        Counters::get(&c.rebases),
        Counters::get(&c.deleted_commits),
        violations.len(),
    );
    assert!(violations.is_empty(), "{violations:#?}");
    assert!(Counters::get(&c.increments) > 0);
    scenario.teardown();
}
