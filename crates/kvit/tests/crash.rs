//! Kill -9: a child process (this test binary again, running `crash_child`)
//! commits to a Disk store in a loop — random small changesets on `main`
//! through two cursors (so commits also three-way merge), side branches
//! created, committed to and deleted, rebases of `main`, full collections —
//! and writes each commit id to a log, synced, only after `commit` returned.
//! The parent kills it with SIGKILL at random moments, and at every named
//! failpoint (the child raises SIGKILL there itself, on the k-th hit). After
//! every kill the parent reopens the store and checks:
//!
//! - `verify` is clean and every branch's whole tree reads back: no head
//!   names a partial commit;
//! - every acknowledged commit is its branch's head or an ancestor of it,
//!   unless the log shows a reset of that branch begun after it: a rebase
//!   (then the head's history must hold that rebase's root) or a deletion.
//!
//! After a kill in a collection's sweep (and every tenth kill) the parent
//! also collects with zero grace and checks that no orphan is left: a later
//! collection finishes what the killed one started.
//!
//! `KVIT_CRASH_KILLS` (default 60) random kills and
//! `KVIT_CRASH_KILLS_PER_POINT` (default 5) kills per failpoint;
//! `KVIT_CRASH_SEED` replays a run. A table of the outcomes is printed.

// Signals and a forked-off child: Unix only.
#![cfg(unix)]
// A failed `unwrap` in a test is a test failure with a backtrace.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kvit::{
    clean_orphans, last_writer_wins, ChangeSet, CommitOptions, Disk, DiskOptions, Durability,
    Error, GcOptions, GcVersioned, KvStore, ObjectId, Versioned, FAILPOINTS,
};
use support::{soundness_problems, unreachable_objects, Rng};

const CHILD_DIR: &str = "KVIT_CRASH_CHILD_DIR";
const CHILD_SEED: &str = "KVIT_CRASH_CHILD_SEED";
const CHILD_POINT: &str = "KVIT_CRASH_CHILD_POINT";
const CHILD_HIT: &str = "KVIT_CRASH_CHILD_HIT";
/// Steps a child takes at most when waiting for a failpoint: if the point
/// has not been hit often enough by then, the attempt counts as not reached.
const CHILD_STEPS_AT_A_POINT: u64 = 1500;
const LOG_FILE: &str = "acks.log";
const STORE_DIR: &str = "store";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(default)
}

// ---- the child --------------------------------------------------------------

/// The child's entry point; in an ordinary test run it does nothing.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let seed = env_number(CHILD_SEED, 1);
    let point = std::env::var(CHILD_POINT).ok();
    if let Some(point) = &point {
        let hit = env_number(CHILD_HIT, 1);
        let hits = AtomicU64::new(0);
        fail::cfg_callback(point.clone(), move || {
            if hits.fetch_add(1, Ordering::SeqCst) + 1 == hit {
                // Dead on the spot: no unwinding, no destructors, no flush.
                let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            }
        })
        .unwrap();
    }
    let kv: Arc<dyn KvStore> = Arc::new(
        DiskOptions::new()
            .durability(Durability::Normal)
            .open(dir.join(STORE_DIR))
            .unwrap(),
    );
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(LOG_FILE))
        .unwrap();
    let mut world = World::open(kv, seed);
    let steps = if point.is_some() {
        CHILD_STEPS_AT_A_POINT
    } else {
        u64::MAX
    };
    // A bound in case no kill comes: the parent then reports the child.
    let deadline = Instant::now() + Duration::from_secs(120);
    for _ in 0..steps {
        if Instant::now() > deadline {
            break;
        }
        world.step(&mut log);
    }
}

/// Appends a line to the log and syncs it: only then is a commit acknowledged.
fn record(log: &mut File, line: &str) {
    log.write_all(format!("{line}\n").as_bytes()).unwrap();
    log.sync_data().unwrap();
}

/// The child's cursors and what it does with them.
struct World {
    kv: Arc<dyn KvStore>,
    rng: Rng,
    main: GcVersioned,
    /// A second cursor on `main`, refreshed only now and then: its commits
    /// three-way merge, sometimes into a rebased branch, sometimes from a
    /// commit a collection has removed.
    other: Versioned,
    sides: BTreeMap<String, Versioned>,
}

impl World {
    fn open(kv: Arc<dyn KvStore>, seed: u64) -> World {
        let main = GcOptions::new(i64::MAX)
            .orphan_grace(Duration::ZERO)
            .open(kv.clone())
            .unwrap();
        let mut world = World {
            other: Versioned::open(kv.clone()).unwrap(),
            kv,
            rng: Rng::new(seed),
            main,
            sides: BTreeMap::new(),
        };
        world.main.set_default_merge(last_writer_wins());
        world.other.set_default_merge(last_writer_wins());
        for index in 0..3 {
            let name = format!("side-{index}");
            if world.main.list_branches().unwrap().contains(&name) {
                let mut side = Versioned::options()
                    .branch(name.clone())
                    .open(world.kv.clone())
                    .unwrap();
                side.set_default_merge(last_writer_wins());
                world.sides.insert(name, side);
            }
        }
        world
    }

    fn changes(&mut self) -> ChangeSet {
        let mut set = ChangeSet::new();
        for _ in 0..self.rng.between(1, 4) {
            let key = format!("k{:02}", self.rng.below(40));
            if self.rng.chance(15) {
                set.remove(key).unwrap();
                continue;
            }
            // Half inline, half blobs.
            let len = if self.rng.chance(50) {
                self.rng.between(1, 60)
            } else {
                self.rng.between(65, 1500)
            };
            let byte = self.rng.below(256) as u8;
            set.set(key, vec![byte; len as usize]).unwrap();
        }
        set
    }

    fn step(&mut self, log: &mut File) {
        match self.rng.below(100) {
            0..=39 => {
                let set = self.changes();
                let result = self.main.commit(&set, &CommitOptions::new()).unwrap();
                assert!(result.merged);
                record(log, &format!("ack main {}", result.commit.unwrap()));
            }
            40..=59 => {
                if self.rng.chance(30) {
                    self.other.refresh().unwrap();
                }
                let set = self.changes();
                match self.other.commit(&set, &CommitOptions::new()) {
                    Ok(result) => {
                        assert!(result.merged);
                        record(log, &format!("ack main {}", result.commit.unwrap()));
                    }
                    // The commit it stands on was orphaned (by a rebase) and
                    // collected: the merge cannot read it, or the engine
                    // refuses to publish a history with a hole. Nothing lands.
                    Err(Error::MissingObject { .. }) => {
                        self.other.refresh().unwrap();
                    }
                    Err(err) => panic!("other: {err}"),
                }
            }
            60..=74 => {
                let name = format!("side-{}", self.rng.below(3));
                if !self.sides.contains_key(&name) {
                    self.main.refresh().unwrap();
                    let mut side = self.main.create_branch(&name).unwrap();
                    side.set_default_merge(last_writer_wins());
                    record(log, &format!("ack {name} {}", side.current_commit()));
                    self.sides.insert(name.clone(), side);
                }
                let set = self.changes();
                let side = self.sides.get_mut(&name).unwrap();
                let result = side.commit(&set, &CommitOptions::new()).unwrap();
                assert!(result.merged);
                record(log, &format!("ack {name} {}", result.commit.unwrap()));
            }
            75..=78 => {
                if let Some(name) = self.sides.keys().next().cloned() {
                    record(log, &format!("intent-delete {name}"));
                    self.sides.remove(&name);
                    assert!(self.main.delete_branch(&name).unwrap());
                }
            }
            79..=81 => {
                self.main.refresh().unwrap();
                let keys = self.main.keys().unwrap();
                let keep: Vec<&str> = keys
                    .iter()
                    .map(String::as_str)
                    .filter(|_| self.rng.chance(70))
                    .collect();
                let seq = self.rng.next();
                record(log, &format!("intent-rebase main {seq}"));
                let info = serde_json::json!({ "crash_rebase": seq.to_string() });
                let result = self.main.rebase(Some(&keep), Some(info)).unwrap();
                record(log, &format!("ack main {}", result.new_commit.unwrap()));
            }
            82..=90 => {
                clean_orphans(&*self.kv, Duration::ZERO).unwrap();
            }
            _ => {
                self.main.refresh().unwrap();
                if self.rng.chance(50) {
                    self.other.refresh().unwrap();
                }
            }
        }
    }
}

// ---- the parent -------------------------------------------------------------

/// How an attempt to kill a child ended.
enum Ended {
    Killed,
    /// The child finished its steps without reaching the failpoint often enough.
    NotReached,
}

fn spawn_child(dir: &Path, seed: u64, point: Option<(&str, u64)>) -> Child {
    let output = File::create(dir.join("child.out")).unwrap();
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_SEED, seed.to_string())
        .env_remove(CHILD_POINT)
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output);
    if let Some((point, hit)) = point {
        command
            .env(CHILD_POINT, point)
            .env(CHILD_HIT, hit.to_string());
    }
    command.spawn().unwrap()
}

fn wait_for(child: &mut Child, dir: &Path, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the child ran for {limit:?}: {}", child_output(dir));
        }
        thread::sleep(Duration::from_millis(2));
    }
}

fn child_output(dir: &Path) -> String {
    let bytes = std::fs::read(dir.join("child.out")).unwrap_or_default();
    let start = bytes.len().saturating_sub(4000);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

fn ended(status: ExitStatus, dir: &Path) -> Ended {
    match status.signal() {
        Some(9) => Ended::Killed,
        None if status.success() => Ended::NotReached,
        _ => panic!("the child failed ({status}): {}", child_output(dir)),
    }
}

/// One line of the printed table.
#[derive(Default)]
struct Row {
    mode: &'static str,
    point: String,
    attempts: u64,
    kills: u64,
    not_reached: u64,
    /// Distinct acknowledged commits in the log.
    acks: u64,
    /// Checks (after every kill, of every ack so far) that found an ack at
    /// or below its branch head, as required.
    acks_present: u64,
    /// Acks that the last check found gone after a later reset of their
    /// branch (a rebase or a deletion), as allowed.
    acks_reset: u64,
    lost: u64,
    unclean: u64,
    finishing_collections: u64,
    unfinished: u64,
    problems: Vec<String>,
}

/// The log's complete lines (a kill may cut the last one short).
fn log_lines(dir: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join(LOG_FILE)).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|line| line.split(' ').map(str::to_owned).collect())
        .collect()
}

/// A branch as the parent finds it: every commit its head reaches and the
/// sequence numbers of the rebases whose roots are among them.
struct BranchState {
    ancestry: HashSet<ObjectId>,
    rebases: BTreeSet<String>,
}

fn branch_states(kv: &Arc<dyn KvStore>) -> kvit::Result<BTreeMap<String, BranchState>> {
    let mut states = BTreeMap::new();
    for branch in Versioned::open(kv.clone())?.list_branches()? {
        let cursor = Versioned::options()
            .branch(branch.clone())
            .open(kv.clone())?;
        let history = cursor.history(None, true)?;
        let mut rebases = BTreeSet::new();
        for id in &history {
            if cursor.commit_object(*id)?.parents.is_empty() {
                if let Some(info) = cursor.commit_info(Some(*id))? {
                    if let Some(seq) = info["crash_rebase"].as_str() {
                        rebases.insert(seq.to_owned());
                    }
                }
            }
        }
        states.insert(
            branch,
            BranchState {
                ancestry: history.into_iter().collect(),
                rebases,
            },
        );
    }
    Ok(states)
}

/// Checks the store after a kill; every finding goes into `row`.
fn check_after_kill(dir: &Path, row: &mut Row, finish_collection: bool) {
    let kv: Arc<dyn KvStore> = Arc::new(Disk::open(dir.join(STORE_DIR)).unwrap());
    let problems = soundness_problems(&kv);
    if !problems.is_empty() {
        row.unclean += 1;
        row.problems.extend(problems);
    }
    let states = match branch_states(&kv) {
        Ok(states) => states,
        Err(err) => {
            row.unclean += 1;
            row.problems.push(format!("reading histories: {err}"));
            return;
        }
    };
    let lines = log_lines(dir);
    row.acks = lines.iter().filter(|line| line[0] == "ack").count() as u64;
    row.acks_reset = 0;
    // Per branch, the last line that began a reset which may have dropped
    // earlier acks: a deletion, or a rebase whose root the head now holds.
    let mut last_reset: BTreeMap<&str, usize> = BTreeMap::new();
    for (position, line) in lines.iter().enumerate() {
        let reset = match &line[..] {
            [verb, branch] if verb == "intent-delete" => Some(branch),
            [verb, branch, seq] if verb == "intent-rebase" => states
                .get(branch)
                .is_some_and(|state| state.rebases.contains(seq))
                .then_some(branch),
            _ => None,
        };
        if let Some(branch) = reset {
            last_reset.insert(branch, position);
        }
    }
    for (position, line) in lines.iter().enumerate() {
        let [verb, branch, id] = &line[..] else {
            continue;
        };
        if verb != "ack" {
            continue;
        }
        let id: ObjectId = id.parse().unwrap();
        if states
            .get(branch)
            .is_some_and(|state| state.ancestry.contains(&id))
        {
            row.acks_present += 1;
            continue;
        }
        if last_reset
            .get(branch.as_str())
            .is_some_and(|reset| *reset > position)
        {
            row.acks_reset += 1;
            continue;
        }
        row.lost += 1;
        row.problems
            .push(format!("acknowledged commit {id} of {branch} is lost"));
    }
    if finish_collection {
        row.finishing_collections += 1;
        let done = clean_orphans(&*kv, Duration::ZERO)
            .map(|_| (soundness_problems(&kv), unreachable_objects(&*kv)));
        match done {
            Ok((problems, (0, 0, 0))) if problems.is_empty() => {}
            Ok((problems, left)) => {
                row.unfinished += 1;
                row.problems.push(format!(
                    "finishing collection: {problems:?}, orphans left {left:?}"
                ));
            }
            Err(err) => {
                row.unfinished += 1;
                row.problems.push(format!("finishing collection: {err}"));
            }
        }
    }
}

/// The largest k for "die at the k-th hit": about how often a child reaches
/// the point in its first few hundred steps, so kills land at varied depths.
fn max_hit(point: &str) -> u64 {
    match point {
        "gc::mark" => 40,
        "gc::sweep" => 8,
        "gc::rebase-before-head" => 4,
        point if point.starts_with("merge::") => 12,
        _ => 30,
    }
}

#[test]
fn kill_nine() {
    let random_kills = env_number("KVIT_CRASH_KILLS", 60);
    let per_point = env_number("KVIT_CRASH_KILLS_PER_POINT", 5);
    let seed = env_number("KVIT_CRASH_SEED", support::clock_seed());
    println!("kill -9 harness: seed {seed} (KVIT_CRASH_SEED replays it)");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut rows = Vec::new();

    let dir = tempfile::tempdir().unwrap();
    let mut row = Row {
        mode: "random moment",
        point: "(anywhere)".to_owned(),
        ..Row::default()
    };
    while row.kills < random_kills {
        row.attempts += 1;
        let mut child = spawn_child(dir.path(), rng.next(), None);
        thread::sleep(Duration::from_millis(rng.between(10, 400)));
        child.kill().unwrap();
        let status = wait_for(&mut child, dir.path(), Duration::from_secs(60));
        match ended(status, dir.path()) {
            Ended::Killed => row.kills += 1,
            Ended::NotReached => {
                panic!("the child stopped by itself: {}", child_output(dir.path()))
            }
        }
        let finish = row.kills.is_multiple_of(10);
        check_after_kill(dir.path(), &mut row, finish);
    }
    rows.push(row);

    for point in FAILPOINTS {
        let dir = tempfile::tempdir().unwrap();
        let mut row = Row {
            mode: "failpoint",
            point: (*point).to_owned(),
            ..Row::default()
        };
        while row.kills < per_point {
            row.attempts += 1;
            assert!(
                row.attempts <= per_point * 5 + 5,
                "{point}: reached in only {} of {} attempts",
                row.kills,
                row.attempts
            );
            let hit = rng.between(1, max_hit(point));
            let mut child = spawn_child(dir.path(), rng.next(), Some((point, hit)));
            let status = wait_for(&mut child, dir.path(), Duration::from_secs(120));
            match ended(status, dir.path()) {
                Ended::Killed => row.kills += 1,
                Ended::NotReached => row.not_reached += 1,
            }
            let finish = *point == "gc::sweep" || row.kills.is_multiple_of(10);
            check_after_kill(dir.path(), &mut row, finish);
        }
        rows.push(row);
    }
    print_table(&rows, started.elapsed());
    let problems: Vec<&String> = rows.iter().flat_map(|row| &row.problems).collect();
    assert!(problems.is_empty(), "{problems:#?}");
}

fn print_table(rows: &[Row], elapsed: Duration) {
    let mut out = String::new();
    out.push_str(
        "| mode | failpoint | kills | not reached | acks | presence checks passed | \
         acks reset later | lost | unclean verifies | finishing GCs (unfinished) |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    let mut total = Row::default();
    for row in rows {
        writeln!(
            out,
            "| {} | `{}` | {} | {} | {} | {} | {} | {} | {} | {} ({}) |",
            row.mode,
            row.point,
            row.kills,
            row.not_reached,
            row.acks,
            row.acks_present,
            row.acks_reset,
            row.lost,
            row.unclean,
            row.finishing_collections,
            row.unfinished
        )
        .unwrap();
        total.kills += row.kills;
        total.not_reached += row.not_reached;
        total.acks += row.acks;
        total.acks_present += row.acks_present;
        total.acks_reset += row.acks_reset;
        total.lost += row.lost;
        total.unclean += row.unclean;
        total.finishing_collections += row.finishing_collections;
        total.unfinished += row.unfinished;
    }
    writeln!(
        out,
        "| **total** | | {} | {} | {} | {} | {} | {} | {} | {} ({}) |",
        total.kills,
        total.not_reached,
        total.acks,
        total.acks_present,
        total.acks_reset,
        total.lost,
        total.unclean,
        total.finishing_collections,
        total.unfinished
    )
    .unwrap();
    println!("{out}kill -9 harness: {:.0} s", elapsed.as_secs_f64());
}
