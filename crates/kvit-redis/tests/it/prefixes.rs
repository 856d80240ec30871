//! Several stores in one Redis database, told apart by their key prefixes.

use kvit::KvStore;
use kvit_redis::{Redis, RedisOptions};

use crate::support::{redis_url, test_prefix, Scratch};

fn open(url: &str, prefix: &str) -> Scratch {
    Scratch::new(url, prefix)
}

#[test]
fn stores_with_different_prefixes_do_not_see_each_other() {
    let Some(url) = redis_url("stores_with_different_prefixes_do_not_see_each_other") else {
        return;
    };
    let base = test_prefix("isolation");
    let first = open(&url, &format!("{base}app1:"));
    let second = open(&url, &format!("{base}app2:"));
    assert_eq!(first.prefix(), format!("{base}app1:"));

    first.set("shared-name", b"first").unwrap();
    second.set("shared-name", b"second").unwrap();
    first.set("only-first", b"1").unwrap();
    assert!(first.cas("head", b"h1", None).unwrap());
    assert!(
        second.cas("head", b"h2", None).unwrap(),
        "the other store's head is not this one's"
    );

    assert_eq!(first.get("shared-name").unwrap(), Some(b"first".to_vec()));
    assert_eq!(second.get("shared-name").unwrap(), Some(b"second".to_vec()));
    assert!(!second.contains("only-first").unwrap());
    assert_eq!(second.get("only-first").unwrap(), None);
    assert_eq!(
        second.get_many(&["only-first", "head"]).unwrap(),
        [None, Some(b"h2".to_vec())]
    );
    assert_eq!(first.keys().unwrap(), ["head", "only-first", "shared-name"]);
    assert_eq!(second.keys().unwrap(), ["head", "shared-name"]);
    assert_eq!(
        second.items().unwrap(),
        [
            ("head".to_owned(), b"h2".to_vec()),
            ("shared-name".to_owned(), b"second".to_vec())
        ]
    );

    // Removing and clearing in one store leaves the other alone.
    second.remove_many(&["only-first", "shared-name"]).unwrap();
    assert_eq!(first.get("only-first").unwrap(), Some(b"1".to_vec()));
    assert_eq!(first.get("shared-name").unwrap(), Some(b"first".to_vec()));
    second.clear().unwrap();
    assert!(second.keys().unwrap().is_empty());
    assert_eq!(first.keys().unwrap().len(), 3);

    // A store without a prefix sees both, under their full names.
    let whole = Redis::open(&url).unwrap();
    let visible = whole.keys_with_prefix(&base).unwrap();
    assert_eq!(
        visible,
        [
            format!("{base}app1:head"),
            format!("{base}app1:only-first"),
            format!("{base}app1:shared-name")
        ]
    );
    assert_eq!(
        whole.get(&format!("{base}app1:shared-name")).unwrap(),
        Some(b"first".to_vec())
    );
}

/// Glob metacharacters in the store's prefix and in a scan's prefix match
/// themselves only, both in scans and in `clear`.
#[test]
fn glob_metacharacters_in_prefixes_are_literal() {
    let Some(url) = redis_url("glob_metacharacters_in_prefixes_are_literal") else {
        return;
    };
    let base = test_prefix("glob");
    let tricky = open(&url, &format!("{base}a*b?c[xy]d\\e:"));
    // The first two match the prefix read as an unescaped glob; the others
    // differ from it only around an escape.
    let decoys: Vec<Scratch> = [
        "aZZbQcxde:",
        "a*b?cyde:",
        "a*b?c[xy]de:",
        "a*b?c[xy]d\\\\e:",
        "a*b?c[xy]d\\e;",
    ]
    .iter()
    .map(|decoy| open(&url, &format!("{base}{decoy}")))
    .collect();
    for decoy in &decoys {
        decoy.set("k", b"decoy").unwrap();
        decoy.set("*", b"decoy").unwrap();
    }
    // The test means something: unescaped, the glob does catch decoys.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut raw = client.get_connection().unwrap();
    let naive = format!("{}*", tricky.prefix());
    let mut caught: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&naive)
            .arg("COUNT")
            .arg(1000)
            .query(&mut raw)
            .unwrap();
        caught.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert!(caught.contains(&format!("{base}aZZbQcxde:k")), "{caught:?}");
    assert!(caught.contains(&format!("{base}a*b?cyde:k")), "{caught:?}");

    let keys = [
        "*", "?", "[", "]", "\\", "[a-z]", "k", "k*", "k?x", "k[1]", "k\\*",
    ];
    for key in keys {
        tricky.set(key, key.as_bytes()).unwrap();
    }
    let mut sorted: Vec<String> = keys.iter().map(|&key| key.to_owned()).collect();
    sorted.sort_unstable();
    assert_eq!(tricky.keys().unwrap(), sorted);
    assert_eq!(
        tricky.keys_with_prefix("k").unwrap(),
        ["k", "k*", "k?x", "k[1]", "k\\*"]
    );
    assert_eq!(tricky.keys_with_prefix("k*").unwrap(), ["k*"]);
    assert_eq!(tricky.keys_with_prefix("k?").unwrap(), ["k?x"]);
    assert_eq!(tricky.keys_with_prefix("k[").unwrap(), ["k[1]"]);
    assert_eq!(tricky.keys_with_prefix("k\\").unwrap(), ["k\\*"]);
    assert_eq!(tricky.keys_with_prefix("[").unwrap(), ["[", "[a-z]"]);
    assert_eq!(tricky.keys_with_prefix("\\").unwrap(), ["\\"]);
    assert!(tricky.keys_with_prefix("[a").unwrap() == ["[a-z]"]);
    assert!(tricky.keys_with_prefix("a").unwrap().is_empty());
    let items = tricky.scan_prefix("k").unwrap();
    assert!(items
        .iter()
        .all(|(key, value)| key.as_bytes() == value.as_slice()));

    for decoy in &decoys {
        assert_eq!(
            decoy.keys().unwrap(),
            ["*", "k"],
            "under {:?}",
            decoy.prefix()
        );
    }
    tricky.clear().unwrap();
    assert!(tricky.keys().unwrap().is_empty());
    for decoy in &decoys {
        assert_eq!(
            decoy.get("k").unwrap(),
            Some(b"decoy".to_vec()),
            "clear of the tricky prefix removed {:?}",
            decoy.prefix()
        );
    }
}

/// Keys under the prefix that kvit cannot have written (not UTF-8, or not a
/// Redis string) are skipped by scans, and `clear` still removes them.
#[test]
fn scans_skip_keys_kvit_did_not_write() {
    let Some(url) = redis_url("scans_skip_keys_kvit_did_not_write") else {
        return;
    };
    let prefix = test_prefix("foreign");
    let store = open(&url, &prefix);
    store.set("mine", b"v").unwrap();

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut raw = client.get_connection().unwrap();
    let mut binary_key = prefix.as_bytes().to_vec();
    binary_key.extend([0xff, 0xfe]);
    redis::cmd("SET")
        .arg(&binary_key)
        .arg("x")
        .query::<()>(&mut raw)
        .unwrap();
    redis::cmd("HSET")
        .arg(format!("{prefix}a-hash"))
        .arg("field")
        .arg("value")
        .query::<()>(&mut raw)
        .unwrap();

    assert_eq!(store.keys().unwrap(), ["a-hash", "mine"]);
    assert_eq!(store.items().unwrap(), [("mine".to_owned(), b"v".to_vec())]);
    let error = store.get("a-hash").unwrap_err();
    assert!(
        matches!(
            error,
            kvit::Error::Backend {
                operation: "get",
                ..
            }
        ),
        "{error:?}"
    );
    store.clear().unwrap();
    let left: i64 = redis::cmd("EXISTS")
        .arg(&binary_key)
        .arg(format!("{prefix}a-hash"))
        .query(&mut raw)
        .unwrap();
    assert_eq!(left, 0, "clear left foreign keys under the prefix");
}

#[test]
fn the_empty_prefix_is_the_whole_database() {
    let Some(url) = redis_url("the_empty_prefix_is_the_whole_database") else {
        return;
    };
    let scoped = open(&url, &test_prefix("empty-prefix"));
    scoped.set("k", b"v").unwrap();
    let whole = RedisOptions::new(&url).open().unwrap();
    assert_eq!(whole.prefix(), "");
    let full = format!("{}k", scoped.prefix());
    assert_eq!(whole.get(&full).unwrap(), Some(b"v".to_vec()));
    assert!(whole.keys().unwrap().contains(&full));
}
