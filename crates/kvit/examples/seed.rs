//! The Python API guide's examples, in Rust, one function each. `make test`
//! runs this file, so the examples cannot rot.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kvit::{
    store, value_counter, value_last_writer_wins, value_merge_fn, Disk, Error, Json, KvStore, Live,
    Memory, Namespaced, Staged, Store, StoreCommitOptions, Versioned,
};
use serde_json::{json, Value};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn commit<S: Store>(s: &S) -> kvit::Result<kvit::MergeResult> {
    s.commit(&StoreCommitOptions::new())
}

/// `kvit.store()` and its options.
fn factory(dir: &std::path::Path) -> Result {
    // Default: staged over an in-memory versioned store.
    let s = store().open_json()?;
    s.set("k", json!("v"))?;
    commit(&s)?;

    // With disk persistence.
    let s = store().disk(dir.join("db")).open_json()?;
    s.set("k", json!(1))?;
    commit(&s)?;
    assert_eq!(
        store().disk(dir.join("db")).open_json()?.get("k")?,
        Some(json!(1))
    );

    // Disk without a path is an error, not a surprise.
    assert!(matches!(
        store().storage(kvit::Storage::Disk).open_json(),
        Err(Error::InvalidArgument(_))
    ));

    // With garbage collection.
    let s = store().high_water_bytes(10_000).open_json()?;
    for i in 0..100 {
        s.set(&format!("k{i}"), json!("x".repeat(200)))?;
        commit(&s)?;
    }
    assert!(s.with_versioned(kvit::Versioned::total_value_bytes)? <= 10_000);

    // A custom branch.
    let s = store().branch("dev").open_json()?;
    assert_eq!(s.branch(), "dev");

    // A custom codec: values are encoded by the codec (JSON here, MessagePack
    // or raw bytes otherwise).
    let s = store().open(Json::<Vec<u32>>::new())?;
    s.set("list", vec![1, 2, 3])?;
    commit(&s)?;
    assert_eq!(
        s.with_versioned(|v| v.get("list"))?,
        Some(b"[1,2,3]".to_vec())
    );
    Ok(())
}

/// `Staged`: buffered writes, one atomic commit.
fn staged() -> Result {
    let s = Staged::new(Versioned::in_memory()?, Json::<Value>::new());
    s.set("name", json!("alice"))?;
    s.set("age", json!(30))?;
    commit(&s)?;
    assert_eq!(s.get("name")?, Some(json!("alice")));
    Ok(())
}

/// `Live`: immediate writes, no versions.
fn live() -> Result {
    let s: Live<Value> = Live::new();
    s.set("k", json!("v"))?;
    assert_eq!(s.get("k")?, Some(json!("v")));
    assert!(matches!(commit(&s), Err(Error::Unsupported { .. })));
    Ok(())
}

/// `Namespaced`: prefixed, isolated views, nested by wrapping.
fn namespaced() -> Result {
    let s = store().open_json()?;
    let agent = Namespaced::new(s.clone(), "agent")?;
    let config = Namespaced::new(s.clone(), "config")?;
    agent.set("state", json!("running"))?;
    config.set("timeout", json!(30))?;
    assert_eq!(agent.get("state")?, Some(json!("running")));
    assert_eq!(config.get("state")?, None);
    assert_eq!(s.get("agent/state")?, Some(json!("running")));

    let ns1 = Namespaced::new(s.clone(), "agent")?;
    let ns2 = Namespaced::new(ns1, "worker")?;
    assert_eq!(ns2.path(), "agent/worker");
    s.set("agent/worker/task", json!("t"))?;
    assert_eq!(ns2.get("task")?, Some(json!("t")));

    let ns = Namespaced::new(s.clone(), "myns")?;
    ns.set("k", json!("v"))?;
    assert!(ns.remove("k")?);
    ns.set("k", json!("v"))?;
    let result = commit(&ns)?;
    assert!(result.merged);
    ns.set_merge_fn("counter", value_counter_json())?;
    ns.set_default_merge(value_last_writer_wins())?;
    let dev = ns.create_branch("dev")?;
    assert_eq!(dev.list_branches()?, ["dev", "main"]);
    Ok(())
}

fn value_counter_json() -> kvit::ValueMergeFn<Value> {
    value_merge_fn(
        |old: Option<&Value>, ours: Option<&Value>, theirs: Option<&Value>| {
            let int = |v: Option<&Value>| v.and_then(Value::as_i64).unwrap_or(0);
            Ok(json!(int(ours) + int(theirs) - int(old)))
        },
    )
}

/// Merge functions on decoded values.
fn merge_functions() -> Result {
    let backend: Arc<dyn KvStore> = Arc::new(Memory::new());
    let a = Staged::new(Versioned::open(backend.clone())?, Json::<i64>::new());
    let b = Staged::new(Versioned::open(backend)?, Json::<i64>::new());
    b.set_merge_fn("counter", value_counter())?;
    a.set("counter", 1)?;
    commit(&a)?;
    b.set("counter", 1)?;
    commit(&b)?;
    assert_eq!(b.get("counter")?, Some(2));
    Ok(())
}

/// The byte backends.
fn backends(dir: &std::path::Path) -> Result {
    let memory = Memory::new();
    memory.set("k", b"v")?;
    assert_eq!(
        memory.snapshot().get("k").map(Vec::as_slice),
        Some(&b"v"[..])
    );
    let disk = Disk::open(dir.join("raw"))?;
    assert!(disk.cas("k", b"1", None)?);
    assert!(!disk.cas("k", b"2", Some(b"0"))?);
    Ok(())
}

/// Any `KvStore` implementation plugs in: here one over a mutex-guarded map.
#[derive(Default)]
struct MapStore(Mutex<BTreeMap<String, Vec<u8>>>);

impl MapStore {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl KvStore for MapStore {
    fn get(&self, key: &str) -> kvit::Result<Option<Vec<u8>>> {
        Ok(self.map().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> kvit::Result<()> {
        self.map().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn remove(&self, key: &str) -> kvit::Result<()> {
        self.map().remove(key);
        Ok(())
    }
    fn cas(&self, key: &str, value: &[u8], expected: Option<&[u8]>) -> kvit::Result<bool> {
        let mut map = self.map();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        map.insert(key.to_owned(), value.to_vec());
        Ok(true)
    }
    fn keys_with_prefix(&self, prefix: &str) -> kvit::Result<Vec<String>> {
        Ok(self
            .map()
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect())
    }
    fn scan_prefix(&self, prefix: &str) -> kvit::Result<Vec<(String, Vec<u8>)>> {
        Ok(self
            .map()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }
}

fn custom_backend() -> Result {
    let s = store().backend(Arc::new(MapStore::default())).open_json()?;
    s.set("k", json!(1))?;
    commit(&s)?;
    assert_eq!(s.get("k")?, Some(json!(1)));
    Ok(())
}

/// `ConcurrencyError` and `MergeConflict`.
fn errors() -> Result {
    let backend: Arc<dyn KvStore> = Arc::new(Memory::new());
    let a = Staged::new(Versioned::open(backend.clone())?, Json::<Value>::new());
    let s = Staged::new(Versioned::open(backend)?, Json::<Value>::new());
    a.set("key_a", json!(1))?;
    commit(&a)?;
    s.set("key_a", json!(2))?;
    match commit(&s) {
        Err(Error::MergeConflict(conflict)) => {
            println!("conflicting keys: {:?}", conflict.conflicting_keys);
            assert!(conflict.conflicting_keys.contains("key_a"));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // After a lost race: reload from the head, re-apply, retry.
    s.refresh()?;
    s.set("key_b", json!(3))?;
    loop {
        match commit(&s) {
            Ok(_) => break,
            Err(Error::Concurrency { .. }) => s.refresh()?,
            Err(other) => return Err(other.into()),
        }
    }
    Ok(())
}

fn main() -> Result {
    let dir = tempfile_dir()?;
    factory(&dir)?;
    staged()?;
    live()?;
    namespaced()?;
    merge_functions()?;
    backends(&dir)?;
    custom_backend()?;
    errors()?;
    std::fs::remove_dir_all(&dir)?;
    println!("all seed examples ran");
    Ok(())
}

fn tempfile_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("kvit-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
