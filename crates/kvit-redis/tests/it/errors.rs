//! Failures: bad URLs, servers that are not there or do not answer, wrong
//! passwords, slow replies and restarts each give a `Backend` error naming the
//! operation, promptly, never a panic or a hang; and the store recovers once
//! the server does.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use kvit::KvStore;
use kvit_redis::{Redis, RedisOptions};

use crate::private_server::{free_port, PrivateServer};
use crate::support::backend_error;

#[test]
fn bad_urls_are_backend_errors() {
    for url in [
        "",
        "not a url",
        "http://127.0.0.1:6379",
        "redis://",
        "redis://127.0.0.1:notaport",
        "redis://127.0.0.1:6379/notadb",
    ] {
        let message = backend_error(Redis::open(url), "open");
        assert!(message.contains("open"), "{url:?}: {message}");
    }
}

#[test]
fn an_unreachable_server_is_a_prompt_backend_error() {
    // A port that was free a moment ago: nobody listens there.
    let url = format!("redis://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let message = backend_error(Redis::open(&url), "open");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert!(message.contains(&url), "names the server: {message}");
    assert!(message.to_lowercase().contains("refused"), "{message}");
}

/// A server that accepts connections but never answers: the connect timeout
/// bounds the wait.
#[test]
fn a_silent_server_times_out() {
    // The kernel completes TCP handshakes for the listen backlog even though
    // nobody ever accepts.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "redis://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    let started = Instant::now();
    let result = RedisOptions::new(&url)
        .connect_timeout(Duration::from_millis(300))
        .open();
    let elapsed = started.elapsed();
    let message = backend_error(result, "open");
    assert!(
        elapsed < Duration::from_secs(3),
        "took {elapsed:?}: {message}"
    );
    drop(listener);
}

#[test]
fn passwords_in_the_url() {
    const PASSWORD: &str = "s3cret-pw";
    let Some(server) = PrivateServer::start("passwords_in_the_url", &["--requirepass", PASSWORD])
    else {
        return;
    };
    let port = server.port;
    let store = Redis::open(format!("redis://:{PASSWORD}@127.0.0.1:{port}/0")).unwrap();
    store.set("k", b"v").unwrap();
    assert_eq!(store.get("k").unwrap(), Some(b"v".to_vec()));
    assert!(store.cas("k", b"w", Some(b"v")).unwrap());
    let shown = format!("{store:?} {}", store.address());
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    let options = RedisOptions::new(format!("redis://default:{PASSWORD}@127.0.0.1:{port}"));
    assert!(!format!("{options:?}").contains(PASSWORD));
    options.open().unwrap().ping().unwrap();

    let message = backend_error(
        Redis::open(format!("redis://:wrong-pw@127.0.0.1:{port}")),
        "open",
    );
    assert!(!message.contains("wrong-pw"), "{message}");
    let lowered = message.to_lowercase();
    assert!(
        lowered.contains("auth") || lowered.contains("password"),
        "{message}"
    );
    let message = backend_error(Redis::open(server.url()), "open");
    assert!(message.to_lowercase().contains("auth"), "{message}");
}

/// The server dies and comes back: operations in between fail promptly with
/// Backend errors; afterwards the same handle works again on new connections,
/// and a read on a connection that died while idle is retried transparently.
#[test]
fn the_store_recovers_from_a_server_restart() {
    let Some(mut server) = PrivateServer::start("the_store_recovers_from_a_server_restart", &[])
    else {
        return;
    };
    let store = RedisOptions::new(server.url())
        .connect_timeout(Duration::from_secs(1))
        .open()
        .unwrap();
    let clone = store.clone();
    store.set("k", b"1").unwrap();

    server.kill();
    let started = Instant::now();
    backend_error(store.get("k"), "get");
    backend_error(store.cas("k", b"2", Some(b"1")), "cas");
    backend_error(clone.set_many(&[("a", b"1")]), "set_many");
    backend_error(clone.keys(), "keys_with_prefix");
    backend_error(store.ping(), "ping");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failing took {:?}",
        started.elapsed()
    );

    server.restart();
    // The data was not persisted; the handle simply works again.
    assert_eq!(store.get("k").unwrap(), None);
    assert!(clone.cas("k", b"1", None).unwrap());

    // Connections in the pool die with the server; a read on one is retried.
    let readers: Vec<Redis> = (0..4).map(|_| store.clone()).collect();
    std::thread::scope(|scope| {
        for reader in &readers {
            scope.spawn(move || reader.get("k").unwrap());
        }
    });
    server.restart();
    assert_eq!(
        store.get("missing").unwrap(),
        None,
        "a dead pooled connection was not replaced"
    );
    store.set("k", b"again").unwrap();
    assert_eq!(clone.get("k").unwrap(), Some(b"again".to_vec()));
}

/// A reply slower than the response timeout is an error, and the connection
/// it would have arrived on is never reused: later replies stay in step.
#[test]
fn a_slow_reply_times_out_and_never_answers_another_request() {
    let Some(server) = PrivateServer::start(
        "a_slow_reply_times_out_and_never_answers_another_request",
        &["--enable-debug-command", "yes"],
    ) else {
        return;
    };
    let store = RedisOptions::new(server.url())
        .response_timeout(Some(Duration::from_millis(300)))
        .open()
        .unwrap();
    store.set("a", b"value of a").unwrap();
    store.set("b", b"value of b").unwrap();

    let client = redis::Client::open(server.url()).unwrap();
    let blocker = std::thread::spawn(move || {
        let mut connection = client.get_connection().unwrap();
        redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("1.5")
            .query::<()>(&mut connection)
            .unwrap();
    });
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let message = backend_error(store.get("a"), "get");
    assert!(
        started.elapsed() < Duration::from_millis(1200),
        "waited {:?}",
        started.elapsed()
    );
    assert!(
        message.to_lowercase().contains("timed out")
            || message.to_lowercase().contains("would block")
            || message.to_lowercase().contains("temporarily unavailable"),
        "{message}"
    );
    blocker.join().unwrap();
    // The late reply to `get("a")` must not be taken for this one's.
    assert_eq!(store.get("b").unwrap(), Some(b"value of b".to_vec()));
    assert_eq!(store.get("a").unwrap(), Some(b"value of a".to_vec()));
}

/// Exact server-side command counts: each batch operation is one command,
/// `cas` one script call, and scans use `SCAN`, never `KEYS`.
#[test]
fn each_operation_is_the_documented_commands() {
    let Some(server) = PrivateServer::start("each_operation_is_the_documented_commands", &[])
    else {
        return;
    };
    let store = RedisOptions::new(server.url()).prefix("p:").open().unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut admin = client.get_connection().unwrap();
    // Warm the script cache so `cas` below is one EVALSHA.
    store.cas("warm", b"x", None).unwrap();

    let mut counts = |operation: &dyn Fn()| -> Vec<(String, u64)> {
        redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query::<()>(&mut admin)
            .unwrap();
        operation();
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query(&mut admin)
            .unwrap();
        let mut calls: Vec<(String, u64)> = info
            .lines()
            .filter_map(|line| {
                let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
                let calls = rest
                    .strip_prefix("calls=")?
                    .split(',')
                    .next()?
                    .parse()
                    .ok()?;
                // The counting connection's own commands are not the store's.
                let command = name.split('|').next().unwrap_or(name);
                (!matches!(command, "config" | "info")).then(|| (name.to_owned(), calls))
            })
            .collect();
        calls.sort();
        calls
    };
    let calls = |list: &[(&str, u64)]| -> Vec<(String, u64)> {
        list.iter()
            .map(|(name, count)| ((*name).to_owned(), *count))
            .collect()
    };

    let keys: Vec<String> = (0..500).map(|i| format!("k{i:03}")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let entries: Vec<(&str, &[u8])> = key_refs.iter().map(|key| (*key, &b"v"[..])).collect();
    assert_eq!(
        counts(&|| store.set_many(&entries).unwrap()),
        calls(&[("mset", 1)])
    );
    assert_eq!(
        counts(&|| assert_eq!(store.get_many(&key_refs).unwrap().len(), 500)),
        calls(&[("mget", 1)])
    );
    assert_eq!(
        counts(&|| drop(store.get("k001").unwrap())),
        calls(&[("get", 1)])
    );
    assert_eq!(
        counts(&|| store.set("k001", b"w").unwrap()),
        calls(&[("set", 1)])
    );
    assert_eq!(
        counts(&|| assert!(store.contains("k001").unwrap())),
        calls(&[("exists", 1)])
    );
    assert_eq!(
        counts(&|| assert!(store.cas("k001", b"x", Some(b"w")).unwrap())),
        calls(&[("evalsha", 1), ("get", 1), ("set", 1)])
    );
    assert_eq!(
        counts(&|| assert!(!store.cas("k001", b"y", Some(b"w")).unwrap())),
        calls(&[("evalsha", 1), ("get", 1)])
    );
    assert_eq!(
        counts(&|| assert_eq!(store.keys_with_prefix("k0").unwrap().len(), 100)),
        calls(&[("scan", 1)])
    );
    // 500 keys: one SCAN step (COUNT 1000 covers the small table), values
    // in MGETs of 1000 keys.
    assert_eq!(
        counts(&|| assert_eq!(store.items().unwrap().len(), 501)),
        calls(&[("mget", 1), ("scan", 1)])
    );
    assert_eq!(
        counts(&|| store.remove_many(&key_refs[..100]).unwrap()),
        calls(&[("unlink", 1)])
    );
    assert_eq!(
        counts(&|| store.remove("k200").unwrap()),
        calls(&[("unlink", 1)])
    );
    let cleared = counts(&|| store.clear().unwrap());
    assert!(
        cleared
            .iter()
            .all(|(name, _)| name == "scan" || name == "unlink"),
        "{cleared:?}"
    );
    assert!(store.keys().unwrap().is_empty());
}
