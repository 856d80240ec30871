//! Input a caller gets wrong: short commit ids that match nothing, several
//! commits or no id at all, and a store used after it was closed.

use std::collections::HashMap;
use std::sync::Arc;

use kvit::{counter, ChangeSet, CommitOptions, Disk, Error, KvStore, Memory, ObjectId, Versioned};

fn commit_value(v: &mut Versioned, value: &str) -> ObjectId {
    let mut change = ChangeSet::new();
    change.set("k", value).unwrap();
    v.commit(&change, &CommitOptions::new())
        .unwrap()
        .commit
        .unwrap()
}

/// Commits until two commits share their first four hex characters (a few
/// hundred commits: the birthday bound of 16^4); returns that pair.
fn colliding_commits(v: &mut Versioned) -> (ObjectId, ObjectId) {
    let mut seen: HashMap<String, ObjectId> = HashMap::new();
    for i in 0..20_000 {
        let id = commit_value(v, &i.to_string());
        if let Some(other) = seen.insert(id.short(4), id) {
            return (other, id);
        }
    }
    panic!("no two of 20,000 commits share a 4-character prefix");
}

#[test]
fn a_unique_prefix_resolves_to_its_commit() {
    let mut v = Versioned::in_memory().unwrap();
    let id = commit_value(&mut v, "1");
    for len in [4, 7, 12, 39, 40] {
        assert_eq!(v.resolve_commit(&id.short(len)).unwrap(), id, "{len}");
    }
    let at = Versioned::options()
        .at_commit_prefix(id.short(8))
        .open(v.shared_kv())
        .unwrap();
    assert_eq!(at.current_commit(), id);
}

#[test]
fn an_unknown_prefix_or_id_is_not_found_by_name() {
    let mut v = Versioned::in_memory().unwrap();
    let id = commit_value(&mut v, "1");
    // Flip the first character: no commit starts with that.
    let first = if id.to_hex().starts_with('0') {
        '1'
    } else {
        '0'
    };
    let unknown = format!("{first}{}", &id.to_hex()[1..]);
    for text in [&unknown[..6], &unknown[..]] {
        match v.resolve_commit(text) {
            Err(Error::CommitNotFound(named)) => assert_eq!(named, text),
            other => panic!("{text}: {other:?}"),
        }
    }
    let open = Versioned::options()
        .at_commit_prefix(&unknown[..6])
        .open(v.shared_kv());
    assert!(matches!(open, Err(Error::CommitNotFound(_))), "{open:?}");
}

#[test]
fn an_ambiguous_prefix_names_itself_and_the_candidates() {
    let mut v = Versioned::in_memory().unwrap();
    let (a, b) = colliding_commits(&mut v);
    let prefix = a.short(4);
    match v.resolve_commit(&prefix) {
        Err(error @ Error::AmbiguousCommitPrefix { .. }) => {
            let message = error.to_string();
            let Error::AmbiguousCommitPrefix {
                prefix: named,
                candidates,
            } = error
            else {
                unreachable!()
            };
            assert_eq!(named, prefix);
            assert!(candidates >= 2, "{candidates}");
            assert!(message.contains(&prefix) && message.contains(&candidates.to_string()));
        }
        other => panic!("{prefix}: {other:?}"),
    }
    // Longer prefixes tell them apart.
    let common = a
        .to_hex()
        .chars()
        .zip(b.to_hex().chars())
        .take_while(|(x, y)| x == y)
        .count();
    assert_eq!(v.resolve_commit(&a.short(common + 1)).unwrap(), a);
    assert_eq!(v.resolve_commit(&b.short(common + 1)).unwrap(), b);
}

#[test]
fn text_that_cannot_be_an_id_is_an_invalid_argument_naming_it() {
    let v = Versioned::in_memory().unwrap();
    let too_long = "a".repeat(41);
    let uppercase = v.current_commit().to_hex().to_uppercase();
    for text in [
        "",
        "abc",
        "ghij",
        "ABCD",
        &uppercase,
        &too_long,
        "abcd ",
        "日本日本",
    ] {
        match v.resolve_commit(text) {
            Err(Error::InvalidArgument(message)) => {
                assert!(message.contains(&format!("{text:?}")), "{message}");
            }
            other => panic!("{text:?}: {other:?}"),
        }
    }
}

#[test]
fn keys_under_the_commit_prefix_that_are_not_ids_are_ignored() {
    let kv = Arc::new(Memory::new());
    let mut v = Versioned::open(kv.clone()).unwrap();
    let id = commit_value(&mut v, "1");
    kv.set(&format!("obj/c/{}-stray", id.short(6)), b"x")
        .unwrap();
    assert_eq!(v.resolve_commit(&id.short(6)).unwrap(), id);
}

fn expect_closed<T: std::fmt::Debug>(what: &str, outcome: kvit::Result<T>, path: &str) {
    match outcome {
        Err(Error::Closed { store }) => assert!(store.contains(path), "{what}: {store}"),
        other => panic!("{what} after close: {other:?}"),
    }
}

#[test]
fn cursors_on_a_closed_disk_fail_with_a_typed_error() {
    let directory = tempfile::tempdir().unwrap();
    let path = directory.path().display().to_string();
    let disk = Disk::open(directory.path()).unwrap();
    let kv: Arc<dyn KvStore> = Arc::new(disk.clone());
    let mut v = Versioned::open(kv.clone()).unwrap();
    v.set_merge_fn("k", counter());
    let first = commit_value(&mut v, "1");
    disk.close().unwrap();

    let mut change = ChangeSet::new();
    change.set("other", "x").unwrap();
    expect_closed("commit", v.commit(&change, &CommitOptions::new()), &path);
    assert_eq!(
        v.current_commit(),
        first,
        "a failed commit moved the cursor"
    );
    expect_closed("refresh", v.refresh(), &path);
    expect_closed("latest_head", v.latest_head(), &path);
    expect_closed("list_branches", v.list_branches(), &path);
    expect_closed("create_branch", v.create_branch("dev"), &path);
    expect_closed("reset_to", v.reset_to(first), &path);
    expect_closed("checkout", v.checkout(first, None), &path);
    expect_closed("resolve_commit", v.resolve_commit(&first.short(6)), &path);
    expect_closed("open", Versioned::open(kv.clone()), &path);
    expect_closed("verify", kvit::verify(&*kv), &path);
    // A cold cursor on the same closed handle cannot read anything.
    let cold: Arc<dyn KvStore> = Arc::new(disk.clone());
    expect_closed("open a second cursor", Versioned::open(cold), &path);

    // Nothing was lost, and nothing reopened the store behind our back.
    let reopened = Versioned::open(Arc::new(Disk::open(directory.path()).unwrap())).unwrap();
    assert_eq!(reopened.current_commit(), first);
    assert_eq!(reopened.get("k").unwrap(), Some(b"1".to_vec()));
}

/// Keys near the length limit used to end a node at every level (their
/// weight alone makes a boundary certain), so a tree holding one before
/// another key never got down to one root: every commit failed with "tree
/// would exceed the maximum depth". Found by the `operations` fuzz target.
#[test]
fn long_keys_before_other_keys_commit() {
    for len in [1031, 2000, kvit::MAX_KEY_LEN] {
        let mut v = Versioned::in_memory().unwrap();
        let long = "k".repeat(len);
        let mut change = ChangeSet::new();
        change.set(long.clone(), "v").unwrap();
        change.set("n", "1").unwrap();
        for i in 0..50 {
            change
                .set(format!("{}{i}", "x".repeat(len - 3)), "w")
                .unwrap();
        }
        v.commit(&change, &CommitOptions::new())
            .unwrap_or_else(|error| panic!("{len}-byte keys: {error}"));
        assert_eq!(v.len().unwrap(), 52);
        assert_eq!(v.get(&long).unwrap(), Some(b"v".to_vec()));
        let mut removal = ChangeSet::new();
        removal.remove(long.clone()).unwrap();
        v.commit(&removal, &CommitOptions::new()).unwrap();
        assert_eq!(v.len().unwrap(), 51);
        assert!(kvit::verify(v.kv()).unwrap().is_clean());

        // The same keys written one at a time, in reverse, give the same tree.
        let mut one_by_one = Versioned::in_memory().unwrap();
        for key in v.keys().unwrap().iter().rev() {
            let mut change = ChangeSet::new();
            change
                .set(key.clone(), v.get(key).unwrap().unwrap())
                .unwrap();
            one_by_one.commit(&change, &CommitOptions::new()).unwrap();
        }
        assert_eq!(one_by_one.root(), v.root(), "{len}-byte keys");
    }
}

#[test]
fn oversized_keys_and_values_are_refused_by_name() {
    let mut change = ChangeSet::new();
    let longest = "k".repeat(kvit::MAX_KEY_LEN);
    change.set(longest.clone(), "v").unwrap();
    let too_long = "k".repeat(kvit::MAX_KEY_LEN + 1);
    match change.set(too_long, "v") {
        Err(Error::InvalidKey { key, reason }) => {
            assert!(
                key.starts_with("kkk") && reason.contains("4096"),
                "{reason}"
            );
        }
        other => panic!("a {}-byte key: {other:?}", kvit::MAX_KEY_LEN + 1),
    }
    // Zeroed memory is mapped lazily: this costs no 128 MiB of RAM.
    let huge = vec![0u8; kvit::MAX_VALUE_LEN + 1];
    match change.set("big", huge) {
        Err(Error::ValueTooLarge { key, len, limit }) => {
            assert_eq!(
                (key.as_str(), len, limit),
                ("big", limit + 1, kvit::MAX_VALUE_LEN)
            );
        }
        other => panic!("an oversized value: {other:?}"),
    }
    let mut v = Versioned::in_memory().unwrap();
    v.commit(&change, &CommitOptions::new()).unwrap();
    assert_eq!(v.keys().unwrap(), [longest]);
}
