//! [`Postgres`]: the handle, its builder, and the [`KvStore`] implementation.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use kvit::{Error, KvStore, Result};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Config, Row};
use postgres_native_tls::MakeTlsConnector;

use crate::error::DriverError;
use crate::pool::{Connection, Connector, Lease, Pool};
use crate::table::{
    create_table_sql, Query, Statements, TableName, COLUMNS_SQL, CREATE_LOCK_CLASS, PRIMARY_KEY_SQL,
};

/// Connections a handle opens at most, unless told otherwise.
pub const DEFAULT_POOL_SIZE: usize = 8;

/// How long opening a connection may take, unless the URL or the builder says
/// otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a statement is run when the first run fails in a way that
/// running it again cannot make worse (a deadlock; a stale connection under
/// an idempotent operation).
const ATTEMPTS: usize = 3;

/// Settings for opening a [`Postgres`] store; finish with [`open`](Self::open).
///
/// ```no_run
/// # fn main() -> kvit::Result<()> {
/// use std::time::Duration;
/// use kvit_postgres::PostgresOptions;
///
/// let store = PostgresOptions::new("postgres://kvit:secret@db.internal:5432/app")
///     .table("inventory_kv")
///     .pool_size(4)
///     .connect_timeout(Duration::from_secs(3))
///     .open()?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct PostgresOptions {
    url: String,
    table: String,
    pool_size: usize,
    connect_timeout: Option<Duration>,
}

impl PostgresOptions {
    /// Options for the server and database named by `url`, either a URL
    /// (`postgres://user:password@host:port/database?sslmode=require`) or
    /// libpq's `key=value` form. The table is `kvit_kv`, the pool holds up to
    /// [`DEFAULT_POOL_SIZE`] connections.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            table: TableName::DEFAULT.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: None,
        }
    }

    /// The table holding the store, created if missing. Checked by
    /// [`open`](Self::open) against [`TableName`]'s rules.
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The most connections the handle (and all its clones) keeps open;
    /// threads beyond that wait for a free one. At least 1.
    pub fn pool_size(mut self, connections: usize) -> Self {
        self.pool_size = connections;
        self
    }

    /// How long opening one connection may take, start-up and
    /// authentication included. Defaults to the URL's `connect_timeout`, or
    /// else [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Connects, creates the table if it is missing and checks that it is a
    /// kvit table.
    ///
    /// # Errors
    /// - [`Error::InvalidArgument`]: the URL does not parse, the table name
    ///   breaks [`TableName`]'s rules, or the pool size or timeout is zero.
    /// - [`Error::Backend`] (operation `"open"`): the server cannot be reached
    ///   within the connect timeout, refuses the login, or fails a statement.
    /// - [`Error::InvalidStore`]: the database does not use UTF-8, or a table
    ///   of that name exists with other columns.
    pub fn open(self) -> Result<Postgres> {
        let table = TableName::new(self.table)?;
        if self.pool_size == 0 {
            return Err(Error::InvalidArgument(
                "the PostgreSQL pool size must be at least 1".to_owned(),
            ));
        }
        // The parse error never repeats the URL, so never its password.
        let mut config = Config::from_str(&self.url).map_err(|error| {
            Error::InvalidArgument(format!("invalid PostgreSQL connection URL: {error}"))
        })?;
        let timeout = self
            .connect_timeout
            .or_else(|| config.get_connect_timeout().copied())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        if timeout.is_zero() {
            return Err(Error::InvalidArgument(
                "the PostgreSQL connect timeout must be above zero".to_owned(),
            ));
        }
        config.connect_timeout(timeout);
        detect_dead_peers(&mut config);
        if config.get_application_name().is_none() {
            config.application_name("kvit");
        }
        let target = describe(&config, &table);
        let tls = native_tls::TlsConnector::new().map_err(|error| Error::backend("open", error))?;
        let connector = Connector {
            config,
            tls: MakeTlsConnector::new(tls),
            timeout,
            target,
        };
        let inner = Inner {
            statements: Statements::for_table(&table),
            table,
            pool: Arc::new(Pool::new(connector, self.pool_size)),
        };
        let mut lease = inner
            .pool
            .lease()
            .map_err(|error| Error::backend("open", error))?;
        prepare_table(&inner, lease.connection())?;
        drop(lease);
        Ok(Postgres {
            inner: Arc::new(inner),
        })
    }
}

/// A kvit store in one PostgreSQL table: `key TEXT COLLATE "C" PRIMARY KEY,
/// value BYTEA NOT NULL`.
///
/// Clones share one pool of connections; the handle is safe to use from many
/// threads, and any number of processes and machines may open the same
/// table. Every operation is one statement, so one round trip once the
/// connection has prepared it; `cas` is one conditional statement, atomic
/// against every other writer of the table.
///
/// PostgreSQL text cannot hold NUL, so keys containing `'\0'` are refused with
/// [`Error::InvalidKey`] (kvit's own keys never contain one).
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Inner>,
}

struct Inner {
    table: TableName,
    statements: Statements,
    pool: Arc<Pool>,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Postgres")
            .field("target", &self.inner.pool.target())
            .field("pool_size", &self.inner.pool.size())
            .finish_non_exhaustive()
    }
}

impl Postgres {
    /// Opens the store in table `kvit_kv` of the database `url` names, with the
    /// default settings; see [`PostgresOptions`] for the others.
    ///
    /// # Errors
    /// As [`PostgresOptions::open`].
    pub fn open(url: &str) -> Result<Self> {
        PostgresOptions::new(url).open()
    }

    /// Settings for opening a store; the same as [`PostgresOptions::new`].
    pub fn options(url: impl Into<String>) -> PostgresOptions {
        PostgresOptions::new(url)
    }

    /// The table holding the store.
    pub fn table(&self) -> &TableName {
        &self.inner.table
    }

    /// The most connections this handle and its clones keep open.
    pub fn pool_size(&self) -> usize {
        self.inner.pool.size()
    }

    /// The connections open right now (at most [`pool_size`](Self::pool_size)).
    pub fn open_connections(&self) -> usize {
        self.inner.pool.open_connections()
    }

    /// Runs `work` on a pooled connection.
    ///
    /// `work` fails with the driver's error and whether the statement itself
    /// was sent (rather than only its preparation).
    ///
    /// A deadlock aborts only the statement, so it is run again. A
    /// connection that broke is dropped; if it had been idle in the pool, and
    /// the operation is `idempotent` or its statement was never sent, the
    /// statement is run again on a fresh connection. `cas` is not
    /// idempotent: had its statement committed just before the connection
    /// broke, a second run would report a lost race.
    fn run<T>(
        &self,
        operation: &'static str,
        idempotent: bool,
        mut work: impl FnMut(&mut Connection, &Statements) -> Result<T, (postgres::Error, bool)>,
    ) -> Result<T> {
        let mut attempt = 1;
        loop {
            let mut lease: Lease = self
                .inner
                .pool
                .lease()
                .map_err(|error| Error::backend(operation, error))?;
            let (error, sent) = match work(lease.connection(), &self.inner.statements) {
                Ok(value) => return Ok(value),
                Err(failure) => failure,
            };
            let broken = error.is_closed() || lease.connection().client().is_closed();
            if broken {
                lease.discard();
            }
            let deadlock = error.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED);
            let stale = broken && lease.reused() && (idempotent || !sent);
            drop(lease);
            if attempt >= ATTEMPTS || !(deadlock || stale) {
                return Err(Error::backend(operation, DriverError(error)));
            }
            attempt += 1;
        }
    }

    fn query(
        &self,
        operation: &'static str,
        query: Query,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>> {
        self.run(operation, true, |connection, statements| {
            let statement = connection
                .statement(statements, query)
                .map_err(|error| (error, false))?;
            connection
                .client()
                .query(&statement, params)
                .map_err(|error| (error, true))
        })
    }

    fn execute(
        &self,
        operation: &'static str,
        idempotent: bool,
        query: Query,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64> {
        self.run(operation, idempotent, |connection, statements| {
            let statement = connection
                .statement(statements, query)
                .map_err(|error| (error, false))?;
            connection
                .client()
                .execute(&statement, params)
                .map_err(|error| (error, true))
        })
    }

    /// Keys (and values, if `with_values`) in the prefix's range, in order.
    fn range(&self, operation: &'static str, prefix: &str, with_values: bool) -> Result<Vec<Row>> {
        check_key(prefix)?;
        let upper = kvit::prefix_upper_bound(prefix);
        let query = match (upper.is_some(), with_values) {
            (true, true) => Query::ScanBetween,
            (true, false) => Query::KeysBetween,
            // A prefix of only `char::MAX`es (or none): no upper bound.
            (false, true) => Query::ScanFrom,
            (false, false) => Query::KeysFrom,
        };
        if let Some(end) = &upper {
            self.query(operation, query, &[&prefix, end])
        } else {
            self.query(operation, query, &[&prefix])
        }
    }
}

/// Unless the URL says otherwise, a server or network that goes silent in the
/// middle of a statement is noticed within about a minute rather than the
/// system's hours: TCP keepalives from 30 s of silence, every 5 s, 3 tries,
/// and 60 s for sent data to be acknowledged.
fn detect_dead_peers(config: &mut Config) {
    const DRIVER_DEFAULT_IDLE: Duration = Duration::from_secs(2 * 60 * 60);
    if !config.get_keepalives() {
        return;
    }
    if config.get_keepalives_idle() == DRIVER_DEFAULT_IDLE {
        config.keepalives_idle(Duration::from_secs(30));
    }
    if config.get_keepalives_interval().is_none() {
        config.keepalives_interval(Duration::from_secs(5));
    }
    if config.get_keepalives_retries().is_none() {
        config.keepalives_retries(3);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(Duration::from_secs(60));
    }
}

/// `postgres://user@host:port/database table "name"`, never the password.
fn describe(config: &Config, table: &TableName) -> String {
    let mut names: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            postgres::config::Host::Tcp(name) => name.clone(),
            #[cfg(unix)]
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    if names.is_empty() {
        names = config
            .get_hostaddrs()
            .iter()
            .map(ToString::to_string)
            .collect();
    }
    let hosts: Vec<String> = names
        .into_iter()
        .enumerate()
        .map(|(index, host)| {
            let port = config
                .get_ports()
                .get(index)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    let user = config
        .get_user()
        .map_or(String::new(), |user| format!("{user}@"));
    let database = config.get_dbname().unwrap_or("");
    format!(
        "postgres://{user}{}/{database} table {table}",
        hosts.join(",")
    )
}

/// PostgreSQL text cannot hold NUL: refuse it here, clearly, rather than let
/// the server answer with an encoding error.
fn check_key(key: &str) -> Result<()> {
    if key.contains('\0') {
        return Err(Error::InvalidKey {
            key: key.to_owned(),
            reason: "PostgreSQL text cannot hold a NUL character",
        });
    }
    Ok(())
}

fn check_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<()> {
    keys.into_iter().try_for_each(check_key)
}

/// Creates the table if it is missing and checks the database and the table.
fn prepare_table(inner: &Inner, connection: &mut Connection) -> Result<()> {
    let backend = |error| Error::backend("open", DriverError(error));
    let invalid = |reason: String| Error::InvalidStore {
        path: inner.pool.target().to_owned(),
        reason,
    };
    let client = connection.client();
    let encoding: String = client
        .query_one("SELECT current_setting('server_encoding')", &[])
        .and_then(|row| row.try_get(0))
        .map_err(backend)?;
    if encoding != "UTF8" {
        return Err(invalid(format!(
            "the database's encoding is {encoding}; kvit keys need UTF8"
        )));
    }

    let quoted = inner.table.quoted();
    let mut columns = client.query(COLUMNS_SQL, &[&quoted]).map_err(backend)?;
    if columns.is_empty() {
        // Two processes creating the table at once can both pass IF NOT
        // EXISTS and then collide in the catalog; the lock makes them take
        // turns, and the second finds the table there.
        let mut transaction = client.transaction().map_err(backend)?;
        transaction
            .execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&CREATE_LOCK_CLASS, &quoted],
            )
            .map_err(backend)?;
        transaction
            .batch_execute(&create_table_sql(&inner.table))
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
        columns = client.query(COLUMNS_SQL, &[&quoted]).map_err(backend)?;
    }

    let found: Vec<(String, String, String, bool)> = columns
        .iter()
        .map(|row| {
            Ok((
                row.try_get(0)?,
                row.try_get(1)?,
                row.try_get(2)?,
                row.try_get(3)?,
            ))
        })
        .collect::<Result<_, postgres::Error>>()
        .map_err(backend)?;
    let expected = [
        ("key".to_owned(), "text".to_owned(), "C".to_owned(), true),
        ("value".to_owned(), "bytea".to_owned(), String::new(), true),
    ];
    if found != expected {
        let shown: Vec<String> = found
            .iter()
            .map(|(name, kind, collation, not_null)| {
                let collation = if collation.is_empty() {
                    String::new()
                } else {
                    format!(" COLLATE \"{collation}\"")
                };
                let not_null = if *not_null { " NOT NULL" } else { "" };
                format!("{name} {kind}{collation}{not_null}")
            })
            .collect();
        return Err(invalid(format!(
            "the table exists but is not a kvit table: it has ({}), kvit needs \
             (key text COLLATE \"C\" PRIMARY KEY, value bytea NOT NULL)",
            shown.join(", ")
        )));
    }
    let keyed: bool = client
        .query_one(PRIMARY_KEY_SQL, &[&quoted])
        .and_then(|row| row.try_get(0))
        .map_err(backend)?;
    if !keyed {
        return Err(invalid(
            "the table exists but its primary key is not (key)".to_owned(),
        ));
    }
    Ok(())
}

fn value_of(row: &Row, column: usize) -> Result<Vec<u8>, postgres::Error> {
    row.try_get(column)
}

impl KvStore for Postgres {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        let rows = self.query("get", Query::Get, &[&key])?;
        rows.first()
            .map(|row| value_of(row, 0))
            .transpose()
            .map_err(|error| Error::backend("get", DriverError(error)))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        check_key(key)?;
        self.execute("set", true, Query::Set, &[&key, &value])
            .map(drop)
    }

    fn remove(&self, key: &str) -> Result<()> {
        check_key(key)?;
        self.execute("remove", true, Query::Remove, &[&key])
            .map(drop)
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        check_key(key)?;
        let changed = match expected {
            None => self.execute("cas", false, Query::CasInsert, &[&key, &value])?,
            Some(expected) => {
                self.execute("cas", false, Query::CasUpdate, &[&key, &value, &expected])?
            }
        };
        Ok(changed == 1)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.range("keys_with_prefix", prefix, false)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, postgres::Error>>()
            .map_err(|error| Error::backend("keys_with_prefix", DriverError(error)))
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        self.range("scan_prefix", prefix, true)?
            .iter()
            .map(|row| Ok((row.try_get(0)?, value_of(row, 1)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(|error| Error::backend("scan_prefix", DriverError(error)))
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        check_keys(keys.iter().copied())?;
        let rows = self.query("get_many", Query::GetMany, &[&keys])?;
        let mut found: HashMap<String, Vec<u8>> = rows
            .iter()
            .map(|row| Ok((row.try_get(0)?, value_of(row, 1)?)))
            .collect::<Result<_, postgres::Error>>()
            .map_err(|error| Error::backend("get_many", DriverError(error)))?;
        // The last request for a key takes the value; earlier ones clone it.
        let mut last_use: HashMap<&str, usize> = HashMap::with_capacity(keys.len());
        for (position, key) in keys.iter().enumerate() {
            last_use.insert(key, position);
        }
        let mut answers = Vec::with_capacity(keys.len());
        for (position, key) in keys.iter().enumerate() {
            let answer = if last_use.get(key) == Some(&position) {
                found.remove(*key)
            } else {
                found.get(*key).cloned()
            };
            answers.push(answer);
        }
        Ok(answers)
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        check_keys(entries.iter().map(|(key, _)| *key))?;
        // One statement cannot touch a row twice, so a repeated key keeps
        // only its last value. Sorted keys make every writer lock rows in the
        // same order, so two batches sharing keys wait rather than deadlock.
        let mut latest: HashMap<&str, &[u8]> = HashMap::with_capacity(entries.len());
        for (key, value) in entries {
            latest.insert(key, value);
        }
        let mut unique: Vec<(&str, &[u8])> = latest.into_iter().collect();
        unique.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let (keys, values): (Vec<&str>, Vec<&[u8]>) = unique.into_iter().unzip();
        self.execute("set_many", true, Query::SetMany, &[&keys, &values])
            .map(drop)
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        check_keys(keys.iter().copied())?;
        let mut keys = keys.to_vec();
        keys.sort_unstable();
        keys.dedup();
        self.execute("remove_many", true, Query::RemoveMany, &[&keys])
            .map(drop)
    }

    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        if entries.is_empty() {
            return Ok(0);
        }
        check_keys(entries.iter().map(|(key, _)| *key))?;
        let mut sorted = entries.to_vec();
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let keys: Vec<&str> = sorted.iter().map(|(key, _)| *key).collect();
        let values: Vec<&[u8]> = sorted.iter().map(|(_, value)| *value).collect();
        let removed = self.execute(
            "remove_if_unchanged",
            true,
            Query::RemoveIfUnchanged,
            &[&keys, &values],
        )?;
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    fn contains(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        let rows = self.query("contains", Query::Contains, &[&key])?;
        rows.first()
            .map_or(Ok(false), |row| row.try_get(0))
            .map_err(|error| Error::backend("contains", DriverError(error)))
    }

    fn clear(&self) -> Result<()> {
        self.execute("clear", true, Query::Clear, &[]).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        Config::from_str(url).unwrap()
    }

    #[test]
    fn descriptions_never_show_the_password() {
        let table = TableName::default();
        assert_eq!(
            describe(
                &config("postgres://kvit:hunter2@db.internal:6543/app"),
                &table
            ),
            "postgres://kvit@db.internal:6543/app table kvit_kv"
        );
        assert_eq!(
            describe(&config("postgres://kvit:pw@db1,db2:5433/app"), &table),
            "postgres://kvit@db1:5432,db2:5433/app table kvit_kv"
        );
        assert_eq!(
            describe(
                &config("host=h1,h2 port=1,2 user=u password=pw dbname=d"),
                &table
            ),
            "postgres://u@h1:1,h2:2/d table kvit_kv"
        );
    }

    #[test]
    fn dead_peer_detection_defaults_yield_to_the_url() {
        let mut defaults = config("postgres://u@h/d");
        detect_dead_peers(&mut defaults);
        assert_eq!(defaults.get_keepalives_idle(), Duration::from_secs(30));
        assert_eq!(
            defaults.get_keepalives_interval(),
            Some(Duration::from_secs(5))
        );
        assert_eq!(defaults.get_keepalives_retries(), Some(3));
        assert_eq!(
            defaults.get_tcp_user_timeout(),
            Some(&Duration::from_secs(60))
        );

        let mut chosen = config(
            "postgres://u@h/d?keepalives_idle=7&keepalives_interval=2&keepalives_retries=9&tcp_user_timeout=4",
        );
        detect_dead_peers(&mut chosen);
        assert_eq!(chosen.get_keepalives_idle(), Duration::from_secs(7));
        assert_eq!(
            chosen.get_keepalives_interval(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(chosen.get_keepalives_retries(), Some(9));
        assert_eq!(chosen.get_tcp_user_timeout(), Some(&Duration::from_secs(4)));

        let mut off = config("postgres://u@h/d?keepalives=0");
        detect_dead_peers(&mut off);
        assert!(!off.get_keepalives());
        assert_eq!(off.get_tcp_user_timeout(), None);
    }

    #[test]
    fn nul_is_the_only_refused_character() {
        assert!(check_key("any/key/😀 \u{7f}").is_ok());
        assert!(matches!(check_key("a\0"), Err(Error::InvalidKey { .. })));
    }
}
