//! Content addresses.

use std::fmt;
use std::str::FromStr;

/// The number of bytes in an object id (160 bits of a BLAKE3 digest).
pub const ID_LEN: usize = 20;

/// The content address of an immutable object: the first 20 bytes of the
/// BLAKE3 hash of the object's kind tag and payload.
///
/// Shown and parsed as 40 lowercase hexadecimal characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; ID_LEN]);

/// The two lowercase hex digits of every byte value.
const HEX_PAIRS: [[u8; 2]; 256] = {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [DIGITS[byte >> 4], DIGITS[byte & 0x0f]];
        byte += 1;
    }
    pairs
};

impl ObjectId {
    /// Wraps raw id bytes.
    pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Self {
        ObjectId(bytes)
    }

    /// The raw id bytes.
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// Hashes `tag` followed by `payload`.
    pub fn hash(tag: u8, payload: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&[tag]);
        hasher.update(payload);
        Self::from_digest(&hasher.finalize())
    }

    /// The same id as [`ObjectId::hash`] for a tag and payload that already
    /// lie end to end in `tagged` (tag first, which must be there). One call
    /// over one buffer skips the incremental hasher's setup, which for the
    /// kilobyte-sized objects a commit writes costs about a tenth of the
    /// hashing, and hashes inputs of several KiB a few chunks at a time.
    pub(crate) fn hash_tagged(tagged: &[u8]) -> Self {
        debug_assert!(!tagged.is_empty(), "a tagged buffer starts with its tag");
        Self::from_digest(&blake3::hash(tagged))
    }

    fn from_digest(digest: &blake3::Hash) -> Self {
        let mut id = [0u8; ID_LEN];
        id.copy_from_slice(&digest.as_bytes()[..ID_LEN]);
        ObjectId(id)
    }

    /// The id as 40 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        let mut hex = String::with_capacity(ID_LEN * 2);
        self.push_hex(&mut hex);
        hex
    }

    /// Appends the id's 40 hex characters to `out` (every object key is
    /// built this way, so it avoids the formatting machinery).
    pub fn push_hex(&self, out: &mut String) {
        let hex = self.hex_digits();
        // Hex digits are ASCII, so this always succeeds.
        if let Ok(hex) = std::str::from_utf8(&hex) {
            out.push_str(hex);
        }
    }

    /// The id's 40 hex digits as ASCII bytes, without allocating.
    pub(crate) fn hex_digits(&self) -> [u8; ID_LEN * 2] {
        let mut hex = [0u8; ID_LEN * 2];
        for (pair, byte) in hex.chunks_exact_mut(2).zip(self.0) {
            pair.copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
        }
        hex
    }

    /// The first `len` hex characters, for display.
    pub fn short(&self, len: usize) -> String {
        let mut hex = self.to_string();
        hex.truncate(len.min(ID_LEN * 2));
        hex
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

/// Why a string is not an object id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not an object id: expected {} lowercase hex characters", ID_LEN * 2)]
pub struct ParseObjectIdError {
    /// The text that failed to parse.
    pub input: String,
}

impl FromStr for ObjectId {
    type Err = ParseObjectIdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = || ParseObjectIdError {
            input: text.to_owned(),
        };
        let bytes = text.as_bytes();
        if bytes.len() != ID_LEN * 2 {
            return Err(fail());
        }
        let mut id = [0u8; ID_LEN];
        for (slot, pair) in id.iter_mut().zip(bytes.chunks_exact(2)) {
            *slot = (hex_digit(pair[0]).ok_or_else(fail)? << 4)
                | hex_digit(pair[1]).ok_or_else(fail)?;
        }
        Ok(ObjectId(id))
    }
}

/// Lowercase only: an id has exactly one spelling, so it can be compared as text.
fn hex_digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let id = ObjectId::hash(1, b"hello");
        let text = id.to_string();
        assert_eq!(text.len(), 40);
        assert!(text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(text.parse::<ObjectId>().unwrap(), id);
    }

    #[test]
    fn every_byte_value_has_its_two_digits() {
        use std::fmt::Write;

        for first in (0..=255u8).step_by(ID_LEN) {
            let bytes: [u8; ID_LEN] =
                std::array::from_fn(|at| first.saturating_add(u8::try_from(at).unwrap()));
            let id = ObjectId::from_bytes(bytes);
            let mut expected = String::new();
            for byte in bytes {
                write!(expected, "{byte:02x}").unwrap();
            }
            assert_eq!(id.to_hex(), expected);
            assert_eq!(&id.hex_digits()[..], expected.as_bytes());
        }
    }

    #[test]
    fn rejects_bad_text() {
        for bad in ["", "abc", &"g".repeat(40), &"A".repeat(40), &"0".repeat(41)] {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn tag_separates_kinds() {
        assert_ne!(ObjectId::hash(1, b"x"), ObjectId::hash(2, b"x"));
    }

    #[test]
    fn hashing_a_tagged_buffer_gives_the_same_id() {
        // Around the 64-byte block and 1 KiB chunk sizes, and past the
        // sizes where one call hashes several chunks at once.
        for len in [0, 1, 63, 64, 65, 1023, 1024, 1025, 2048, 4096, 9000] {
            let payload: Vec<u8> = (0..len)
                .map(|i: u32| u8::try_from(i * 7 % 251).unwrap())
                .collect();
            for tag in [1, 2, 3] {
                let mut tagged = vec![tag];
                tagged.extend_from_slice(&payload);
                assert_eq!(
                    ObjectId::hash_tagged(&tagged),
                    ObjectId::hash(tag, &payload),
                    "{len} bytes, tag {tag}"
                );
            }
        }
    }
}
