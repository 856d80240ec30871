//! Text through the parsers of things with rules: branch names, object ids
//! and commit id prefixes (against a small store whose commits are known).
#![no_main]

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use kvit::{BranchName, ChangeSet, CommitOptions, Error, Memory, ObjectId, Versioned};
use libfuzzer_sys::fuzz_target;

/// A store with a few hundred commits, so 4-character prefixes collide.
struct Fixture {
    cursor: Versioned,
    commits: BTreeSet<String>,
}

fn fixture() -> &'static std::sync::Mutex<Fixture> {
    static FIXTURE: OnceLock<std::sync::Mutex<Fixture>> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut cursor = Versioned::open(Arc::new(Memory::new())).expect("open");
        for i in 0..400u32 {
            let mut change = ChangeSet::new();
            change.set("k", i.to_string()).expect("valid key");
            cursor
                .commit(&change, &CommitOptions::new())
                .expect("commit");
        }
        let commits = cursor
            .history(None, true)
            .expect("history")
            .iter()
            .map(ObjectId::to_hex)
            .collect();
        std::sync::Mutex::new(Fixture { cursor, commits })
    })
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

fuzz_target!(|text: &str| {
    match BranchName::new(text) {
        Ok(name) => {
            assert_eq!(name.as_str(), text);
            assert!(!text.is_empty() && text.len() <= kvit::MAX_BRANCH_NAME_LEN);
            assert!(!text.contains("..") && !text.contains("//") && !text.starts_with('/'));
            assert!(!text.chars().any(char::is_control));
        }
        Err(Error::InvalidBranchName { name, .. }) => assert_eq!(name, text),
        Err(other) => panic!("branch name {text:?}: untyped failure {other:?}"),
    }

    match text.parse::<ObjectId>() {
        Ok(id) => assert_eq!(id.to_hex(), text),
        Err(error) => {
            assert_eq!(error.input, text);
            assert!(text.len() != 40 || !is_lower_hex(text));
        }
    }

    let fixture = fixture()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let matching = fixture
        .commits
        .iter()
        .filter(|id| id.starts_with(text))
        .count();
    let well_formed = (4..=40).contains(&text.len()) && is_lower_hex(text);
    match fixture.cursor.resolve_commit(text) {
        Ok(id) => {
            assert!(well_formed && matching == 1, "{text:?} resolved to {id}");
            assert!(id.to_hex().starts_with(text));
        }
        Err(Error::InvalidArgument(message)) => {
            assert!(!well_formed, "{text:?} refused: {message}");
        }
        Err(Error::CommitNotFound(prefix)) => {
            assert!(well_formed && matching == 0, "{text:?} not found");
            assert_eq!(prefix, text);
        }
        Err(Error::AmbiguousCommitPrefix { prefix, candidates }) => {
            assert!(well_formed && matching > 1, "{text:?} ambiguous");
            assert_eq!((prefix.as_str(), candidates), (text, matching));
        }
        Err(other) => panic!("commit prefix {text:?}: untyped failure {other:?}"),
    }

    // Prefixes of real commits, which random text almost never is.
    let bytes = text.as_bytes();
    if let [pick, len, ..] = bytes {
        let commits: Vec<&String> = fixture.commits.iter().collect();
        let full = commits[usize::from(*pick) % commits.len()];
        let prefix = &full[..4 + usize::from(*len) % 37];
        let matching = commits.iter().filter(|id| id.starts_with(prefix)).count();
        match fixture.cursor.resolve_commit(prefix) {
            Ok(id) => assert!(matching == 1 && id.to_hex() == *full, "{prefix} gave {id}"),
            Err(Error::AmbiguousCommitPrefix { candidates, .. }) => {
                assert_eq!(candidates, matching);
            }
            Err(other) => panic!("prefix {prefix} of {full}: {other:?}"),
        }
    }
});
