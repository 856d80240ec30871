//! Helpers shared by the crash and failpoint tests: a seeded random source,
//! a failpoint gate that holds one thread, and the soundness check run after
//! every kill and every cycle.

// Each test binary uses its own subset of these helpers.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use kvit::{verify, KvStore, Versioned};

/// xorshift64*: enough randomness for test choices, no dependency, and the
/// same sequence for the same seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// Uniform in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high - low + 1)
    }
}

/// A seed from the clock, printed by the caller so a failure can be replayed.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |elapsed| {
            u64::from(elapsed.subsec_nanos()) ^ elapsed.as_secs().rotate_left(32)
        })
}

/// Holds the first thread with a given name that reaches a failpoint until
/// [`Gate::open`], so a test can act while it waits there.
pub struct Gate {
    arrived: Receiver<()>,
    release: Sender<()>,
}

impl Gate {
    /// Arms `point` for the thread named `thread` (other threads pass).
    pub fn new(point: &str, thread: &'static str) -> Gate {
        let (arrived_tx, arrived) = channel();
        let (release, release_rx) = channel::<()>();
        let release_rx = Mutex::new(release_rx);
        let armed = AtomicBool::new(true);
        fail::cfg_callback(point, move || {
            if thread::current().name() != Some(thread) || !armed.swap(false, Ordering::SeqCst) {
                return;
            }
            arrived_tx.send(()).unwrap();
            // A dropped gate releases too: the test is over either way.
            let _ = release_rx.lock().unwrap().recv();
        })
        .unwrap();
        Gate { arrived, release }
    }

    /// Waits until the thread is held at the point.
    pub fn wait(&self, what: &str) {
        self.arrived
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{what}: never reached the failpoint"));
    }

    /// Lets the thread go on.
    pub fn open(self) {
        let _ = self.release.send(());
    }
}

/// What [`check_sound`] found wrong, empty when the store is sound.
pub fn soundness_problems(kv: &Arc<dyn KvStore>) -> Vec<String> {
    let mut problems = Vec::new();
    let report = match verify(&**kv) {
        Ok(report) => report,
        Err(err) => return vec![format!("verify failed: {err}")],
    };
    if !report.is_clean() {
        problems.push(format!("verify: {report}"));
    }
    let branches = match Versioned::open(kv.clone()).and_then(|v| v.list_branches()) {
        Ok(branches) => branches,
        Err(err) => return vec![format!("list branches: {err}")],
    };
    for branch in branches {
        let read = Versioned::options()
            .branch(branch.clone())
            .open(kv.clone())
            .and_then(|cursor| cursor.items_with_prefix(""));
        if let Err(err) = read {
            problems.push(format!("branch {branch}: reading its whole tree: {err}"));
        }
    }
    problems
}

/// `verify` is clean and every branch head's whole tree reads back.
pub fn check_sound(kv: &Arc<dyn KvStore>, when: &str) {
    let problems = soundness_problems(kv);
    assert!(problems.is_empty(), "{when}: {}", problems.join("; "));
}

/// Objects stored that no branch head reaches, by kind: (commits, nodes, blobs).
pub fn unreachable_objects(kv: &dyn KvStore) -> (usize, usize, usize) {
    let report = verify(kv).unwrap();
    let count = |prefix: &str| kv.keys_with_prefix(prefix).unwrap().len();
    let extra = |stored: usize, reached: u64| stored.saturating_sub(reached as usize);
    (
        extra(count("obj/c/"), report.commits),
        extra(count("obj/n/"), report.nodes),
        extra(count("obj/b/"), report.blobs),
    )
}
