//! The one conformance suite, and what only a network backend must add:
//! batches larger than one command, many threads on one handle.

use std::sync::Arc;

use kvit::testing::conformance;
use kvit::KvStore;

use crate::support::scratch_or_skip;

#[test]
fn redis_conformance() {
    let store = scratch_or_skip!("redis_conformance");
    conformance::run_all(&store.store);
}

#[test]
fn redis_conformance_through_trait_objects() {
    let store = scratch_or_skip!("redis_conformance_through_trait_objects");
    let shared: Arc<dyn KvStore> = Arc::new(store.store.clone());
    conformance::basic_contract(&shared);
    conformance::prefix_scans(&*shared);
    let boxed: Box<dyn KvStore> = Box::new(store.store.clone());
    conformance::cas_semantics(&boxed);
}

#[test]
fn redis_cas_thread_race() {
    let store = scratch_or_skip!("redis_cas_thread_race");
    conformance::cas_thread_race(&store.store, 8, 200);
}

/// Threads each with a clone of the handle, and threads sharing one: clones
/// share the pool, and neither way may mix up two threads' replies.
#[test]
fn redis_threads_never_see_each_others_replies() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 200;
    let store = scratch_or_skip!("redis_threads_never_see_each_others_replies");
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let store = if thread % 2 == 0 {
                store.store.clone()
            } else {
                (*store).clone()
            };
            scope.spawn(move || {
                for round in 0..ROUNDS {
                    let key = format!("t{thread}/{round}");
                    let value = format!("{thread}:{round}").into_bytes();
                    store.set(&key, &value).unwrap();
                    assert_eq!(store.get(&key).unwrap(), Some(value.clone()));
                    let many = store.get_many(&[&key, "missing", &key]).unwrap();
                    assert_eq!(many, [Some(value.clone()), None, Some(value)]);
                    assert!(store.contains(&key).unwrap());
                }
                assert_eq!(
                    store
                        .keys_with_prefix(&format!("t{thread}/"))
                        .unwrap()
                        .len(),
                    ROUNDS
                );
            });
        }
    });
    assert_eq!(store.keys().unwrap().len(), THREADS * ROUNDS);
}

/// More keys than one `MGET`/`MSET`/`UNLINK` carries: the batch is split into
/// several commands and still lines up (and `set_many` stays one transaction).
#[test]
fn redis_batches_larger_than_one_command() {
    const KEYS: usize = 25_000;
    let store = scratch_or_skip!("redis_batches_larger_than_one_command");
    let keys: Vec<String> = (0..KEYS).map(|i| format!("big/{i:06}")).collect();
    let values: Vec<Vec<u8>> = (0..KEYS as u32).map(|i| i.to_le_bytes().to_vec()).collect();
    let entries: Vec<(&str, &[u8])> = keys
        .iter()
        .zip(&values)
        .map(|(key, value)| (key.as_str(), value.as_slice()))
        .collect();
    store.set_many(&entries).unwrap();

    let mut asked: Vec<&str> = keys.iter().map(String::as_str).rev().collect();
    asked.insert(12_345, "big/missing");
    let got = store.get_many(&asked).unwrap();
    assert_eq!(got.len(), KEYS + 1);
    assert_eq!(got[12_345], None);
    let mut expected: Vec<Option<Vec<u8>>> = values.iter().rev().cloned().map(Some).collect();
    expected.insert(12_345, None);
    assert_eq!(got, expected);

    let scanned = store.scan_prefix("big/").unwrap();
    assert_eq!(scanned.len(), KEYS);
    assert!(scanned
        .iter()
        .zip(keys.iter().zip(&values))
        .all(|((key, value), (want_key, want_value))| key == want_key && value == want_value));

    let doomed: Vec<&str> = keys.iter().step_by(2).map(String::as_str).collect();
    store.remove_many(&doomed).unwrap();
    assert_eq!(store.keys_with_prefix("big/").unwrap().len(), KEYS / 2);
    store.clear().unwrap();
    assert!(store.keys().unwrap().is_empty());
}
