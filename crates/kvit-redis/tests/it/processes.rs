//! Processes sharing one Redis: raw `cas` races, and the versioned counter
//! that must lose no increment. The test binary runs itself again, once per
//! child, filtered to the same test; a child finds its orders in
//! `KVIT_REDIS_CHILD` ("<id>,<count>,<key prefix>[,<Disk directory>]"), waits
//! for the parent's go, does its share, prints what it did and exits.

use kvit::testing::counter_race::increment;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvit::{counter, Disk, KvStore, Versioned};
use kvit_redis::{Redis, RedisOptions};

use crate::support::{
    output_text, read_u64, redis_url, reported, rerun_self, test_name, test_prefix, Scratch,
};

const CHILD_ENV: &str = "KVIT_REDIS_CHILD";
const PROCESSES: usize = 4;

struct Orders {
    id: u64,
    count: usize,
    prefix: String,
    /// Work on this Disk store instead of Redis (for a baseline).
    disk: Option<PathBuf>,
}

fn child_orders() -> Option<Orders> {
    let orders = std::env::var(CHILD_ENV).ok()?;
    let mut parts = orders.splitn(4, ',');
    Some(Orders {
        id: parts.next()?.parse().ok()?,
        count: parts.next()?.parse().ok()?,
        prefix: parts.next()?.to_owned(),
        disk: parts.next().map(PathBuf::from),
    })
}

/// The data store and the control store (for the start signal and round
/// barriers) of one test: sibling prefixes, neither a prefix of the other.
fn data_prefix(prefix: &str) -> String {
    format!("{prefix}data:")
}

fn control_prefix(prefix: &str) -> String {
    format!("{prefix}control:")
}

fn open(url: &str, prefix: &str) -> Redis {
    RedisOptions::new(url).prefix(prefix).open().unwrap()
}

fn wait_for_go(control: &Redis) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !control.contains("go").unwrap() {
        assert!(Instant::now() < deadline, "the parent never said go");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// What each child printed after each marker, by child id.
struct Reports {
    lines: Vec<Vec<String>>,
    elapsed: Duration,
}

/// Spawns the children of `test`, lets them start together, waits for all,
/// and returns what each reported after each of `markers`.
fn race(
    test: &str,
    prefix: &str,
    count: usize,
    markers: &[&str],
    control: &Redis,
    disk: Option<&Path>,
) -> Reports {
    control.remove("go").unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            let mut orders = format!("{id},{count},{prefix}");
            if let Some(directory) = disk {
                orders.push(',');
                orders.push_str(&directory.display().to_string());
            }
            rerun_self(&test_name(module_path!(), test), &[(CHILD_ENV, orders)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a child test process")
        })
        .collect();
    // The children are up once they are waiting; a short pause lets all of
    // them reach the wait, so they race each other, not their start-up.
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    control.set("go", b"").unwrap();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().expect("wait for a child"))
        .collect();
    let elapsed = started.elapsed();
    let lines = outputs
        .iter()
        .map(|output| {
            assert!(
                output.status.success(),
                "child failed: {}",
                output_text(output)
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            markers
                .iter()
                .map(|marker| reported(output, &stdout, marker).to_owned())
                .collect()
        })
        .collect();
    Reports { lines, elapsed }
}

const WINS: &str = "kvit-wins=";
const ATTEMPTS: &str = "kvit-attempts=";

/// Every child increments a counter by read-then-`cas`; a lost update would
/// leave the counter below the number of successful `cas` calls. Then each
/// round every child tries to create the same key: one winner per round.
#[test]
fn processes_race_cas() {
    const INCREMENTS: usize = 200;
    if let Some(orders) = child_orders() {
        let url = std::env::var(crate::support::URL_ENV).unwrap();
        let store = open(&url, &data_prefix(&orders.prefix));
        let control = open(&url, &control_prefix(&orders.prefix));
        wait_for_go(&control);
        let (mut wins, mut attempts) = (0u64, 0u64);
        for _ in 0..orders.count {
            loop {
                attempts += 1;
                let current = store.get("counter").unwrap();
                let next = read_u64(current.clone()) + 1;
                if store
                    .cas("counter", &next.to_le_bytes(), current.as_deref())
                    .unwrap()
                {
                    wins += 1;
                    break;
                }
            }
        }
        let mut round_wins = 0u64;
        for round in 0..orders.count / 4 {
            if store
                .cas(&format!("round-{round:04}"), &orders.id.to_le_bytes(), None)
                .unwrap()
            {
                round_wins += 1;
            }
            // A barrier through the control store: nobody starts the next
            // round before all have tried this one, so every round is contested.
            let attempted: Vec<String> = (0..PROCESSES)
                .map(|id| format!("attempted/{round:04}/{id}"))
                .collect();
            let attempted: Vec<&str> = attempted.iter().map(String::as_str).collect();
            control.set(attempted[orders.id as usize], b"").unwrap();
            let deadline = Instant::now() + Duration::from_secs(60);
            while control.get_many(&attempted).unwrap().contains(&None) {
                assert!(Instant::now() < deadline, "round {round} never completed");
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        println!("{WINS}{wins} {round_wins}");
        println!("{ATTEMPTS}{attempts}");
        return;
    }

    let Some(url) = redis_url("processes_race_cas") else {
        return;
    };
    let prefix = test_prefix("processes_race_cas");
    let store = Scratch::new(&url, &data_prefix(&prefix));
    let control = Scratch::new(&url, &control_prefix(&prefix));
    let reports = race(
        "processes_race_cas",
        &prefix,
        INCREMENTS,
        &[WINS, ATTEMPTS],
        &control,
        None,
    );

    let mut increments = 0u64;
    let mut attempts = 0u64;
    let mut held_by_report = vec![0u64; PROCESSES];
    for (id, lines) in reports.lines.iter().enumerate() {
        let (wins, rounds) = lines[0].split_once(' ').unwrap();
        increments += wins.parse::<u64>().unwrap();
        held_by_report[id] = rounds.parse().unwrap();
        attempts += lines[1].parse::<u64>().unwrap();
    }
    assert_eq!(increments, (PROCESSES * INCREMENTS) as u64);
    assert_eq!(
        read_u64(store.get("counter").unwrap()),
        increments,
        "the counter must equal the successful cas calls"
    );

    let rounds = store.scan_prefix("round-").unwrap();
    assert_eq!(rounds.len(), INCREMENTS / 4);
    let mut held = vec![0u64; PROCESSES];
    for (key, value) in rounds {
        let winner = read_u64(Some(value));
        assert!(winner < PROCESSES as u64, "{key} holds {winner}");
        held[winner as usize] += 1;
    }
    assert_eq!(
        held, held_by_report,
        "each round has the one winner it reported"
    );
    eprintln!(
        "processes_race_cas: {increments} increments in {attempts} attempts by {PROCESSES} \
         processes ({} lost races), round wins {held:?}, {:.0?}",
        attempts - increments,
        reports.elapsed
    );
}

const RETRIES: &str = "kvit-retries=";
const BUSY: &str = "kvit-busy-ms=";

/// Four processes commit 100 increments each to one versioned counter through
/// Redis: the counter ends at exactly 400 and the store checks clean. The same
/// race on a Disk store (fsync per commit, as the test server's AOF) gives
/// the throughput a ratio.
#[test]
fn four_processes_lose_no_counter_increments() {
    const TEST: &str = "four_processes_lose_no_counter_increments";
    if let Some(orders) = child_orders() {
        let url = std::env::var(crate::support::URL_ENV).unwrap();
        let kv: Arc<dyn KvStore> = match &orders.disk {
            Some(directory) => Arc::new(Disk::open(directory).unwrap()),
            None => Arc::new(open(&url, &data_prefix(&orders.prefix))),
        };
        let control = open(&url, &control_prefix(&orders.prefix));
        let mut store = Versioned::open(kv).unwrap();
        store.set_merge_fn("counter", counter());
        wait_for_go(&control);
        let started = Instant::now();
        let retries: u64 = (0..orders.count)
            .map(|_| increment(&mut store) as u64)
            .sum();
        println!("{RETRIES}{retries}");
        println!("{BUSY}{}", started.elapsed().as_millis());
        return;
    }

    let Some(url) = redis_url(TEST) else {
        return;
    };
    let prefix = test_prefix(TEST);
    let data = Scratch::new(&url, &data_prefix(&prefix));
    let control = Scratch::new(&url, &control_prefix(&prefix));
    let redis_kv: Arc<dyn KvStore> = Arc::new(data.store.clone());
    let redis = counter_race(TEST, &prefix, &redis_kv, &control, None);

    let directory = tempfile::tempdir().unwrap();
    let disk_kv: Arc<dyn KvStore> = Arc::new(Disk::open(directory.path()).unwrap());
    let disk = counter_race(TEST, &prefix, &disk_kv, &control, Some(directory.path()));
    eprintln!(
        "{TEST}: Redis {redis_rate:.0} commits/s, Disk {disk_rate:.0} commits/s in the same run: \
         Redis/Disk = {ratio:.2}",
        redis_rate = redis,
        disk_rate = disk,
        ratio = redis / disk
    );
}

/// Runs the four-process counter race on `kv` (Redis under `prefix`, or the
/// Disk store in `disk`), checks the outcome, and returns commits per second.
fn counter_race(
    test: &str,
    prefix: &str,
    kv: &Arc<dyn KvStore>,
    control: &Redis,
    disk: Option<&Path>,
) -> f64 {
    const COMMITS: usize = 100;
    // Create the store first, so the children race on commits, not on setup.
    drop(Versioned::open(kv.clone()).unwrap());
    let reports = race(test, prefix, COMMITS, &[RETRIES, BUSY], control, disk);
    let retries: Vec<u64> = reports
        .lines
        .iter()
        .map(|lines| lines[0].parse().unwrap())
        .collect();
    let busy: Vec<u64> = reports
        .lines
        .iter()
        .map(|lines| lines[1].parse().unwrap())
        .collect();

    let store = Versioned::open(kv.clone()).unwrap();
    let total: usize = String::from_utf8(store.get("counter").unwrap().unwrap())
        .unwrap()
        .parse()
        .unwrap();
    let backend = if disk.is_some() { "Disk" } else { "Redis" };
    assert_eq!(
        total,
        PROCESSES * COMMITS,
        "{backend}: increments were lost"
    );
    let report = kvit::verify(kv.as_ref()).unwrap();
    assert!(report.is_clean(), "{backend}: {report}");

    let commits = PROCESSES * COMMITS;
    let rate = f64::from(u32::try_from(commits).unwrap()) / reports.elapsed.as_secs_f64();
    eprintln!(
        "{test} on {backend}: {commits} commits by {PROCESSES} processes in {:.2?} = {rate:.0} \
         commits/s; retries per process {retries:?}; busy ms per process {busy:?}; {report}",
        reports.elapsed,
    );
    rate
}
