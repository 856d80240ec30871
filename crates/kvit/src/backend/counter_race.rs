//! The lost-update check every backend runs: writers that read a counter, add
//! one and commit through the `counter` merge function must lose nothing.

use std::sync::Arc;

use crate::backend::KvStore;
use crate::error::Error;
use crate::versioned::{ChangeSet, CommitOptions, Versioned};

/// The key the counter lives under.
pub const COUNTER_KEY: &str = "counter";

/// Reads the counter through `cursor`, adds one and commits, retrying after
/// a refresh on [`Error::Concurrency`] only (any other error is a failure of
/// the engine under test). Register `kvit::counter()` for [`COUNTER_KEY`]
/// first. Returns the retries it took.
///
/// # Panics
/// On any error other than a lost race, or an unmerged result.
pub fn increment(cursor: &mut Versioned) -> usize {
    let mut retries = 0;
    loop {
        let current = read(cursor);
        let mut change = ChangeSet::new();
        change
            .set(COUNTER_KEY, (current + 1).to_string())
            .unwrap_or_else(|error| panic!("counter race: {error}"));
        match cursor.commit(&change, &CommitOptions::new()) {
            Ok(result) => {
                assert!(result.merged, "counter race: unmerged result {result:?}");
                return retries;
            }
            Err(Error::Concurrency { .. }) => {
                retries += 1;
                cursor
                    .refresh()
                    .unwrap_or_else(|error| panic!("counter race: refresh: {error}"));
            }
            Err(other) => panic!("counter race: undocumented error escaped: {other}"),
        }
    }
}

/// The counter's value at the head of `main` in `kv` (0 when absent).
///
/// # Panics
/// If the store cannot be opened or the counter is not a decimal integer.
pub fn value(kv: Arc<dyn KvStore>) -> i64 {
    let cursor = Versioned::open(kv).unwrap_or_else(|error| panic!("counter race: open: {error}"));
    read(&cursor)
}

fn read(cursor: &Versioned) -> i64 {
    cursor
        .get(COUNTER_KEY)
        .unwrap_or_else(|error| panic!("counter race: read: {error}"))
        .map_or(0, |bytes| {
            std::str::from_utf8(&bytes)
                .ok()
                .and_then(|text| text.parse().ok())
                .unwrap_or_else(|| panic!("counter race: {bytes:?} is not a decimal integer"))
        })
}
