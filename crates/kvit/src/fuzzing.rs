//! Entry points for the fuzz targets in `fuzz/` (cargo feature `fuzzing`):
//! thin wrappers that reach the crate-private decoders without making them
//! part of the public API. Not covered by semver; nothing else should call
//! them.
//!
//! Each takes untrusted bytes and must return `Ok` or a typed error, never
//! panic. The property tests below hold them to that in every `cargo test`,
//! so stable CI covers what the fuzzers explore at length.

use crate::commit::Commit;
use crate::error::Result;
use crate::object::{self, Kind, ObjectId, HEADER_LEN};
use crate::tree::Node;

/// The id the decoders are given: decoding never depends on it, only the
/// error messages name it.
const ANY_ID: ObjectId = ObjectId::from_bytes([0; object::ID_LEN]);

/// Decodes `payload` as a tree node and returns the decoded node encoded
/// again. Decoding that re-encoding must give the same bytes once more (the
/// encoder is canonical; the decoder may accept a few spellings of a node,
/// such as a shorter shared key prefix than the encoder writes).
///
/// # Errors
/// [`crate::Error::CorruptObject`] for a payload that does not decode.
pub fn decode_tree_node(payload: &[u8]) -> Result<Vec<u8>> {
    Ok(Node::decode(ANY_ID, payload)?.encode())
}

/// Decodes `payload` as a commit and returns the decoded commit encoded
/// again, which must equal `payload`: a commit has exactly one encoding.
///
/// # Errors
/// [`crate::Error::CorruptObject`] for a payload that does not decode.
pub fn decode_commit(payload: &[u8]) -> Result<Vec<u8>> {
    Ok(Commit::decode(ANY_ID, payload)?.encode())
}

/// The object kind a fuzz input's selector byte stands for.
fn kind(selector: u8) -> Kind {
    Kind::ALL[usize::from(selector) % Kind::ALL.len()]
}

/// Verifies `stored` (write time, then payload) as the object of kind
/// `selector` (mod 3: blob, node, commit) with address `id`, as every read
/// does, and returns the payload's length.
///
/// # Errors
/// [`crate::Error::CorruptObject`] for a short value or one whose payload
/// does not hash to `id`.
pub fn verify_stored(selector: u8, id: ObjectId, stored: &[u8]) -> Result<usize> {
    object::verify(kind(selector), id, stored).map(<[u8]>::len)
}

/// Treats `stored` as a stored object of kind `selector` (mod 3) whose
/// address is the hash of its payload, verifies it and decodes it the way a
/// read does. Returns the id it was checked against.
///
/// # Errors
/// [`crate::Error::CorruptObject`] for a value shorter than the header or a
/// payload that does not decode as its kind.
pub fn verify_and_decode(selector: u8, stored: &[u8]) -> Result<ObjectId> {
    let kind = kind(selector);
    let payload = stored.get(HEADER_LEN..).unwrap_or_default();
    let id = ObjectId::hash(kind.tag(), payload);
    let payload = object::verify(kind, id, stored)?;
    match kind {
        Kind::Blob => {}
        Kind::Node => {
            Node::decode(id, payload)?;
        }
        Kind::Commit => {
            Commit::decode(id, payload)?;
        }
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::error::Error;

    fn is_corrupt(outcome: &Result<impl std::fmt::Debug>) -> bool {
        matches!(outcome, Ok(_) | Err(Error::CorruptObject { .. }))
    }

    /// Real payloads, so mutations explore near-valid input too.
    fn sample_node() -> Vec<u8> {
        let mut tree_input = Vec::new();
        tree_input.push(0u8); // leaf
        tree_input.push(2); // two entries
        tree_input.extend_from_slice(&[0, 3]);
        tree_input.extend_from_slice(b"abc");
        tree_input.extend_from_slice(&[0, 1, b'x']);
        tree_input.extend_from_slice(&[2, 1, b'd']);
        tree_input.push(1);
        tree_input.push(100);
        tree_input.extend_from_slice(&[7; 20]);
        tree_input
    }

    fn sample_commit() -> Vec<u8> {
        let id = ObjectId::hash(3, b"parent");
        Commit {
            parents: vec![id, id],
            root: id,
            generation: 9,
            time_ms: 1,
            salt: [5; 16],
            origin: Some(id),
            info: Some("{\"a\":1}".to_owned()),
        }
        .encode()
    }

    #[test]
    fn samples_round_trip() {
        let node = sample_node();
        assert_eq!(decode_tree_node(&node).unwrap(), node);
        let commit = sample_commit();
        assert_eq!(decode_commit(&commit).unwrap(), commit);
        let mut stored = vec![0; HEADER_LEN];
        stored.extend_from_slice(&commit);
        verify_and_decode(2, &stored).unwrap();
        assert!(
            verify_and_decode(1, &stored).is_err(),
            "a commit is not a node"
        );
    }

    fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
        let len = base.len();
        (
            proptest::collection::vec((0..len + 1, any::<u8>()), 0..6),
            0..len + 2,
        )
            .prop_map(move |(flips, cut)| {
                let mut bytes = base.clone();
                for (at, byte) in flips {
                    if at < bytes.len() {
                        bytes[at] = byte;
                    } else {
                        bytes.push(byte);
                    }
                }
                bytes.truncate(cut.max(1));
                bytes
            })
    }

    fn arbitrary_or_mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            mutated(base),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        #[test]
        fn tree_node_decoder_never_panics(payload in arbitrary_or_mutated(sample_node())) {
            let outcome = decode_tree_node(&payload);
            prop_assert!(is_corrupt(&outcome), "{outcome:?}");
            if let Ok(encoded) = outcome {
                prop_assert_eq!(decode_tree_node(&encoded).ok(), Some(encoded.clone()));
            }
        }

        #[test]
        fn commit_decoder_never_panics(payload in arbitrary_or_mutated(sample_commit())) {
            let outcome = decode_commit(&payload);
            prop_assert!(is_corrupt(&outcome), "{outcome:?}");
            if let Ok(encoded) = outcome {
                prop_assert_eq!(encoded, payload);
            }
        }

        #[test]
        fn object_verification_never_panics(
            selector in any::<u8>(),
            id in any::<[u8; 20]>(),
            stored in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let outcome = verify_stored(selector, ObjectId::from_bytes(id), &stored);
            prop_assert!(is_corrupt(&outcome), "{outcome:?}");
            let outcome = verify_and_decode(selector, &stored);
            prop_assert!(is_corrupt(&outcome), "{outcome:?}");
        }
    }
}
