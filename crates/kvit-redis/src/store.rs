//! The store: [`KvStore`] on Redis strings, one Redis key per kvit key.

use std::fmt;
use std::sync::Arc;

use kvit::{KvStore, Result};
use redis::{Connection, RedisResult, Script};

use crate::error::ReplicationError;
use crate::options::{RedisOptions, ReplicaWait};
use crate::pattern::prefix_glob;
use crate::pool::{Pool, Retry};

/// Keys per `MGET`, `MSET` or `UNLINK`: a larger batch is sent as several
/// commands in one pipeline, so no single command holds the server or a reply
/// buffer for long.
const KEYS_PER_COMMAND: usize = 10_000;

/// Keys per `MGET` when a prefix scan fetches values.
const SCAN_FETCH_BATCH: usize = 1000;

/// The `COUNT` hint of each `SCAN` step.
const SCAN_COUNT: usize = 1000;

/// Compare-and-set, atomic because a script runs alone on the server.
///
/// `KEYS[1]`: the key. `ARGV[1]`: `"1"` if a value is expected, `"0"` if the
/// key must be absent. `ARGV[2]`: the expected value (empty when absent).
/// `ARGV[3]`: the new value. Returns 1 if it set the key, 0 if not. A missing
/// key reads as `false` in Lua, and an empty value as `""`, which is a true
/// value there, so absent and empty never compare equal.
const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
    if current ~= ARGV[2] then
        return 0
    end
elseif current then
    return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
";

/// Removes each key whose value equals its argument; returns how many went.
const REMOVE_IF_UNCHANGED_SCRIPT: &str = r"
local removed = 0
for i, key in ipairs(KEYS) do
    if redis.call('GET', key) == ARGV[i] then
        redis.call('UNLINK', key)
        removed = removed + 1
    end
end
return removed
";

/// A kvit byte store on a Redis server: one Redis string per key, every key
/// under the store's prefix.
///
/// Clones share one pool of connections; a handle is `Send + Sync` and can be
/// used from any number of threads at once, each request on a connection of
/// its own. A connection that breaks is closed and a new one opened on the
/// next request. Operations that are safe to repeat (all but `cas`) are sent
/// once more on a fresh connection when a pooled one turns out to be dead;
/// `cas` is never resent, because after a broken connection nobody knows
/// whether the swap happened: it reports [`kvit::Error::Backend`] instead.
///
/// Every request goes to the one server the URL names, which must be the
/// primary (a replica refuses `cas` and every write). Redis Cluster and
/// Sentinel discovery are not supported. Writes are acknowledged when the
/// primary has applied them, or also once replicas have them with
/// [`RedisOptions::wait_for_replicas`]; how durable they are is the server's
/// configuration (`docs/deployment.md`).
///
/// Every Redis failure is a [`kvit::Error::Backend`] naming the operation.
/// Keys under the prefix that are not valid UTF-8, or that hold another Redis
/// type than a string, were not written by kvit: scans skip them.
#[derive(Clone)]
pub struct Redis {
    shared: Arc<Shared>,
}

struct Shared {
    pool: Pool,
    prefix: String,
    cas: Script,
    remove_if_unchanged: Script,
    replicas: Option<ReplicaWait>,
}

impl Redis {
    pub(crate) fn new(pool: Pool, prefix: String, replicas: Option<ReplicaWait>) -> Self {
        Redis {
            shared: Arc::new(Shared {
                pool,
                prefix,
                cas: Script::new(CAS_SCRIPT),
                remove_if_unchanged: Script::new(REMOVE_IF_UNCHANGED_SCRIPT),
                replicas,
            }),
        }
    }

    /// Runs the write `request`, then, if the store waits for replicas,
    /// `WAIT`s on the same connection for the writes made on it so far.
    fn write<T>(
        &self,
        operation: &'static str,
        retry: Retry,
        wrote: impl Fn(&T) -> bool,
        mut request: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let Some(wait) = self.shared.replicas else {
            return self.shared.pool.run(operation, retry, request);
        };
        let (value, acknowledged) = self.shared.pool.run(operation, retry, |connection| {
            let value = request(connection)?;
            if !wrote(&value) {
                return Ok((value, wait.replicas));
            }
            let timeout = u64::try_from(wait.timeout.as_millis()).unwrap_or(u64::MAX);
            let acknowledged: usize = redis::cmd("WAIT")
                .arg(wait.replicas)
                .arg(timeout)
                .query(connection)?;
            Ok((value, acknowledged))
        })?;
        if acknowledged < wait.replicas {
            return Err(kvit::Error::backend(
                operation,
                ReplicationError {
                    acknowledged,
                    required: wait.replicas,
                    timeout: wait.timeout,
                },
            ));
        }
        Ok(value)
    }

    /// Opens the store at `url` with the default options: no key prefix.
    /// See [`RedisOptions`] for a prefix, timeouts and TLS settings.
    ///
    /// # Errors
    /// [`kvit::Error::Backend`] when the URL does not parse or the server
    /// cannot be reached.
    pub fn open(url: impl Into<String>) -> Result<Redis> {
        RedisOptions::new(url).open()
    }

    /// Options for a store at `url`; the same as [`RedisOptions::new`].
    pub fn options(url: impl Into<String>) -> RedisOptions {
        RedisOptions::new(url)
    }

    /// The prefix in front of every key this store writes.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// The server's URL, with any password replaced by `***`.
    pub fn address(&self) -> &str {
        self.shared.pool.address()
    }

    /// Checks that the server answers (`PING`).
    ///
    /// # Errors
    /// [`kvit::Error::Backend`] when it does not.
    pub fn ping(&self) -> Result<()> {
        self.ping_during("ping")
    }

    pub(crate) fn ping_during(&self, operation: &'static str) -> Result<()> {
        self.shared.pool.run(operation, Retry::Once, |connection| {
            redis::cmd("PING").query::<()>(connection)
        })
    }

    fn key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.shared.prefix.len() + key.len());
        full.push_str(&self.shared.prefix);
        full.push_str(key);
        full
    }

    fn keys_of(&self, keys: &[&str]) -> Vec<String> {
        keys.iter().map(|key| self.key(key)).collect()
    }

    /// The key as the trait knows it, if `raw` is a key of this store.
    fn unprefixed(&self, raw: &[u8], full_prefix: &str) -> Option<String> {
        if !raw.starts_with(full_prefix.as_bytes()) {
            return None;
        }
        let key = raw.get(self.shared.prefix.len()..)?;
        String::from_utf8(key.to_vec()).ok()
    }
}

/// Walks the key space with `SCAN MATCH`, handing each step's keys to `each`.
fn scan(
    connection: &mut Connection,
    pattern: &str,
    mut each: impl FnMut(&mut Connection, Vec<Vec<u8>>) -> RedisResult<()>,
) -> RedisResult<()> {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query(connection)?;
        if !keys.is_empty() {
            each(connection, keys)?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}

impl KvStore for Redis {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = self.key(key);
        self.shared.pool.run("get", Retry::Once, |connection| {
            redis::cmd("GET").arg(&key).query(connection)
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        let key = self.key(key);
        self.write(
            "set",
            Retry::Once,
            |()| true,
            |connection| redis::cmd("SET").arg(&key).arg(value).query(connection),
        )
    }

    fn remove(&self, key: &str) -> Result<()> {
        let key = self.key(key);
        self.shared.pool.run("remove", Retry::Once, |connection| {
            redis::cmd("UNLINK").arg(&key).query(connection)
        })
    }

    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> Result<bool> {
        let key = self.key(key);
        let mut invocation = self.shared.cas.key(&key);
        match expected {
            Some(expected) => invocation.arg("1").arg(expected),
            None => invocation.arg("0").arg(""),
        };
        invocation.arg(value);
        let swapped: i64 = self.write(
            "cas",
            Retry::Never,
            |swapped| *swapped == 1,
            |connection| invocation.invoke(connection),
        )?;
        Ok(swapped == 1)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        let full_prefix = self.key(prefix);
        let pattern = prefix_glob(&full_prefix);
        let mut keys = self
            .shared
            .pool
            .run("keys_with_prefix", Retry::Once, |connection| {
                let mut keys = Vec::new();
                scan(connection, &pattern, |_, raw| {
                    keys.extend(
                        raw.iter()
                            .filter_map(|raw| self.unprefixed(raw, &full_prefix)),
                    );
                    Ok(())
                })?;
                Ok(keys)
            })?;
        // SCAN returns keys in hash order, and may return a key twice.
        keys.sort_unstable();
        keys.dedup();
        Ok(keys)
    }

    fn scan_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let keys = self.keys_with_prefix(prefix)?;
        let mut items = Vec::with_capacity(keys.len());
        for batch in keys.chunks(SCAN_FETCH_BATCH) {
            let full: Vec<String> = batch.iter().map(|key| self.key(key)).collect();
            let values: Vec<Option<Vec<u8>>> =
                self.shared
                    .pool
                    .run("scan_prefix", Retry::Once, |connection| {
                        redis::cmd("MGET").arg(&full).query(connection)
                    })?;
            // A key removed since the scan (or holding another type) reads as
            // nil: it is simply not there any more.
            items.extend(
                batch
                    .iter()
                    .zip(values)
                    .filter_map(|(key, value)| Some((key.clone(), value?))),
            );
        }
        Ok(items)
    }

    fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = self.keys_of(keys);
        if keys.len() <= KEYS_PER_COMMAND {
            return self.shared.pool.run("get_many", Retry::Once, |connection| {
                redis::cmd("MGET").arg(&keys).query(connection)
            });
        }
        let mut pipeline = redis::pipe();
        for chunk in keys.chunks(KEYS_PER_COMMAND) {
            pipeline.cmd("MGET").arg(chunk);
        }
        let chunks: Vec<Vec<Option<Vec<u8>>>> =
            self.shared
                .pool
                .run("get_many", Retry::Once, |connection| {
                    pipeline.query(connection)
                })?;
        Ok(chunks.into_iter().flatten().collect())
    }

    fn set_many(&self, entries: &[(&str, &[u8])]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut pipeline = redis::pipe();
        if entries.len() > KEYS_PER_COMMAND {
            // Several MSETs, applied together as MULTI/EXEC.
            pipeline.atomic();
        }
        for chunk in entries.chunks(KEYS_PER_COMMAND) {
            let command = pipeline.cmd("MSET");
            for (key, value) in chunk {
                command.arg(self.key(key)).arg(*value);
            }
            command.ignore();
        }
        self.write(
            "set_many",
            Retry::Once,
            |()| true,
            |connection| pipeline.query::<()>(connection),
        )
    }

    /// One script per batch: each key is compared and removed on the server,
    /// atomically with respect to every other command.
    fn remove_if_unchanged(&self, entries: &[(&str, &[u8])]) -> Result<usize> {
        let mut removed = 0usize;
        for chunk in entries.chunks(KEYS_PER_COMMAND) {
            let mut invocation = self.shared.remove_if_unchanged.prepare_invoke();
            for (key, expected) in chunk {
                invocation.key(self.key(key)).arg(*expected);
            }
            let count: i64 = self.write(
                "remove_if_unchanged",
                Retry::Once,
                |_| true,
                |connection| invocation.invoke(connection),
            )?;
            removed += usize::try_from(count).unwrap_or(0);
        }
        Ok(removed)
    }

    fn remove_many(&self, keys: &[&str]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let keys = self.keys_of(keys);
        let mut pipeline = redis::pipe();
        for chunk in keys.chunks(KEYS_PER_COMMAND) {
            pipeline.cmd("UNLINK").arg(chunk).ignore();
        }
        self.shared
            .pool
            .run("remove_many", Retry::Once, |connection| {
                pipeline.query::<()>(connection)
            })
    }

    fn contains(&self, key: &str) -> Result<bool> {
        let key = self.key(key);
        let count: i64 = self
            .shared
            .pool
            .run("contains", Retry::Once, |connection| {
                redis::cmd("EXISTS").arg(&key).query(connection)
            })?;
        Ok(count > 0)
    }

    fn clear(&self) -> Result<()> {
        let pattern = prefix_glob(&self.shared.prefix);
        self.shared.pool.run("clear", Retry::Once, |connection| {
            scan(connection, &pattern, |connection, keys| {
                // Deleting while scanning is safe: SCAN still returns every
                // key that exists throughout, and these no longer do.
                redis::cmd("UNLINK").arg(&keys).query::<()>(connection)
            })
        })
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("address", &self.address())
            .field("prefix", &self.prefix())
            .finish_non_exhaustive()
    }
}
