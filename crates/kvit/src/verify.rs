//! Checking a store (fsck): every object reachable from a branch head is
//! present, matches its address, decodes, and agrees with what refers to it.
//!
//! The walk reads straight from the backend, never through a cache, fetching
//! one wave of objects per `get_many`, and keeps going past every problem it
//! finds so that one report names all of them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use crate::backend::KvStore;
use crate::commit::Commit;
use crate::error::{Error, Result};
use crate::object::{self, Kind, ObjectId};
use crate::refs::{BranchName, HEADS_PREFIX};
use crate::tree::{Node, Slot};
use crate::versioned::Versioned;

/// Keys per `get_many`, so one wave of a large store is not one huge request.
const FETCH_CHUNK: usize = 1000;

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Distinct commits read and checked.
    pub commits: u64,
    /// Distinct tree nodes read and checked.
    pub nodes: u64,
    /// Distinct value blobs read and checked.
    pub blobs: u64,
    /// Reachable objects that are not in the store: kind name and id.
    pub missing: Vec<(&'static str, ObjectId)>,
    /// Reachable objects that are damaged or inconsistent: kind name, id and
    /// what is wrong. An object with several problems appears once for each.
    pub corrupt: Vec<(&'static str, ObjectId, String)>,
    /// Branch heads that do not hold a commit id: branch name and (the start
    /// of) what the head holds.
    pub bad_refs: Vec<(String, String)>,
}

impl VerifyReport {
    /// Whether nothing is missing, corrupt or unreadable.
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.corrupt.is_empty() && self.bad_refs.is_empty()
    }

    fn corrupt(&mut self, kind: Kind, id: ObjectId, reason: impl Into<String>) {
        self.corrupt.push((kind.name(), id, reason.into()));
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checked {} commits, {} tree nodes, {} value blobs: ",
            self.commits, self.nodes, self.blobs
        )?;
        if self.is_clean() {
            return f.write_str("clean");
        }
        write!(
            f,
            "{} missing, {} corrupt, {} bad refs",
            self.missing.len(),
            self.corrupt.len(),
            self.bad_refs.len()
        )?;
        for (kind, id) in self.missing.iter().take(5) {
            write!(f, "; missing {kind} {id}")?;
        }
        for (kind, id, reason) in self.corrupt.iter().take(5) {
            write!(f, "; corrupt {kind} {id}: {reason}")?;
        }
        for (branch, found) in self.bad_refs.iter().take(5) {
            write!(f, "; branch {branch:?} holds {found:?}")?;
        }
        Ok(())
    }
}

/// What a parent says about one of its children, checked once both are read.
struct ChildClaim {
    parent: ObjectId,
    child: ObjectId,
    level: u8,
    count: u64,
    value_bytes: u64,
    key: Arc<str>,
}

/// What a node says about itself, for its parents' claims.
struct NodeSummary {
    level: u8,
    entries: usize,
    count: u64,
    value_bytes: u64,
    last_key: Option<Arc<str>>,
}

/// One fetched object: its payload, or why there is none to use.
enum Fetched {
    Payload(Vec<u8>),
    Missing,
    Corrupt(String),
}

/// Checks everything reachable from every branch head: all parents of every
/// commit, every tree node and every value blob. Each object is read once
/// (shared subtrees are walked once) and checked to be present, to match its
/// address and to decode; interior-node entries must match the child they
/// summarise (level, key count, value bytes, greatest key), leaves' blob
/// lengths must match the blobs, and commit generations must follow from
/// their parents'.
///
/// # Errors
/// Only a backend failure; damage is reported, not returned as an error.
pub fn verify(kv: &dyn KvStore) -> Result<VerifyReport> {
    let mut walk = Walk::default();
    for (key, value) in kv.scan_prefix(HEADS_PREFIX)? {
        let name = key.get(HEADS_PREFIX.len()..).unwrap_or_default();
        // A key another tool wrote that is not a valid name is not a branch.
        if BranchName::new(name).is_err() {
            continue;
        }
        match std::str::from_utf8(&value)
            .ok()
            .and_then(|text| text.parse::<ObjectId>().ok())
        {
            Some(id) => walk.reach(Kind::Commit, id),
            None => walk.report.bad_refs.push((
                name.to_owned(),
                String::from_utf8_lossy(&value[..value.len().min(64)]).into_owned(),
            )),
        }
    }
    while !walk.wave.is_empty() {
        let wave = std::mem::take(&mut walk.wave);
        for kind in Kind::ALL {
            let ids: Vec<ObjectId> = wave
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, id)| *id)
                .collect();
            for (id, fetched) in fetch(kv, kind, &ids)? {
                match fetched {
                    Fetched::Payload(payload) => walk.check(kind, id, &payload),
                    Fetched::Missing => walk.report.missing.push((kind.name(), id)),
                    Fetched::Corrupt(reason) => walk.report.corrupt(kind, id, reason),
                }
            }
        }
    }
    Ok(walk.finish())
}

/// The state of one [`verify`] walk: what was reached, what the objects read
/// so far claim about the ones below them, and what they turned out to be.
#[derive(Default)]
struct Walk {
    report: VerifyReport,
    seen: HashSet<(Kind, ObjectId)>,
    /// Reached but not yet read.
    wave: Vec<(Kind, ObjectId)>,
    generations: HashMap<ObjectId, u64>,
    commit_parents: Vec<(ObjectId, u64, Vec<ObjectId>)>,
    roots: Vec<ObjectId>,
    summaries: HashMap<ObjectId, NodeSummary>,
    claims: Vec<ChildClaim>,
    /// Leaf, blob, and the length the leaf gives the blob.
    blob_claims: Vec<(ObjectId, ObjectId, u64)>,
    blob_lengths: HashMap<ObjectId, u64>,
}

impl Walk {
    fn reach(&mut self, kind: Kind, id: ObjectId) {
        if self.seen.insert((kind, id)) {
            self.wave.push((kind, id));
        }
    }

    /// Decodes one verified payload and notes what it refers to.
    fn check(&mut self, kind: Kind, id: ObjectId, payload: &[u8]) {
        match kind {
            Kind::Commit => {
                self.report.commits += 1;
                match Commit::decode(id, payload) {
                    Ok(commit) => self.commit(id, commit),
                    Err(err) => self.report.corrupt(kind, id, reason_of(err)),
                }
            }
            Kind::Node => {
                self.report.nodes += 1;
                match Node::decode(id, payload) {
                    Ok(node) => self.node(id, &node),
                    Err(err) => self.report.corrupt(kind, id, reason_of(err)),
                }
            }
            Kind::Blob => {
                self.report.blobs += 1;
                self.blob_lengths.insert(id, payload.len() as u64);
            }
        }
    }

    fn commit(&mut self, id: ObjectId, commit: Commit) {
        self.generations.insert(id, commit.generation);
        for parent in &commit.parents {
            self.reach(Kind::Commit, *parent);
        }
        self.roots.push(commit.root);
        self.reach(Kind::Node, commit.root);
        self.commit_parents
            .push((id, commit.generation, commit.parents));
    }

    fn node(&mut self, id: ObjectId, node: &Node) {
        self.summaries.insert(id, summarise(node));
        for (key, slot) in node.iter() {
            match slot {
                Slot::Inline(_) => {}
                Slot::Blob { id: blob, len } => {
                    self.blob_claims.push((id, blob, len));
                    self.reach(Kind::Blob, blob);
                }
                Slot::Child(child) => {
                    self.claims.push(ChildClaim {
                        parent: id,
                        child: child.id,
                        level: node.level.saturating_sub(1),
                        count: child.count,
                        value_bytes: child.value_bytes,
                        key: Arc::from(key),
                    });
                    self.reach(Kind::Node, child.id);
                }
            }
        }
    }

    /// Checks the claims objects made about each other, once all are read.
    fn finish(mut self) -> VerifyReport {
        let report = &mut self.report;
        for (id, generation, parents) in &self.commit_parents {
            let known: Vec<u64> = parents
                .iter()
                .filter_map(|parent| self.generations.get(parent).copied())
                .collect();
            if known.len() == parents.len() {
                let expected = known.iter().max().map_or(1, |max| max + 1);
                if *generation != expected {
                    report.corrupt(
                        Kind::Commit,
                        *id,
                        format!("generation {generation}, but its parents make it {expected}"),
                    );
                }
            }
        }
        for root in &self.roots {
            if self
                .summaries
                .get(root)
                .is_some_and(|summary| summary.level > 0 && summary.entries < 2)
            {
                report.corrupt(Kind::Node, *root, "root above level 0 with a single child");
            }
        }
        check_claims(&self.claims, &self.summaries, report);
        for (leaf, blob, len) in &self.blob_claims {
            if let Some(actual) = self.blob_lengths.get(blob) {
                if actual != len {
                    report.corrupt(
                        Kind::Node,
                        *leaf,
                        format!("says value blob {blob} is {len} bytes; it is {actual}"),
                    );
                }
            }
        }
        report.corrupt.sort_by(|a, b| (a.1, &a.2).cmp(&(b.1, &b.2)));
        report.corrupt.dedup();
        report.missing.sort_by_key(|(_, id)| *id);
        self.report
    }
}

fn summarise(node: &Node) -> NodeSummary {
    NodeSummary {
        level: node.level,
        entries: node.len(),
        count: node.count(),
        value_bytes: node.value_bytes(),
        last_key: node.last_key().map(Arc::from),
    }
}

/// Compares every interior entry with the child it points at; a mismatch is
/// the parent's fault, since the child is whatever its hash says it is.
fn check_claims(
    claims: &[ChildClaim],
    summaries: &HashMap<ObjectId, NodeSummary>,
    report: &mut VerifyReport,
) {
    for claim in claims {
        let Some(child) = summaries.get(&claim.child) else {
            continue;
        };
        let mut wrong = Vec::new();
        if child.level != claim.level {
            wrong.push(format!("level {} (expected {})", child.level, claim.level));
        }
        if child.count != claim.count {
            wrong.push(format!("{} keys (entry says {})", child.count, claim.count));
        }
        if child.value_bytes != claim.value_bytes {
            wrong.push(format!(
                "{} value bytes (entry says {})",
                child.value_bytes, claim.value_bytes
            ));
        }
        match &child.last_key {
            None => wrong.push("no entries".to_owned()),
            Some(last) if *last != claim.key => wrong.push(format!(
                "greatest key {last:?} (entry says {:?})",
                claim.key
            )),
            Some(_) => {}
        }
        if !wrong.is_empty() {
            report.corrupt(
                Kind::Node,
                claim.parent,
                format!("child {} has {}", claim.child, wrong.join(", ")),
            );
        }
    }
}

/// The reason inside a corruption error, or the whole message otherwise.
fn reason_of(err: Error) -> String {
    match err {
        Error::CorruptObject { reason, .. } => reason,
        other => other.to_string(),
    }
}

/// Reads objects of one kind, a chunk per `get_many`, classifying each one
/// instead of stopping at the first problem.
fn fetch(kv: &dyn KvStore, kind: Kind, ids: &[ObjectId]) -> Result<Vec<(ObjectId, Fetched)>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(FETCH_CHUNK) {
        let keys: Vec<String> = chunk.iter().map(|id| kind.key(id)).collect();
        let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let values = kv.get_many(&key_refs)?;
        if values.len() != chunk.len() {
            return Err(Error::backend(
                "get_many",
                format!(
                    "backend returned {} values for {} keys",
                    values.len(),
                    chunk.len()
                ),
            ));
        }
        for (id, stored) in chunk.iter().zip(values) {
            let fetched = match stored {
                None => Fetched::Missing,
                Some(stored) => match object::verify(kind, *id, &stored) {
                    Ok(payload) => Fetched::Payload(payload.to_vec()),
                    Err(err) => Fetched::Corrupt(reason_of(err)),
                },
            };
            out.push((*id, fetched));
        }
    }
    Ok(out)
}

impl Versioned {
    /// Checks every object reachable from every branch head of this cursor's
    /// store; see [`verify`].
    ///
    /// # Errors
    /// A backend failure.
    pub fn verify(&self) -> Result<VerifyReport> {
        verify(self.kv())
    }
}

#[cfg(test)]
// A failed `unwrap` in a test is a test failure, which is all a test needs.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backend::Memory;
    use crate::object::WriteBatch;
    use crate::refs;
    use crate::tree::ChildRef;

    fn leaf(keys: &[&str]) -> Node {
        let mut node = Node::new(0);
        for key in keys {
            node.push(key, Slot::Inline(key.as_bytes()));
        }
        node
    }

    /// Stores a two-leaf tree whose interior node lies about its children,
    /// as a commit at the head of `main`.
    fn store_lying_tree(kv: &Memory, lie: impl Fn(&mut ChildRef, &mut Arc<str>)) -> ObjectId {
        let mut batch = WriteBatch::new();
        let (left, right) = (leaf(&["a", "b"]), leaf(&["c", "d"]));
        let mut interior = Node::new(1);
        for (index, node) in [left, right].into_iter().enumerate() {
            let id = batch.put(Kind::Node, &node.encode());
            let mut child = node.child_ref(id);
            let mut key: Arc<str> = Arc::from(node.last_key().unwrap());
            if index == 1 {
                lie(&mut child, &mut key);
            }
            interior.push(&key, Slot::Child(child));
        }
        let root = batch.put(Kind::Node, &interior.encode());
        let commit = Commit::new(Vec::new(), root, 1, None, None)
            .unwrap()
            .store(&mut batch);
        batch.write_to(kv).unwrap();
        let main = BranchName::new("main").unwrap();
        assert!(refs::swap_head(kv, &main, refs::Expected::Absent, commit).unwrap());
        root
    }

    #[test]
    fn an_honest_tree_is_clean() {
        let kv = Memory::new();
        store_lying_tree(&kv, |_, _| {});
        let report = verify(&kv).unwrap();
        assert!(report.is_clean(), "{report}");
        assert_eq!((report.commits, report.nodes, report.blobs), (1, 3, 0));
    }

    type Lie<'a> = &'a dyn Fn(&mut ChildRef, &mut Arc<str>);

    #[test]
    fn child_summaries_must_match_the_child() {
        let cases: [(&str, Lie<'_>); 3] = [
            ("keys", &|child, _| child.count += 1),
            ("value bytes", &|child, _| child.value_bytes = 99),
            ("greatest key", &|_, key| *key = Arc::from("e")),
        ];
        for (what, lie) in cases {
            let kv = Memory::new();
            let root = store_lying_tree(&kv, lie);
            let report = verify(&kv).unwrap();
            assert_eq!(report.corrupt.len(), 1, "{what}: {report}");
            let (kind, id, reason) = &report.corrupt[0];
            assert_eq!((*kind, *id), ("tree node", root));
            assert!(reason.contains(what), "{what}: {reason}");
        }
    }

    #[test]
    fn a_child_at_the_wrong_level_is_named() {
        let kv = Memory::new();
        let mut batch = WriteBatch::new();
        let bottom = leaf(&["a"]);
        let bottom_id = batch.put(Kind::Node, &bottom.encode());
        // A level-2 node pointing straight at leaves.
        let mut top = Node::new(2);
        top.push("a", Slot::Child(bottom.child_ref(bottom_id)));
        let other = leaf(&["z"]);
        let other_id = batch.put(Kind::Node, &other.encode());
        top.push("z", Slot::Child(other.child_ref(other_id)));
        let root = batch.put(Kind::Node, &top.encode());
        let commit = Commit::new(Vec::new(), root, 1, None, None)
            .unwrap()
            .store(&mut batch);
        batch.write_to(&kv).unwrap();
        let main = BranchName::new("main").unwrap();
        refs::swap_head(&kv, &main, refs::Expected::Absent, commit).unwrap();
        let report = verify(&kv).unwrap();
        assert_eq!(report.corrupt.len(), 2, "{report}");
        assert!(report
            .corrupt
            .iter()
            .all(|(_, id, reason)| *id == root && reason.contains("level 0 (expected 1)")));
    }

    #[test]
    fn wrong_generation_is_named() {
        let kv = Memory::new();
        let mut batch = WriteBatch::new();
        let root = crate::tree::Tree::empty_root(&mut batch);
        let first = Commit::new(Vec::new(), root, 1, None, None)
            .unwrap()
            .store(&mut batch);
        let second = Commit::new(vec![first], root, 5, None, None)
            .unwrap()
            .store(&mut batch);
        batch.write_to(&kv).unwrap();
        let main = BranchName::new("main").unwrap();
        refs::swap_head(&kv, &main, refs::Expected::Absent, second).unwrap();
        let report = verify(&kv).unwrap();
        assert_eq!(report.corrupt.len(), 1, "{report}");
        assert_eq!(report.corrupt[0].1, second);
    }
}
