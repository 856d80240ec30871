//! The store layer (Staged, Live, Namespaced) through the Rust API: one test
//! per row of the seed's tables, concurrency, and namespace listing cost.

use std::collections::BTreeSet;
use std::sync::Arc;

use kvit::testing::Counting;
use kvit::{
    value_counter, value_last_writer_wins, value_merge_fn, ChangeSet, CommitOptions, Error, Json,
    KvStore, Live, Memory, MessagePack, Namespaced, OnConflict, Raw, Staged, Store,
    StoreCommitOptions, Strategy, Versioned,
};
use serde::{Deserialize, Serialize};

type Value = serde_json::Value;

fn staged() -> Staged<Json<Value>> {
    Staged::new(Versioned::in_memory().unwrap(), Json::new())
}

fn staged_on(kv: &Arc<dyn KvStore>) -> Staged<Json<Value>> {
    Staged::new(Versioned::open(kv.clone()).unwrap(), Json::new())
}

fn json(v: i64) -> Value {
    Value::from(v)
}

fn commit<S: Store>(store: &S) -> kvit::MergeResult {
    store.commit(&StoreCommitOptions::new()).unwrap()
}

// ---- Store protocol rows, on Staged ----------------------------------------

#[test]
fn get_and_default() {
    let s = staged();
    s.set("k", json(1)).unwrap();
    assert_eq!(s.get("k").unwrap(), Some(json(1)));
    assert_eq!(s.get("missing").unwrap(), None);
    assert_eq!(s.get("missing").unwrap().unwrap_or(json(7)), json(7));
}

#[test]
fn get_many_returns_only_existing_keys() {
    let s = staged();
    s.set("a", json(1)).unwrap();
    s.set("b", json(2)).unwrap();
    commit(&s);
    s.set("c", json(3)).unwrap();
    let got = s.get_many(&["a", "c", "zz"]).unwrap();
    assert_eq!(got, [("a".to_owned(), json(1)), ("c".to_owned(), json(3))]);
}

#[test]
fn keys_contains_len_and_iteration_see_staged_changes() {
    let s = staged();
    s.set("a", json(1)).unwrap();
    s.set("b", json(2)).unwrap();
    commit(&s);
    s.set("c", json(3)).unwrap();
    assert!(s.remove("a").unwrap());
    assert_eq!(s.keys().unwrap(), ["b", "c"]);
    assert!(s.contains("c").unwrap());
    assert!(!s.contains("a").unwrap());
    assert_eq!(s.len().unwrap(), 2);
    assert!(!s.is_empty().unwrap());
}

#[test]
fn remove_reports_missing_keys() {
    let s = staged();
    assert!(
        !s.remove("never").unwrap(),
        "a missing key is reported, not staged"
    );
    assert!(!s.has_changes());
    s.set("k", json(1)).unwrap();
    commit(&s);
    assert!(s.remove("k").unwrap());
    assert_eq!(s.get("k").unwrap(), None);
    commit(&s);
    assert_eq!(s.with_versioned(|v| v.get("k").unwrap()), None);
}

#[test]
fn set_stages_until_commit() {
    let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
    let s = staged_on(&kv);
    s.set("name", Value::from("alice")).unwrap();
    s.set("age", json(30)).unwrap();
    assert!(s.has_changes());
    let other = staged_on(&kv);
    assert_eq!(
        other.get("name").unwrap(),
        None,
        "staged values are not committed"
    );
    let result = commit(&s);
    assert!(result.merged);
    assert_eq!(result.strategy, Strategy::FastForward);
    assert!(!s.has_changes());
    other.refresh().unwrap();
    assert_eq!(other.get("name").unwrap(), Some(Value::from("alice")));
    assert_eq!(
        s.with_versioned(|v| v.get("age").unwrap()),
        Some(b"30".to_vec()),
        "encoded with the codec"
    );
}

#[test]
fn reset_discards_and_refresh_reloads() {
    let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
    let s = staged_on(&kv);
    s.set("a", json(1)).unwrap();
    s.reset().unwrap();
    assert!(!s.has_changes());
    assert_eq!(s.get("a").unwrap(), None);

    let other = staged_on(&kv);
    other.set("b", json(2)).unwrap();
    commit(&other);
    s.set("mine", json(0)).unwrap();
    s.refresh().unwrap();
    assert!(!s.has_changes());
    assert_eq!(s.get("b").unwrap(), Some(json(2)));
    assert_eq!(s.current_commit().unwrap(), other.current_commit().unwrap());
}

#[test]
fn branches_checkout_and_commit_properties() {
    let s = staged();
    s.set("k", json(1)).unwrap();
    let first = commit(&s).commit.unwrap();
    assert_eq!(s.current_commit().unwrap(), first);
    assert_eq!(s.base_commit().unwrap(), first);
    assert_eq!(s.last_merge_result().unwrap().unwrap().commit, Some(first));

    let dev = s.create_branch("dev").unwrap();
    dev.set("k", json(2)).unwrap();
    commit(&dev);
    assert_eq!(s.get("k").unwrap(), Some(json(1)));
    assert_eq!(dev.get("k").unwrap(), Some(json(2)));
    assert_eq!(s.list_branches().unwrap(), ["dev", "main"]);
    assert!(matches!(
        s.create_branch("dev"),
        Err(Error::BranchExists(_))
    ));

    s.set("k", json(3)).unwrap();
    commit(&s);
    let old = s.checkout(first, None).unwrap().unwrap();
    assert_eq!(old.get("k").unwrap(), Some(json(1)));
    let on_dev = s.checkout(first, Some("dev")).unwrap().unwrap();
    assert_eq!(on_dev.branch(), "dev");
    let missing = "0".repeat(40).parse().unwrap();
    assert!(s.checkout(missing, None).unwrap().is_none());
}

#[test]
fn failed_commits_keep_staged_changes() {
    let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
    let a = staged_on(&kv);
    let b = staged_on(&kv);
    a.set("k", json(1)).unwrap();
    commit(&a);
    b.set("k", json(2)).unwrap();
    let err = b.commit(&StoreCommitOptions::new()).unwrap_err();
    assert!(matches!(err, Error::MergeConflict(_)), "{err}");
    assert!(b.has_changes());
    assert_eq!(b.get("k").unwrap(), Some(json(2)));
    let abandoned = b
        .commit(&StoreCommitOptions::new().on_conflict(OnConflict::Abandon))
        .unwrap();
    assert!(!abandoned.merged);
    assert!(b.has_changes());
    let resolved = b
        .commit(&StoreCommitOptions::new().merge_fn("k", value_last_writer_wins()))
        .unwrap();
    assert!(resolved.merged);
    assert!(!b.has_changes());
    assert_eq!(b.get("k").unwrap(), Some(json(1)));
}

#[test]
fn merge_functions_see_decoded_values() {
    let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
    let a = Staged::new(Versioned::open(kv.clone()).unwrap(), Json::<i64>::new());
    let b = Staged::new(Versioned::open(kv.clone()).unwrap(), Json::<i64>::new());
    a.set("n", 10).unwrap();
    commit(&a);
    b.refresh().unwrap();
    b.set_merge_fn("n", value_counter()).unwrap();
    a.set("n", 15).unwrap();
    commit(&a);
    b.set("n", 11).unwrap();
    let result = commit(&b);
    assert_eq!(result.strategy, Strategy::ThreeWay);
    assert_eq!(
        b.get("n").unwrap(),
        Some(16),
        "both increments kept: 10 + 5 + 1"
    );

    // A default merge applies to keys without their own.
    b.set_default_merge(value_merge_fn(
        |_old, ours: Option<&i64>, theirs: Option<&i64>| {
            Ok(*ours.unwrap_or(&0).max(theirs.unwrap_or(&0)))
        },
    ))
    .unwrap();
    a.set("m", 5).unwrap();
    commit(&a);
    b.set("m", 3).unwrap();
    commit(&b);
    assert_eq!(b.get("m").unwrap(), Some(5));
}

#[test]
fn codec_errors_name_the_key() {
    // JSON object keys must be strings; these are not.
    type Unencodable = std::collections::BTreeMap<Vec<u8>, i32>;
    let s = Staged::new(Versioned::in_memory().unwrap(), Json::<Unencodable>::new());
    s.set("bad", Unencodable::from([(vec![1], 1)])).unwrap();
    let err = s.commit(&StoreCommitOptions::new()).unwrap_err();
    assert!(
        matches!(&err, Error::Codec { key, .. } if key == "bad"),
        "{err}"
    );
    assert!(s.has_changes());

    // Bytes another writer stored that this codec cannot read.
    let v = Versioned::in_memory().unwrap();
    let mut change = ChangeSet::new();
    change.set("raw", b"\xff\xfe".to_vec()).unwrap();
    let mut v = v;
    v.commit(&change, &CommitOptions::new()).unwrap();
    let s = Staged::new(v, Json::<String>::new());
    assert!(matches!(
        s.get("raw"),
        Err(Error::Codec {
            action: "decode",
            ..
        })
    ));
}

#[test]
fn typed_values_with_every_codec() {
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Task {
        id: u32,
        tags: Vec<String>,
    }
    let task = Task {
        id: 7,
        tags: vec!["a".into()],
    };
    let json = Staged::new(Versioned::in_memory().unwrap(), Json::<Task>::new());
    json.set("t", task.clone()).unwrap();
    commit(&json);
    json.refresh().unwrap();
    assert_eq!(json.get("t").unwrap(), Some(task.clone()));

    let packed = Staged::new(Versioned::in_memory().unwrap(), MessagePack::<Task>::new());
    packed.set("t", task.clone()).unwrap();
    commit(&packed);
    packed.refresh().unwrap();
    assert_eq!(packed.get("t").unwrap(), Some(task));

    let raw = Staged::new(Versioned::in_memory().unwrap(), Raw);
    raw.set("b", vec![0, 255]).unwrap();
    commit(&raw);
    assert_eq!(
        raw.with_versioned(|v| v.get("b").unwrap()),
        Some(vec![0, 255])
    );
}

#[test]
fn commit_info_passes_through() {
    let s = staged();
    s.set("k", json(1)).unwrap();
    s.commit(&StoreCommitOptions::new().info(serde_json::json!({"step": 1})))
        .unwrap();
    assert_eq!(
        s.with_versioned(|v| v.commit_info(None).unwrap()),
        Some(serde_json::json!({"step": 1}))
    );
}

// ---- Live --------------------------------------------------------------

#[test]
fn live_writes_at_once_and_refuses_versioning() {
    let s: Live<Value> = Live::new();
    s.set("k", Value::from("v")).unwrap();
    assert_eq!(s.get("k").unwrap(), Some(Value::from("v")));
    assert_eq!(s.keys().unwrap(), ["k"]);
    assert_eq!(s.len().unwrap(), 1);
    assert!(s.remove("k").unwrap());
    assert!(!s.contains("k").unwrap());
    let unsupported = |result: Result<(), Error>| matches!(result, Err(Error::Unsupported { .. }));
    assert!(unsupported(s.commit(&StoreCommitOptions::new()).map(drop)));
    assert!(unsupported(s.reset()));
    assert!(unsupported(s.create_branch("x").map(drop)));
    assert!(unsupported(
        s.checkout("0".repeat(40).parse().unwrap(), None).map(drop)
    ));
    assert!(unsupported(s.list_branches().map(drop)));
}

// ---- Namespaced -----------------------------------------------------------

#[test]
fn namespaces_isolate_and_prefix() {
    let s = staged();
    let agent = Namespaced::new(s.clone(), "agent").unwrap();
    let config = Namespaced::new(s.clone(), "config").unwrap();
    agent.set("state", Value::from("running")).unwrap();
    config.set("timeout", json(30)).unwrap();
    assert_eq!(agent.get("state").unwrap(), Some(Value::from("running")));
    assert_eq!(config.get("state").unwrap(), None);
    assert_eq!(s.get("agent/state").unwrap(), Some(Value::from("running")));
    let result = agent.commit(&StoreCommitOptions::new()).unwrap();
    assert!(result.merged);
    assert!(!s.has_changes(), "a namespace commits the whole store");
    assert_eq!(agent.namespace(), Some("agent"));
    assert!(agent.contains("state").unwrap());
    assert_eq!(
        agent.get_many(&["state", "nope"]).unwrap(),
        [("state".to_owned(), Value::from("running"))]
    );
}

#[test]
fn nested_namespaces_and_direct_children() {
    let s = staged();
    let ns1 = Namespaced::new(s.clone(), "agent").unwrap();
    let ns2 = Namespaced::new(ns1.clone(), "worker").unwrap();
    assert_eq!(ns2.path(), "agent/worker");
    assert_eq!(ns2.namespace(), Some("agent/worker"));
    ns2.set("task", Value::from("t1")).unwrap();
    ns1.set("top", json(1)).unwrap();
    assert_eq!(s.get("agent/worker/task").unwrap(), Some(Value::from("t1")));
    assert_eq!(
        ns1.keys().unwrap(),
        ["top"],
        "keys are direct children only"
    );
    assert_eq!(ns1.descendant_keys().unwrap(), ["top", "worker/task"]);
    assert_eq!(
        ns2.keys().unwrap(),
        ["task"],
        "a nested view lists its own children"
    );
    assert_eq!(ns2.descendant_keys().unwrap(), ["task"]);
    assert_eq!(ns2.len().unwrap(), 1);
    assert_eq!(ns1.len().unwrap(), 1);
    assert!(ns2.remove("task").unwrap());
    assert_eq!(ns1.descendant_keys().unwrap(), ["top"]);
}

#[test]
fn namespace_names_with_slashes_are_refused() {
    let s = staged();
    assert!(matches!(
        Namespaced::new(s.clone(), "a/b"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        Namespaced::new(s, ""),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn namespace_merge_functions_are_prefixed_and_defaults_store_wide() {
    let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
    let a = Staged::new(Versioned::open(kv.clone()).unwrap(), Json::<i64>::new());
    let b = Staged::new(Versioned::open(kv.clone()).unwrap(), Json::<i64>::new());
    let ns = Namespaced::new(b.clone(), "stats").unwrap();
    ns.set_merge_fn("hits", value_counter()).unwrap();
    ns.set_default_merge(value_last_writer_wins()).unwrap();
    a.set("stats/hits", 5).unwrap();
    a.set("other", 1).unwrap();
    commit(&a);
    ns.set("hits", 2).unwrap();
    b.set("other", 2).unwrap();
    ns.commit(&StoreCommitOptions::new()).unwrap();
    assert_eq!(ns.get("hits").unwrap(), Some(7));
    assert_eq!(
        b.get("other").unwrap(),
        Some(1),
        "the default applies outside the namespace too"
    );
}

#[test]
fn namespace_branching_delegates() {
    let s = staged();
    let ns = Namespaced::new(s.clone(), "ns").unwrap();
    ns.set("k", json(1)).unwrap();
    let first = commit(&ns).commit.unwrap();
    let dev = ns.create_branch("dev").unwrap();
    assert_eq!(dev.get("k").unwrap(), Some(json(1)));
    assert_eq!(ns.list_branches().unwrap(), ["dev", "main"]);
    let old = ns.checkout(first, None).unwrap().unwrap();
    assert_eq!(old.get("k").unwrap(), Some(json(1)));
    assert_eq!(ns.current_commit().unwrap(), first);
    assert_eq!(ns.base_commit().unwrap(), first);
    assert!(ns.last_merge_result().unwrap().is_some());
    ns.set("k", json(2)).unwrap();
    ns.reset().unwrap();
    assert_eq!(ns.get("k").unwrap(), Some(json(1)));
}

#[test]
fn namespace_listing_reads_only_the_namespace() {
    let counting = Arc::new(Counting::new(Memory::new()));
    let kv: Arc<dyn KvStore> = counting.clone();
    let mut v = Versioned::open(kv.clone()).unwrap();
    let n = 1_000_000;
    let mut change = ChangeSet::new();
    for i in 0..n {
        change.set(format!("bulk/{i:08}"), b"1".to_vec()).unwrap();
    }
    for i in 0..100 {
        change.set(format!("target/{i:03}"), b"2".to_vec()).unwrap();
    }
    v.commit(&change, &CommitOptions::new()).unwrap();
    let depth = u64::from(
        kvit::Tree::open(kv.clone(), 1 << 20)
            .unwrap()
            .depth(v.root())
            .unwrap(),
    );

    // Cold: a new handle on the same backend.
    let s = Staged::new(Versioned::open(kv).unwrap(), Raw);
    let ns = Namespaced::new(s, "target").unwrap();
    counting.reset();
    let keys = ns.keys().unwrap();
    assert_eq!(keys.len(), 100);
    let counts = counting.counts();
    // The path down plus the few leaves that hold 100 keys — never the million.
    assert!(
        counts.keys_read <= depth + 2 + 100 / 10,
        "read {} nodes at depth {depth}",
        counts.keys_read
    );
}

// ---- concurrency ---------------------------------------------------------

fn bump(store: &Staged<Json<i64>>) {
    loop {
        let current = store.get("counter").unwrap().unwrap_or(0);
        store.set("counter", current + 1).unwrap();
        match store.commit(&StoreCommitOptions::new()) {
            Ok(result) if result.merged => return,
            Ok(result) => panic!("unexpected unmerged result {result:?}"),
            Err(Error::Concurrency { .. }) => store.refresh().unwrap(),
            Err(other) => panic!("{other}"),
        }
    }
}

#[test]
fn two_staged_handles_commit_concurrently_with_exact_counts() {
    let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
    let main = Staged::new(Versioned::open(kv.clone()).unwrap(), Json::<i64>::new());
    main.set("counter", 0).unwrap();
    commit(&main);
    main.create_branch("side").unwrap();
    std::thread::scope(|scope| {
        for branch in ["main", "main", "side", "side"] {
            let kv = kv.clone();
            scope.spawn(move || {
                let v = Versioned::options().branch(branch).open(kv).unwrap();
                let s = Staged::new(v, Json::<i64>::new());
                s.set_merge_fn("counter", value_counter()).unwrap();
                for _ in 0..50 {
                    bump(&s);
                }
            });
        }
    });
    let read = |branch: &str| {
        let v = Versioned::options()
            .branch(branch)
            .open(kv.clone())
            .unwrap();
        Staged::new(v, Json::<i64>::new()).get("counter").unwrap()
    };
    assert_eq!(read("main"), Some(100));
    assert_eq!(read("side"), Some(100));
}

#[test]
fn keys_are_sorted_and_unique_with_overlays() {
    let s = staged();
    for k in ["b", "a", "c"] {
        s.set(k, json(1)).unwrap();
    }
    commit(&s);
    s.set("a", json(2)).unwrap();
    s.set("aa", json(2)).unwrap();
    let keys: Vec<String> = s.keys().unwrap();
    let unique: BTreeSet<&String> = keys.iter().collect();
    assert_eq!(keys.len(), unique.len());
    assert_eq!(keys, ["a", "aa", "b", "c"]);
}

// ---- store() ---------------------------------------------------------------

#[test]
fn store_builder_defaults_to_memory_on_main() {
    let s = kvit::store().open_json().unwrap();
    assert_eq!(s.branch(), "main");
    s.set("k", json(1)).unwrap();
    assert!(commit(&s).merged);
}

#[test]
fn store_builder_opens_disk_stores_and_needs_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let s = kvit::store()
        .disk(dir.path().join("db"))
        .open_json()
        .unwrap();
    s.set("k", json(1)).unwrap();
    commit(&s);
    let again = kvit::store()
        .storage(kvit::Storage::Disk)
        .path(dir.path().join("db"))
        .open_json()
        .unwrap();
    assert_eq!(again.get("k").unwrap(), Some(json(1)));
    let err = kvit::store()
        .storage(kvit::Storage::Disk)
        .open_json()
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(message) if message.contains("path")),
        "{err}"
    );
}

#[test]
fn store_builder_branch_and_codec() {
    let s = kvit::store()
        .branch("dev")
        .open(MessagePack::<Vec<String>>::new())
        .unwrap();
    assert_eq!(s.branch(), "dev");
    assert_eq!(s.list_branches().unwrap(), ["dev"]);
    assert!(matches!(
        kvit::store().branch("bad name").open_json(),
        Err(Error::InvalidBranchName { .. })
    ));
}

#[test]
fn store_builder_bounds_size_with_gc() {
    let s = kvit::store().high_water_bytes(2_000).open(Raw).unwrap();
    for i in 0..50 {
        s.set(&format!("k{i:02}"), vec![b'x'; 100]).unwrap();
        commit(&s);
    }
    let total = s.with_versioned(|v| v.total_value_bytes().unwrap());
    assert!(total <= 2_000, "total {total} above high water");
    assert!(s.with_gc(|gc| gc.low_water()).unwrap() == 1_600);
    // The most recently written keys survive; the oldest were dropped.
    assert!(s.contains("k49").unwrap());
    assert!(!s.contains("k00").unwrap());
    assert!(matches!(
        kvit::store().high_water_bytes(0).open_json(),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        kvit::store().low_water_bytes(10).open_json(),
        Err(Error::InvalidArgument(_))
    ));
    let dev = s.create_branch("dev").unwrap();
    assert!(
        dev.with_gc(|gc| gc.high_water()).is_some(),
        "branches keep the size bound"
    );
}

#[test]
fn cached_reads_still_count_as_uses_for_the_size_bound() {
    let s = kvit::store().high_water_bytes(1_000).open(Raw).unwrap();
    for i in 0..8 {
        s.set(&format!("k{i}"), vec![b'x'; 100]).unwrap();
        commit(&s);
    }
    // Read k0 (served from the decoded cache), then push past high water.
    assert!(s.get("k0").unwrap().is_some());
    for i in 8..12 {
        s.set(&format!("k{i}"), vec![b'x'; 100]).unwrap();
        commit(&s);
    }
    assert!(
        s.contains("k0").unwrap(),
        "a key read from the cache is warm"
    );
    assert!(
        !s.contains("k1").unwrap(),
        "an older untouched key was dropped first"
    );
}

#[test]
fn a_three_way_commit_refreshes_cached_values_the_other_side_changed() {
    let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
    let a = staged_on(&kv);
    let b = staged_on(&kv);
    a.set("x", json(1)).unwrap();
    commit(&a);
    b.refresh().unwrap();
    assert_eq!(b.get("x").unwrap(), Some(json(1)), "now cached in b");
    a.set("x", json(2)).unwrap();
    commit(&a);
    b.set("y", json(3)).unwrap();
    let result = commit(&b);
    assert_eq!(result.strategy, Strategy::ThreeWay);
    assert!(result.carried_keys.contains("x"));
    assert_eq!(
        b.get("x").unwrap(),
        Some(json(2)),
        "the carried change is seen, not the cached value"
    );
    assert_eq!(b.get("y").unwrap(), Some(json(3)));
}

/// Raw bytes, counting decodes: a decode is a read the cache did not serve.
struct CountingDecodes(Arc<std::sync::atomic::AtomicUsize>);

impl kvit::Codec for CountingDecodes {
    type Value = Vec<u8>;

    fn encode(&self, value: &Vec<u8>) -> Result<Vec<u8>, kvit::BoxError> {
        Ok(value.clone())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Vec<u8>, kvit::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(bytes.to_vec())
    }
}

#[test]
fn a_full_value_cache_evicts_a_few_values_not_all() {
    let decodes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = Staged::new(
        Versioned::in_memory().unwrap(),
        CountingDecodes(decodes.clone()),
    );
    // More values than the cache holds, all remembered by the commit.
    let n = 100_050;
    for i in 0..n {
        s.set(&format!("k/{i:06}"), i.to_string().into_bytes())
            .unwrap();
    }
    commit(&s);
    s.set("one more", b"1".to_vec()).unwrap();
    commit(&s);
    for i in n - 1_000..n {
        assert_eq!(
            s.get(&format!("k/{i:06}")).unwrap(),
            Some(i.to_string().into_bytes())
        );
    }
    let missed = decodes.load(std::sync::atomic::Ordering::Relaxed);
    assert!(missed < 100, "{missed} of 1,000 reads missed the cache");
}

#[test]
fn the_decoded_value_cache_can_be_sized_or_left_out() {
    let kv: Arc<dyn KvStore> = Arc::new(Memory::new());
    let writer = staged_on(&kv);
    for key in ["a", "b", "c"] {
        writer.set(key, json(1)).unwrap();
    }
    commit(&writer);
    // The readers below see the writer's JSON as raw bytes.
    let stored = |value: Value| kvit::Codec::encode(&Json::<Value>::new(), &value).unwrap();
    // Six reads of three keys: each decoded once with room for all, more
    // than once with room for two, on every read without a cache.
    for (limit, decodes) in [(kvit::VALUE_CACHE_LIMIT, 3..=3), (2, 4..=5), (0, 6..=6)] {
        let counted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let s = Staged::with_value_cache(
            Versioned::open(kv.clone()).unwrap(),
            CountingDecodes(counted.clone()),
            limit,
        );
        for key in ["a", "b", "c", "a", "b", "c"] {
            assert_eq!(s.get(key).unwrap(), Some(stored(json(1))), "limit {limit}");
        }
        let seen = counted.load(std::sync::atomic::Ordering::Relaxed);
        assert!(decodes.contains(&seen), "limit {limit}: {seen} decodes");
        // Presence, a removal and a branch work the same without the cache.
        assert!(s.remove("a").unwrap());
        assert!(!s.remove("zz").unwrap());
        s.set("d", stored(json(4))).unwrap();
        commit(&s);
        let dev = s.create_branch(&format!("dev{limit}")).unwrap();
        assert_eq!(dev.get("d").unwrap(), Some(stored(json(4))));
        assert_eq!(dev.get("a").unwrap(), None);
        writer.refresh().unwrap();
        writer.set("a", json(1)).unwrap();
        commit(&writer);
    }
}
