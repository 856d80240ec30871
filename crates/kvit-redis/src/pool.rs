//! A small pool of synchronous connections shared by a handle's clones.
//!
//! Each operation takes a connection, uses it alone, and gives it back, so a
//! connection never carries two requests at once and any number of threads
//! can share a handle. A connection whose state is uncertain after an error
//! (an I/O failure, a timeout, a reply that did not parse) is closed rather
//! than returned, so a late reply can never be read as the answer to another
//! request.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use kvit::{Error, Result};
use redis::{Connection, ErrorKind, RedisError, RedisResult};

use crate::error::ConnectError;

/// Whether an operation may be sent again after its connection broke.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Running it twice has the effect of running it once (reads, `SET`,
    /// `UNLINK`, scans): a pooled connection that turns out to be dead (the
    /// server restarted, a proxy dropped it while idle) is replaced and the
    /// operation sent once more.
    Once,
    /// Never resent (`cas`): if the connection broke after the request left,
    /// the swap may have happened, and a second attempt would then report a
    /// lost race for a swap that won. The caller gets the error instead.
    Never,
}

pub(crate) struct Pool {
    client: redis::Client,
    /// The server's URL with any password hidden, for error messages.
    address: String,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
    max_idle: usize,
    idle: Mutex<Idle>,
}

/// Idle connections, and the process that opened them: a process forked
/// from the owner must not use the owner's sockets, whose replies it would
/// share with the parent.
struct Idle {
    pid: u32,
    connections: Vec<Connection>,
}

impl Pool {
    pub(crate) fn new(
        client: redis::Client,
        address: String,
        connect_timeout: Duration,
        response_timeout: Option<Duration>,
        max_idle: usize,
    ) -> Self {
        Pool {
            client,
            address,
            connect_timeout,
            response_timeout,
            max_idle,
            idle: Mutex::new(Idle {
                pid: std::process::id(),
                connections: Vec::new(),
            }),
        }
    }

    /// The server's URL with any password hidden.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Runs `request` on a connection of the pool, mapping any failure to
    /// [`Error::Backend`] for `operation`.
    pub(crate) fn run<T>(
        &self,
        operation: &'static str,
        retry: Retry,
        mut request: impl FnMut(&mut Connection) -> RedisResult<T>,
    ) -> Result<T> {
        let (mut connection, reused) = match self.take() {
            Some(connection) => (connection, true),
            None => (self.connect(operation)?, false),
        };
        match request(&mut connection) {
            Ok(value) => {
                self.give_back(connection);
                Ok(value)
            }
            Err(error) if still_in_step(&error) => {
                self.give_back(connection);
                Err(Error::backend(operation, error))
            }
            Err(error) => {
                drop(connection);
                if error.is_connection_dropped() {
                    // The others were opened to the same server and have most
                    // likely been dropped too; do not hand them out one by one.
                    self.discard_idle();
                    if reused && retry == Retry::Once {
                        let mut connection = self.connect(operation)?;
                        let result = request(&mut connection);
                        if result.as_ref().map_or_else(still_in_step, |_| true) {
                            self.give_back(connection);
                        }
                        return result.map_err(|error| Error::backend(operation, error));
                    }
                }
                Err(Error::backend(operation, error))
            }
        }
    }

    fn connect(&self, operation: &'static str) -> Result<Connection> {
        let failed = |source| {
            Error::backend(
                operation,
                ConnectError {
                    address: self.address.clone(),
                    source,
                },
            )
        };
        let connection = self
            .client
            .get_connection_with_timeout(self.connect_timeout)
            .map_err(failed)?;
        connection
            .set_read_timeout(self.response_timeout)
            .map_err(failed)?;
        connection
            .set_write_timeout(self.response_timeout)
            .map_err(failed)?;
        Ok(connection)
    }

    fn idle(&self) -> MutexGuard<'_, Idle> {
        // Nothing panics while the lock is held; a poisoned pool is still a
        // valid list of connections.
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = std::process::id();
        if idle.pid != pid {
            // Closing our copies of the parent's sockets leaves the parent's
            // connections open: the kernel ends a connection only when its
            // last descriptor closes.
            idle.connections.clear();
            idle.pid = pid;
        }
        idle
    }

    fn take(&self) -> Option<Connection> {
        self.idle().connections.pop()
    }

    fn give_back(&self, connection: Connection) {
        let mut idle = self.idle();
        if idle.connections.len() < self.max_idle {
            idle.connections.push(connection);
        }
    }

    fn discard_idle(&self) {
        let stale = std::mem::take(&mut self.idle().connections);
        // Closed outside the lock.
        drop(stale);
    }
}

/// Whether the connection is still in step with the server after `error`:
/// the server answered with an error reply, which was read whole.
fn still_in_step(error: &RedisError) -> bool {
    matches!(
        error.kind(),
        ErrorKind::Server(_) | ErrorKind::Extension | ErrorKind::UnexpectedReturnType
    )
}
