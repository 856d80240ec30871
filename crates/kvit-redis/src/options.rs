//! How to reach the server and which part of it a store uses.

use std::fmt;
use std::time::Duration;

use kvit::{Error, Result};

use crate::error::{redact, ConnectError};
use crate::pool::Pool;
use crate::store::Redis;

/// How long opening a connection (TCP, TLS and the `AUTH`/`SELECT`
/// handshake together) may take by default.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one reply may take by default.
const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle connections a handle keeps by default.
const DEFAULT_MAX_IDLE_CONNECTIONS: usize = 16;

/// Socket timeouts of zero are refused by the operating system.
const SHORTEST_TIMEOUT: Duration = Duration::from_millis(1);

/// Settings for a [`Redis`] store, ending in [`RedisOptions::open`].
///
/// ```no_run
/// use std::time::Duration;
/// use kvit_redis::RedisOptions;
///
/// let store = RedisOptions::new("redis://:password@redis.internal:6379/0")
///     .prefix("app1:")
///     .connect_timeout(Duration::from_secs(2))
///     .open()?;
/// # Ok::<(), kvit::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisOptions {
    url: String,
    prefix: String,
    connect_timeout: Duration,
    response_timeout: Option<Duration>,
    max_idle_connections: usize,
    replicas: Option<ReplicaWait>,
    #[cfg(feature = "tls")]
    tls: Tls,
}

/// How many replicas must hold a write before it is acknowledged.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReplicaWait {
    pub(crate) replicas: usize,
    pub(crate) timeout: Duration,
}

#[cfg(feature = "tls")]
#[derive(Clone, Default)]
struct Tls {
    root_certificates: Option<Vec<u8>>,
    client_certificate: Option<(Vec<u8>, Vec<u8>)>,
}

impl RedisOptions {
    /// Options for the server at `url`, with the defaults: no key prefix, a 5
    /// second connect timeout, a 30 second response timeout and up to 16 idle
    /// connections.
    ///
    /// The URL is `redis://[[user]:password@]host[:port][/db]`, or
    /// `rediss://...` for TLS (with the default `tls` feature), or
    /// `redis+unix:///path/to/socket[?db=N&pass=...]` for a Unix socket.
    /// Percent-encode a password holding `@`, `:` or `/`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisOptions {
            url: url.into(),
            prefix: String::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: Some(DEFAULT_RESPONSE_TIMEOUT),
            max_idle_connections: DEFAULT_MAX_IDLE_CONNECTIONS,
            replicas: None,
            #[cfg(feature = "tls")]
            tls: Tls::default(),
        }
    }

    /// Prepends `prefix` to every key the store writes, and shows the store
    /// only keys under it, so several stores can share one Redis database.
    ///
    /// Prefix scans and [`kvit::KvStore::clear`] touch only keys under the
    /// prefix. Choose prefixes of which none starts another (`app1:` and
    /// `app1:x:` overlap; `app1:` and `app2:` do not). Empty by default: the
    /// store owns the whole database, and `clear` empties it.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long opening one connection may take, name resolution aside: TCP,
    /// TLS and the `AUTH`/`SELECT` handshake together. 5 seconds by default.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(SHORTEST_TIMEOUT);
        self
    }

    /// How long one request may wait for the server to read it and reply;
    /// `None` waits for ever. 30 seconds by default. A connection that times
    /// out is closed, so a late reply can never be taken for another's.
    pub fn response_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.response_timeout = timeout.map(|timeout| timeout.max(SHORTEST_TIMEOUT));
        self
    }

    /// How many idle connections the handle (and its clones) keep for reuse;
    /// 16 by default. More threads than this can still work at once: the extra
    /// connections are closed after use.
    pub fn max_idle_connections(mut self, count: usize) -> Self {
        self.max_idle_connections = count;
        self
    }

    /// Acknowledges `set`, `set_many` and a successful `cas` only once at
    /// least `replicas` replicas have received them (Redis `WAIT`, one more
    /// round trip after each such write), waiting at most `timeout`.
    ///
    /// Redis replicates asynchronously, so without this a failover can lose
    /// writes the primary acknowledged. With it, a write that too few replicas
    /// confirm in time fails with [`Error::Backend`]: it *is* applied on the
    /// primary, and may or may not survive a failover. `WAIT` confirms
    /// receipt, not a flush to the replicas' disks; see `docs/deployment.md`.
    /// Zero replicas (the default) waits for nothing. Keep `timeout` below
    /// the response timeout, which bounds every reply, `WAIT`'s included.
    pub fn wait_for_replicas(mut self, replicas: usize, timeout: Duration) -> Self {
        self.replicas = (replicas > 0).then_some(ReplicaWait {
            replicas,
            timeout: timeout.max(SHORTEST_TIMEOUT),
        });
        self
    }

    /// Trusts the certificate authorities in `pem` (one or more PEM
    /// certificates) instead of the system's, for `rediss://` URLs.
    #[cfg(feature = "tls")]
    pub fn tls_root_certificates(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.root_certificates = Some(pem.into());
        self
    }

    /// Presents a client certificate (PEM chain and PEM private key) to
    /// servers that ask for one (`tls-auth-clients yes`).
    #[cfg(feature = "tls")]
    pub fn tls_client_certificate(
        mut self,
        certificate_pem: impl Into<Vec<u8>>,
        private_key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client_certificate = Some((certificate_pem.into(), private_key_pem.into()));
        self
    }

    /// Connects, checks that the server answers, and returns the store.
    ///
    /// # Errors
    /// [`Error::Backend`] (operation `"open"`) when the URL does not parse,
    /// names TLS without the `tls` feature, or the server cannot be reached,
    /// refuses the password or database, or does not answer within the
    /// connect timeout.
    pub fn open(self) -> Result<Redis> {
        let address = redact(&self.url);
        let client = self.client().map_err(|source| {
            Error::backend(
                "open",
                ConnectError {
                    address: address.clone(),
                    source,
                },
            )
        })?;
        let pool = Pool::new(
            client,
            address,
            self.connect_timeout,
            self.response_timeout,
            self.max_idle_connections,
        );
        let store = Redis::new(pool, self.prefix, self.replicas);
        store.ping_during("open")?;
        Ok(store)
    }

    fn client(&self) -> redis::RedisResult<redis::Client> {
        use redis::IntoConnectionInfo;

        let info = self.url.as_str().into_connection_info()?;
        // Requests are written whole and answered at once: Nagle's algorithm
        // would only hold back the tail of a large request.
        let tcp = info.tcp_settings().clone().set_nodelay(true);
        // Operators see who is connected in `CLIENT LIST`.
        let settings = info
            .redis_settings()
            .clone()
            .set_lib_name("kvit-redis", env!("CARGO_PKG_VERSION"));
        let info = info.set_tcp_settings(tcp).set_redis_settings(settings);
        #[cfg(feature = "tls")]
        if matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }) {
            // rustls needs a process-wide crypto provider; if the program
            // installed one already, that one is used.
            let _ = rustls::crypto::ring::default_provider().install_default();
            if self.tls.root_certificates.is_some() || self.tls.client_certificate.is_some() {
                let certificates = redis::TlsCertificates {
                    client_tls: self.tls.client_certificate.clone().map(|(cert, key)| {
                        redis::ClientTlsConfig {
                            client_cert: cert,
                            client_key: key,
                        }
                    }),
                    root_cert: self.tls.root_certificates.clone(),
                };
                return redis::Client::build_with_tls(info, certificates);
            }
        }
        redis::Client::open(info)
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("RedisOptions");
        debug
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("connect_timeout", &self.connect_timeout)
            .field("response_timeout", &self.response_timeout)
            .field("max_idle_connections", &self.max_idle_connections)
            .field("wait_for_replicas", &self.replicas);
        #[cfg(feature = "tls")]
        debug
            .field(
                "tls_root_certificates",
                &self.tls.root_certificates.is_some(),
            )
            .field(
                "tls_client_certificate",
                &self.tls.client_certificate.is_some(),
            );
        debug.finish()
    }
}
