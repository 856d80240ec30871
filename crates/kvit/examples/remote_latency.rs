//! How kvit behaves on a remote backend: every backend call here sleeps 5 ms,
//! like a round trip to a server in another zone, and the calls are counted.
//!
//! ```text
//! cargo run --release --example remote_latency
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use kvit::testing::Counting;
use kvit::{ChangeSet, CommitOptions, Memory, Tree, Versioned};

fn main() -> kvit::Result<()> {
    let n = 100_000;
    let backend = Arc::new(Counting::new(Memory::new()));
    let mut writer = Versioned::open(backend.clone())?;
    let mut change = ChangeSet::new();
    for i in 0..n {
        change.set(format!("user/{i:08}"), format!("{i:0>80}"))?;
    }
    writer.commit(&change, &CommitOptions::new())?;
    let depth = Tree::open(backend.clone(), 1 << 20)?.depth(writer.root())?;
    println!("store: {n} keys, tree depth {depth}, 5 ms per backend call");
    backend.set_latency(Duration::from_millis(5));

    let measure = |label: &str, run: &mut dyn FnMut() -> kvit::Result<()>| -> kvit::Result<()> {
        backend.reset();
        let started = Instant::now();
        run()?;
        let elapsed = started.elapsed();
        let trips = backend.counts().round_trips();
        println!(
            "{label:<34} {trips:>3} round trips  {:>7.1} ms",
            elapsed.as_secs_f64() * 1e3
        );
        Ok(())
    };

    let mut reader = None;
    measure("cold open + read one key", &mut || {
        let cold = Versioned::open(backend.clone())?;
        cold.get("user/00054321")?;
        reader = Some(cold);
        Ok(())
    })?;
    let mut cursor = reader.unwrap_or(Versioned::open(backend.clone())?);
    measure("read another key (warm path)", &mut || {
        cursor.get("user/00054322").map(drop)
    })?;
    measure("single-key commit", &mut || {
        let mut change = ChangeSet::new();
        change.set("user/00000007", b"changed".to_vec())?;
        cursor.commit(&change, &CommitOptions::new()).map(drop)
    })?;
    measure("1,000-key commit", &mut || {
        let mut change = ChangeSet::new();
        for i in 0..1_000 {
            change.set(format!("user/{:08}", i * 97), format!("v{i}"))?;
        }
        cursor.commit(&change, &CommitOptions::new()).map(drop)
    })?;
    Ok(())
}
