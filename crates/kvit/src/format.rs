//! The store-wide format marker.

use crate::backend::KvStore;
use crate::error::{Error, Result};

/// The key under which a store records its format version.
pub const FORMAT_KEY: &str = "kvit/format";

/// The format version this build reads and writes (see `docs/format.md`).
pub const FORMAT_VERSION: u32 = 1;

/// Checks the store's format marker, writing it if the store has none.
///
/// # Errors
/// A backend failure, or a marker naming another version.
pub(crate) fn ensure(kv: &dyn KvStore) -> Result<()> {
    check(kv, kv.get(FORMAT_KEY)?)
}

/// As [`ensure`], given the marker already read (`found`), so a caller can
/// fetch it in the same round trip as other keys.
pub(crate) fn check(kv: &dyn KvStore, found: Option<Vec<u8>>) -> Result<()> {
    let current = FORMAT_VERSION.to_string();
    let found = match found {
        Some(found) => found,
        // Two processes creating the store at once both try; the loser reads
        // what the winner wrote.
        None if kv.cas(FORMAT_KEY, current.as_bytes(), None)? => return Ok(()),
        None => kv.get(FORMAT_KEY)?.unwrap_or_default(),
    };
    if found == current.as_bytes() {
        return Ok(());
    }
    Err(Error::UnsupportedFormat {
        found: String::from_utf8_lossy(&found).into_owned(),
        supported: FORMAT_VERSION,
    })
}
