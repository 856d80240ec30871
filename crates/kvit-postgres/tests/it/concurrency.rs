//! Many writers on one table: processes racing `cas`, and threads and
//! processes committing a counter through the versioned engine.
//!
//! Process tests run this test binary again, once per child, filtered to the
//! same test; a child finds its orders in an environment variable, does its
//! part, prints what it counted after a marker and exits.

use kvit::testing::conformance;
use kvit::testing::counter_race::{increment, value as counter_value};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvit::{counter, ChangeSet, CommitOptions, KvStore, Versioned};
use kvit_postgres::Postgres;

use crate::common::{read_u64, reported, rerun_self, test_name, TestTable, URL_ENV};

/// `<table>,<id>,<count>`: the child's table, its number, how much to do.
const CHILD_ENV: &str = "KVIT_POSTGRES_CHILD";
const WINS_MARKER: &str = "kvit-cas-wins=";
const RETRIES_MARKER: &str = "kvit-retries=";
const PROCESSES: usize = 4;

struct ChildOrders {
    table: std::mem::ManuallyDrop<TestTable>,
    id: u64,
    count: usize,
}

fn child_orders() -> Option<ChildOrders> {
    let orders = std::env::var(CHILD_ENV).ok()?;
    let mut parts = orders.splitn(3, ',');
    let table = parts.next()?.to_owned();
    let id = parts.next()?.parse().ok()?;
    let count = parts.next()?.parse().ok()?;
    let url = std::env::var(URL_ENV).ok()?;
    Some(ChildOrders {
        table: TestTable::adopt(url, table),
        id,
        count,
    })
}

/// Starts one child per process for `function`, each told `count`.
fn spawn_children(function: &str, table: &TestTable, count: usize) -> Vec<std::process::Child> {
    (0..PROCESSES)
        .map(|id| {
            let orders = format!("{},{id},{count}", table.name);
            rerun_self(
                &test_name(module_path!(), function),
                &[(CHILD_ENV, orders), (URL_ENV, table.url.clone())],
            )
            .spawn()
            .expect("spawn a child test process")
        })
        .collect()
}

fn wait_for_go(store: &Postgres) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !store.contains("go").unwrap() {
        assert!(Instant::now() < deadline, "the parent never said go");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// In each round every process tries to create the same key with its id:
/// exactly one may win each round. The children open the table before it
/// exists, racing to create it as well.
#[test]
fn cas_rounds_race_between_processes() {
    const ROUNDS: usize = 50;
    if let Some(orders) = child_orders() {
        let store = orders.table.open();
        wait_for_go(&store);
        let wins = conformance::cas_rounds_in_process(&store, orders.id, orders.count, PROCESSES);
        println!("{WINS_MARKER}{wins}");
        return;
    }
    let Some(table) = TestTable::new("cas_rounds_race_between_processes") else {
        return;
    };
    let children = spawn_children("cas_rounds_race_between_processes", &table, ROUNDS);
    let store = table.open();
    store.set("go", b"").unwrap();
    let wins: Vec<u64> = children
        .into_iter()
        .map(|child| reported(&child.wait_with_output().unwrap(), WINS_MARKER))
        .collect();
    eprintln!("cas rounds: wins per process {wins:?}");
    assert_eq!(wins.iter().sum::<u64>(), ROUNDS as u64, "{wins:?}");

    let rounds = store.scan_prefix("round-").unwrap();
    assert_eq!(rounds.len(), ROUNDS);
    let mut held = vec![0u64; PROCESSES];
    for (key, value) in rounds {
        let winner = read_u64(Some(value));
        assert!(winner < PROCESSES as u64, "{key} holds {winner}");
        held[winner as usize] += 1;
    }
    assert_eq!(
        held, wins,
        "each process holds the rounds it reported winning"
    );
}

/// Every process increments a counter by read-then-`cas`; a lost update
/// would leave the counter below the number of successful `cas` calls.
#[test]
fn cas_counter_race_between_processes() {
    const ATTEMPTS: usize = 200;
    if let Some(orders) = child_orders() {
        let store = orders.table.open();
        wait_for_go(&store);
        let mut wins = 0u64;
        for _ in 0..orders.count {
            let current = store.get("counter").unwrap();
            let next = read_u64(current.clone()) + 1;
            if store
                .cas("counter", &next.to_le_bytes(), current.as_deref())
                .unwrap()
            {
                wins += 1;
            }
        }
        println!("{WINS_MARKER}{wins}");
        return;
    }
    let Some(table) = TestTable::new("cas_counter_race_between_processes") else {
        return;
    };
    let store = table.open();
    let children = spawn_children("cas_counter_race_between_processes", &table, ATTEMPTS);
    store.set("go", b"").unwrap();
    let wins: Vec<u64> = children
        .into_iter()
        .map(|child| reported(&child.wait_with_output().unwrap(), WINS_MARKER))
        .collect();
    let total: u64 = wins.iter().sum();
    eprintln!("cas counter: successes per process {wins:?}");
    assert_eq!(read_u64(store.get("counter").unwrap()), total, "{wins:?}");
    assert!(total >= ATTEMPTS as u64, "too few successes: {wins:?}");
}

// ---------------------------------------------------------------------------
// The versioned engine on PostgreSQL: a counter committed through the
// counter merge function loses no increment, whoever races whom.

fn per_second(count: usize, elapsed: Duration) -> f64 {
    f64::from(u32::try_from(count).unwrap()) / elapsed.as_secs_f64()
}

fn check_store(kv: &Arc<dyn KvStore>) {
    let report = kvit::verify(&**kv).unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.commits > 0, "{report}");
}

#[test]
fn eight_threads_lose_no_counter_increments() {
    const THREADS: usize = 8;
    const COMMITS: usize = 25;
    let Some(table) = TestTable::new("eight_threads_lose_no_counter_increments") else {
        return;
    };
    let kv: Arc<dyn KvStore> = Arc::new(table.open());
    drop(Versioned::open(kv.clone()).unwrap());
    let started = Instant::now();
    let retries: usize = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|_| {
                let kv = kv.clone();
                scope.spawn(move || {
                    let mut v = Versioned::open(kv).unwrap();
                    v.set_merge_fn("counter", counter());
                    (0..COMMITS).map(|_| increment(&mut v)).sum::<usize>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    let elapsed = started.elapsed();
    assert_eq!(
        counter_value(kv.clone()),
        i64::try_from(THREADS * COMMITS).unwrap()
    );
    check_store(&kv);
    eprintln!(
        "counter, {THREADS} threads x {COMMITS} commits: {:.0} commits/s, {retries} retries",
        per_second(THREADS * COMMITS, elapsed)
    );
}

/// 4 processes x 100 commits, each reading the counter, adding one and
/// committing through `kvit::counter()`: exactly 400, and a clean store.
#[test]
fn four_processes_lose_no_counter_increments() {
    const COMMITS: usize = 100;
    if let Some(orders) = child_orders() {
        let kv: Arc<dyn KvStore> = Arc::new(orders.table.open());
        let mut v = Versioned::open(kv).unwrap();
        v.set_merge_fn("counter", counter());
        wait_for_go(&orders.table.open());
        let retries: usize = (0..orders.count).map(|_| increment(&mut v)).sum();
        println!("{RETRIES_MARKER}{retries}");
        return;
    }
    let Some(table) = TestTable::new("four_processes_lose_no_counter_increments") else {
        return;
    };
    let kv: Arc<dyn KvStore> = Arc::new(table.open());
    // Create the store first so the children race on commits, not on setup.
    drop(Versioned::open(kv.clone()).unwrap());
    let children = spawn_children("four_processes_lose_no_counter_increments", &table, COMMITS);
    // Let the children connect before the clock starts.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    kv.set("go", b"").unwrap();
    let retries: Vec<usize> = children
        .into_iter()
        .map(|child| reported(&child.wait_with_output().unwrap(), RETRIES_MARKER))
        .collect();
    let elapsed = started.elapsed();
    assert_eq!(
        counter_value(kv.clone()),
        i64::try_from(PROCESSES * COMMITS).unwrap()
    );
    check_store(&kv);
    eprintln!(
        "counter, {PROCESSES} processes x {COMMITS} commits: {:.2} s, {:.0} commits/s, \
         retries per process {retries:?}",
        elapsed.as_secs_f64(),
        per_second(PROCESSES * COMMITS, elapsed)
    );
}

/// Each backend call is one statement, so one round trip: a commit of one
/// key into a store of thousands costs a handful, whatever the store's size.
#[test]
fn a_single_key_commit_is_a_few_round_trips() {
    let Some(table) = TestTable::new("a_single_key_commit_is_a_few_round_trips") else {
        return;
    };
    let counting = Arc::new(kvit::testing::Counting::new(table.open()));
    let kv: Arc<dyn KvStore> = counting.clone();
    let mut v = Versioned::open(kv.clone()).unwrap();
    let mut bulk = ChangeSet::new();
    for i in 0..10_000 {
        bulk.set(format!("key/{i:05}"), i.to_string()).unwrap();
    }
    counting.reset();
    v.commit(&bulk, &CommitOptions::new()).unwrap();
    let bulk_calls = counting.counts();
    counting.reset();
    let mut one = ChangeSet::new();
    one.set("key/04242", b"changed".to_vec()).unwrap();
    v.commit(&one, &CommitOptions::new()).unwrap();
    let commit_calls = counting.counts();
    let cold = Versioned::open(kv).unwrap();
    counting.reset();
    assert_eq!(cold.get("key/04242").unwrap(), Some(b"changed".to_vec()));
    let read_calls = counting.counts();
    eprintln!(
        "round trips: 10,000-key commit {} {:?}; 1-key commit {} {:?}; cold read {} {:?}",
        bulk_calls.round_trips(),
        bulk_calls.calls,
        commit_calls.round_trips(),
        commit_calls.calls,
        read_calls.round_trips(),
        read_calls.calls
    );
    assert!(commit_calls.round_trips() <= 8, "{commit_calls:?}");
    assert!(read_calls.round_trips() <= 8, "{read_calls:?}");
}
