//! Waiting for replicas: a primary and a replica of the test's own.

use std::time::{Duration, Instant};

use kvit::KvStore;
use kvit_redis::RedisOptions;

use crate::private_server::PrivateServer;
use crate::support::backend_error;

/// Polls `INFO replication` on `server` until it shows `line`.
fn wait_for_info(url: &str, line: &str) {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_connection().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut connection)
            .unwrap();
        if info.lines().any(|found| found.trim() == line) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{url} never showed {line}: {info}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn writes_wait_for_replicas() {
    const TEST: &str = "writes_wait_for_replicas";
    let Some(primary) = PrivateServer::start(TEST, &["--repl-diskless-sync-delay", "0"]) else {
        return;
    };
    let primary_port = primary.port.to_string();
    let replica = PrivateServer::start(TEST, &["--replicaof", "127.0.0.1", &primary_port]).unwrap();
    wait_for_info(&replica.url(), "master_link_status:up");
    wait_for_info(&primary.url(), "connected_slaves:1");

    let store = RedisOptions::new(primary.url())
        .prefix("r:")
        .wait_for_replicas(1, Duration::from_secs(10))
        .open()
        .unwrap();
    store.set("a", b"1").unwrap();
    store.set_many(&[("b", b"2"), ("c", b"3")]).unwrap();
    assert!(store.cas("head", b"h1", None).unwrap());

    // WAIT returned only once the replica had them: it can serve them at once.
    let on_replica = RedisOptions::new(replica.url())
        .prefix("r:")
        .open()
        .unwrap();
    assert_eq!(
        on_replica.get_many(&["a", "b", "c", "head"]).unwrap(),
        [
            Some(b"1".to_vec()),
            Some(b"2".to_vec()),
            Some(b"3".to_vec()),
            Some(b"h1".to_vec())
        ]
    );
    // A replica refuses writes: cas must go to the primary.
    let message = backend_error(on_replica.cas("head", b"h2", Some(b"h1")), "cas");
    assert!(message.to_lowercase().contains("read only"), "{message}");

    // More replicas than there are: the write is applied on the primary but
    // reported as not safely acknowledged, after the timeout.
    let greedy = RedisOptions::new(primary.url())
        .prefix("r:")
        .wait_for_replicas(2, Duration::from_millis(300))
        .open()
        .unwrap();
    let started = Instant::now();
    let message = backend_error(greedy.cas("head", b"h2", Some(b"h1")), "cas");
    assert!(message.contains("only 1 of the 2"), "{message}");
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(store.get("head").unwrap(), Some(b"h2".to_vec()));
    // A lost swap wrote nothing, so there is nothing to wait for.
    let started = Instant::now();
    assert!(!greedy.cas("head", b"h3", Some(b"h1")).unwrap());
    assert!(started.elapsed() < Duration::from_millis(250));
    backend_error(greedy.set("a", b"x"), "set");
    // Reads never wait.
    assert_eq!(greedy.get("a").unwrap(), Some(b"x".to_vec()));
}
