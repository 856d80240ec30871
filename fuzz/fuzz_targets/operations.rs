//! Operation sequences on `Versioned` cursors sharing one `Memory` store,
//! checked after every step against a model: a `BTreeMap` per commit, the
//! commit graph and the branch heads. Cursors stage changes, commit (fast
//! forward or three-way, with the `counter` merge function on key `n`),
//! refresh, check out, branch, reset, delete branches, diff, walk history and
//! resolve commit id prefixes. Every failure must be the typed error the
//! model expects; nothing may panic.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use arbitrary::Arbitrary;
use kvit::{
    counter, ChangeSet, CommitOptions, Error, KvStore, Memory, MergeResult, ObjectId, OnConflict,
    Strategy, Versioned, MAX_KEY_LEN,
};
use libfuzzer_sys::fuzz_target;

type Map = BTreeMap<String, Vec<u8>>;

const KEYS: &[&str] = &["a", "b", "c", "n", "ns/x", "ns/y", "日本", "a\0b", ""];
const BRANCHES: &[&str] = &["main", "dev", "feature/x", "bad..name", "@", "dev.lock"];
const COUNTER_KEY: &str = "n";
const MAX_CURSORS: usize = 8;
const MAX_OPS: usize = 80;

#[derive(Arbitrary, Debug)]
enum Key {
    Known(u8),
    Raw(String),
    Long(u16),
}

impl Key {
    fn text(&self) -> String {
        match self {
            Key::Known(pick) => KEYS[usize::from(*pick) % KEYS.len()].to_owned(),
            Key::Raw(text) => text.clone(),
            Key::Long(len) => "k".repeat(MAX_KEY_LEN - 2 + usize::from(*len % 5)),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Value {
    Small(Vec<u8>),
    /// Above the inline limit: stored as a blob.
    Large(u16, u8),
    Number(i128),
}

impl Value {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Value::Small(bytes) => bytes.clone(),
            Value::Large(len, fill) => vec![*fill; 65 + usize::from(*len % 2000)],
            Value::Number(number) => number.to_string().into_bytes(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Set {
        cursor: u8,
        key: Key,
        value: Value,
    },
    Remove {
        cursor: u8,
        key: Key,
    },
    Increment {
        cursor: u8,
    },
    Commit {
        cursor: u8,
        abandon: bool,
        info: bool,
    },
    Refresh {
        cursor: u8,
    },
    Checkout {
        cursor: u8,
        commit: u8,
        branch: Option<u8>,
    },
    CreateBranch {
        cursor: u8,
        branch: u8,
    },
    Open {
        branch: u8,
    },
    ResetTo {
        cursor: u8,
        commit: u8,
    },
    DeleteBranch {
        cursor: u8,
        branch: u8,
    },
    Diff {
        cursor: u8,
        a: u8,
        b: u8,
    },
    History {
        cursor: u8,
        all_parents: bool,
    },
    Resolve {
        cursor: u8,
        commit: u8,
        len: u8,
    },
    Close {
        cursor: u8,
    },
}

struct CommitModel {
    parents: Vec<ObjectId>,
    map: Map,
    info: Option<u64>,
}

struct Cursor {
    versioned: Versioned,
    branch: String,
    at: ObjectId,
    staged: BTreeMap<String, Option<Vec<u8>>>,
}

struct World {
    kv: Arc<Memory>,
    commits: HashMap<ObjectId, CommitModel>,
    /// Commits in the order they were learnt, for ops to pick from.
    order: Vec<ObjectId>,
    heads: BTreeMap<String, ObjectId>,
    cursors: Vec<Cursor>,
    infos: u64,
}

fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.contains('\0')
}

fn valid_branch(name: &str) -> bool {
    kvit::BranchName::new(name).is_ok()
}

/// The counter merge function's rule, with overflow as a failure.
fn merge_counter(
    old: Option<&Vec<u8>>,
    ours: Option<&Vec<u8>>,
    theirs: Option<&Vec<u8>>,
) -> Option<Vec<u8>> {
    let parse = |bytes: Option<&Vec<u8>>| -> Option<i128> {
        match bytes {
            None => Some(0),
            Some(bytes) => std::str::from_utf8(bytes).ok()?.trim().parse().ok(),
        }
    };
    let (ours, theirs, old) = (parse(ours)?, parse(theirs)?, parse(old)?);
    // Exact: if the total fits, one of these orders of the sums stays in range.
    let total = ours
        .checked_sub(old)
        .and_then(|gain| gain.checked_add(theirs))
        .or_else(|| theirs.checked_sub(old)?.checked_add(ours))
        .or_else(|| ours.checked_add(theirs)?.checked_sub(old))?;
    Some(total.to_string().into_bytes())
}

fn expect_error<T: std::fmt::Debug>(
    what: &str,
    outcome: kvit::Result<T>,
    matches: impl Fn(&Error) -> bool,
) {
    match outcome {
        Err(error) if matches(&error) => {}
        other => panic!("{what}: expected a typed error, got {other:?}"),
    }
}

impl World {
    fn new() -> Self {
        let kv = Arc::new(Memory::new());
        let mut world = World {
            kv,
            commits: HashMap::new(),
            order: Vec::new(),
            heads: BTreeMap::new(),
            cursors: Vec::new(),
            infos: 0,
        };
        world.open("main");
        world
    }

    fn learn(&mut self, id: ObjectId, model: CommitModel) {
        if self.commits.insert(id, model).is_none() {
            self.order.push(id);
        }
    }

    fn cursor_index(&self, pick: u8) -> Option<usize> {
        (!self.cursors.is_empty()).then(|| usize::from(pick) % self.cursors.len())
    }

    /// A known commit, or (past the end) an id no commit has.
    fn pick_commit(&self, pick: u8) -> ObjectId {
        let index = usize::from(pick) % (self.order.len() + 1);
        self.order
            .get(index)
            .copied()
            .unwrap_or_else(|| ObjectId::from_bytes([0xee; 20]))
    }

    fn add_cursor(&mut self, mut versioned: Versioned, branch: &str) {
        versioned.set_merge_fn(COUNTER_KEY, counter());
        let at = versioned.current_commit();
        self.cursors.push(Cursor {
            versioned,
            branch: branch.to_owned(),
            at,
            staged: BTreeMap::new(),
        });
        if self.cursors.len() > MAX_CURSORS {
            self.cursors.remove(0);
        }
    }

    /// Records a branch (re)created at a new empty root commit.
    fn learn_root(&mut self, branch: &str, root: ObjectId) {
        let model = CommitModel {
            parents: Vec::new(),
            map: Map::new(),
            info: None,
        };
        self.learn(root, model);
        self.heads.insert(branch.to_owned(), root);
    }

    fn open(&mut self, branch: &str) {
        let outcome = Versioned::options()
            .branch(branch)
            .open(self.kv.clone() as Arc<dyn KvStore>);
        if !valid_branch(branch) {
            expect_error("open", outcome, |e| {
                matches!(e, Error::InvalidBranchName { .. })
            });
            return;
        }
        let versioned = outcome.expect("open a valid branch");
        match self.heads.get(branch) {
            Some(head) => assert_eq!(versioned.current_commit(), *head, "open at the head"),
            None => self.learn_root(branch, versioned.current_commit()),
        }
        self.add_cursor(versioned, branch);
    }

    /// What a cursor shows: its commit's map with its staged changes over it.
    fn visible(&self, cursor: &Cursor, key: &str) -> Option<Vec<u8>> {
        match cursor.staged.get(key) {
            Some(staged) => staged.clone(),
            None => self.commits[&cursor.at].map.get(key).cloned(),
        }
    }

    fn stage(&mut self, index: usize, key: String, value: Option<Vec<u8>>) {
        let mut probe = ChangeSet::new();
        let outcome = match &value {
            Some(value) => probe.set(key.clone(), value.clone()).map(drop),
            None => probe.remove(key.clone()).map(drop),
        };
        if valid_key(&key) {
            outcome.expect("a valid key is accepted");
            self.cursors[index].staged.insert(key, value);
        } else {
            expect_error("stage", outcome, |e| matches!(e, Error::InvalidKey { .. }));
        }
    }

    // One arm per operation, each checked where it runs, reads best as one match.
    #[allow(clippy::too_many_lines)]
    fn step(&mut self, op: &Op) {
        match op {
            Op::Set { cursor, key, value } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    self.stage(index, key.text(), Some(value.bytes()));
                }
            }
            Op::Remove { cursor, key } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    self.stage(index, key.text(), None);
                }
            }
            Op::Increment { cursor } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    let current = self
                        .visible(&self.cursors[index], COUNTER_KEY)
                        .and_then(|bytes| String::from_utf8(bytes).ok())
                        .and_then(|text| text.trim().parse::<i128>().ok())
                        .unwrap_or(0);
                    let next = current.saturating_add(1).to_string().into_bytes();
                    self.stage(index, COUNTER_KEY.to_owned(), Some(next));
                }
            }
            Op::Commit {
                cursor,
                abandon,
                info,
            } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    self.commit(index, *abandon, *info);
                }
            }
            Op::Refresh { cursor } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    self.cursors[index].versioned.refresh().expect("refresh");
                    let now = self.cursors[index].versioned.current_commit();
                    let branch = self.cursors[index].branch.clone();
                    match self.heads.get(&branch) {
                        Some(head) => assert_eq!(now, *head, "refresh moves to the head"),
                        None => self.learn_root(&branch, now),
                    }
                    self.cursors[index].at = now;
                }
            }
            Op::Checkout {
                cursor,
                commit,
                branch,
            } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    let id = self.pick_commit(*commit);
                    let name = branch.map(|pick| BRANCHES[usize::from(pick) % BRANCHES.len()]);
                    let outcome = self.cursors[index].versioned.checkout(id, name);
                    if name.is_some_and(|name| !valid_branch(name)) {
                        expect_error("checkout", outcome, |e| {
                            matches!(e, Error::InvalidBranchName { .. })
                        });
                        return;
                    }
                    let opened = outcome.expect("checkout");
                    match (opened, self.commits.contains_key(&id)) {
                        (Some(opened), true) => {
                            assert_eq!(opened.current_commit(), id);
                            let branch = name
                                .map_or_else(|| self.cursors[index].branch.clone(), str::to_owned);
                            assert_eq!(opened.branch(), branch);
                            self.add_cursor(opened, &branch);
                        }
                        (None, false) => {}
                        (opened, known) => panic!(
                            "checkout of {id}: known {known}, opened {}",
                            opened.is_some()
                        ),
                    }
                }
            }
            Op::CreateBranch { cursor, branch } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    let name = BRANCHES[usize::from(*branch) % BRANCHES.len()];
                    let outcome = self.cursors[index].versioned.create_branch(name);
                    if !valid_branch(name) {
                        expect_error("create_branch", outcome, |e| {
                            matches!(e, Error::InvalidBranchName { .. })
                        });
                    } else if self.heads.contains_key(name) {
                        expect_error("create_branch", outcome, |e| {
                            matches!(e, Error::BranchExists(_))
                        });
                    } else {
                        let opened = outcome.expect("create a new branch");
                        let at = self.cursors[index].at;
                        assert_eq!(opened.current_commit(), at);
                        self.heads.insert(name.to_owned(), at);
                        self.add_cursor(opened, name);
                    }
                }
            }
            Op::Open { branch } => self.open(BRANCHES[usize::from(*branch) % BRANCHES.len()]),
            Op::ResetTo { cursor, commit } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    let id = self.pick_commit(*commit);
                    let moved = self.cursors[index]
                        .versioned
                        .reset_to(id)
                        .expect("reset_to");
                    assert_eq!(moved, self.commits.contains_key(&id), "reset_to {id}");
                    if moved {
                        let branch = self.cursors[index].branch.clone();
                        self.heads.insert(branch, id);
                        self.cursors[index].at = id;
                    }
                }
            }
            Op::DeleteBranch { cursor, branch } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    let name = BRANCHES[usize::from(*branch) % BRANCHES.len()];
                    let outcome = self.cursors[index].versioned.delete_branch(name);
                    if valid_branch(name) {
                        let existed = outcome.expect("delete_branch");
                        assert_eq!(existed, self.heads.remove(name).is_some(), "delete {name}");
                    } else {
                        expect_error("delete_branch", outcome, |e| {
                            matches!(e, Error::InvalidBranchName { .. })
                        });
                    }
                }
            }
            Op::Diff { cursor, a, b } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    let (a, b) = (self.pick_commit(*a), self.pick_commit(*b));
                    let outcome = self.cursors[index].versioned.diff(a, b);
                    let (Some(left), Some(right)) = (self.commits.get(&a), self.commits.get(&b))
                    else {
                        expect_error("diff", outcome, |e| matches!(e, Error::CommitNotFound(_)));
                        return;
                    };
                    let diff = outcome.expect("diff");
                    let keys: BTreeSet<&String> = left.map.keys().chain(right.map.keys()).collect();
                    for key in keys {
                        let (old, new) = (left.map.get(key), right.map.get(key));
                        assert_eq!(
                            diff.added.contains(key),
                            old.is_none() && new.is_some(),
                            "added {key:?}"
                        );
                        assert_eq!(
                            diff.removed.contains(key),
                            old.is_some() && new.is_none(),
                            "removed {key:?}"
                        );
                        assert_eq!(
                            diff.modified.contains(key),
                            old.is_some() && new.is_some() && old != new,
                            "modified {key:?}"
                        );
                    }
                }
            }
            Op::History {
                cursor,
                all_parents,
            } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    let cursor = &self.cursors[index];
                    let history = cursor
                        .versioned
                        .history(None, *all_parents)
                        .expect("history");
                    if *all_parents {
                        let expected = self.ancestors(cursor.at);
                        let got: HashSet<ObjectId> = history.iter().copied().collect();
                        assert_eq!(got.len(), history.len(), "a commit listed twice");
                        assert_eq!(got, expected, "whole ancestry");
                        for (position, id) in history.iter().enumerate() {
                            for parent in &self.commits[id].parents {
                                assert!(
                                    history[position + 1..].contains(parent),
                                    "parent before child"
                                );
                            }
                        }
                    } else {
                        let mut expected = vec![cursor.at];
                        while let Some(parent) = self.commits[expected.last().expect("non-empty")]
                            .parents
                            .first()
                        {
                            expected.push(*parent);
                        }
                        assert_eq!(history, expected, "first-parent history");
                    }
                }
            }
            Op::Resolve {
                cursor,
                commit,
                len,
            } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    let id = self.pick_commit(*commit);
                    let hex = id.to_hex();
                    let prefix = &hex[..4 + usize::from(*len) % 37];
                    // Every commit object in the store, the abandoned ones too.
                    let stored = self
                        .kv
                        .snapshot()
                        .into_keys()
                        .filter(|key| key.starts_with("obj/c/") && key[6..].starts_with(prefix))
                        .count();
                    match self.cursors[index].versioned.resolve_commit(prefix) {
                        Ok(found) => assert!(
                            stored == 1 && found.to_hex().starts_with(prefix),
                            "{prefix}"
                        ),
                        Err(Error::CommitNotFound(text)) => assert!(stored == 0 && text == prefix),
                        Err(Error::AmbiguousCommitPrefix { candidates, .. }) => {
                            assert!(prefix.len() < 40 && candidates == stored && stored > 1);
                        }
                        Err(other) => panic!("resolve {prefix}: {other:?}"),
                    }
                }
            }
            Op::Close { cursor } => {
                if let Some(index) = self.cursor_index(*cursor) {
                    self.cursors.remove(index);
                }
            }
        }
    }

    fn ancestors(&self, from: ObjectId) -> HashSet<ObjectId> {
        let mut seen = HashSet::from([from]);
        let mut stack = vec![from];
        while let Some(id) = stack.pop() {
            for parent in &self.commits[&id].parents {
                if seen.insert(*parent) {
                    stack.push(*parent);
                }
            }
        }
        seen
    }

    /// The lowest common ancestors of two commits (several after criss-cross merges).
    fn lowest_common_ancestors(&self, a: ObjectId, b: ObjectId) -> HashSet<ObjectId> {
        let common: HashSet<ObjectId> = self
            .ancestors(a)
            .intersection(&self.ancestors(b))
            .copied()
            .collect();
        common
            .iter()
            .filter(|candidate| {
                !common
                    .iter()
                    .any(|other| other != *candidate && self.ancestors(*other).contains(candidate))
            })
            .copied()
            .collect()
    }

    // The model of one commit, in the order of the steps in docs/versioning.md.
    #[allow(clippy::too_many_lines)]
    fn commit(&mut self, index: usize, abandon: bool, with_info: bool) {
        let mut changes = ChangeSet::new();
        for (key, value) in &self.cursors[index].staged {
            match value {
                Some(value) => changes.set(key.clone(), value.clone()).map(drop),
                None => changes.remove(key.clone()).map(drop),
            }
            .expect("staged keys are valid");
        }
        let mut options = CommitOptions::new();
        if abandon {
            options = options.on_conflict(OnConflict::Abandon);
        }
        let info = with_info.then(|| {
            self.infos += 1;
            self.infos
        });
        if let Some(info) = info {
            options = options.info(serde_json::json!({ "step": info }));
        }
        let cursor = &self.cursors[index];
        let (current, branch) = (cursor.at, cursor.branch.clone());
        assert_eq!(cursor.versioned.current_commit(), current);
        assert_eq!(cursor.versioned.base_commit(), current);
        let mut ours = self.commits[&current].map.clone();
        for (key, value) in &cursor.staged {
            match value {
                Some(value) => ours.insert(key.clone(), value.clone()),
                None => ours.remove(key),
            };
        }
        let head = self.heads.get(&branch).copied();
        // Chosen before the commit, from the store as it is now.
        let lowest = head.map(|head| self.lowest_common_ancestors(current, head));
        let engine_base = head.map(|head| {
            cursor
                .versioned
                .merge_base(current, head)
                .expect("merge_base")
        });
        let outcome = self.cursors[index].versioned.commit(&changes, &options);

        if changes.is_empty() && info.is_none() {
            let result = outcome.expect("a no-op commit");
            assert_eq!(
                (result.strategy, result.commit),
                (Strategy::NoOp, Some(current))
            );
            return;
        }
        if head.is_none() || head == Some(current) {
            let result = outcome.expect("a fast-forward commit");
            assert!(
                result.merged && result.strategy == Strategy::FastForward,
                "{result:?}"
            );
            let id = result.commit.expect("a commit");
            self.learn(
                id,
                CommitModel {
                    parents: vec![current],
                    map: ours,
                    info,
                },
            );
            self.heads.insert(branch, id);
            self.finish(index, id);
            return;
        }
        let head = head.expect("checked above");
        let lowest = lowest.expect("a head");
        let shares_history = engine_base.is_some_and(|base| base.is_some());
        let base = if let Some(base) = engine_base.expect("a head") {
            assert!(
                lowest.contains(&base),
                "merge base {base} is not a lowest common ancestor"
            );
            base
        } else {
            assert!(lowest.is_empty(), "merge base missed");
            current
        };
        let (old, theirs) = (&self.commits[&base].map, &self.commits[&head].map);
        let mut merged = theirs.clone();
        let (mut conflicts, mut auto, mut carried) =
            (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let keys: BTreeSet<&String> = old.keys().chain(ours.keys()).chain(theirs.keys()).collect();
        for key in keys {
            let (o, mine, their) = (old.get(key), ours.get(key), theirs.get(key));
            let (ours_changed, theirs_changed) = (mine != o, their != o);
            if !ours_changed {
                if theirs_changed {
                    carried.insert(key.clone());
                }
                continue;
            }
            let resolved = if !theirs_changed {
                Some(mine.cloned())
            } else if key == COUNTER_KEY {
                merge_counter(o, mine, their).map(Some)
            } else if mine == their {
                Some(mine.cloned())
            } else {
                None
            };
            if theirs_changed {
                if resolved.is_some() {
                    auto.insert(key.clone());
                } else {
                    conflicts.insert(key.clone());
                }
            }
            match resolved.flatten() {
                Some(value) => merged.insert(key.clone(), value),
                None => merged.remove(key),
            };
        }
        if !conflicts.is_empty() {
            if abandon {
                let result = outcome.expect("an abandoned commit");
                assert!(!result.merged && result.commit.is_none(), "{result:?}");
                assert_eq!(result.conflicting_keys, conflicts);
            } else {
                let Err(Error::MergeConflict(conflict)) = outcome else {
                    panic!("expected a merge conflict on {conflicts:?}, got {outcome:?}");
                };
                assert_eq!(conflict.conflicting_keys, conflicts);
            }
            let cursor = &self.cursors[index];
            assert_eq!(
                cursor.versioned.current_commit(),
                current,
                "a failed commit moved the cursor"
            );
            assert_eq!(self.heads.get(&branch), Some(&head));
            return;
        }
        let result: MergeResult = outcome.expect("a three-way commit");
        assert!(
            result.merged && result.strategy == Strategy::ThreeWay,
            "{result:?}"
        );
        assert_eq!(result.auto_merged_keys, auto, "auto-merged keys");
        assert_eq!(result.carried_keys, carried, "carried keys");
        let id = result.commit.expect("a merge commit");
        let versioned = &self.cursors[index].versioned;
        let merge = versioned.commit_object(id).expect("the merge commit");
        if shares_history {
            assert_eq!(merge.parents.len(), 2);
            assert_eq!(merge.parents[1], head);
            let ours_id = merge.parents[0];
            assert_eq!(
                versioned.commit_object(ours_id).expect("ours").parents,
                vec![current]
            );
            self.learn(
                ours_id,
                CommitModel {
                    parents: vec![current],
                    map: ours,
                    info,
                },
            );
        } else {
            // Unrelated histories (see docs/gc.md): ours stays out of the head's.
            assert_eq!(merge.parents, vec![head]);
        }
        let parents = merge.parents.clone();
        self.learn(
            id,
            CommitModel {
                parents,
                map: merged,
                info,
            },
        );
        self.heads.insert(branch, id);
        self.finish(index, id);
    }

    /// After a successful commit: the cursor is at `id` with nothing staged.
    fn finish(&mut self, index: usize, id: ObjectId) {
        let cursor = &mut self.cursors[index];
        cursor.at = id;
        cursor.staged.clear();
        let info = cursor.versioned.commit_info(Some(id)).expect("commit_info");
        let expected = self.commits[&id]
            .info
            .map(|step| serde_json::json!({ "step": step }));
        assert_eq!(info, expected, "commit info");
    }

    /// The cursor shows exactly its commit's map; the heads are the model's.
    fn check(&self, index: usize) {
        let cursor = &self.cursors[index];
        let versioned = &cursor.versioned;
        assert_eq!(versioned.current_commit(), cursor.at);
        assert_eq!(versioned.branch(), cursor.branch);
        let map = &self.commits[&cursor.at].map;
        let keys: Vec<&String> = map.keys().collect();
        assert_eq!(
            versioned.keys().expect("keys").iter().collect::<Vec<_>>(),
            keys
        );
        assert_eq!(versioned.len().expect("len"), map.len() as u64);
        let total: usize = map.values().map(Vec::len).sum();
        assert_eq!(versioned.total_value_bytes().expect("size"), total as u64);
        let probe: Vec<&str> = KEYS.iter().copied().filter(|key| valid_key(key)).collect();
        let many = versioned.get_many(&probe).expect("get_many");
        for (key, value) in probe.iter().zip(many) {
            assert_eq!(value.as_ref(), map.get(*key), "get_many {key:?}");
            assert_eq!(
                versioned.get(key).expect("get").as_ref(),
                map.get(*key),
                "get {key:?}"
            );
        }
        assert_eq!(
            versioned.items_with_prefix("ns/").expect("items"),
            map.range("ns/".to_owned().."ns0".to_owned())
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            versioned.list_branches().expect("branches"),
            self.heads.keys().cloned().collect::<Vec<_>>()
        );
        assert_eq!(
            versioned.latest_head().expect("head"),
            self.heads.get(&cursor.branch).copied()
        );
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut world = World::new();
    for op in ops.iter().take(MAX_OPS) {
        world.step(op);
        let touched = match op {
            Op::Set { cursor, .. }
            | Op::Remove { cursor, .. }
            | Op::Increment { cursor }
            | Op::Commit { cursor, .. }
            | Op::Refresh { cursor }
            | Op::ResetTo { cursor, .. } => world.cursor_index(*cursor),
            _ => world.cursors.len().checked_sub(1),
        };
        if let Some(index) = touched {
            world.check(index);
        }
    }
    let report = kvit::verify(&*world.kv).expect("verify");
    assert!(report.is_clean(), "{report:?}");
});
