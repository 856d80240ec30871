//! A small pool of connections: at most `size` open at once, each with its own
//! prepared statements, handed to one operation at a time.
//!
//! A connection is taken for one statement and given back at once, so a
//! thread waits only while every connection is busy with someone else's
//! statement. A connection that broke is dropped rather than given back; so
//! is every idle one with it, since what broke one (a server restart, a
//! failover, a network cut) has most likely broken the others too.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use postgres::{Client, Config, Statement};
use postgres_native_tls::MakeTlsConnector;

use crate::table::{Query, Statements};

/// An open connection and the statements prepared on it so far.
pub(crate) struct Connection {
    client: Client,
    prepared: [Option<Statement>; Query::COUNT],
}

impl Connection {
    fn new(client: Client) -> Self {
        Self {
            client,
            prepared: Default::default(),
        }
    }

    /// The client, for statements that are not [`Query`]s.
    pub(crate) fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    /// `query`'s prepared statement, preparing it on first use: every later
    /// run of it on this connection is one round trip.
    pub(crate) fn statement(
        &mut self,
        statements: &Statements,
        query: Query,
    ) -> Result<Statement, postgres::Error> {
        if let Some(statement) = &self.prepared[query.index()] {
            return Ok(statement.clone());
        }
        let statement = self.client.prepare(statements.text(query))?;
        self.prepared[query.index()] = Some(statement.clone());
        Ok(statement)
    }
}

/// How to open a connection.
pub(crate) struct Connector {
    pub(crate) config: Config,
    pub(crate) tls: MakeTlsConnector,
    /// Bounds the whole attempt, start-up and authentication included.
    pub(crate) timeout: Duration,
    /// Where we connect, for messages: no password.
    pub(crate) target: String,
}

/// Why a connection could not be opened.
#[derive(Debug)]
pub(crate) struct ConnectError {
    target: String,
    problem: ConnectProblem,
}

#[derive(Debug)]
enum ConnectProblem {
    Driver(postgres::Error),
    TimedOut(Duration),
    Thread(std::io::Error),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot connect to {}: ", self.target)?;
        match &self.problem {
            ConnectProblem::Driver(error) => crate::error::write_driver_error(error, f),
            ConnectProblem::TimedOut(timeout) => {
                write!(f, "no answer within the connect timeout of {timeout:?}")
            }
            ConnectProblem::Thread(error) => write!(f, "cannot start a thread: {error}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.problem {
            ConnectProblem::Driver(error) => Some(error),
            ConnectProblem::Thread(error) => Some(error),
            ConnectProblem::TimedOut(_) => None,
        }
    }
}

impl Connector {
    /// Opens a connection, giving up after the timeout.
    ///
    /// The driver's own `connect_timeout` covers only the TCP connect; a
    /// server that accepts and then says nothing would hang the start-up.
    /// So the attempt runs on a helper thread and is abandoned (the thread
    /// finishes on its own and drops what it got) when the time is up.
    pub(crate) fn connect(&self) -> Result<Connection, ConnectError> {
        let fail = |problem| ConnectError {
            target: self.target.clone(),
            problem,
        };
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let config = self.config.clone();
        let tls = self.tls.clone();
        std::thread::Builder::new()
            .name("kvit-postgres-connect".to_owned())
            .spawn(move || {
                // The receiver may be gone after a timeout; nothing to do then.
                let _ = sender.send(config.connect(tls));
            })
            .map_err(|error| fail(ConnectProblem::Thread(error)))?;
        match receiver.recv_timeout(self.timeout) {
            Ok(Ok(client)) => Ok(Connection::new(client)),
            Ok(Err(error)) => Err(fail(ConnectProblem::Driver(error))),
            Err(_) => Err(fail(ConnectProblem::TimedOut(self.timeout))),
        }
    }
}

struct State {
    idle: Vec<Connection>,
    /// Connections in existence: idle plus leased plus being opened.
    open: usize,
}

/// The pool itself.
pub(crate) struct Pool {
    connector: Connector,
    size: usize,
    state: Mutex<State>,
    returned: Condvar,
}

impl Pool {
    pub(crate) fn new(connector: Connector, size: usize) -> Self {
        Self {
            connector,
            size,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn target(&self) -> &str {
        &self.connector.target
    }

    /// The number of connections open now.
    pub(crate) fn open_connections(&self) -> usize {
        self.lock().open
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields that no update leaves half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle connection, or a new one if fewer than `size` are open, or
    /// the next one given back.
    pub(crate) fn lease(self: &Arc<Self>) -> Result<Lease, ConnectError> {
        let mut state = self.lock();
        loop {
            if let Some(connection) = state.idle.pop() {
                return Ok(Lease {
                    pool: Arc::clone(self),
                    connection: Some(connection),
                    reused: true,
                    broken: false,
                });
            }
            if state.open < self.size {
                state.open += 1;
                break;
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(state);
        match self.connector.connect() {
            Ok(connection) => Ok(Lease {
                pool: Arc::clone(self),
                connection: Some(connection),
                reused: false,
                broken: false,
            }),
            Err(error) => {
                self.lock().open -= 1;
                self.returned.notify_one();
                Err(error)
            }
        }
    }

    /// Gives a connection back, or forgets it (and every idle one) if broken.
    fn give_back(&self, connection: Connection, broken: bool) {
        let mut state = self.lock();
        if broken || connection.client.is_closed() {
            let idle = std::mem::take(&mut state.idle);
            state.open -= 1 + idle.len();
            drop(state);
            drop(connection);
            drop(idle);
            self.returned.notify_all();
        } else {
            state.idle.push(connection);
            drop(state);
            self.returned.notify_one();
        }
    }
}

/// A connection on loan to one operation; going out of scope gives it back.
pub(crate) struct Lease {
    pool: Arc<Pool>,
    connection: Option<Connection>,
    reused: bool,
    broken: bool,
}

impl Lease {
    /// Whether the connection had served an earlier operation, so that a
    /// failure may be a stale connection rather than the server refusing us.
    pub(crate) fn reused(&self) -> bool {
        self.reused
    }

    /// Marks the connection as not to be used again.
    pub(crate) fn discard(&mut self) {
        self.broken = true;
    }

    pub(crate) fn connection(&mut self) -> &mut Connection {
        self.connection
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lease holds its connection until dropped"))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.pool.give_back(connection, self.broken);
        }
    }
}
