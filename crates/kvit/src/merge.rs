//! Merge functions: how a key that both sides of a race changed is resolved.

use std::sync::Arc;

use crate::error::BoxError;

/// A merge function on stored bytes: `(old, ours, theirs)`, each `None` where
/// the key is absent on that side, to the merged value (`None` removes the
/// key). An error marks the key as conflicting and is reported with it.
pub type MergeFn = Arc<
    dyn Fn(Option<&[u8]>, Option<&[u8]>, Option<&[u8]>) -> Result<Option<Vec<u8>>, BoxError>
        + Send
        + Sync,
>;

/// Wraps a closure as a [`MergeFn`].
pub fn merge_fn<F>(f: F) -> MergeFn
where
    F: Fn(Option<&[u8]>, Option<&[u8]>, Option<&[u8]>) -> Result<Option<Vec<u8>>, BoxError>
        + Send
        + Sync
        + 'static,
{
    Arc::new(f)
}

/// Adds both sides' increments: `ours + theirs - old`, on integers stored as
/// ASCII decimal text (what the JSON codec writes); a missing side counts as 0.
pub fn counter() -> MergeFn {
    merge_fn(|old, ours, theirs| {
        let parse = |side: &str, bytes: Option<&[u8]>| -> Result<i128, BoxError> {
            let Some(bytes) = bytes else { return Ok(0) };
            std::str::from_utf8(bytes)
                .ok()
                .and_then(|text| text.trim().parse::<i128>().ok())
                .ok_or_else(|| {
                    format!(
                        "counter merge: {side} value {:?} is not a decimal integer",
                        String::from_utf8_lossy(bytes)
                    )
                    .into()
                })
        };
        let (ours, theirs, old) = (
            parse("ours", ours)?,
            parse("theirs", theirs)?,
            parse("old", old)?,
        );
        // The total may fit where one order of the sums does not: try each.
        let total = ours
            .checked_sub(old)
            .and_then(|gain| gain.checked_add(theirs))
            .or_else(|| theirs.checked_sub(old)?.checked_add(ours))
            .or_else(|| ours.checked_add(theirs)?.checked_sub(old))
            .ok_or_else(|| {
                format!("counter merge: {ours} + {theirs} - {old} is beyond 128-bit integers")
            })?;
        Ok(Some(total.to_string().into_bytes()))
    })
}

/// Takes the other side's value (the head that committed first), including
/// its removal of the key.
pub fn last_writer_wins() -> MergeFn {
    merge_fn(|_old, _ours, theirs| Ok(theirs.map(<[u8]>::to_vec)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_adds_both_increments() {
        let merge = counter();
        assert_eq!(
            merge(Some(b"10"), Some(b"13"), Some(b"11")).unwrap(),
            Some(b"14".to_vec())
        );
        assert_eq!(
            merge(None, Some(b"1"), Some(b"1")).unwrap(),
            Some(b"2".to_vec())
        );
        assert_eq!(
            merge(Some(b"5"), None, Some(b"7")).unwrap(),
            Some(b"2".to_vec())
        );
        let err = merge(None, Some(b"x"), Some(b"1")).unwrap_err();
        assert!(err.to_string().contains("not a decimal integer"), "{err}");
    }

    /// Found while modelling the counter for the `operations` fuzz target:
    /// integers near the limits made the merge overflow, a panic in debug
    /// builds and a wrong total in release ones.
    #[test]
    fn counter_totals_beyond_128_bits_are_errors_not_overflows() {
        let merge = counter();
        let (max, min) = (i128::MAX.to_string(), i128::MIN.to_string());
        let err = merge(Some(b"1"), Some(max.as_bytes()), Some(b"2")).unwrap_err();
        assert!(err.to_string().contains("beyond 128-bit"), "{err}");
        let err = merge(Some(b"1"), Some(min.as_bytes()), Some(b"-1")).unwrap_err();
        assert!(err.to_string().contains("beyond 128-bit"), "{err}");
        // Totals that fit are found whatever the order of the sums.
        assert_eq!(
            merge(
                Some(min.as_bytes()),
                Some(max.as_bytes()),
                Some(min.as_bytes())
            )
            .unwrap(),
            Some(max.clone().into_bytes())
        );
        assert_eq!(
            merge(Some(b"-1"), Some(max.as_bytes()), Some(b"-1")).unwrap(),
            Some(max.into_bytes())
        );
    }

    #[test]
    fn last_writer_wins_takes_theirs() {
        let merge = last_writer_wins();
        assert_eq!(
            merge(Some(b"a"), Some(b"b"), Some(b"c")).unwrap(),
            Some(b"c".to_vec())
        );
        assert_eq!(merge(Some(b"a"), Some(b"b"), None).unwrap(), None);
    }
}
