//! Untrusted bytes through every object decoder: each must return `Ok` or a
//! `CorruptObject` error, never panic, and what decodes must re-encode
//! stably (a commit to exactly its input bytes).
#![no_main]

use kvit::fuzzing::{decode_commit, decode_tree_node, verify_and_decode, verify_stored};
use kvit::{Error, ObjectId};
use libfuzzer_sys::fuzz_target;

fn typed<T>(what: &str, outcome: kvit::Result<T>) -> Option<T> {
    match outcome {
        Ok(value) => Some(value),
        Err(Error::CorruptObject { .. }) => None,
        Err(other) => panic!("{what}: untyped failure {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(encoded) = typed("tree node", decode_tree_node(data)) {
        let again = decode_tree_node(&encoded)
            .unwrap_or_else(|error| panic!("a re-encoded node does not decode: {error}"));
        assert_eq!(again, encoded, "node re-encoding is not stable");
    }
    if let Some(encoded) = typed("commit", decode_commit(data)) {
        assert_eq!(
            encoded, data,
            "a commit decoded from bytes it does not encode to"
        );
    }
    if let Some((&selector, rest)) = data.split_first() {
        typed("stored object", verify_and_decode(selector, rest));
        if rest.len() >= 20 {
            let mut id = [0u8; 20];
            id.copy_from_slice(&rest[..20]);
            typed(
                "verification",
                verify_stored(selector, ObjectId::from_bytes(id), &rest[20..]),
            );
        }
    }
});
