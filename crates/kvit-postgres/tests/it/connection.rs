//! Opening a store: what is refused and how, creating the table, and living
//! through lost connections.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use kvit::{Error, KvStore};
use kvit_postgres::{Postgres, PostgresOptions, TableName};

use crate::common::{with_application_name, TestTable};

/// Nothing listens on port 1 of the loopback address.
const REFUSED_URL: &str = "postgres://kvit:hunter2@127.0.0.1:1/kvit";

#[test]
fn an_unreachable_server_is_a_quick_backend_error() {
    let started = Instant::now();
    let error = Postgres::open(REFUSED_URL).expect_err("nothing listens on port 1");
    let elapsed = started.elapsed();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            Error::Backend {
                operation: "open",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        message.contains("cannot connect to postgres://kvit@127.0.0.1:1/kvit"),
        "{message}"
    );
    assert!(
        message.contains("refused"),
        "the cause is missing: {message}"
    );
    assert!(
        !message.contains("hunter2"),
        "the password leaked: {message}"
    );
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

/// A server that accepts the connection and then says nothing: the connect
/// timeout bounds the start-up too, not only the TCP connect.
#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        // Hold the accepted socket open without answering.
        let accepted = listener.accept();
        std::thread::sleep(Duration::from_secs(3));
        drop(accepted);
    });
    let started = Instant::now();
    let error = PostgresOptions::new(format!("postgres://kvit@127.0.0.1:{port}/kvit"))
        .connect_timeout(Duration::from_millis(300))
        .open()
        .expect_err("the server never answers");
    let elapsed = started.elapsed();
    assert!(
        matches!(
            error,
            Error::Backend {
                operation: "open",
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("connect timeout"), "{error}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    holder.join().unwrap();
}

fn expect_invalid_argument(result: kvit::Result<Postgres>, needle: &str) {
    match result {
        Err(Error::InvalidArgument(message)) => {
            assert!(message.contains(needle), "{message} lacks {needle:?}");
        }
        other => panic!("expected InvalidArgument({needle}), got {other:?}"),
    }
}

/// Bad settings are refused before any connection is tried: these use an
/// address where nothing listens, and would be backend errors otherwise.
#[test]
fn bad_settings_are_refused_before_connecting() {
    for name in [
        "",
        "1st",
        "bad-name",
        "a b",
        "quote\"d",
        "drop;table",
        "tablé",
    ] {
        expect_invalid_argument(
            PostgresOptions::new(REFUSED_URL).table(name).open(),
            "invalid PostgreSQL table name",
        );
    }
    expect_invalid_argument(
        PostgresOptions::new(REFUSED_URL)
            .table("x".repeat(64))
            .open(),
        "63 bytes",
    );
    expect_invalid_argument(
        PostgresOptions::new(REFUSED_URL).pool_size(0).open(),
        "pool size",
    );
    expect_invalid_argument(
        PostgresOptions::new(REFUSED_URL)
            .connect_timeout(Duration::ZERO)
            .open(),
        "timeout",
    );
    expect_invalid_argument(
        PostgresOptions::new("postgres://kvit:hunter2@127.0.0.1:1/kvit?sslmode=sometimes").open(),
        "invalid PostgreSQL connection URL",
    );
    assert!(TableName::new("kvit_kv").is_ok());
}

#[test]
fn table_names_are_quoted_and_case_sensitive() {
    let Some(lower) = TestTable::new("table_names_are_quoted_and_case_sensitive") else {
        return;
    };
    let upper = TestTable {
        url: lower.url.clone(),
        name: lower.name.replacen("t_", "T_", 1),
    };
    let (lower_store, upper_store) = (lower.open(), upper.open());
    assert_eq!(upper_store.table().as_str(), upper.name);
    lower_store.set("k", b"lower").unwrap();
    upper_store.set("k", b"upper").unwrap();
    assert_eq!(lower_store.get("k").unwrap(), Some(b"lower".to_vec()));
    assert_eq!(upper_store.get("k").unwrap(), Some(b"upper".to_vec()));
}

#[test]
fn the_default_table_is_kvit_kv() {
    let Some(table) = TestTable::new("the_default_table_is_kvit_kv") else {
        return;
    };
    // Never touch the real default table: only check the name it would use.
    assert_eq!(TableName::default().as_str(), "kvit_kv");
    assert_eq!(table.open().table().as_str(), table.name);
}

/// Threads opening the same missing table at once all succeed: creation is
/// serialised, and `CREATE TABLE IF NOT EXISTS` alone would not be.
#[test]
fn concurrent_first_use_creates_the_table_once() {
    const OPENERS: usize = 8;
    for attempt in 0..4 {
        let Some(table) = TestTable::new(&format!(
            "concurrent_first_use_creates_the_table_once_{attempt}"
        )) else {
            return;
        };
        let barrier = std::sync::Barrier::new(OPENERS);
        std::thread::scope(|scope| {
            for id in 0..OPENERS {
                let (barrier, table) = (&barrier, &table);
                scope.spawn(move || {
                    let options = table.options().pool_size(1);
                    barrier.wait();
                    let store = options.open().unwrap();
                    store.set(&format!("opener/{id}"), b"").unwrap();
                });
            }
        });
        assert_eq!(table.open().keys().unwrap().len(), OPENERS);
    }
}

#[test]
fn a_foreign_table_is_refused() {
    let Some(table) = TestTable::new("a_foreign_table_is_refused") else {
        return;
    };
    let mut client = table.raw_client();
    let create = |columns: &str| format!("CREATE TABLE \"{}\" ({columns})", table.name);
    let drop_table = format!("DROP TABLE \"{}\"", table.name);
    for (columns, needle) in [
        ("id int PRIMARY KEY, payload text", "not a kvit table"),
        // The default collation would order keys by locale, not by bytes.
        (
            "key text PRIMARY KEY, value bytea NOT NULL",
            "not a kvit table",
        ),
        (
            "key text COLLATE \"C\" PRIMARY KEY, value bytea",
            "not a kvit table",
        ),
        (
            "key text COLLATE \"C\" NOT NULL, value bytea NOT NULL",
            "primary key",
        ),
    ] {
        client.batch_execute(&create(columns)).unwrap();
        match table.options().open() {
            Err(error @ Error::InvalidStore { .. }) => {
                let message = error.to_string();
                assert!(message.contains(needle), "{columns}: {message}");
                assert!(message.contains(&table.name), "{columns}: {message}");
            }
            other => panic!("{columns}: opened a foreign table: {other:?}"),
        }
        client.batch_execute(&drop_table).unwrap();
    }
    // The table kvit creates is accepted when it is already there.
    drop(table.open());
    table.open().set("k", b"v").unwrap();
}

/// Terminates every session of `application`, as a server restart or a
/// failover would, and waits until they are gone.
fn terminate_sessions(table: &TestTable, application: &str) -> i64 {
    let mut client = table.raw_client();
    let killed: i64 = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1",
            &[&application],
        )
        .unwrap()
        .get(0);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                &[&application],
            )
            .unwrap()
            .get(0);
        if left == 0 {
            return killed;
        }
        assert!(Instant::now() < deadline, "{left} sessions survived");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// After the server drops every connection, the next operations reconnect:
/// idempotent ones at once, with no error.
#[test]
fn broken_connections_are_replaced() {
    let Some(table) = TestTable::new("broken_connections_are_replaced") else {
        return;
    };
    let application = format!("kvit_reconnect_{}", std::process::id());
    let store = PostgresOptions::new(with_application_name(&table.url, &application))
        .table(&table.name)
        .pool_size(4)
        .open()
        .unwrap();
    // Fill the pool with idle connections.
    std::thread::scope(|scope| {
        for id in 0..4 {
            let store = &store;
            scope.spawn(move || {
                for round in 0..20 {
                    store.set(&format!("k/{id}/{round}"), b"v").unwrap();
                }
            });
        }
    });
    assert!(store.cas("head", b"1", None).unwrap());

    for _ in 0..3 {
        let killed = terminate_sessions(&table, &application);
        assert!(killed >= 1, "no session to terminate");
        assert_eq!(store.get("k/0/0").unwrap(), Some(b"v".to_vec()));
        assert_eq!(store.keys_with_prefix("k/").unwrap().len(), 80);
        store.set("after", b"x").unwrap();
        let head = store.get("head").unwrap();
        let next = head.as_deref().map_or(0, |h| h[0]) + 1;
        assert!(store.cas("head", &[next], head.as_deref()).unwrap());
        assert!(store.open_connections() <= 4);
    }

    // A cas on a connection the server has dropped reports the break rather
    // than guess whether it committed; the next one runs on a fresh one.
    terminate_sessions(&table, &application);
    let head = store.get("head").unwrap();
    terminate_sessions(&table, &application);
    match store.cas("head", b"z", head.as_deref()) {
        Ok(swapped) => assert!(swapped),
        Err(error) => {
            eprintln!("cas on a dropped connection: {error}");
            assert!(
                matches!(
                    error,
                    Error::Backend {
                        operation: "cas",
                        ..
                    }
                ),
                "{error:?}"
            );
            assert!(store.cas("head", b"z", head.as_deref()).unwrap());
        }
    }
    assert_eq!(store.get("head").unwrap(), Some(b"z".to_vec()));
}

#[test]
fn clones_share_one_pool() {
    let Some(table) = TestTable::new("clones_share_one_pool") else {
        return;
    };
    let store = table.options().pool_size(3).open().unwrap();
    let clones: Vec<Postgres> = (0..6).map(|_| store.clone()).collect();
    std::thread::scope(|scope| {
        for (id, clone) in clones.iter().enumerate() {
            scope.spawn(move || {
                for round in 0..30 {
                    clone.set(&format!("c/{id}/{round}"), b"").unwrap();
                }
            });
        }
    });
    assert!(store.open_connections() <= 3);
    assert_eq!(store.keys_with_prefix("c/").unwrap().len(), 180);
    let shown = format!("{store:?}");
    assert!(
        shown.contains(&table.name) && !shown.contains("password"),
        "{shown}"
    );
}
