//! Builds a Disk store of many keys, applies a batch of changes, and shows the
//! root hashes, the diff between the two versions and how long each step took.
//!
//! ```text
//! cargo run --release --example keymap_demo -- --path demo-data --keys 100000
//! ```

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use kvit::{Disk, Edits, ObjectId, Tree, ValueRef, WriteBatch};

struct Args {
    path: Option<String>,
    keys: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        path: None,
        keys: 100_000,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(flag) = iter.next() {
        let value = iter.next().ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--path" => args.path = Some(value),
            "--keys" => {
                args.keys = value
                    .parse()
                    .map_err(|_| format!("--keys: {value:?} is not a number"))?;
            }
            _ => {
                return Err(format!(
                    "unknown option {flag}; use --path DIR and --keys N"
                ))
            }
        }
    }
    Ok(args)
}

/// Applies `edits` (None removes) and writes the new objects; returns the new root.
fn commit(
    tree: &Tree,
    root: ObjectId,
    edits: &BTreeMap<String, Option<Vec<u8>>>,
) -> kvit::Result<(ObjectId, usize)> {
    let mut batch = WriteBatch::new();
    let edits: Edits = edits
        .iter()
        .map(|(key, value)| {
            (
                Arc::from(key.as_str()),
                value.as_deref().map(|v| ValueRef::store(v, &mut batch)),
            )
        })
        .collect();
    let root = tree.apply(root, &edits, &mut batch)?;
    let written = batch.len();
    batch.write_to(tree.kv())?;
    Ok((root, written))
}

// A demo reads top to bottom: build, change, diff, read.
#[allow(clippy::too_many_lines)]
fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let path = args.path.as_ref().map_or_else(
        || std::env::temp_dir().join(format!("kvit-demo-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    // Start from a clean directory so the figures describe this run.
    if path.exists() {
        std::fs::remove_dir_all(&path)?;
    }
    let disk = Disk::open(&path)?;
    let tree = Tree::open(Arc::new(disk), 64 << 20)?;
    println!(
        "kvit key-map demo: {} keys in {}",
        args.keys,
        path.display()
    );

    let started = Instant::now();
    let mut empty_batch = WriteBatch::new();
    let empty = Tree::empty_root(&mut empty_batch);
    empty_batch.write_to(tree.kv())?;
    let initial: BTreeMap<String, Option<Vec<u8>>> = (0..args.keys)
        .map(|i| {
            (
                format!("user/{i:08}"),
                Some(format!("{{\"visits\": {i}}}").into_bytes()),
            )
        })
        .collect();
    let (first, written) = commit(&tree, empty, &initial)?;
    let build = started.elapsed();
    println!(
        "built   {first}  {} keys, depth {}, {written} objects in {:.1} ms ({:.0} keys/s)",
        tree.len(first)?,
        tree.depth(first)?,
        build.as_secs_f64() * 1e3,
        f64::from(u32::try_from(args.keys).unwrap_or(u32::MAX)) / build.as_secs_f64()
    );

    // A batch: update every 1000th key, remove every 2000th, add a few.
    let mut changes: BTreeMap<String, Option<Vec<u8>>> = BTreeMap::new();
    for i in (0..args.keys).step_by(1000) {
        changes.insert(format!("user/{i:08}"), Some(b"{\"visits\": -1}".to_vec()));
    }
    for i in (500..args.keys).step_by(2000) {
        changes.insert(format!("user/{i:08}"), None);
    }
    for i in 0..5 {
        changes.insert(format!("new/{i}"), Some(vec![b'x'; 100 * (i + 1)]));
    }
    let started = Instant::now();
    let (second, written) = commit(&tree, first, &changes)?;
    let apply = started.elapsed();
    println!(
        "changed {second}  {} keys, {} edits, {written} objects in {:.2} ms",
        tree.len(second)?,
        changes.len(),
        apply.as_secs_f64() * 1e3
    );

    // Reopen with a cold cache, as another process would, and compare versions.
    let reopened = Tree::open(Arc::new(Disk::open(&path)?), 64 << 20)?;
    let started = Instant::now();
    let diff = reopened.diff(first, second)?;
    let diff_time = started.elapsed();
    let (mut added, mut removed, mut modified) = (0, 0, 0);
    for change in &diff {
        match (&change.old, &change.new) {
            (None, Some(_)) => added += 1,
            (Some(_), None) => removed += 1,
            _ => modified += 1,
        }
    }
    println!(
        "diff    {added} added, {removed} removed, {modified} modified in {:.2} ms (cold cache)",
        diff_time.as_secs_f64() * 1e3
    );
    // One example of each kind of change.
    let examples = ["added", "removed", "modified"].map(|kind| {
        diff.iter().find(|change| match (&change.old, &change.new) {
            (None, Some(_)) => kind == "added",
            (Some(_), None) => kind == "removed",
            _ => kind == "modified",
        })
    });
    for change in examples.into_iter().flatten() {
        let show = |value: &Option<ValueRef>| match value {
            Some(value) => reopened.read_value(value).map(|bytes| {
                let text = String::from_utf8_lossy(&bytes);
                if text.len() > 24 {
                    format!("{}... ({} bytes)", &text[..20], bytes.len())
                } else {
                    text.into_owned()
                }
            }),
            None => Ok("-".to_owned()),
        };
        println!(
            "  {:<16} {} -> {}",
            change.key,
            show(&change.old)?,
            show(&change.new)?
        );
    }

    let started = Instant::now();
    let value = reopened
        .get(second, "user/00000001")?
        .map(|v| reopened.read_value(&v))
        .transpose()?;
    println!(
        "get     user/00000001 = {:?} in {:.3} ms",
        value.map(|v| String::from_utf8_lossy(&v).into_owned()),
        started.elapsed().as_secs_f64() * 1e3
    );
    if args.path.is_none() {
        std::fs::remove_dir_all(&path)?;
    }
    Ok(())
}
