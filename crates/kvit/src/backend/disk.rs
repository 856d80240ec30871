//! The SQLite-backed disk backend: one directory, one database file, shared by
//! any number of threads and processes.
//!
//! SQLite gives what the contract needs from one bundled library: transactions
//! that are atomic across processes (so `cas` is), crash safety through its
//! write-ahead log, and ordered range scans on the primary key.

// "SQLite" is a name, not code to put in backticks.
#![allow(clippy::doc_markdown)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::config::DbConfig;
use rusqlite::{
    params, Connection, ErrorCode, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};

use super::{prefix_upper_bound, KvStore};
use crate::error::{Error, Result};

/// The database file inside the store directory.
const DATABASE_FILE: &str = "kvit.sqlite3";

/// The table layout this build reads and writes, recorded in `PRAGMA user_version`
/// (0 means a database nobody has set up yet).
const FORMAT_VERSION: u32 = 1;

const DEFAULT_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// SQLite takes its busy timeout in milliseconds as a C `int`.
const MAX_BUSY_TIMEOUT: Duration = Duration::from_millis(0x7FFF_FFFF);

/// The longest pause between two attempts to start a transaction that SQLite
/// reported busy without waiting (see [`retry_while_busy`]).
const MAX_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// A write-ahead log inflated by one large transaction is cut back to this size
/// when it is next reset, so the directory does not keep the peak size forever.
const JOURNAL_SIZE_LIMIT: &str = "PRAGMA journal_size_limit = 67108864";

const CREATE_TABLE: &str =
    "CREATE TABLE kv (key TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) WITHOUT ROWID";
const GET: &str = "SELECT value FROM kv WHERE key = ?1";
const CONTAINS: &str = "SELECT EXISTS (SELECT 1 FROM kv WHERE key = ?1)";
const UPSERT: &str = "INSERT INTO kv (key, value) VALUES (?1, ?2) \
                      ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const INSERT_IF_ABSENT: &str =
    "INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING";
const UPDATE_IF_EQUAL: &str = "UPDATE kv SET value = ?2 WHERE key = ?1 AND value = ?3";
const DELETE: &str = "DELETE FROM kv WHERE key = ?1";
const DELETE_ALL: &str = "DELETE FROM kv";
const DELETE_IF_UNCHANGED: &str = "DELETE FROM kv WHERE key = ?1 AND value = ?2";
// Prefix scans are ranges on the primary key: `key >= prefix AND key < upper`,
// or an open-ended range when the prefix has no upper bound. SQLite compares
// TEXT with memcmp, which on UTF-8 is code point order, the order the trait
// promises.
const KEYS_IN_RANGE: &str = "SELECT key FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key";
const KEYS_FROM: &str = "SELECT key FROM kv WHERE key >= ?1 ORDER BY key";
const ITEMS_IN_RANGE: &str = "SELECT key, value FROM kv WHERE key >= ?1 AND key < ?2 ORDER BY key";
const ITEMS_FROM: &str = "SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key";

/// How hard a commit is pushed to stable storage before it returns.
///
/// Both levels keep the database consistent after any crash; they differ in
/// whether the newest commits survive a power loss.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Durability {
    /// SQLite `synchronous=FULL`: every commit is synced to disk before it
    /// returns, so it survives a process crash, an OS crash and a power loss.
    #[default]
    Full,
    /// SQLite `synchronous=NORMAL`: faster commits that survive a process crash,
    /// but the last commits before an OS crash or power loss may be lost
    /// (rolled back, never half-applied).
    Normal,
}

impl Durability {
    fn pragma(self) -> &'static str {
        match self {
            Durability::Full => "PRAGMA synchronous = FULL",
            Durability::Normal => "PRAGMA synchronous = NORMAL",
        }
    }
}

/// Options for opening a [`Disk`] store; finish with [`DiskOptions::open`].
///
/// ```no_run
/// use std::time::Duration;
/// use kvit::{DiskOptions, Durability};
///
/// let store = DiskOptions::new()
///     .durability(Durability::Normal)
///     .busy_timeout(Duration::from_secs(5))
///     .open("data/store")?;
/// # Ok::<(), kvit::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct DiskOptions {
    durability: Durability,
    busy_timeout: Duration,
}

impl Default for DiskOptions {
    fn default() -> Self {
        DiskOptions {
            durability: Durability::Full,
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
        }
    }
}

impl DiskOptions {
    /// The defaults: [`Durability::Full`] and a 30 second busy timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// How hard commits are pushed to disk; [`Durability::Full`] by default.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// How long an operation waits for other processes' write transactions
    /// before it fails; 30 seconds by default. Values above about 24 days are
    /// capped; zero makes a locked database fail at once.
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout.min(MAX_BUSY_TIMEOUT);
        self
    }

    /// Opens (creating if needed) the store in directory `path`.
    ///
    /// The directory is created if missing; the data lives in one SQLite file,
    /// `kvit.sqlite3`, inside it (with SQLite's `-wal` and `-shm` files beside it).
    ///
    /// # Errors
    /// [`Error::InvalidStore`] when `path` is not a usable directory or its
    /// database file is not a kvit SQLite database; [`Error::UnsupportedFormat`]
    /// when the store was written by a newer kvit; [`Error::Backend`] when SQLite
    /// fails otherwise.
    pub fn open(self, path: impl AsRef<Path>) -> Result<Disk> {
        let directory = path.as_ref().to_path_buf();
        prepare_directory(&directory)?;
        let database = directory.join(DATABASE_FILE);
        let connection = connect(&directory, &database, &self)?;
        let owned = OwnedConnection {
            pid: std::process::id(),
            connection: Some(connection),
            closed: false,
        };
        Ok(Disk {
            shared: Arc::new(Shared {
                directory,
                database,
                options: self,
                connection: Mutex::new(owned),
            }),
        })
    }
}

/// A store on local disk, in one SQLite database inside a directory.
///
/// Any number of threads (through clones of one handle) and processes may use
/// the same directory at once: every write is one SQLite transaction, begun
/// with `BEGIN IMMEDIATE` so writers queue for the lock instead of failing
/// halfway, and [`KvStore::cas`] reads, compares and writes inside one such
/// transaction. Other processes' write transactions are waited out up to the
/// busy timeout.
///
/// The journal is SQLite's write-ahead log, so readers never block the writer.
/// Commits are synced to disk as [`Durability`] says.
///
/// A handle survives `fork`: a child process that uses an inherited handle
/// opens its own connection (SQLite connections must not cross `fork`) and
/// leaves the inherited one untouched. Fork only while no thread is inside a
/// call on the handle. For the same reason the write-ahead log is not
/// checkpointed and deleted when the last handle closes: the `-wal` and `-shm`
/// files stay beside the database, and the log is checkpointed as it grows.
///
/// Cloning gives another handle on the same connection; [`Disk::close`]
/// closes it for every clone.
#[derive(Clone)]
pub struct Disk {
    shared: Arc<Shared>,
}

struct Shared {
    directory: PathBuf,
    database: PathBuf,
    options: DiskOptions,
    connection: Mutex<OwnedConnection>,
}

/// A connection and the process that opened it.
struct OwnedConnection {
    pid: u32,
    // `None` once closed, or while being dropped in a process that did not
    // open it.
    connection: Option<Connection>,
    /// Set by [`Disk::close`]: from then on every call fails, and the
    /// connection is never reopened.
    closed: bool,
}

impl Drop for OwnedConnection {
    fn drop(&mut self) {
        if self.pid != std::process::id() {
            // Closing a connection inherited through fork would run SQLite's
            // cleanup (rollback, checkpoint, deleting the write-ahead log) on
            // state that belongs to the parent; leaking it is the safe choice.
            if let Some(inherited) = self.connection.take() {
                std::mem::forget(inherited);
            }
        }
    }
}

/// The effective SQLite settings of a [`Disk`] connection, read back from SQLite.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DiskPragmas {
    /// `PRAGMA journal_mode`, lower case: `"wal"` for every kvit store.
    pub journal_mode: String,
    /// `PRAGMA synchronous` by name: `"FULL"` or `"NORMAL"` for kvit's
    /// [`Durability`] levels (`"OFF"` and `"EXTRA"` are SQLite's others).
    pub synchronous: String,
    /// `PRAGMA busy_timeout`.
    pub busy_timeout: Duration,
}

impl Disk {
    /// Opens (creating if needed) the store in directory `path` with the
    /// default [`DiskOptions`].
    ///
    /// # Errors
    /// As [`DiskOptions::open`].
    pub fn open(path: impl AsRef<Path>) -> Result<Disk> {
        DiskOptions::new().open(path)
    }

    /// The store directory, as given when opening.
    pub fn path(&self) -> &Path {
        &self.shared.directory
    }

    /// The SQLite database file inside the store directory.
    pub fn database_path(&self) -> &Path {
        &self.shared.database
    }

    /// The durability commits are made with.
    pub fn durability(&self) -> Durability {
        self.shared.options.durability
    }

    /// How long an operation waits out other processes' writes before failing.
    pub fn busy_timeout(&self) -> Duration {
        self.shared.options.busy_timeout
    }

    /// The settings SQLite reports for this handle's connection.
    ///
    /// # Errors
    /// A SQLite failure.
    pub fn pragmas(&self) -> Result<DiskPragmas> {
        self.with_connection("read pragmas", |connection| {
            let journal_mode: String =
                connection.query_row("PRAGMA journal_mode", [], |row| row.get(0))?;
            let synchronous: i64 =
                connection.query_row("PRAGMA synchronous", [], |row| row.get(0))?;
            let busy_timeout: i64 =
                connection.query_row("PRAGMA busy_timeout", [], |row| row.get(0))?;
            Ok(DiskPragmas {
                journal_mode: journal_mode.to_ascii_lowercase(),
                synchronous: match synchronous {
                    0 => "OFF".to_owned(),
                    1 => "NORMAL".to_owned(),
                    2 => "FULL".to_owned(),
                    3 => "EXTRA".to_owned(),
                    other => other.to_string(),
                },
                busy_timeout: Duration::from_millis(u64::try_from(busy_timeout).unwrap_or(0)),
            })
        })
    }

    /// Closes the store: its SQLite connection is closed now rather than
    /// when the last handle is dropped, and from then on every call on this
    /// handle and its clones fails with [`Error::Closed`] — the store is
    /// never reopened behind the caller's back (open it again with
    /// [`Disk::open`]). Cursors over it fail the same way on everything they
    /// ask of it; what they already hold in memory (cached nodes and
    /// commits) they still answer from. Waits for a call running on another
    /// thread to finish. Closing a closed store does nothing.
    ///
    /// # Errors
    /// [`Error::Backend`] if SQLite reports a failure while closing; the
    /// store is closed all the same.
    pub fn close(&self) -> Result<()> {
        let mut owned = self.lock();
        owned.closed = true;
        let Some(connection) = owned.connection.take() else {
            return Ok(());
        };
        if owned.pid != std::process::id() {
            // See `Drop`: an inherited connection is never closed.
            std::mem::forget(connection);
            return Ok(());
        }
        connection
            .close()
            .map_err(|(_, error)| Error::backend("close", error))
    }

    /// Whether [`Disk::close`] was called on this handle or a clone.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn lock(&self) -> MutexGuard<'_, OwnedConnection> {
        // Every use of the connection either finishes its transaction or drops
        // it (rolling back), even when unwinding, so a poisoned lock still
        // guards a usable connection.
        self.shared
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` on this process's connection, again while SQLite reports
    /// the database busy, up to the busy timeout.
    fn with_connection<T>(
        &self,
        operation: &'static str,
        mut work: impl FnMut(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut owned = self.lock();
        let connection = owned.for_this_process(&self.shared)?;
        retry_while_busy(self.shared.options.busy_timeout, || work(connection))
            .map_err(|error| Error::backend(operation, error))
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction and commits it.
    fn write<T>(
        &self,
        operation: &'static str,
        mut work: impl FnMut(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.with_connection(operation, |connection| {
            // IMMEDIATE takes the write lock up front: a transaction that only
            // upgraded to writing after reading could find the snapshot it read
            // outdated and fail with SQLITE_BUSY_SNAPSHOT, which waiting cannot cure.
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let outcome = work(&transaction)?;
            transaction.commit()?;
            Ok(outcome)
        })
    }

    fn scan<T>(
        &self,
        operation: &'static str,
        prefix: &str,
        (in_range, from): (&str, &str),
        row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>> {
        let upper = prefix_upper_bound(prefix);
        self.with_connection(operation, |connection| match &upper {
            Some(upper) => connection
                .prepare_cached(in_range)?
                .query_map(params![prefix, upper], &row)?
                .collect(),
            None => connection
                .prepare_cached(from)?
                .query_map(params![prefix], &row)?
                .collect(),
        })
    }
}

impl OwnedConnection {
    /// The connection, reopened first if this process is a fork of the one
    /// that opened it.
    fn for_this_process(&mut self, shared: &Shared) -> Result<&mut Connection> {
        let closed = || Error::Closed {
            store: format!("Disk store at {:?}", shared.directory.display().to_string()),
        };
        if self.closed {
            return Err(closed());
        }
        let pid = std::process::id();
        if self.pid != pid || self.connection.is_none() {
            let fresh = connect(&shared.directory, &shared.database, &shared.options)?;
            if let Some(inherited) = self.connection.replace(fresh) {
                // See `Drop`: an inherited connection is never closed.
                std::mem::forget(inherited);
            }
            self.pid = pid;
        }
        self.connection.as_mut().ok_or_else(closed)
    }
}

impl fmt::Debug for Disk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Disk")
            .field("path", &self.shared.directory)
            .field("durability", &self.shared.options.durability)
            .field("busy_timeout", &self.shared.options.busy_timeout)
            .finish_non_exhaustive()
    }
}

impl KvStore for Disk {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.with_connection("get", |connection| {
            connection
                .prepare_cached(GET)?
                .query_row([key], |row| row.get(0))
                .optional()
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.write("set", |transaction| {
            transaction
                .prepare_cached(UPSERT)?
                .execute(params![key, value])
                .map(drop)
        })
    }

    fn remove(&self, key: &str) -> Result<()> {
        self.write("remove", |transaction| {
            transaction.prepare_cached(DELETE)?.execute([key]).map(drop)
        })
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        // One statement compares and writes, inside a transaction that holds
        // the write lock, so no other process can write between the two.
        self.write("cas", |transaction| {
            let changed = match expected {
                None => transaction
                    .prepare_cached(INSERT_IF_ABSENT)?
                    .execute(params![key, value])?,
                Some(expected) => transaction
                    .prepare_cached(UPDATE_IF_EQUAL)?
                    .execute(params![key, value, expected])?,
            };
            Ok(changed == 1)
        })
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.scan(
            "keys_with_prefix",
            prefix,
            (KEYS_IN_RANGE, KEYS_FROM),
            |row| row.get(0),
        )
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.scan("scan_prefix", prefix, (ITEMS_IN_RANGE, ITEMS_FROM), |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        // One read transaction: every value comes from the same snapshot.
        self.with_connection("get_many", |connection| {
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let values = {
                let mut statement = transaction.prepare_cached(GET)?;
                keys.iter()
                    .map(|key| statement.query_row([key], |row| row.get(0)).optional())
                    .collect::<rusqlite::Result<Vec<_>>>()?
            };
            transaction.commit()?;
            Ok(values)
        })
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.write("set_many", |transaction| {
            let mut statement = transaction.prepare_cached(UPSERT)?;
            for (key, value) in entries {
                statement.execute(params![key, value])?;
            }
            Ok(())
        })
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.write("remove_many", |transaction| {
            let mut statement = transaction.prepare_cached(DELETE)?;
            for key in keys {
                statement.execute([key])?;
            }
            Ok(())
        })
    }

    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        if entries.is_empty() {
            return Ok(0);
        }
        self.write("remove_if_unchanged", |transaction| {
            let mut statement = transaction.prepare_cached(DELETE_IF_UNCHANGED)?;
            let mut removed = 0;
            for (key, expected) in entries {
                removed += statement.execute(rusqlite::params![key, expected])?;
            }
            Ok(removed)
        })
    }

    fn contains(&self, key: &str) -> Result<bool> {
        self.with_connection("contains", |connection| {
            connection
                .prepare_cached(CONTAINS)?
                .query_row([key], |row| row.get(0))
        })
    }

    fn clear(&self) -> Result<()> {
        self.write("clear", |transaction| {
            transaction.execute(DELETE_ALL, []).map(drop)
        })
    }
}

/// Makes sure `directory` is a directory, creating it if missing.
fn prepare_directory(directory: &Path) -> Result<()> {
    let invalid = |reason: String| invalid_store(directory, reason);
    match std::fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(metadata) if metadata.is_file() => {
            Err(invalid("it is a regular file, not a directory".to_owned()))
        }
        Ok(_) => Err(invalid("it is not a directory".to_owned())),
        // Missing, or not reachable (a file or an unreadable directory on the
        // way): creating it either works or says what is wrong.
        Err(_) => std::fs::create_dir_all(directory)
            .map_err(|error| invalid(format!("cannot create the directory: {error}"))),
    }
}

fn invalid_store(directory: &Path, reason: String) -> Error {
    Error::InvalidStore {
        path: directory.display().to_string(),
        reason,
    }
}

/// Opens and configures a connection, setting up the schema on a new database.
fn connect(directory: &Path, database: &Path, options: &DiskOptions) -> Result<Connection> {
    let failed = |error: rusqlite::Error| open_error(directory, error);
    let connection = Connection::open_with_flags(
        database,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    connection
        .busy_timeout(options.busy_timeout)
        .map_err(failed)?;
    // SQLite's last connection to close checkpoints and deletes the
    // write-ahead log. It decides it is the last by taking a file lock that a
    // forked child's connection may not really hold (SQLite's per-process lock
    // bookkeeping is copied by fork), so it could delete a log the child is
    // still writing to. Without the close-time checkpoint the log stays; it is
    // checkpointed as it grows instead.
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(failed)?;
    let journal_mode: String = retry_while_busy(options.busy_timeout, || {
        connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
    })
    .map_err(failed)?;
    if !journal_mode.eq_ignore_ascii_case("wal") {
        return Err(invalid_store(
            directory,
            format!(
                "SQLite cannot use write-ahead logging for {} (journal mode is {journal_mode})",
                database.display()
            ),
        ));
    }
    connection
        .execute_batch(options.durability.pragma())
        .map_err(failed)?;
    connection
        .execute_batch(JOURNAL_SIZE_LIMIT)
        .map_err(failed)?;
    let mut connection = connection;
    let format = retry_while_busy(options.busy_timeout, || set_up_schema(&mut connection))
        .map_err(failed)?;
    match format {
        Format::Current => Ok(connection),
        Format::Foreign => Err(invalid_store(
            directory,
            format!(
                "{} is a SQLite database but not a kvit store (it has tables but no kvit format version)",
                database.display()
            ),
        )),
        Format::Other(found) => Err(Error::UnsupportedFormat {
            found: format!("SQLite user_version {found}"),
            supported: FORMAT_VERSION,
        }),
    }
}

/// What `PRAGMA user_version` says about a database.
enum Format {
    /// This build's format (possibly just created).
    Current,
    /// Tables from something other than kvit.
    Foreign,
    /// A version this build does not know, most likely from a newer kvit.
    Other(i64),
}

fn set_up_schema(connection: &mut Connection) -> rusqlite::Result<Format> {
    let read_version = |connection: &Connection| -> rusqlite::Result<i64> {
        connection.query_row("PRAGMA user_version", [], |row| row.get(0))
    };
    match read_version(connection)? {
        version if version == i64::from(FORMAT_VERSION) => return Ok(Format::Current),
        0 => {}
        other => return Ok(Format::Other(other)),
    }
    // A new database: create the table, unless another process got there
    // first, which the write lock makes visible.
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let format = match read_version(&transaction)? {
        0 => {
            let tables: i64 =
                transaction
                    .query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0))?;
            if tables > 0 {
                Format::Foreign
            } else {
                transaction.execute_batch(CREATE_TABLE)?;
                transaction.execute_batch(&format!("PRAGMA user_version = {FORMAT_VERSION}"))?;
                Format::Current
            }
        }
        version if version == i64::from(FORMAT_VERSION) => Format::Current,
        other => Format::Other(other),
    };
    transaction.commit()?;
    Ok(format)
}

/// Turns a SQLite error met while opening into the error a caller can act on.
fn open_error(directory: &Path, error: rusqlite::Error) -> Error {
    let database = directory.join(DATABASE_FILE);
    let database = database.display();
    let reason = match error.sqlite_error_code() {
        Some(ErrorCode::NotADatabase) => format!("{database} is not a SQLite database ({error})"),
        Some(ErrorCode::DatabaseCorrupt) => format!("{database} is corrupt ({error})"),
        Some(ErrorCode::CannotOpen) => {
            format!("cannot open {database}; is the directory readable and writable? ({error})")
        }
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied) => {
            format!("{database} or its directory is not writable ({error})")
        }
        Some(ErrorCode::SystemIoFailure) => format!("I/O error on {database} ({error})"),
        _ => return Error::backend("open", error),
    };
    invalid_store(directory, reason)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// Runs `attempt` until it succeeds, fails with something other than
/// SQLITE_BUSY or SQLITE_LOCKED, or `timeout` has passed.
///
/// SQLite's own busy handler already waits for file locks, but some busy
/// conditions in write-ahead-log mode (another connection running recovery,
/// or resetting the log) are returned at once without calling it; those are
/// short-lived, so they are retried here with a growing pause.
fn retry_while_busy<T>(
    timeout: Duration,
    mut attempt: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let deadline = Instant::now().checked_add(timeout);
    let mut pause = Duration::from_millis(1);
    loop {
        let error = match attempt() {
            Err(error) if is_busy(&error) => error,
            outcome => return outcome,
        };
        let remaining = match deadline {
            Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                Some(remaining) if !remaining.is_zero() => remaining,
                _ => return Err(error),
            },
            None => MAX_RETRY_PAUSE,
        };
        std::thread::sleep((pause + jitter()).min(remaining));
        pause = (pause * 2).min(MAX_RETRY_PAUSE);
    }
}

/// Up to a millisecond, different from process to process and call to call, so
/// processes that collided once do not retry in lockstep.
fn jitter() -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |now| now.subsec_nanos());
    Duration::from_micros(u64::from((nanos ^ std::process::id()) % 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_plan(store: &Disk, sql: &str, prefix: &str, upper: &str) -> String {
        store
            .with_connection("explain", |connection| {
                let mut statement = connection.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                let params: &[&dyn rusqlite::ToSql] = if sql.contains("?2") {
                    &[&prefix, &upper]
                } else {
                    &[&prefix]
                };
                let rows = statement.query_map(params, |row| row.get::<_, String>(3))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_or_else(
                |error| panic!("explain {sql}: {error}"),
                |lines| lines.join("\n"),
            )
    }

    #[test]
    fn prefix_scans_are_primary_key_ranges() {
        let directory = tempfile::tempdir().unwrap_or_else(|error| panic!("tempdir: {error}"));
        let store = Disk::open(directory.path()).unwrap_or_else(|error| panic!("open: {error}"));
        for sql in [KEYS_IN_RANGE, KEYS_FROM, ITEMS_IN_RANGE, ITEMS_FROM] {
            let plan = query_plan(&store, sql, "a", "b");
            assert!(
                plan.contains("SEARCH kv USING PRIMARY KEY"),
                "{sql}: {plan}"
            );
            assert!(!plan.contains("TEMP B-TREE"), "{sql} sorts: {plan}");
        }
    }

    #[test]
    fn a_closed_store_refuses_every_call_and_never_reopens() {
        let directory = tempfile::tempdir().unwrap_or_else(|error| panic!("tempdir: {error}"));
        let store = Disk::open(directory.path()).unwrap_or_else(|error| panic!("open: {error}"));
        let clone = store.clone();
        store
            .set("k", b"v")
            .unwrap_or_else(|error| panic!("set: {error}"));
        assert!(!store.is_closed());
        store
            .close()
            .unwrap_or_else(|error| panic!("close: {error}"));
        assert!(store.is_closed() && clone.is_closed());
        store
            .close()
            .unwrap_or_else(|error| panic!("second close: {error}"));
        let entries: &[(&str, &[u8])] = &[("k", b"v")];
        let calls: Vec<(&str, Result<()>)> = vec![
            ("get", clone.get("k").map(drop)),
            ("set", clone.set("k", b"w")),
            ("remove", clone.remove("k")),
            ("cas", clone.cas("k", b"w", None).map(drop)),
            ("keys_with_prefix", clone.keys_with_prefix("").map(drop)),
            ("scan_prefix", clone.scan_prefix("").map(drop)),
            ("get_many", clone.get_many(&["k"]).map(drop)),
            ("set_many", clone.set_many(entries)),
            ("remove_many", clone.remove_many(&["k"])),
            (
                "remove_if_unchanged",
                clone.remove_if_unchanged(entries).map(drop),
            ),
            ("contains", clone.contains("k").map(drop)),
            ("clear", clone.clear()),
            ("pragmas", clone.pragmas().map(drop)),
        ];
        for (call, outcome) in calls {
            match outcome {
                Err(Error::Closed { store }) => assert!(
                    store.contains(&directory.path().display().to_string()),
                    "{call}: {store}"
                ),
                other => panic!("{call} on a closed store gave {other:?}"),
            }
        }
        // The data is still there for a new handle.
        let reopened = Disk::open(directory.path()).unwrap_or_else(|error| panic!("open: {error}"));
        assert_eq!(
            reopened
                .get("k")
                .unwrap_or_else(|error| panic!("get: {error}")),
            Some(b"v".to_vec())
        );
    }

    #[test]
    fn retry_gives_up_after_the_timeout() {
        let busy = || {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                None,
            )
        };
        let started = Instant::now();
        let mut attempts = 0;
        let outcome: rusqlite::Result<()> = retry_while_busy(Duration::from_millis(30), || {
            attempts += 1;
            Err(busy())
        });
        assert!(outcome.is_err_and(|error| is_busy(&error)));
        assert!(attempts > 1, "retried {attempts} times");
        assert!(started.elapsed() < Duration::from_secs(2));

        let mut attempts = 0;
        let outcome = retry_while_busy(Duration::from_secs(5), || {
            attempts += 1;
            if attempts < 3 {
                Err(busy())
            } else {
                Ok(attempts)
            }
        });
        assert_eq!(outcome.ok(), Some(3));
    }
}
