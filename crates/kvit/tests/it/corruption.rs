//! A corruption campaign: every object of a small store with history and two
//! branches is damaged in turn, one fault at a time, in each way a disk or a
//! careless tool can damage it (a flipped bit, a truncation, a deletion,
//! another object's bytes), and every branch head is pointed at garbage, at a
//! missing commit and at an object that is not a commit. For every fault,
//! `verify` must report it, and every read through the public API must
//! either answer exactly as the undamaged store does or fail with a typed
//! error naming the damaged object (or branch). Never a wrong value, never a
//! panic.

use std::collections::BTreeMap;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use kvit::{
    clean_orphans, verify, ChangeSet, CommitOptions, Error, KvStore, Memory, ObjectId, Versioned,
};

/// xorshift64*: reproducible choices without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let value = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
        usize::try_from(value % u64::try_from(bound).unwrap()).unwrap()
    }
}

/// The undamaged store: every key, and what each branch must read.
struct Pristine {
    stored: BTreeMap<String, Vec<u8>>,
    branches: Vec<Branch>,
}

struct Branch {
    name: &'static str,
    values: BTreeMap<String, Vec<u8>>,
    history: Vec<String>,
}

fn value(index: usize, revision: usize) -> Vec<u8> {
    // A third of the values are large enough to live in blobs.
    let len = if index.is_multiple_of(3) { 100 } else { 12 };
    format!("{index}:{revision}:")
        .bytes()
        .cycle()
        .take(len)
        .collect()
}

fn commit(cursor: &mut Versioned, edit: impl FnOnce(&mut ChangeSet)) {
    let mut changes = ChangeSet::new();
    edit(&mut changes);
    assert!(
        cursor
            .commit(&changes, &CommitOptions::new())
            .unwrap()
            .merged
    );
}

fn pristine() -> Pristine {
    let memory = Memory::new();
    let kv: Arc<dyn KvStore> = Arc::new(memory.clone());
    let mut main = Versioned::open(kv.clone()).unwrap();
    commit(&mut main, |c| {
        for i in 0..150 {
            c.set(format!("k/{i:03}"), value(i, 0)).unwrap();
        }
    });
    commit(&mut main, |c| {
        for i in (0..150).step_by(7) {
            c.set(format!("k/{i:03}"), value(i, 1)).unwrap();
        }
        for i in (3..150).step_by(29) {
            c.remove(format!("k/{i:03}")).unwrap();
        }
    });
    let mut side = main.create_branch("side").unwrap();
    commit(&mut side, |c| {
        for i in (1..150).step_by(11) {
            c.set(format!("k/{i:03}"), value(i, 2)).unwrap();
        }
    });
    commit(&mut main, |c| {
        for i in 150..170 {
            c.set(format!("k/{i:03}"), value(i, 3)).unwrap();
        }
    });
    // Every object is reachable: damage anywhere is damage to live data.
    assert_eq!(clean_orphans(&*kv, Duration::ZERO).unwrap(), 0);
    let branches = [("main", &main), ("side", &side)]
        .into_iter()
        .map(|(name, cursor)| Branch {
            name,
            values: cursor.items_with_prefix("").unwrap().into_iter().collect(),
            history: hex_ids(&cursor.history(None, true).unwrap()),
        })
        .collect();
    Pristine {
        stored: memory.snapshot(),
        branches,
    }
}

fn hex_ids(ids: &[ObjectId]) -> Vec<String> {
    ids.iter().map(ObjectId::to_hex).collect()
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Flip,
    Truncate,
    Delete,
    Swap,
    HeadGarbage,
    HeadMissing,
    HeadNotACommit,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Flip => "flip one payload bit",
            Kind::Truncate => "truncate",
            Kind::Delete => "delete",
            Kind::Swap => "another object's bytes",
            Kind::HeadGarbage => "head: garbage",
            Kind::HeadMissing => "head: missing commit",
            Kind::HeadNotACommit => "head: a tree node's id",
        })
    }
}

struct Fault {
    kind: Kind,
    /// The store key damaged.
    key: String,
    /// What errors must name: the object's id, or the branch.
    named: String,
    /// The damaged bytes; `None` deletes the key.
    bytes: Option<Vec<u8>>,
}

/// Bytes before an object's payload (its write time, which is not hashed:
/// changing it is not corruption).
const HEADER_LEN: usize = 8;

fn faults(pristine: &Pristine, rng: &mut Rng) -> Vec<Fault> {
    let objects: Vec<(&String, &Vec<u8>)> = pristine
        .stored
        .iter()
        .filter(|(key, _)| key.starts_with("obj/"))
        .collect();
    let mut faults = Vec::new();
    for (key, stored) in &objects {
        let named = key.rsplit('/').next().unwrap().to_owned();
        let fault = |kind, bytes| Fault {
            kind,
            key: (*key).clone(),
            named: named.clone(),
            bytes,
        };
        let mut flipped = (*stored).clone();
        let at = HEADER_LEN + rng.below(stored.len() - HEADER_LEN);
        flipped[at] ^= 1 << rng.below(8);
        faults.push(fault(Kind::Flip, Some(flipped)));
        faults.push(fault(
            Kind::Truncate,
            Some(stored[..rng.below(stored.len())].to_vec()),
        ));
        faults.push(fault(Kind::Delete, None));
        let same_kind: Vec<&(&String, &Vec<u8>)> = objects
            .iter()
            .filter(|(other, _)| other[..6] == key[..6] && other != key)
            .collect();
        if !same_kind.is_empty() {
            let other = same_kind[rng.below(same_kind.len())].1;
            faults.push(fault(Kind::Swap, Some(other.clone())));
        }
    }
    let node = objects
        .iter()
        .find(|(key, _)| key.starts_with("obj/n/"))
        .unwrap()
        .0
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    for branch in &pristine.branches {
        let key = format!("refs/heads/{}", branch.name);
        let fault = |kind, bytes: &[u8]| Fault {
            kind,
            key: key.clone(),
            named: branch.name.to_owned(),
            bytes: Some(bytes.to_vec()),
        };
        faults.push(fault(Kind::HeadGarbage, b"\x00not a commit\xff"));
        let missing = "7".repeat(40);
        faults.push(Fault {
            named: missing.clone(),
            ..fault(Kind::HeadMissing, missing.as_bytes())
        });
        faults.push(Fault {
            named: node.clone(),
            ..fault(Kind::HeadNotACommit, node.as_bytes())
        });
    }
    faults
}

#[derive(Default)]
struct Tally {
    faults: usize,
    detected: usize,
    reads: usize,
    read_errors: usize,
    wrong_values: usize,
    unnamed_errors: usize,
    panics: usize,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.faults += other.faults;
        self.detected += other.detected;
        self.reads += other.reads;
        self.read_errors += other.read_errors;
        self.wrong_values += other.wrong_values;
        self.unnamed_errors += other.unnamed_errors;
        self.panics += other.panics;
    }

    fn row(&self, label: &str) -> String {
        format!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} |",
            self.faults,
            self.detected,
            self.reads,
            self.read_errors,
            self.wrong_values,
            self.unnamed_errors,
            self.panics
        )
    }
}

/// Checks one read: the same answer as the undamaged store, or an error
/// naming the fault.
fn check<T: PartialEq + fmt::Debug>(
    tally: &mut Tally,
    fault: &Fault,
    what: &str,
    got: kvit::Result<T>,
    expected: &T,
) {
    tally.reads += 1;
    match got {
        Ok(value) if value == *expected => {}
        Ok(value) => {
            tally.wrong_values += 1;
            eprintln!(
                "{} at {}: {what} gave {value:?}, not {expected:?}",
                fault.kind, fault.key
            );
        }
        Err(error) => {
            tally.read_errors += 1;
            if !names(&error, fault) {
                tally.unnamed_errors += 1;
                eprintln!(
                    "{} at {}: {what} failed without naming it: {error}",
                    fault.kind, fault.key
                );
            }
        }
    }
}

fn names(error: &Error, fault: &Fault) -> bool {
    let typed = matches!(
        error,
        Error::MissingObject { .. }
            | Error::CorruptObject { .. }
            | Error::CorruptRef { .. }
            | Error::CommitNotFound(_)
    );
    typed && error.to_string().contains(&fault.named)
}

fn run_case(pristine: &Pristine, fault: &Fault, tally: &mut Tally) {
    let memory = Memory::new();
    let entries: Vec<(&str, &[u8])> = pristine
        .stored
        .iter()
        .map(|(key, value)| (key.as_str(), value.as_slice()))
        .collect();
    memory.set_many(&entries).unwrap();
    match &fault.bytes {
        Some(bytes) => memory.set(&fault.key, bytes).unwrap(),
        None => memory.remove(&fault.key).unwrap(),
    }
    let kv: Arc<dyn KvStore> = Arc::new(memory);

    let report = verify(&*kv).unwrap();
    let found = report
        .missing
        .iter()
        .any(|(_, id)| id.to_hex() == fault.named)
        || report
            .corrupt
            .iter()
            .any(|(_, id, _)| id.to_hex() == fault.named)
        || report
            .bad_refs
            .iter()
            .any(|(branch, _)| *branch == fault.named);
    if found {
        tally.detected += 1;
    } else {
        eprintln!(
            "{} at {}: verify missed it: {report}",
            fault.kind, fault.key
        );
    }

    for branch in &pristine.branches {
        let cursor = match Versioned::options().branch(branch.name).open(kv.clone()) {
            Ok(cursor) => cursor,
            Err(error) => {
                check(tally, fault, "open", Err::<(), _>(error), &());
                continue;
            }
        };
        let expected_keys: Vec<String> = branch.values.keys().cloned().collect();
        check(
            tally,
            fault,
            "len",
            cursor.len(),
            &(branch.values.len() as u64),
        );
        check(tally, fault, "keys", cursor.keys(), &expected_keys);
        let items: Vec<(String, Vec<u8>)> = branch
            .values
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        check(
            tally,
            fault,
            "items",
            cursor.items_with_prefix("k/"),
            &items,
        );
        for (key, value) in &branch.values {
            check(tally, fault, key, cursor.get(key), &Some(value.clone()));
        }
        let keys: Vec<&str> = branch.values.keys().map(String::as_str).collect();
        let values: Vec<Option<Vec<u8>>> = branch.values.values().cloned().map(Some).collect();
        check(tally, fault, "get_many", cursor.get_many(&keys), &values);
        check(
            tally,
            fault,
            "history",
            cursor.history(None, true).map(|ids| hex_ids(&ids)),
            &branch.history,
        );
    }
}

#[test]
fn every_injected_fault_is_found_and_no_read_returns_a_wrong_value() {
    let pristine = pristine();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let faults = faults(&pristine, &mut rng);
    let mut by_kind: BTreeMap<Kind, Tally> = BTreeMap::new();
    for fault in &faults {
        let tally = by_kind.entry(fault.kind).or_default();
        tally.faults += 1;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
            let mut case = Tally::default();
            run_case(&pristine, fault, &mut case);
            case
        }));
        match outcome {
            Ok(case) => tally.add(&case),
            Err(_) => tally.panics += 1,
        }
    }

    // The table for docs/reliability.md (`cargo test -p kvit --test it
    // corruption -- --nocapture`).
    println!("| fault | injected | found by verify | reads | failed, naming it | wrong values | errors not naming it | panics |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut total = Tally::default();
    for (kind, tally) in &by_kind {
        println!("{}", tally.row(&kind.to_string()));
        total.add(tally);
    }
    println!("{}", total.row("**total**"));

    assert!(total.faults > 300, "only {} faults", total.faults);
    assert_eq!(total.detected, total.faults, "verify missed faults");
    assert_eq!(total.wrong_values, 0, "reads returned wrong values");
    assert_eq!(total.unnamed_errors, 0, "errors did not name the fault");
    assert_eq!(total.panics, 0, "damage made kvit panic");
    // The damage was felt: reads did fail (the campaign is not vacuous).
    assert!(total.read_errors > total.faults / 2);
}
