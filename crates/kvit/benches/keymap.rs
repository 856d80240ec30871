//! Key-map benchmarks: bulk insert, single-key update, get and diff on Memory
//! and Disk, plus the bytes a single-key update writes (printed, not timed).
//!
//! ```text
//! cargo bench -p kvit --bench keymap
//! ```
//!
//! Under `cargo test` (no `--bench` flag) the sizes shrink so the benchmarks
//! are only exercised, not measured. Figures go to `docs/benchmarks.md`.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput};
use kvit::testing::Counting;
use kvit::{DiskOptions, Durability, Edits, KvStore, Memory, ObjectId, Tree, ValueRef, WriteBatch};
use tempfile::TempDir;

/// The node cache every tree here gets: the size the examples use.
const CACHE_BYTES: u64 = 64 << 20;
/// Updates and reads cycle through this many distinct keys, so repeated
/// iterations rewrite identical objects instead of growing the store without
/// bound.
const PROBES: usize = 1024;
/// A step coprime with every tree size used, so probes spread over the key range.
const PROBE_STEP: usize = 7_919;
/// Single-key updates averaged for the bytes-written table.
const COUNTED_UPDATES: usize = 100;
/// Bytes the peer `kvgit` writes per single-key commit at n = 1,000.
const KVGIT_BYTES_PER_COMMIT: f64 = 5_700.0;

/// Tree sizes: the real ones under `cargo bench`, small ones under `cargo test`.
struct Scale {
    bulk: usize,
    sizes: Vec<usize>,
    largest: usize,
}

impl Scale {
    fn from_args() -> Scale {
        if std::env::args().any(|arg| arg == "--bench") {
            Scale {
                bulk: 1_000_000,
                sizes: vec![1_000, 100_000, 1_000_000],
                largest: 1_000_000,
            }
        } else {
            Scale {
                bulk: 10_000,
                sizes: vec![1_000, 10_000],
                largest: 10_000,
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Backend {
    Memory,
    Disk(Durability),
}

impl Backend {
    fn label(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Disk(Durability::Normal) => "disk_normal",
            Backend::Disk(_) => "disk_full",
        }
    }

    /// A fresh, empty store; the directory (for Disk) must outlive the store.
    fn open(self) -> (Arc<dyn KvStore>, Option<TempDir>) {
        match self {
            Backend::Memory => (Arc::new(Memory::new()), None),
            Backend::Disk(durability) => {
                // Beside `target/`, on the build disk: `/tmp` may be a tmpfs,
                // where a sync costs nothing.
                let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
                let disk = DiskOptions::new()
                    .durability(durability)
                    .open(dir.path())
                    .expect("open disk");
                (Arc::new(disk), Some(dir))
            }
        }
    }
}

fn key(index: usize) -> String {
    format!("user/{index:08}")
}

/// 16 bytes, inline in the leaf.
fn value(index: usize) -> String {
    format!("value/{index:010}")
}

/// A different 16-byte value for updates.
fn new_value(index: usize) -> String {
    format!("new!!/{index:010}")
}

/// The existing key the `probe`-th iteration touches.
fn probe_index(probe: usize, n: usize) -> usize {
    ((probe % PROBES) * PROBE_STEP) % n
}

fn initial_edits(n: usize) -> Edits {
    let mut unused = WriteBatch::new();
    (0..n)
        .map(|i| {
            (
                Arc::from(key(i)),
                Some(ValueRef::store(value(i).as_bytes(), &mut unused)),
            )
        })
        .collect()
}

/// An empty tree in `kv`, with its root written.
fn empty_tree(kv: Arc<dyn KvStore>) -> (Tree, ObjectId) {
    let tree = Tree::open(kv, CACHE_BYTES).expect("open tree");
    let mut batch = WriteBatch::new();
    let empty = Tree::empty_root(&mut batch);
    batch.write_to(tree.kv()).expect("write empty root");
    (tree, empty)
}

/// Applies `edits` to `root` and writes the new objects: one commit's tree work.
fn commit(tree: &Tree, root: ObjectId, edits: &Edits, batch: WriteBatch) -> ObjectId {
    let mut batch = batch;
    let root = tree.apply(root, edits, &mut batch).expect("apply");
    batch.write_to(tree.kv()).expect("write");
    root
}

/// A tree of `n` keys in `kv`.
fn build(kv: Arc<dyn KvStore>, n: usize) -> (Tree, ObjectId) {
    let (tree, empty) = empty_tree(kv);
    let root = commit(&tree, empty, &initial_edits(n), WriteBatch::new());
    (tree, root)
}

/// Sets one existing key (the `probe`-th) to a new value and writes the result.
fn update_one(tree: &Tree, root: ObjectId, keys: &[Arc<str>], probe: usize) -> ObjectId {
    let slot = probe % keys.len();
    let mut batch = WriteBatch::new();
    let value = ValueRef::store(new_value(slot).as_bytes(), &mut batch);
    let edits: Edits = std::iter::once((keys[slot].clone(), Some(value))).collect();
    commit(tree, root, &edits, batch)
}

/// Sets the `probe`-th probe key in the tree at `root`, as a commit on the
/// tree the last one made, and returns the new root. One pass over the keys
/// gives them new values and the next gives the old ones back, so the trees,
/// and the objects stored, repeat every two passes, while each update
/// rewrites a path last rewritten a whole pass before, as commits of keys
/// spread over a store do.
fn update_chained(
    tree: &Tree,
    root: ObjectId,
    keys: &[Arc<str>],
    originals: &[String],
    probe: usize,
) -> ObjectId {
    let slot = probe % keys.len();
    let value = if (probe / keys.len()).is_multiple_of(2) {
        new_value(slot)
    } else {
        originals[slot].clone()
    };
    let mut batch = WriteBatch::new();
    let value = ValueRef::store(value.as_bytes(), &mut batch);
    let edits: Edits = std::iter::once((keys[slot].clone(), Some(value))).collect();
    commit(tree, root, &edits, batch)
}

fn probe_keys(n: usize) -> Vec<Arc<str>> {
    (0..PROBES)
        .map(|probe| Arc::from(key(probe_index(probe, n))))
        .collect()
}

/// Prints the average bytes and objects one single-key update writes.
// Counts stay far below 2^52, where u64 -> f64 starts to round.
#[allow(clippy::cast_precision_loss)]
fn report_bytes_per_update(scale: &Scale) {
    eprintln!("\nBytes written per single-key update (tree nodes and blobs; average of {COUNTED_UPDATES}):");
    eprintln!(
        "{:>10} {:>6} {:>14} {:>16} {:>14}",
        "n", "depth", "bytes/update", "objects/update", "vs kvgit 5.7KB"
    );
    let sizes = [scale.sizes[0], scale.largest];
    for n in sizes {
        let counting = Arc::new(Counting::new(Memory::new()));
        let (tree, root) = build(counting.clone(), n);
        let keys: Vec<Arc<str>> = (0..COUNTED_UPDATES)
            .map(|update| Arc::from(key(update * (n / COUNTED_UPDATES) + update % 7)))
            .collect();
        let (mut bytes, mut objects) = (0, 0);
        for update in 0..COUNTED_UPDATES {
            counting.reset();
            update_one(&tree, root, &keys, update);
            let counts = counting.counts();
            bytes += counts.bytes_written;
            objects += counts.keys_written;
        }
        let bytes = bytes as f64 / COUNTED_UPDATES as f64;
        let objects = objects as f64 / COUNTED_UPDATES as f64;
        let depth = tree.depth(root).expect("depth");
        let ratio = bytes / KVGIT_BYTES_PER_COMMIT;
        eprintln!("{n:>10} {depth:>6} {bytes:>14.0} {objects:>16.2} {ratio:>14.2}");
    }
    eprintln!();
}

fn bulk_insert(criterion: &mut Criterion, scale: &Scale) {
    let n = scale.bulk;
    let edits = initial_edits(n);
    let mut group = criterion.benchmark_group("bulk_insert");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(n as u64));
    for backend in [
        Backend::Memory,
        Backend::Disk(Durability::Full),
        Backend::Disk(Durability::Normal),
    ] {
        group.bench_function(BenchmarkId::new(backend.label(), n), |bench| {
            bench.iter_batched(
                || {
                    let (kv, dir) = backend.open();
                    let (tree, empty) = empty_tree(kv);
                    (tree, empty, dir)
                },
                // Returned so the store is dropped outside the timing.
                |(tree, empty, dir)| {
                    let root = commit(&tree, empty, &edits, WriteBatch::new());
                    (tree, root, dir)
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn update(criterion: &mut Criterion, scale: &Scale) {
    let mut group = criterion.benchmark_group("update");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for backend in [
        Backend::Memory,
        Backend::Disk(Durability::Full),
        Backend::Disk(Durability::Normal),
    ] {
        for &n in &scale.sizes {
            let (kv, _dir) = backend.open();
            let (tree, mut root) = build(kv, n);
            let keys = probe_keys(n);
            let originals: Vec<String> = (0..PROBES)
                .map(|probe| value(probe_index(probe, n)))
                .collect();
            let mut probe = 0;
            group.bench_function(BenchmarkId::new(backend.label(), n), |bench| {
                bench.iter(|| {
                    probe += 1;
                    root = update_chained(&tree, root, &keys, &originals, probe);
                });
            });
        }
    }
    group.finish();
}

fn read(criterion: &mut Criterion, scale: &Scale) {
    let mut group = criterion.benchmark_group("get");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for backend in [Backend::Memory, Backend::Disk(Durability::Full)] {
        let label = if let Backend::Memory = backend {
            "memory"
        } else {
            "disk"
        };
        for &n in &scale.sizes {
            let (kv, _dir) = backend.open();
            let (tree, root) = build(kv.clone(), n);
            let keys = probe_keys(n);
            let mut probe = 0;
            group.bench_function(BenchmarkId::new(format!("{label}_warm"), n), |bench| {
                bench.iter(|| {
                    probe += 1;
                    let found = tree
                        .get(root, &keys[probe % PROBES])
                        .expect("get")
                        .expect("present");
                    tree.read_value(&found).expect("read value")
                });
            });
            if n == scale.largest {
                // A fresh `Tree` has an empty node cache: every node on the path
                // comes from the backend (the OS and SQLite caches stay warm).
                let probe = Cell::new(0);
                group.bench_function(BenchmarkId::new(format!("{label}_cold"), n), |bench| {
                    bench.iter_batched(
                        || Tree::open(kv.clone(), CACHE_BYTES).expect("open tree"),
                        |fresh| {
                            probe.set(probe.get() + 1);
                            let found = fresh
                                .get(root, &keys[probe.get() % PROBES])
                                .expect("get")
                                .expect("present");
                            let bytes = fresh.read_value(&found).expect("read value");
                            (fresh, bytes)
                        },
                        BatchSize::PerIteration,
                    );
                });
            }
        }
    }
    group.finish();
}

fn diff(criterion: &mut Criterion, scale: &Scale) {
    let n = scale.largest;
    let mut group = criterion.benchmark_group("diff_10_keys");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for backend in [Backend::Memory, Backend::Disk(Durability::Full)] {
        let label = if let Backend::Memory = backend {
            "memory"
        } else {
            "disk"
        };
        let (kv, _dir) = backend.open();
        let (tree, before) = build(kv, n);
        let mut batch = WriteBatch::new();
        let edits: Edits = (0..10)
            .map(|i| {
                let index = probe_index(i * 97, n);
                (
                    Arc::from(key(index)),
                    Some(ValueRef::store(new_value(index).as_bytes(), &mut batch)),
                )
            })
            .collect();
        let after = commit(&tree, before, &edits, batch);
        assert_eq!(tree.diff(before, after).expect("diff").len(), 10);
        group.bench_function(BenchmarkId::new(label, n), |bench| {
            bench.iter(|| tree.diff(before, after).expect("diff"));
        });
    }
    group.finish();
}

fn main() {
    let scale = Scale::from_args();
    report_bytes_per_update(&scale);
    let mut criterion = Criterion::default().configure_from_args();
    bulk_insert(&mut criterion, &scale);
    update(&mut criterion, &scale);
    read(&mut criterion, &scale);
    diff(&mut criterion, &scale);
    criterion.final_summary();
}
