//! The backend conformance suite, and the contract's edges that are
//! PostgreSQL's own: NUL in keys, big batches, the pool's bound.

use kvit::testing::conformance;
use kvit::{Error, KvStore};

use crate::common::TestTable;

#[test]
fn conformance_suite() {
    let Some(table) = TestTable::new("conformance_suite") else {
        return;
    };
    // Includes a 16 MiB value through every read path and cas.
    conformance::run_all(&table.open());
}

#[test]
fn conformance_through_trait_objects() {
    let Some(table) = TestTable::new("conformance_through_trait_objects") else {
        return;
    };
    let store: Box<dyn KvStore> = Box::new(table.open());
    conformance::basic_contract(&store);
    conformance::prefix_scans(&*store);
    conformance::ordering(&std::sync::Arc::new(table.open()));
}

#[test]
fn cas_thread_race() {
    let Some(table) = TestTable::new("cas_thread_race") else {
        return;
    };
    conformance::cas_thread_race(&table.open(), 8, 100);
}

/// Fewer connections than threads: threads wait for a connection, and the
/// race still has one winner per round.
#[test]
fn cas_thread_race_on_a_small_pool() {
    let Some(table) = TestTable::new("cas_thread_race_on_a_small_pool") else {
        return;
    };
    let store = table.options().pool_size(2).open().unwrap();
    conformance::cas_thread_race(&store, 6, 30);
    assert!(
        store.open_connections() <= 2,
        "{} connections open",
        store.open_connections()
    );
    assert_eq!(store.pool_size(), 2);
}

fn expect_invalid_key<T: std::fmt::Debug>(result: kvit::Result<T>, operation: &str) {
    match result {
        Err(Error::InvalidKey { key, reason }) => {
            assert!(key.contains('\0'), "{operation}: {key:?}");
            assert!(reason.contains("NUL"), "{operation}: {reason}");
        }
        other => panic!("{operation} with a NUL in the key: {other:?}"),
    }
}

#[test]
fn keys_with_nul_are_refused_clearly() {
    let Some(table) = TestTable::new("keys_with_nul_are_refused_clearly") else {
        return;
    };
    let store = table.open();
    store.set("fine", b"1").unwrap();
    let key = "a\0b";
    expect_invalid_key(store.get(key), "get");
    expect_invalid_key(store.set(key, b"v"), "set");
    expect_invalid_key(store.remove(key), "remove");
    expect_invalid_key(store.contains(key), "contains");
    expect_invalid_key(store.cas(key, b"v", None), "cas");
    expect_invalid_key(store.cas(key, b"v", Some(b"w")), "cas");
    expect_invalid_key(store.get_many(&["fine", key]), "get_many");
    expect_invalid_key(store.set_many(&[("ok", b"1"), (key, b"2")]), "set_many");
    expect_invalid_key(store.remove_many(&["fine", key]), "remove_many");
    expect_invalid_key(store.keys_with_prefix("\0"), "keys_with_prefix");
    expect_invalid_key(store.scan_prefix("x\0"), "scan_prefix");
    // A refused batch wrote and removed nothing.
    assert_eq!(store.keys().unwrap(), ["fine"]);
}

#[test]
fn big_batches_are_one_statement_each() {
    let Some(table) = TestTable::new("big_batches_are_one_statement_each") else {
        return;
    };
    let store = table.open();
    let keys: Vec<String> = (0..20_000).map(|i| format!("object/{i:06}")).collect();
    let entries: Vec<(&str, &[u8])> = keys
        .iter()
        .map(|key| (key.as_str(), key.as_bytes()))
        .collect();
    store.set_many(&entries).unwrap();
    let wanted: Vec<&str> = keys.iter().map(String::as_str).rev().collect();
    let values = store.get_many(&wanted).unwrap();
    assert!(wanted
        .iter()
        .zip(&values)
        .all(|(key, value)| value.as_deref() == Some(key.as_bytes())));
    assert_eq!(store.keys_with_prefix("object/").unwrap().len(), keys.len());
    store.remove_many(&wanted[..10_000]).unwrap();
    assert_eq!(store.keys().unwrap().len(), 10_000);
    store.clear().unwrap();
    assert!(store.keys().unwrap().is_empty());
}

/// A batch that names a key twice keeps the last value (one statement cannot
/// touch a row twice), and batches sharing keys in opposite orders, run from
/// many threads, never deadlock.
#[test]
fn repeated_and_overlapping_batch_keys() {
    let Some(table) = TestTable::new("repeated_and_overlapping_batch_keys") else {
        return;
    };
    let store = table.open();
    store
        .set_many(&[("k", b"1"), ("j", b"x"), ("k", b"2"), ("k", b"3")])
        .unwrap();
    assert_eq!(store.get("k").unwrap(), Some(b"3".to_vec()));
    store.remove_many(&["k", "k", "missing", "k"]).unwrap();
    assert_eq!(store.keys().unwrap(), ["j"]);

    let keys: Vec<String> = (0..200).map(|i| format!("shared/{i:03}")).collect();
    std::thread::scope(|scope| {
        for thread in 0..4u8 {
            let (store, keys) = (&store, &keys);
            scope.spawn(move || {
                let mut order: Vec<&str> = keys.iter().map(String::as_str).collect();
                if thread % 2 == 1 {
                    order.reverse();
                }
                let value = [thread];
                let entries: Vec<(&str, &[u8])> =
                    order.iter().map(|key| (*key, &value[..])).collect();
                for _ in 0..20 {
                    store.set_many(&entries).unwrap();
                }
            });
        }
    });
    assert_eq!(store.keys_with_prefix("shared/").unwrap().len(), 200);
}
