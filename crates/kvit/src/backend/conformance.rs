//! The conformance suite: the behaviour every [`KvStore`] backend must show.
//!
//! Every backend's tests call [`run_all`] on a fresh store (and
//! [`cas_thread_race`] with more threads or rounds where that is cheap). Each
//! check starts by clearing the store, so run them only on a store made for
//! the test. A violation panics with a message that names the check and what
//! differed; a backend error panics too, naming the operation.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Barrier;

use super::KvStore;
use crate::error::Result;

/// Runs every check below, in order.
pub fn run_all<S: KvStore + ?Sized>(store: &S) {
    basic_contract(store);
    get_many_alignment(store);
    batch_writes(store);
    cas_semantics(store);
    conditional_removal(store);
    all_byte_values(store);
    empty_values(store);
    large_value(store);
    non_ascii_keys(store);
    ordering(store);
    prefix_scans(store);
    cas_thread_race(store, 4, 25);
    store
        .clear()
        .unwrap_or_else(|error| panic!("conformance: final clear failed: {error}"));
}

/// `remove_if_unchanged` removes exactly the keys still holding the given
/// bytes, and reports how many.
pub fn conditional_removal<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "conditional_removal";
    fresh(store, CHECK);
    ok(
        store.set_many(&[("a", b"1"), ("b", b"2"), ("c", b""), ("d", b"4")]),
        CHECK,
        "set_many",
    );
    let removed = ok(
        store.remove_if_unchanged(&[
            ("a", b"1"),
            ("b", b"changed"),
            ("c", b""),
            ("missing", b"1"),
            ("d", b"44"),
        ]),
        CHECK,
        "remove_if_unchanged",
    );
    assert_eq!(
        removed, 2,
        "{CHECK}: only a and c still held the given bytes"
    );
    assert_eq!(
        ok(store.get("a"), CHECK, "get"),
        None,
        "{CHECK}: a was unchanged and must be gone"
    );
    assert_eq!(
        ok(store.get("b"), CHECK, "get").as_deref(),
        Some(&b"2"[..]),
        "{CHECK}: b changed and must stay"
    );
    assert_eq!(
        ok(store.get("c"), CHECK, "get"),
        None,
        "{CHECK}: an empty value matches an empty expectation"
    );
    assert_eq!(
        ok(store.get("d"), CHECK, "get").as_deref(),
        Some(&b"4"[..]),
        "{CHECK}: a longer expectation must not match"
    );
    assert_eq!(
        ok(store.get("missing"), CHECK, "get"),
        None,
        "{CHECK}: a missing key stays missing"
    );
    assert_eq!(
        ok(store.remove_if_unchanged(&[]), CHECK, "remove_if_unchanged"),
        0
    );
}

/// One process's part in a multi-process `cas` race: in each of `rounds`
/// rounds it tries to create `round-NNNN` holding its `id`, then waits, through
/// the store, until all `processes` have tried, so every round is contested.
/// Returns the rounds it won; the parent checks there is one winner a round.
///
/// # Panics
/// On a backend failure, or if a round is not completed within a minute.
pub fn cas_rounds_in_process<S: KvStore + ?Sized>(
    store: &S,
    id: u64,
    rounds: usize,
    processes: usize,
) -> u64 {
    const CHECK: &str = "cas_rounds_in_process";
    let mut wins = 0u64;
    for round in 0..rounds {
        if ok(
            store.cas(&format!("round-{round:04}"), &id.to_le_bytes(), None),
            CHECK,
            "cas",
        ) {
            wins += 1;
        }
        let attempted = format!("attempted/{round:04}/");
        ok(store.set(&format!("{attempted}{id}"), b""), CHECK, "set");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while ok(
            store.keys_with_prefix(&attempted),
            CHECK,
            "keys_with_prefix",
        )
        .len()
            < processes
        {
            assert!(
                std::time::Instant::now() < deadline,
                "{CHECK}: round {round} never completed"
            );
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
    wins
}

/// Unwraps a backend result, panicking with the check and operation on error.
fn ok<T>(result: Result<T>, check: &str, operation: &str) -> T {
    result.unwrap_or_else(|error| panic!("conformance {check}: {operation} failed: {error}"))
}

fn fresh<S: KvStore + ?Sized>(store: &S, check: &str) {
    ok(store.clear(), check, "clear");
    assert!(
        ok(store.keys(), check, "keys").is_empty(),
        "conformance {check}: store not empty after clear"
    );
}

fn owned(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|&key| key.to_owned()).collect()
}

/// The single-key operations, `keys`, `items`, `contains`, `remove` and `clear`.
pub fn basic_contract<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "basic_contract";
    fresh(store, CHECK);

    assert_eq!(
        ok(store.get("a"), CHECK, "get"),
        None,
        "{CHECK}: missing key must read as None"
    );
    assert!(
        !ok(store.contains("a"), CHECK, "contains"),
        "{CHECK}: missing key is contained"
    );

    ok(store.set("a", b"1"), CHECK, "set");
    assert_eq!(
        ok(store.get("a"), CHECK, "get"),
        Some(b"1".to_vec()),
        "{CHECK}: get after set"
    );
    assert!(
        ok(store.contains("a"), CHECK, "contains"),
        "{CHECK}: key set but not contained"
    );

    ok(store.set("a", b"2"), CHECK, "set");
    assert_eq!(
        ok(store.get("a"), CHECK, "get"),
        Some(b"2".to_vec()),
        "{CHECK}: set must replace"
    );

    ok(store.set("b", b"3"), CHECK, "set");
    assert_eq!(
        ok(store.keys(), CHECK, "keys"),
        owned(&["a", "b"]),
        "{CHECK}: keys"
    );
    assert_eq!(
        ok(store.items(), CHECK, "items"),
        vec![
            ("a".to_owned(), b"2".to_vec()),
            ("b".to_owned(), b"3".to_vec())
        ],
        "{CHECK}: items"
    );

    ok(store.remove("a"), CHECK, "remove");
    assert_eq!(
        ok(store.get("a"), CHECK, "get"),
        None,
        "{CHECK}: get after remove"
    );
    assert!(
        !ok(store.contains("a"), CHECK, "contains"),
        "{CHECK}: removed key is contained"
    );
    ok(store.remove("a"), CHECK, "remove of a missing key");
    ok(
        store.remove("never-there"),
        CHECK,
        "remove of a missing key",
    );
    assert_eq!(
        ok(store.keys(), CHECK, "keys"),
        owned(&["b"]),
        "{CHECK}: keys after remove"
    );

    ok(store.clear(), CHECK, "clear");
    assert!(
        ok(store.keys(), CHECK, "keys").is_empty(),
        "{CHECK}: keys after clear"
    );
    assert!(
        ok(store.items(), CHECK, "items").is_empty(),
        "{CHECK}: items after clear"
    );
    assert_eq!(
        ok(store.get("b"), CHECK, "get"),
        None,
        "{CHECK}: get after clear"
    );
    ok(store.clear(), CHECK, "clear of an empty store");
}

/// `get_many` answers position by position: missing keys as `None`, repeated
/// keys repeated, an empty request with an empty answer.
pub fn get_many_alignment<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "get_many_alignment";
    fresh(store, CHECK);
    ok(
        store.set_many(&[("k1", b"v1"), ("k3", b"v3")]),
        CHECK,
        "set_many",
    );

    assert_eq!(
        ok(store.get_many(&[]), CHECK, "get_many"),
        Vec::<Option<Vec<u8>>>::new(),
        "{CHECK}: empty request"
    );
    assert_eq!(
        ok(
            store.get_many(&["missing", "k3", "k2", "k1", "k3", "missing"]),
            CHECK,
            "get_many"
        ),
        vec![
            None,
            Some(b"v3".to_vec()),
            None,
            Some(b"v1".to_vec()),
            Some(b"v3".to_vec()),
            None
        ],
        "{CHECK}: answers must line up with the keys asked for"
    );
    assert_eq!(
        ok(store.get_many(&["nope", "nada"]), CHECK, "get_many"),
        vec![None, None],
        "{CHECK}: all missing"
    );
}

/// `set_many` and `remove_many`, including empty batches and missing keys.
pub fn batch_writes<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "batch_writes";
    fresh(store, CHECK);

    ok(store.set_many(&[]), CHECK, "set_many of nothing");
    assert!(
        ok(store.keys(), CHECK, "keys").is_empty(),
        "{CHECK}: empty set_many wrote"
    );

    let values: Vec<(String, Vec<u8>)> = (0..100u32)
        .map(|i| (format!("batch/{i:03}"), i.to_le_bytes().to_vec()))
        .collect();
    let entries: Vec<(&str, &[u8])> = values
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_slice()))
        .collect();
    ok(store.set_many(&entries), CHECK, "set_many");
    assert_eq!(
        ok(store.items(), CHECK, "items"),
        values,
        "{CHECK}: items after set_many"
    );

    // Replacing through set_many, mixed with new keys.
    ok(
        store.set_many(&[("batch/000", b"new"), ("batch/zzz", b"z")]),
        CHECK,
        "set_many",
    );
    assert_eq!(
        ok(store.get("batch/000"), CHECK, "get"),
        Some(b"new".to_vec()),
        "{CHECK}: replace"
    );
    assert_eq!(
        ok(store.get("batch/zzz"), CHECK, "get"),
        Some(b"z".to_vec()),
        "{CHECK}: insert"
    );

    ok(store.remove_many(&[]), CHECK, "remove_many of nothing");
    let doomed: Vec<&str> = values.iter().skip(1).map(|(key, _)| key.as_str()).collect();
    let mut doomed_and_missing = doomed.clone();
    doomed_and_missing.extend(["batch/missing", "other/missing"]);
    ok(
        store.remove_many(&doomed_and_missing),
        CHECK,
        "remove_many with missing keys",
    );
    assert_eq!(
        ok(store.keys(), CHECK, "keys"),
        owned(&["batch/000", "batch/zzz"]),
        "{CHECK}: keys after remove_many"
    );
    ok(
        store.remove_many(&doomed),
        CHECK,
        "remove_many of already removed keys",
    );
}

/// `cas`: `expected = None` means absent, a wrong expectation changes nothing,
/// a right one replaces, and an empty value is not the same as a missing one.
pub fn cas_semantics<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "cas_semantics";
    fresh(store, CHECK);
    let get = |key: &str| ok(store.get(key), CHECK, "get");
    let cas = |key: &str, value: &[u8], expected: Option<&[u8]>| {
        ok(store.cas(key, value, expected), CHECK, "cas")
    };

    assert!(
        cas("head", b"v1", None),
        "{CHECK}: cas(None) on an absent key must succeed"
    );
    assert_eq!(
        get("head"),
        Some(b"v1".to_vec()),
        "{CHECK}: value after cas(None)"
    );

    assert!(
        !cas("head", b"v2", None),
        "{CHECK}: cas(None) on a present key must fail"
    );
    assert_eq!(
        get("head"),
        Some(b"v1".to_vec()),
        "{CHECK}: failed cas(None) changed the value"
    );

    assert!(
        !cas("head", b"v2", Some(b"wrong")),
        "{CHECK}: cas with a wrong expectation"
    );
    assert!(
        !cas("head", b"v2", Some(b"v")),
        "{CHECK}: cas matched a prefix of the value"
    );
    assert!(
        !cas("head", b"v2", Some(b"v1 and more")),
        "{CHECK}: cas matched a longer value"
    );
    assert!(
        !cas("head", b"v2", Some(b"")),
        "{CHECK}: cas matched empty against a value"
    );
    assert_eq!(
        get("head"),
        Some(b"v1".to_vec()),
        "{CHECK}: failed cas changed the value"
    );

    assert!(
        cas("head", b"v2", Some(b"v1")),
        "{CHECK}: cas with the right expectation"
    );
    assert_eq!(
        get("head"),
        Some(b"v2".to_vec()),
        "{CHECK}: value after successful cas"
    );
    assert!(
        cas("head", b"v2", Some(b"v2")),
        "{CHECK}: cas to the same value must succeed"
    );

    assert!(
        !cas("absent", b"x", Some(b"x")),
        "{CHECK}: cas(Some) on an absent key"
    );
    assert!(
        !cas("absent", b"x", Some(b"")),
        "{CHECK}: cas(Some(empty)) on an absent key"
    );
    assert_eq!(
        get("absent"),
        None,
        "{CHECK}: failed cas on an absent key created it"
    );

    ok(store.set("empty", b""), CHECK, "set");
    assert!(
        !cas("empty", b"x", None),
        "{CHECK}: cas(None) on a key holding an empty value"
    );
    assert!(
        cas("empty", b"x", Some(b"")),
        "{CHECK}: cas(Some(empty)) on an empty value"
    );
    assert!(
        cas("empty", b"", Some(b"x")),
        "{CHECK}: cas back to an empty value"
    );
    assert_eq!(
        get("empty"),
        Some(Vec::new()),
        "{CHECK}: empty value after cas"
    );

    ok(store.remove("head"), CHECK, "remove");
    assert!(
        cas("head", b"v3", None),
        "{CHECK}: cas(None) after remove must succeed"
    );
}

/// Every byte value survives, inside one value and as 256 one-byte values.
pub fn all_byte_values<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "all_byte_values";
    fresh(store, CHECK);
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let mut reversed = every_byte.clone();
    reversed.reverse();
    ok(store.set("all", &every_byte), CHECK, "set");
    ok(store.set("all-reversed", &reversed), CHECK, "set");
    assert_eq!(
        ok(store.get("all"), CHECK, "get"),
        Some(every_byte.clone()),
        "{CHECK}: 0..=255"
    );
    assert_eq!(
        ok(store.get("all-reversed"), CHECK, "get"),
        Some(reversed),
        "{CHECK}: 255..=0"
    );
    assert!(
        ok(
            store.cas("all", b"swapped", Some(&every_byte)),
            CHECK,
            "cas"
        ),
        "{CHECK}: cas expecting all 256 bytes"
    );

    let keys: Vec<String> = (0..=255u8).map(|byte| format!("byte/{byte:03}")).collect();
    let values: Vec<[u8; 1]> = (0..=255u8).map(|byte| [byte]).collect();
    let entries: Vec<(&str, &[u8])> = keys
        .iter()
        .zip(&values)
        .map(|(key, value)| (key.as_str(), value.as_slice()))
        .collect();
    ok(store.set_many(&entries), CHECK, "set_many");
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let expected: Vec<Option<Vec<u8>>> = values.iter().map(|value| Some(value.to_vec())).collect();
    assert_eq!(
        ok(store.get_many(&key_refs), CHECK, "get_many"),
        expected,
        "{CHECK}: single bytes"
    );
    let scanned: Vec<Vec<u8>> = ok(store.scan_prefix("byte/"), CHECK, "scan_prefix")
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    let expected: Vec<Vec<u8>> = values.iter().map(|value| value.to_vec()).collect();
    assert_eq!(
        scanned, expected,
        "{CHECK}: single bytes through scan_prefix"
    );
    for (key, value) in keys.iter().zip(&values) {
        assert_eq!(
            ok(store.get(key), CHECK, "get"),
            Some(value.to_vec()),
            "{CHECK}: single byte under {key}"
        );
    }
}

/// An empty value is stored and read back as empty, never as missing.
pub fn empty_values<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "empty_values";
    fresh(store, CHECK);
    ok(store.set("empty", b""), CHECK, "set");
    ok(
        store.set_many(&[("empty-batch", b""), ("full", b"x")]),
        CHECK,
        "set_many",
    );

    assert_eq!(
        ok(store.get("empty"), CHECK, "get"),
        Some(Vec::new()),
        "{CHECK}: get"
    );
    assert!(
        ok(store.contains("empty"), CHECK, "contains"),
        "{CHECK}: contains"
    );
    assert_eq!(
        ok(
            store.get_many(&["empty", "missing", "empty-batch"]),
            CHECK,
            "get_many"
        ),
        vec![Some(Vec::new()), None, Some(Vec::new())],
        "{CHECK}: get_many"
    );
    assert_eq!(
        ok(store.keys(), CHECK, "keys"),
        owned(&["empty", "empty-batch", "full"]),
        "{CHECK}: keys"
    );
    assert_eq!(
        ok(store.items(), CHECK, "items"),
        vec![
            ("empty".to_owned(), Vec::new()),
            ("empty-batch".to_owned(), Vec::new()),
            ("full".to_owned(), b"x".to_vec())
        ],
        "{CHECK}: items"
    );
    ok(store.set("full", b""), CHECK, "set");
    assert_eq!(
        ok(store.get("full"), CHECK, "get"),
        Some(Vec::new()),
        "{CHECK}: overwrite with empty"
    );
}

/// A 16 MiB value round-trips through every read path.
pub fn large_value<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "large_value";
    const SIZE: usize = 16 << 20;
    fresh(store, CHECK);
    // Not a repeating byte, so a truncated or shifted copy cannot pass.
    let value: Vec<u8> = (0..SIZE)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect();
    ok(store.set("large", &value), CHECK, "set");
    let read = ok(store.get("large"), CHECK, "get");
    assert!(
        read.as_deref() == Some(value.as_slice()),
        "{CHECK}: get returned {} bytes",
        describe_length(read.as_deref())
    );
    let many = ok(store.get_many(&["large"]), CHECK, "get_many");
    assert!(
        many.len() == 1 && many[0].as_deref() == Some(value.as_slice()),
        "{CHECK}: get_many did not return the value"
    );
    let items = ok(store.items(), CHECK, "items");
    assert!(
        items.len() == 1 && items[0].0 == "large" && items[0].1 == value,
        "{CHECK}: items did not return the value"
    );
    assert!(
        ok(store.cas("large", b"small", Some(&value)), CHECK, "cas"),
        "{CHECK}: cas expecting the large value"
    );
    ok(store.remove("large"), CHECK, "remove");
}

fn describe_length(value: Option<&[u8]>) -> String {
    value.map_or_else(|| "no".to_owned(), |value| value.len().to_string())
}

/// Keys from across Unicode, including ones equal after normalisation, round-trip
/// unchanged, distinct, and in byte order.
pub fn non_ascii_keys<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "non_ascii_keys";
    fresh(store, CHECK);
    let keys = [
        "emoji/😀",
        "emoji/👩‍👩‍👧",
        "cjk/漢字",
        "cjk/日本語のキー",
        "combining/e\u{301}", // e + combining acute: not the same key as é
        "combining/\u{e9}",
        "rtl/שלום",
        "\u{FF61}halfwidth", // sorts before emoji in bytes, after them in UTF-16
        "\u{10FFFF}last",
        "\u{7F}delete",
        "\u{80}padding",
        "tab\tand space ",
        "Upper",
        "lower",
    ];
    let entries: Vec<(&str, Vec<u8>)> = keys
        .iter()
        .map(|&key| (key, key.as_bytes().to_vec()))
        .collect();
    let entries: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(key, value)| (*key, value.as_slice()))
        .collect();
    ok(store.set_many(&entries[..7]), CHECK, "set_many");
    for &key in &keys[7..] {
        ok(store.set(key, key.as_bytes()), CHECK, "set");
    }

    for &key in &keys {
        assert_eq!(
            ok(store.get(key), CHECK, "get"),
            Some(key.as_bytes().to_vec()),
            "{CHECK}: value under {key:?}"
        );
    }
    let mut sorted: Vec<String> = owned(&keys);
    sorted.sort_unstable(); // str's Ord is byte order
    assert_eq!(
        ok(store.keys(), CHECK, "keys"),
        sorted,
        "{CHECK}: keys must come back in byte order"
    );
    let items = ok(store.items(), CHECK, "items");
    let item_keys: Vec<String> = items.iter().map(|(key, _)| key.clone()).collect();
    assert_eq!(
        item_keys, sorted,
        "{CHECK}: items must come back in byte order"
    );
    for (key, value) in &items {
        assert_eq!(
            value.as_slice(),
            key.as_bytes(),
            "{CHECK}: items value under {key:?}"
        );
    }
    assert!(
        ok(
            store.cas("cjk/漢字", b"new", Some("cjk/漢字".as_bytes())),
            CHECK,
            "cas"
        ),
        "{CHECK}: cas on a CJK key"
    );
    ok(store.remove("combining/e\u{301}"), CHECK, "remove");
    assert!(
        ok(store.contains("combining/\u{e9}"), CHECK, "contains"),
        "{CHECK}: removing e + combining accent removed the precomposed key"
    );
}

/// `keys()` and `items()` are in ascending byte order whatever the write order.
pub fn ordering<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "ordering";
    fresh(store, CHECK);
    // A fixed shuffle (multiplication by a unit mod 211) of keys whose byte order
    // differs from numeric, case-insensitive and length order.
    let mut keys: Vec<String> = (0..211u32)
        .map(|i| {
            let n = (i * 97) % 211;
            match n % 4 {
                0 => format!("k{n}"),
                1 => format!("K{n}"),
                2 => format!("k{n}/child"),
                _ => format!("k-{n}"),
            }
        })
        .collect();
    for key in &keys {
        ok(store.set(key, key.as_bytes()), CHECK, "set");
    }
    keys.sort_unstable();
    assert_eq!(
        ok(store.keys(), CHECK, "keys"),
        keys,
        "{CHECK}: keys out of order"
    );
    let items = ok(store.items(), CHECK, "items");
    let item_keys: Vec<String> = items.into_iter().map(|(key, _)| key).collect();
    assert_eq!(item_keys, keys, "{CHECK}: items out of order");
}

/// Prefix scans: exact-key prefixes, the empty prefix, non-ASCII prefixes,
/// prefixes ending in `char::MAX` or just below the surrogate gap, and
/// characters that are wildcards in SQL `LIKE`.
pub fn prefix_scans<S: KvStore + ?Sized>(store: &S) {
    const CHECK: &str = "prefix_scans";
    fresh(store, CHECK);
    let max = char::MAX;
    let keys: Vec<String> = [
        "a",
        "ab",
        "ab/c",
        "abc",
        "ac",
        "b",
        "a%b",
        "a_c",
        "axc",
        "漢",
        "漢字",
        "漣", // the character right after 漢
        "x\u{10FFFE}",
        "x\u{10FFFF}",
        "x\u{10FFFF}a",
        "x\u{10FFFF}\u{10FFFF}",
        "y",
        "\u{D7FF}a",
        "\u{E000}",
        "\u{10FFFF}",
        "\u{10FFFF}z",
    ]
    .iter()
    .map(|&key| key.to_owned())
    .collect();
    for key in &keys {
        ok(store.set(key, key.as_bytes()), CHECK, "set");
    }

    let expect = |prefix: &str, want: &[&str]| {
        let want = owned(want);
        assert_eq!(
            ok(store.keys_with_prefix(prefix), CHECK, "keys_with_prefix"),
            want,
            "{CHECK}: keys_with_prefix({prefix:?})"
        );
        let items = ok(store.scan_prefix(prefix), CHECK, "scan_prefix");
        let item_keys: Vec<String> = items.iter().map(|(key, _)| key.clone()).collect();
        assert_eq!(item_keys, want, "{CHECK}: scan_prefix({prefix:?}) keys");
        for (key, value) in &items {
            assert_eq!(
                value.as_slice(),
                key.as_bytes(),
                "{CHECK}: scan_prefix({prefix:?}) value"
            );
        }
    };

    let mut all = keys.clone();
    all.sort_unstable();
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    expect("", &all);
    expect("ab", &["ab", "ab/c", "abc"]);
    expect("ab/c", &["ab/c"]);
    expect("a", &["a", "a%b", "a_c", "ab", "ab/c", "abc", "ac", "axc"]);
    expect("a%", &["a%b"]);
    expect("a_", &["a_c"]);
    expect("zzz", &[]);
    expect("abcd", &[]);
    expect("漢", &["漢", "漢字"]);
    expect("漢字", &["漢字"]);
    expect(
        &format!("x{max}"),
        &["x\u{10FFFF}", "x\u{10FFFF}a", "x\u{10FFFF}\u{10FFFF}"],
    );
    expect(&format!("x{max}{max}"), &["x\u{10FFFF}\u{10FFFF}"]);
    expect(
        "x",
        &[
            "x\u{10FFFE}",
            "x\u{10FFFF}",
            "x\u{10FFFF}a",
            "x\u{10FFFF}\u{10FFFF}",
        ],
    );
    expect(&max.to_string(), &["\u{10FFFF}", "\u{10FFFF}z"]);
    expect("\u{D7FF}", &["\u{D7FF}a"]);
}

/// `threads` threads race `cas` for `rounds` rounds.
///
/// In each round every thread tries to create the same key with its own id
/// (`expected = None`): exactly one must win, and the key must hold its id.
/// Then every thread increments one shared counter `rounds` times by
/// read-then-`cas`, retrying on a lost race: the counter must end at
/// `threads * rounds`, with one successful `cas` per increment.
pub fn cas_thread_race<S: KvStore + ?Sized>(store: &S, threads: usize, rounds: usize) {
    const CHECK: &str = "cas_thread_race";
    fresh(store, CHECK);
    let barrier = Barrier::new(threads);
    let round_wins: Vec<AtomicUsize> = (0..rounds).map(|_| AtomicUsize::new(0)).collect();

    std::thread::scope(|scope| {
        for id in 0..threads {
            let (barrier, round_wins) = (&barrier, &round_wins);
            scope.spawn(move || {
                let id_bytes = (id as u64).to_le_bytes();
                for (round, wins) in round_wins.iter().enumerate() {
                    barrier.wait();
                    let key = format!("race/round-{round:05}");
                    if ok(store.cas(&key, &id_bytes, None), CHECK, "cas") {
                        wins.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    for (round, wins) in round_wins.iter().enumerate() {
        let wins = wins.load(Ordering::Relaxed);
        assert_eq!(wins, 1, "{CHECK}: round {round} had {wins} winners");
        let key = format!("race/round-{round:05}");
        let value = ok(store.get(&key), CHECK, "get");
        let winner = value
            .as_deref()
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map(u64::from_le_bytes);
        assert!(
            winner.is_some_and(|winner| winner < threads as u64),
            "{CHECK}: round {round} holds {value:?}, not a thread id"
        );
    }

    let successes = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (barrier, successes) = (&barrier, &successes);
            scope.spawn(move || {
                barrier.wait();
                for _ in 0..rounds {
                    loop {
                        let current = ok(store.get("race/counter"), CHECK, "get");
                        let next = read_counter(current.as_deref(), CHECK) + 1;
                        if ok(
                            store.cas("race/counter", &next.to_le_bytes(), current.as_deref()),
                            CHECK,
                            "cas",
                        ) {
                            successes.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            });
        }
    });
    let counter = read_counter(
        ok(store.get("race/counter"), CHECK, "get").as_deref(),
        CHECK,
    );
    let expected = (threads * rounds) as u64;
    assert_eq!(
        counter, expected,
        "{CHECK}: counter lost or invented increments"
    );
    assert_eq!(
        successes.into_inner() as u64,
        expected,
        "{CHECK}: successful cas calls"
    );
}

/// A little-endian `u64` counter; a missing counter is 0.
fn read_counter(value: Option<&[u8]>, check: &str) -> u64 {
    match value {
        None => 0,
        Some(bytes) => <[u8; 8]>::try_from(bytes).map_or_else(
            |_| panic!("conformance {check}: counter holds {bytes:?}"),
            u64::from_le_bytes,
        ),
    }
}
