//! The lost-updates harness: N writer processes each commit M increments of
//! one counter through the `counter` merge function on one store. The
//! counter must end at exactly N × M, the store must verify clean, and no
//! writer may see any error but a lost race (`Error::Concurrency`, which it
//! answers by refreshing and retrying): a raw backend error such as SQLite's
//! "database is locked" reaching a caller fails the run.
//!
//! ```text
//! lost-updates [--processes 2,4,8] [--commits 250] [--backends disk,redis,postgres]
//! ```
//!
//! Disk runs in a temporary directory. Redis and PostgreSQL run on the
//! servers named by `KVIT_REDIS_URL` and `KVIT_POSTGRES_URL` (under a
//! scratch key prefix and in a scratch table, removed afterwards) and are
//! skipped, saying so, when those are unset; `make lost-updates` starts
//! loopback servers first. Prints one Markdown table row per run; exits
//! non-zero if any run lost an update or let an error through.
//!
//! The writers are this program run again with their orders in
//! `KVIT_LOST_UPDATES_CHILD`; each opens its own connection, says it is
//! ready, waits for the go signal so that all start together, and reports
//! its retries.

// "SQLite" and "PostgreSQL" are names, not code to put in backticks.
#![allow(clippy::doc_markdown)]

use std::process::{Child, Command, ExitCode, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvit::testing::counter_race;
use kvit::{counter, Disk, KvStore, Strategy, Versioned};
use kvit_postgres::PostgresOptions;
use kvit_redis::RedisOptions;

const CHILD_ENV: &str = "KVIT_LOST_UPDATES_CHILD";
/// Backend keys outside kvit's own layout, for the start signal.
const GO_KEY: &str = "harness/go";
const READY_PREFIX: &str = "harness/ready/";
/// What a writer prints before its figures.
const REPORT_MARKER: &str = "lost-updates-report:";
const START_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Disk,
    Redis,
    Postgres,
}

impl Backend {
    const ALL: [Backend; 3] = [Backend::Disk, Backend::Redis, Backend::Postgres];

    fn name(self) -> &'static str {
        match self {
            Backend::Disk => "disk",
            Backend::Redis => "redis",
            Backend::Postgres => "postgres",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|backend| backend.name() == name)
    }

    /// The environment variable naming the server, for network backends.
    fn url_env(self) -> Option<&'static str> {
        match self {
            Backend::Disk => None,
            Backend::Redis => Some("KVIT_REDIS_URL"),
            Backend::Postgres => Some("KVIT_POSTGRES_URL"),
        }
    }

    /// Opens the store at `place`: a directory, a key prefix or a table.
    fn open(self, place: &str) -> kvit::Result<Arc<dyn KvStore>> {
        let url = || {
            let name = self.url_env().unwrap_or_default();
            std::env::var(name)
                .map_err(|_| kvit::Error::InvalidArgument(format!("{name} is not set")))
        };
        Ok(match self {
            Backend::Disk => Arc::new(Disk::open(place)?),
            Backend::Redis => Arc::new(RedisOptions::new(url()?).prefix(place).open()?),
            Backend::Postgres => Arc::new(PostgresOptions::new(url()?).table(place).open()?),
        })
    }
}

struct Options {
    processes: Vec<usize>,
    commits: usize,
    backends: Vec<Backend>,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        processes: vec![2, 4, 8],
        commits: 250,
        backends: Backend::ALL.to_vec(),
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let numbers = || -> Result<Vec<usize>, String> {
            value
                .split(',')
                .map(|part| match part.trim().parse() {
                    Ok(number) if number > 0 => Ok(number),
                    _ => Err(format!("{flag}: {part:?} is not a positive number")),
                })
                .collect()
        };
        match flag.as_str() {
            "--processes" => options.processes = numbers()?,
            "--commits" => {
                let [commits] = numbers()?[..] else {
                    return Err("--commits takes one number".to_owned());
                };
                options.commits = commits;
            }
            "--backends" => {
                options.backends = value
                    .split(',')
                    .map(|name| {
                        Backend::parse(name.trim())
                            .ok_or_else(|| format!("unknown backend {name:?}"))
                    })
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    Ok(options)
}

// ---- a writer -----------------------------------------------------------

/// Runs one writer with orders `<backend>,<place>,<id>,<commits>`.
fn writer(orders: &str) -> Result<(), String> {
    let mut parts = orders.splitn(4, ',');
    let mut next = |what: &str| {
        parts
            .next()
            .ok_or_else(|| format!("orders {orders:?} lack the {what}"))
    };
    let backend = next("backend")?;
    let backend = Backend::parse(backend).ok_or_else(|| format!("unknown backend {backend}"))?;
    let place = next("place")?.to_owned();
    let id = next("id")?.to_owned();
    let commits: usize = next("commit count")?
        .parse()
        .map_err(|_| format!("orders {orders:?}: bad commit count"))?;

    let fail = |what: &str, error: kvit::Error| format!("writer {id}: {what}: {error}");
    let kv = backend.open(&place).map_err(|error| fail("open", error))?;
    let mut cursor = Versioned::open(kv.clone()).map_err(|error| fail("open cursor", error))?;
    cursor.set_merge_fn(counter_race::COUNTER_KEY, counter());
    kv.set(&format!("{READY_PREFIX}{id}"), b"")
        .map_err(|error| fail("say ready", error))?;
    let deadline = Instant::now() + START_TIMEOUT;
    while !kv.contains(GO_KEY).map_err(|error| fail("wait", error))? {
        if Instant::now() > deadline {
            return Err(format!("writer {id}: the go signal never came"));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // `increment` panics on any error but a lost race, which ends this
    // process with the error on stderr for the parent to report.
    let (mut total, mut most, mut merged) = (0, 0, 0);
    for _ in 0..commits {
        let retries = counter_race::increment(&mut cursor);
        total += retries;
        most = most.max(retries);
        if cursor
            .last_merge_result()
            .is_some_and(|result| result.strategy == Strategy::ThreeWay)
        {
            merged += 1;
        }
    }
    println!("{REPORT_MARKER}{total},{most},{merged}");
    Ok(())
}

// ---- one run ------------------------------------------------------------

/// A store made for one run, removed when dropped.
struct Scratch {
    backend: Backend,
    place: String,
    _directory: Option<tempfile::TempDir>,
}

impl Scratch {
    fn new(backend: Backend, processes: usize) -> Result<Self, String> {
        let pid = std::process::id();
        let (place, directory) = match backend {
            Backend::Disk => {
                let directory = tempfile::tempdir().map_err(|error| error.to_string())?;
                (directory.path().display().to_string(), Some(directory))
            }
            Backend::Redis => (format!("kvit-lost-updates:{pid}:{processes}:"), None),
            Backend::Postgres => (format!("kvit_lost_updates_{pid}_{processes}"), None),
        };
        let scratch = Scratch {
            backend,
            place,
            _directory: directory,
        };
        scratch.remove();
        Ok(scratch)
    }

    fn remove(&self) {
        match self.backend {
            Backend::Disk => {}
            Backend::Redis => {
                if let Ok(kv) = self.backend.open(&self.place) {
                    if let Err(error) = kv.clear() {
                        eprintln!("cannot clear Redis prefix {}: {error}", self.place);
                    }
                }
            }
            Backend::Postgres => {
                let Ok(url) = std::env::var("KVIT_POSTGRES_URL") else {
                    return;
                };
                let dropped =
                    postgres::Client::connect(&url, postgres::NoTls).and_then(|mut client| {
                        client.batch_execute(&format!("DROP TABLE IF EXISTS \"{}\"", self.place))
                    });
                if let Err(error) = dropped {
                    eprintln!("cannot drop PostgreSQL table {}: {error}", self.place);
                }
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.remove();
    }
}

/// What one run measured.
struct Row {
    backend: Backend,
    processes: usize,
    commits_each: usize,
    counter: i64,
    retries: usize,
    most_retries: usize,
    three_way: usize,
    elapsed: Duration,
}

impl Row {
    fn expected(&self) -> i64 {
        i64::try_from(self.processes * self.commits_each).unwrap_or(i64::MAX)
    }

    fn print(&self) {
        let commits = self.processes * self.commits_each;
        let as_float = |count: usize| f64::from(u32::try_from(count).unwrap_or(u32::MAX));
        println!(
            "| {} | {} | {} | {} | {} | {:.0}% | {:.2} | {} | {:.1} | {:.0} |",
            self.backend.name(),
            self.processes,
            commits,
            self.counter,
            self.expected() - self.counter,
            100.0 * as_float(self.three_way) / as_float(commits),
            as_float(self.retries) / as_float(commits),
            self.most_retries,
            self.elapsed.as_secs_f64(),
            as_float(commits) / self.elapsed.as_secs_f64(),
        );
    }
}

fn failure_text(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut text = format!("{}: {}{}", output.status, stdout.trim(), stderr.trim());
    if stderr.contains("database is locked") {
        text.insert_str(0, "SQLite's \"database is locked\" reached a writer: ");
    }
    text
}

fn run(backend: Backend, processes: usize, commits_each: usize) -> Result<Row, String> {
    let scratch = Scratch::new(backend, processes)?;
    let open = || {
        backend
            .open(&scratch.place)
            .map_err(|error| error.to_string())
    };
    let kv = open()?;
    // Create the branch first, so the writers race on commits, not on setup.
    drop(Versioned::open(kv.clone()).map_err(|error| error.to_string())?);
    let program = std::env::current_exe().map_err(|error| error.to_string())?;
    let children = (0..processes)
        .map(|id| {
            Command::new(&program)
                .env(
                    CHILD_ENV,
                    format!("{},{},{id},{commits_each}", backend.name(), scratch.place),
                )
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|error| format!("cannot start a writer: {error}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let ready = kv
            .keys_with_prefix(READY_PREFIX)
            .map_err(|error| error.to_string())?;
        if ready.len() == processes {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("{} of {processes} writers got ready", ready.len()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    kv.set(GO_KEY, b"").map_err(|error| error.to_string())?;
    let outputs: Vec<Output> = children
        .into_iter()
        .map(Child::wait_with_output)
        .collect::<Result<_, _>>()
        .map_err(|error| format!("cannot wait for a writer: {error}"))?;
    let elapsed = started.elapsed();

    let (mut retries, mut most_retries, mut three_way) = (0, 0, 0);
    for output in &outputs {
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report = stdout
            .lines()
            .find_map(|line| line.strip_prefix(REPORT_MARKER))
            .filter(|_| output.status.success())
            .ok_or_else(|| format!("a writer failed: {}", failure_text(output)))?;
        let figures: Vec<usize> = report
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| format!("a writer reported {report:?}"))?;
        let [total, most, merged] = figures[..] else {
            return Err(format!("a writer reported {report:?}"));
        };
        retries += total;
        most_retries = most_retries.max(most);
        three_way += merged;
    }

    let report = kvit::verify(&*kv).map_err(|error| error.to_string())?;
    if !report.is_clean() {
        return Err(format!("the store does not verify: {report}"));
    }
    Ok(Row {
        backend,
        processes,
        commits_each,
        counter: counter_race::value(kv),
        retries,
        most_retries,
        three_way,
        elapsed,
    })
}

fn main() -> ExitCode {
    if let Ok(orders) = std::env::var(CHILD_ENV) {
        return match writer(&orders) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{error}");
                ExitCode::FAILURE
            }
        };
    }
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("lost-updates: {error}");
            eprintln!(
                "usage: lost-updates [--processes 2,4,8] [--commits 250] \
                 [--backends disk,redis,postgres]"
            );
            return ExitCode::from(2);
        }
    };
    println!(
        "| backend | writers | commits | counter | lost | three-way | retries/commit | max retries | seconds | commits/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut failed = false;
    for &backend in &options.backends {
        if let Some(name) = backend.url_env() {
            if std::env::var_os(name).is_none() {
                eprintln!("{}: skipped, {name} is not set", backend.name());
                continue;
            }
        }
        for &processes in &options.processes {
            match run(backend, processes, options.commits) {
                Ok(row) => {
                    row.print();
                    if row.counter != row.expected() {
                        eprintln!(
                            "{} with {processes} writers LOST {} updates",
                            backend.name(),
                            row.expected() - row.counter
                        );
                        failed = true;
                    }
                }
                Err(error) => {
                    eprintln!(
                        "{} with {processes} writers FAILED: {error}",
                        backend.name()
                    );
                    failed = true;
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn defaults_are_the_documented_run() {
        let options = parse(&[]).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(options.processes, [2, 4, 8]);
        assert_eq!(options.commits, 250);
        assert_eq!(options.backends, Backend::ALL);
    }

    #[test]
    fn options_are_read_and_checked() {
        let options = parse(&[
            "--processes",
            "3",
            "--commits",
            "10",
            "--backends",
            "disk,redis",
        ])
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(options.processes, [3]);
        assert_eq!(options.commits, 10);
        assert_eq!(options.backends, [Backend::Disk, Backend::Redis]);
        for bad in [
            &["--processes", "0"][..],
            &["--commits", "1,2"],
            &["--backends", "mongo"],
            &["--commits"],
            &["--verbose", "1"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
