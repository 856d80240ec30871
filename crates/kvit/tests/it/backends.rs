//! The backends: the conformance suite on each, and what only Disk promises
//! (processes sharing a directory, fork, format checks, durability settings).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use kvit::testing::conformance;
use kvit::{Disk, DiskOptions, Durability, Error, KvStore, Memory};

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("create a temporary directory")
}

fn open(path: &Path) -> Disk {
    Disk::open(path).unwrap_or_else(|error| panic!("open {}: {error}", path.display()))
}

fn read_u64(value: Option<Vec<u8>>) -> u64 {
    value.map_or(0, |bytes| {
        u64::from_le_bytes(bytes.try_into().expect("an 8-byte counter"))
    })
}

/// One read-then-`cas` increment of "counter"; whether it won.
fn try_increment(store: &Disk) -> bool {
    let current = store.get("counter").unwrap();
    let next = read_u64(current.clone()) + 1;
    store
        .cas("counter", &next.to_le_bytes(), current.as_deref())
        .unwrap()
}

// ---------------------------------------------------------------------------
// The conformance suite on every backend.

#[test]
fn memory_conformance() {
    conformance::run_all(&Memory::new());
}

#[test]
fn memory_cas_thread_race() {
    conformance::cas_thread_race(&Memory::new(), 8, 200);
}

#[test]
fn disk_conformance() {
    let directory = temp_dir();
    conformance::run_all(&open(directory.path()));
}

#[test]
fn disk_conformance_through_trait_objects() {
    let directory = temp_dir();
    let store: Box<dyn KvStore> = Box::new(open(directory.path()));
    conformance::basic_contract(&store);
    conformance::prefix_scans(&*store);
}

#[test]
fn disk_cas_thread_race() {
    let directory = temp_dir();
    let store = DiskOptions::new()
        .durability(Durability::Normal)
        .open(directory.path())
        .unwrap();
    conformance::cas_thread_race(&store, 4, 50);
}

/// Threads with a connection each race as processes would, through the
/// database's file locks rather than the handle's mutex.
#[test]
fn disk_cas_race_between_connections() {
    const THREADS: usize = 4;
    const INCREMENTS: u64 = 25;
    let directory = temp_dir();
    let options = DiskOptions::new().durability(Durability::Normal);
    let handles: Vec<Disk> = (0..THREADS)
        .map(|_| options.clone().open(directory.path()).unwrap())
        .collect();
    let barrier = std::sync::Barrier::new(THREADS);
    let lost = std::thread::scope(|scope| {
        let workers: Vec<_> = handles
            .iter()
            .map(|store| {
                let barrier = &barrier;
                scope.spawn(move || {
                    let mut lost = 0u64;
                    for _ in 0..INCREMENTS {
                        // Every thread starts each increment at once.
                        barrier.wait();
                        while !try_increment(store) {
                            lost += 1;
                        }
                    }
                    lost
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap())
            .sum::<u64>()
    });
    assert_eq!(
        read_u64(handles[0].get("counter").unwrap()),
        THREADS as u64 * INCREMENTS
    );
    eprintln!("{lost} lost cas races between connections");
}

// ---------------------------------------------------------------------------
// Processes racing on one directory. The test binary runs itself again, once
// per child, filtered to the same test; the child finds its orders in
// `KVIT_CAS_CHILD` ("<rounds>,<id>,<directory>"), races, prints its number of
// successful `cas` calls after `WINS_MARKER` and exits.

const CHILD_ENV: &str = "KVIT_CAS_CHILD";
const WINS_MARKER: &str = "kvit-cas-wins=";
const PROCESSES: usize = 4;

struct ChildOrders {
    rounds: usize,
    id: u64,
    directory: PathBuf,
}

fn child_orders() -> Option<ChildOrders> {
    let orders = std::env::var(CHILD_ENV).ok()?;
    let mut parts = orders.splitn(3, ',');
    let rounds = parts.next()?.parse().ok()?;
    let id = parts.next()?.parse().ok()?;
    let directory = PathBuf::from(parts.next()?);
    Some(ChildOrders {
        rounds,
        id,
        directory,
    })
}

/// The name libtest knows `function` in this module by.
fn test_name(function: &str) -> String {
    let module = module_path!()
        .split_once("::")
        .map_or(module_path!(), |(_, module)| module);
    format!("{module}::{function}")
}

/// Runs this test binary again, filtered to exactly `test`, with `env` set.
fn rerun_self(test: &str, env: &[(&str, String)]) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args([
        test,
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ]);
    for (name, value) in env {
        command.env(name, value);
    }
    command
}

fn output_text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Spawns the children, lets them start together, and collects each one's
/// reported wins, indexed by child id.
///
/// The children open the still empty directory as they start, racing to
/// create the database as well.
fn race_processes(test: &str, directory: &Path, rounds: usize) -> Vec<u64> {
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            let orders = format!("{rounds},{id},{}", directory.display());
            rerun_self(&test_name(test), &[(CHILD_ENV, orders)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn a child test process")
        })
        .collect();
    // Children wait for this key, so they race each other rather than their
    // own start-up times.
    open(directory).set("go", b"").unwrap();
    let wins: Vec<u64> = children
        .into_iter()
        .map(|child| {
            let output = child
                .wait_with_output()
                .expect("wait for a child test process");
            assert!(
                output.status.success(),
                "child failed: {}",
                output_text(&output)
            );
            let stdout = String::from_utf8_lossy(&output.stdout);
            stdout
                .lines()
                .find_map(|line| line.strip_prefix(WINS_MARKER))
                .and_then(|wins| wins.trim().parse().ok())
                .unwrap_or_else(|| panic!("child reported no wins: {}", output_text(&output)))
        })
        .collect();
    eprintln!("{test}: wins per process {wins:?}");
    wins
}

fn wait_for_go(store: &Disk) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !store.contains("go").unwrap() {
        assert!(Instant::now() < deadline, "the parent never said go");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Every child increments a counter by read-then-`cas`; a lost update would
/// leave the counter below the number of successful `cas` calls.
#[test]
fn disk_cas_counter_race_between_processes() {
    const ATTEMPTS: usize = 200;
    if let Some(orders) = child_orders() {
        let store = open(&orders.directory);
        wait_for_go(&store);
        let mut wins = 0u64;
        for _ in 0..orders.rounds {
            let current = store.get("counter").unwrap();
            let next = read_u64(current.clone()) + 1;
            // Widens the window in which another process can move the counter.
            std::thread::sleep(Duration::from_micros(100));
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
    let directory = temp_dir();
    let wins = race_processes(
        "disk_cas_counter_race_between_processes",
        directory.path(),
        ATTEMPTS,
    );
    let total: u64 = wins.iter().sum();
    let counter = read_u64(open(directory.path()).get("counter").unwrap());
    assert_eq!(counter, total, "counter vs successful cas calls {wins:?}");
    // A success spoils at most one in-flight attempt of each other process.
    assert!(total >= ATTEMPTS as u64, "too few successes: {wins:?}");
}

/// In each round every child tries to create the same key with its id:
/// exactly one process may win each round.
#[test]
fn disk_cas_rounds_race_between_processes() {
    const ROUNDS: usize = 40;
    if let Some(orders) = child_orders() {
        let store = open(&orders.directory);
        wait_for_go(&store);
        let wins = conformance::cas_rounds_in_process(&store, orders.id, orders.rounds, PROCESSES);
        println!("{WINS_MARKER}{wins}");
        return;
    }
    let directory = temp_dir();
    let wins = race_processes(
        "disk_cas_rounds_race_between_processes",
        directory.path(),
        ROUNDS,
    );
    assert_eq!(
        wins.iter().sum::<u64>(),
        ROUNDS as u64,
        "one winner per round: {wins:?}"
    );

    let store = open(directory.path());
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
        "the rounds each process holds are the ones it reported winning"
    );
}

// ---------------------------------------------------------------------------
// Fork. The forking happens in a re-run of this test binary that runs only
// this test, so no other test's thread is inside SQLite or holding a lock
// when the process is copied.

const FORK_ENV: &str = "KVIT_FORK_TEST";

/// Both halves of a test that forks. In the re-run of this test binary
/// filtered to `test` (where `env` names a scratch directory) this runs
/// `scenario` on that directory and returns `None`; otherwise it starts that
/// re-run, checks that it passed, and returns the directory.
#[cfg(unix)]
fn in_own_process(test: &str, env: &str, scenario: fn(&Path)) -> Option<tempfile::TempDir> {
    if let Ok(directory) = std::env::var(env) {
        scenario(Path::new(&directory));
        return None;
    }
    let directory = temp_dir();
    let output = rerun_self(
        &test_name(test),
        &[(env, directory.path().display().to_string())],
    )
    .output()
    .expect("run the fork test process");
    assert!(
        output.status.success(),
        "{test} failed in its own process: {}",
        output_text(&output)
    );
    Some(directory)
}

#[cfg(unix)]
#[test]
fn disk_handle_survives_fork() {
    let Some(directory) = in_own_process("disk_handle_survives_fork", FORK_ENV, fork_scenario)
    else {
        return;
    };
    let store = open(directory.path());
    for key in [
        "parent/before",
        "child/1",
        "parent/after",
        "child/late/049",
        "parent/last",
    ] {
        assert!(
            store.contains(key).unwrap(),
            "{key} is missing after the fork scenario"
        );
    }
}

const SALT_FORK_ENV: &str = "KVIT_SALT_FORK_TEST";

/// A forked child starts from its parent's memory, commit-salt source
/// included; its commits must still be salted apart from the parent's, or
/// the two making the same change from the same commit in the same
/// millisecond would make one commit between them.
#[cfg(unix)]
#[test]
fn a_forked_child_salts_its_commits_apart_from_its_parent() {
    in_own_process(
        "a_forked_child_salts_its_commits_apart_from_its_parent",
        SALT_FORK_ENV,
        salt_fork_scenario,
    );
}

#[cfg(unix)]
fn salt_fork_scenario(directory: &Path) {
    use kvit::{ChangeSet, CommitOptions, Versioned};
    use std::collections::BTreeSet;
    use std::sync::Arc;

    /// The salts of `count` commits of one change, each on a store of its own.
    fn salts(count: usize) -> Vec<[u8; 16]> {
        let mut changes = ChangeSet::new();
        changes.set("k", b"v".to_vec()).unwrap();
        (0..count)
            .map(|_| {
                let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
                let mut versioned = Versioned::open(kv).unwrap();
                let commit = versioned.commit(&changes, &CommitOptions::new()).unwrap();
                let id = commit.commit.expect("a landed commit");
                versioned.commit_object(id).unwrap().salt
            })
            .collect()
    }
    let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
    let mut parent = Versioned::open(kv).unwrap();
    let mut changes = ChangeSet::new();
    changes.set("before", b"fork".to_vec()).unwrap();
    // The parent has salted a commit, so the child inherits a drawn key.
    parent.commit(&changes, &CommitOptions::new()).unwrap();
    let written = directory.join("child-salts");
    let for_child = written.clone();
    in_child(|| std::fs::write(&for_child, salts(8).concat()).unwrap());
    let child: BTreeSet<Vec<u8>> = std::fs::read(&written)
        .unwrap()
        .chunks_exact(16)
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(child.len(), 8, "the child's own salts repeat");
    for salt in salts(8) {
        assert!(
            !child.contains(salt.as_slice()),
            "parent and child drew salt {salt:02x?}"
        );
    }
}

/// Forks `child`, which must return normally, and waits for it.
#[cfg(unix)]
fn in_child(child: impl FnOnce()) {
    match fork::fork().expect("fork") {
        fork::Fork::Child => {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child));
            // Never return into the test harness copied from the parent.
            std::process::exit(i32::from(outcome.is_err()));
        }
        fork::Fork::Parent(pid) => {
            let status = fork::waitpid(pid).expect("waitpid");
            assert!(
                fork::WIFEXITED(status) && fork::WEXITSTATUS(status) == 0,
                "the forked child failed (raw status {status})"
            );
        }
    }
}

#[cfg(unix)]
fn fork_scenario(directory: &Path) {
    // A child that only drops an inherited handle must leave it to the parent.
    let mut untouched = Some(open(directory));
    let parent_copy = untouched.clone();
    in_child(|| drop(untouched.take()));
    let untouched = parent_copy.expect("the parent's handle");
    untouched.set("parent/untouched", b"p").unwrap();
    drop(untouched);

    let store = open(directory);
    let increment = |store: &Disk| assert!(try_increment(store), "uncontended increment failed");
    store.set("parent/before", b"p").unwrap();
    increment(&store);

    // The child uses the inherited handle (and a clone of it), then drops it.
    let inherited = store.clone();
    in_child(move || {
        assert_eq!(inherited.get("parent/before").unwrap(), Some(b"p".to_vec()));
        inherited.set("child/1", b"c").unwrap();
        increment(&inherited.clone());
        assert!(inherited.pragmas().unwrap().journal_mode == "wal");
        drop(inherited);
    });
    // The parent's connection is undisturbed and sees the child's writes.
    assert_eq!(store.get("child/1").unwrap(), Some(b"c".to_vec()));
    store.set("parent/after", b"p").unwrap();

    // A child that outlives every handle the parent had, racing a handle the
    // parent opens afterwards: SQLite's last connection to close normally
    // deletes the write-ahead log, and the child's connection, whose locks
    // SQLite books against the inherited one, must not be mistaken for gone.
    let go = directory.join("go");
    let child_store = store.clone();
    let child_go = go.clone();
    let child = fork::fork().expect("fork");
    if child == fork::Fork::Child {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            assert!(child_store.contains("parent/after").unwrap());
            let deadline = Instant::now() + Duration::from_secs(20);
            while !child_go.exists() {
                assert!(Instant::now() < deadline, "the parent never said go");
                std::thread::sleep(Duration::from_millis(1));
            }
            for round in 0..LATE_ROUNDS {
                child_store
                    .set(&format!("child/late/{round:03}"), b"c")
                    .unwrap();
                if try_increment(&child_store) {
                    child_store
                        .set(&format!("child/won/{round:03}"), b"")
                        .unwrap();
                }
            }
        }));
        std::process::exit(i32::from(outcome.is_err()));
    }
    drop((store, child_store));
    let store = open(directory);
    std::fs::write(&go, b"").unwrap();
    let parent_wins = (0..LATE_ROUNDS).filter(|_| try_increment(&store)).count();
    if let fork::Fork::Parent(pid) = child {
        let status = fork::waitpid(pid).expect("waitpid");
        assert!(
            fork::WIFEXITED(status) && fork::WEXITSTATUS(status) == 0,
            "the second forked child failed (raw status {status})"
        );
    }
    drop(store);

    let store = open(directory);
    assert_eq!(
        store.keys_with_prefix("child/late/").unwrap().len(),
        LATE_ROUNDS,
        "writes of a child that outlived the parent's handle were lost"
    );
    let child_wins = store.keys_with_prefix("child/won/").unwrap().len();
    assert_eq!(
        read_u64(store.get("counter").unwrap()),
        (2 + parent_wins + child_wins) as u64,
        "successful increments: 2 before, {parent_wins} by the parent, {child_wins} by the child"
    );
    store.set("parent/last", b"p").unwrap();
}

#[cfg(unix)]
const LATE_ROUNDS: usize = 50;

// ---------------------------------------------------------------------------
// Opening: what is refused, and how.

fn expect_invalid(result: kvit::Result<Disk>, path: &Path, problem: &str) {
    match result {
        Err(error @ Error::InvalidStore { .. }) => {
            let message = error.to_string();
            assert!(message.contains(&path.display().to_string()), "{message}");
            assert!(
                message.contains(problem),
                "{message} does not mention {problem:?}"
            );
        }
        other => panic!(
            "expected InvalidStore for {}, got {other:?}",
            path.display()
        ),
    }
}

#[test]
fn disk_refuses_a_regular_file() {
    let directory = temp_dir();
    let file = directory.path().join("not-a-directory");
    std::fs::write(&file, b"hello").unwrap();
    expect_invalid(Disk::open(&file), &file, "regular file");
    let below = file.join("store");
    expect_invalid(Disk::open(&below), &below, "cannot create");
}

#[test]
fn disk_refuses_a_file_that_is_not_sqlite() {
    let directory = temp_dir();
    std::fs::write(directory.path().join("kvit.sqlite3"), vec![b'x'; 8192]).unwrap();
    expect_invalid(
        Disk::open(directory.path()),
        directory.path(),
        "not a SQLite database",
    );
}

#[test]
fn disk_refuses_a_directory_in_place_of_the_database() {
    let directory = temp_dir();
    std::fs::create_dir(directory.path().join("kvit.sqlite3")).unwrap();
    expect_invalid(
        Disk::open(directory.path()),
        directory.path(),
        "cannot open",
    );
}

#[test]
fn disk_refuses_a_foreign_sqlite_database() {
    let directory = temp_dir();
    let database = rusqlite::Connection::open(directory.path().join("kvit.sqlite3")).unwrap();
    database.execute_batch("CREATE TABLE other (x)").unwrap();
    drop(database);
    expect_invalid(
        Disk::open(directory.path()),
        directory.path(),
        "not a kvit store",
    );
}

#[test]
fn disk_refuses_a_newer_format() {
    let directory = temp_dir();
    let store = open(directory.path());
    store.set("k", b"v").unwrap();
    let database = rusqlite::Connection::open(store.database_path()).unwrap();
    drop(store);
    database.execute_batch("PRAGMA user_version = 2").unwrap();
    drop(database);
    match Disk::open(directory.path()) {
        Err(Error::UnsupportedFormat { found, supported }) => {
            assert!(found.contains('2'), "{found}");
            assert_eq!(supported, 1);
        }
        other => panic!("expected UnsupportedFormat, got {other:?}"),
    }
}

#[test]
fn disk_creates_missing_directories() {
    let directory = temp_dir();
    let nested = directory.path().join("a").join("b").join("store");
    let store = open(&nested);
    assert_eq!(store.path(), nested);
    assert_eq!(store.database_path(), nested.join("kvit.sqlite3"));
    assert!(store.database_path().is_file());
}

// ---------------------------------------------------------------------------
// Persistence, sharing and settings.

#[test]
fn disk_reopen_keeps_data() {
    let directory = temp_dir();
    let store = open(directory.path());
    store
        .set_many(&[("a", b"1"), ("b", b""), ("c", &[0, 255])])
        .unwrap();
    assert!(store.cas("head", b"h1", None).unwrap());
    drop(store);

    let store = open(directory.path());
    assert_eq!(
        store.items().unwrap(),
        vec![
            ("a".to_owned(), b"1".to_vec()),
            ("b".to_owned(), Vec::new()),
            ("c".to_owned(), vec![0, 255]),
            ("head".to_owned(), b"h1".to_vec()),
        ]
    );
    assert!(store.cas("head", b"h2", Some(b"h1")).unwrap());
}

#[test]
fn disk_handles_in_one_process_see_each_other() {
    let directory = temp_dir();
    let first = open(directory.path());
    let second = open(directory.path());
    first.set("from-first", b"1").unwrap();
    assert_eq!(second.get("from-first").unwrap(), Some(b"1".to_vec()));
    assert!(second.cas("head", b"a", None).unwrap());
    assert!(!first.cas("head", b"b", None).unwrap());
    assert!(first.cas("head", b"b", Some(b"a")).unwrap());
    assert_eq!(second.get("head").unwrap(), Some(b"b".to_vec()));
    second.remove_many(&["head", "from-first"]).unwrap();
    assert!(first.keys().unwrap().is_empty());
}

#[test]
fn disk_pragmas() {
    let directory = temp_dir();
    let store = open(directory.path());
    assert_eq!(store.durability(), Durability::Full);
    assert_eq!(store.busy_timeout(), Duration::from_secs(30));
    let pragmas = store.pragmas().unwrap();
    assert_eq!(pragmas.journal_mode, "wal");
    assert_eq!(pragmas.synchronous, "FULL");
    assert_eq!(pragmas.busy_timeout, Duration::from_secs(30));

    let fast = DiskOptions::new()
        .durability(Durability::Normal)
        .busy_timeout(Duration::from_millis(1500))
        .open(directory.path())
        .unwrap();
    assert_eq!(fast.durability(), Durability::Normal);
    let pragmas = fast.pragmas().unwrap();
    assert_eq!(pragmas.journal_mode, "wal");
    assert_eq!(pragmas.synchronous, "NORMAL");
    assert_eq!(pragmas.busy_timeout, Duration::from_millis(1500));
    // The first handle keeps its own settings.
    assert_eq!(store.pragmas().unwrap().synchronous, "FULL");
}

/// Many connections creating the same store at once: turning a new database
/// to write-ahead logging needs an exclusive lock, and two connections that
/// each hold a shared lock while waiting for the other's would otherwise
/// deadlock until the busy timeout.
#[test]
fn disk_concurrent_first_opens() {
    const OPENERS: usize = 6;
    let options = DiskOptions::new().busy_timeout(Duration::from_secs(5));
    for _ in 0..4 {
        let directory = temp_dir();
        let barrier = std::sync::Barrier::new(OPENERS);
        let started = Instant::now();
        std::thread::scope(|scope| {
            for id in 0..OPENERS {
                let (barrier, options, path) = (&barrier, &options, directory.path());
                scope.spawn(move || {
                    barrier.wait();
                    let store = options.clone().open(path).unwrap();
                    store.set(&format!("opener/{id}"), b"").unwrap();
                });
            }
        });
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "concurrent opens took {:?}",
            started.elapsed()
        );
        assert_eq!(open(directory.path()).keys().unwrap().len(), OPENERS);
    }
}

/// Holds the write lock from a plain `rusqlite` connection for `hold`.
fn hold_write_lock(database: &Path, hold: Duration) -> std::thread::JoinHandle<()> {
    let database = database.to_path_buf();
    let (locked, wait_locked) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let connection = rusqlite::Connection::open(database).unwrap();
        connection.execute_batch("BEGIN IMMEDIATE").unwrap();
        locked.send(()).unwrap();
        std::thread::sleep(hold);
        connection.execute_batch("COMMIT").unwrap();
    });
    wait_locked.recv().unwrap();
    holder
}

#[test]
fn disk_waits_out_another_writer() {
    let directory = temp_dir();
    let store = open(directory.path());
    let holder = hold_write_lock(store.database_path(), Duration::from_millis(300));
    let started = Instant::now();
    store.set("k", b"v").unwrap();
    assert!(store.cas("head", b"h", None).unwrap());
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "did not wait for the lock"
    );
    holder.join().unwrap();
}

#[test]
fn disk_busy_timeout_bounds_the_wait() {
    let directory = temp_dir();
    let store = DiskOptions::new()
        .busy_timeout(Duration::from_millis(100))
        .open(directory.path())
        .unwrap();
    let holder = hold_write_lock(store.database_path(), Duration::from_millis(1500));
    let started = Instant::now();
    let error = store.set("k", b"v").expect_err("the write lock is held");
    assert!(
        matches!(
            error,
            Error::Backend {
                operation: "set",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "waited {:?}",
        started.elapsed()
    );
    // Reads are not blocked by a writer.
    assert_eq!(store.get("k").unwrap(), None);
    holder.join().unwrap();
    store.set("k", b"v").unwrap();
}

/// A write the disk refuses must reach the caller as an error, and leave the
/// store as it was. A child process runs under a file-size limit (`ulimit
/// -f`, with SIGXFSZ ignored, from `sh`), so its writes fail with "file too
/// large" once the log reaches the limit, as they would on a full disk.
#[cfg(unix)]
#[test]
fn disk_write_errors_reach_the_caller_and_change_nothing() {
    const LIMIT_ENV: &str = "KVIT_FSIZE_CHILD";
    const DONE: &str = "kvit-write-errors-checked";
    if let Ok(directory) = std::env::var(LIMIT_ENV) {
        let store = open(Path::new(&directory));
        store.set("kept", b"before").unwrap();
        let large = vec![7u8; 64 * 1024];
        let mut written = 0;
        let refused = loop {
            assert!(written < 64, "the file-size limit never bit");
            let key = format!("large/{written}");
            match store.set(&key, &large) {
                Ok(()) => written += 1,
                Err(error) => break (key, error),
            }
        };
        assert!(
            matches!(refused.1, Error::Backend { .. }),
            "{:?}",
            refused.1
        );
        let more = store.set_many(&[("a", &large[..]), ("b", &large[..])]);
        assert!(matches!(more, Err(Error::Backend { .. })), "{more:?}");
        let swap = store.cas("kept", &large, Some(b"before"));
        assert!(matches!(swap, Err(Error::Backend { .. })), "{swap:?}");
        // What was written before is intact; what was refused is absent.
        assert_eq!(store.get("kept").unwrap().as_deref(), Some(&b"before"[..]));
        assert_eq!(store.get(&refused.0).unwrap(), None);
        assert_eq!(store.get("a").unwrap(), None);
        assert_eq!(store.keys_with_prefix("large/").unwrap().len(), written);
        println!("{DONE} after {written} writes: {}", refused.1);
        return;
    }
    let directory = temp_dir();
    let test = test_name("disk_write_errors_reach_the_caller_and_change_nothing");
    let binary = std::env::current_exe().expect("the test binary's path");
    // 1,024 blocks of 512 bytes: room for the database and a few writes.
    let output = Command::new("sh")
        .args(["-c", r#"trap "" XFSZ; ulimit -f 1024 && exec "$0" "$@""#])
        .arg(binary)
        .args([
            &test,
            "--exact",
            "--nocapture",
            "--test-threads=1",
            "--quiet",
        ])
        .env(LIMIT_ENV, directory.path())
        .output()
        .expect("run the child under a file-size limit");
    let report = output_text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains(DONE), "{report}");
    // Without the limit, the store opens and holds exactly what was kept.
    let store = open(directory.path());
    assert_eq!(store.get("kept").unwrap().as_deref(), Some(&b"before"[..]));
    assert_eq!(store.get("a").unwrap(), None);
    eprintln!(
        "{}",
        report
            .lines()
            .find(|line| line.contains(DONE))
            .unwrap_or("")
    );
}
