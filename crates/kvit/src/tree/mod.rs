//! The key map of a commit: a prolly tree (a history-independent, content-
//! addressed B-tree) from string keys to value references.
//!
//! Node boundaries come from hashes of keys ([`chunker`]), so a set of keys
//! has exactly one tree whatever order it was written in, and two trees that
//! share content share nodes. Updates rewrite only the nodes on the paths to
//! the changed keys, plus the few neighbours a moved boundary spills into;
//! diffs descend only into subtrees whose hashes differ; interior entries carry
//! key counts and value sizes, so `len` and total size come from the root.

mod chunker;
mod node;

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};

pub use node::ValueRef;
pub(crate) use node::{put_varint, ChildRef, Node, Payload, Reader, Slot, MAX_LEVEL};

use crate::backend::KvStore;
use crate::error::{Error, Result};
use crate::object::{self, Kind, ObjectId, SharedKv, WriteBatch};
use chunker::Chunker;

/// Default capacity of the decoded-node cache, in approximate bytes.
pub(crate) const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// One key that differs between two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The key.
    pub key: Arc<str>,
    /// Its value in the first tree, if present there.
    pub old: Option<ValueRef>,
    /// Its value in the second tree, if present there.
    pub new: Option<ValueRef>,
}

/// A batch of edits for [`Tree::apply`]: key to new value, `None` to remove.
pub type Edits = BTreeMap<Arc<str>, Option<ValueRef>>;

#[derive(Clone)]
struct NodeWeighter;

impl quick_cache::Weighter<ObjectId, Arc<Node>> for NodeWeighter {
    fn weight(&self, _id: &ObjectId, node: &Arc<Node>) -> u64 {
        node.footprint()
    }
}

type NodeCache = quick_cache::sync::Cache<ObjectId, Arc<Node>, NodeWeighter>;

enum Seek<'a> {
    /// The node holding the first key `>=` this one (the last node if none).
    AtLeast(&'a str),
    /// The node after the one whose greatest key is this one.
    After(&'a str),
}

/// Reads and writes prolly trees in one backend, through a bounded cache of
/// decoded nodes. Cheap to share: clone the `Arc` it lives in.
pub struct Tree {
    kv: SharedKv,
    cache: NodeCache,
    /// Nodes that commits replaced; see [`Tree::retire`].
    retired: Mutex<RetiredQueue>,
}

impl Tree {
    /// Opens the key maps stored in `kv`, with a node cache of about
    /// `cache_bytes`. Marks an empty store with the current format version.
    ///
    /// # Errors
    /// A backend failure, or a store written in another format version.
    pub fn open(kv: SharedKv, cache_bytes: u64) -> Result<Self> {
        crate::format::ensure(&*kv)?;
        Ok(Self::new(kv, cache_bytes))
    }

    pub(crate) fn new(kv: SharedKv, cache_bytes: u64) -> Self {
        let estimated_items = usize::try_from((cache_bytes / 2048).max(16)).unwrap_or(usize::MAX);
        Tree {
            kv,
            cache: NodeCache::with_weighter(estimated_items, cache_bytes.max(1), NodeWeighter),
            retired: Mutex::default(),
        }
    }

    /// The backend the tree lives in.
    pub fn kv(&self) -> &dyn KvStore {
        &*self.kv
    }

    /// The shared backend handle.
    pub(crate) fn shared_kv(&self) -> &SharedKv {
        &self.kv
    }

    /// The root of the empty tree, added to `batch` so it exists once written.
    pub fn empty_root(batch: &mut WriteBatch) -> ObjectId {
        Self::store_node(&Node::new(0), batch)
    }

    fn store_node(node: &Node, batch: &mut WriteBatch) -> ObjectId {
        batch.put_with(Kind::Node, node.encoded_len_bound(), |out| {
            node.encode_into(out);
        })
    }

    /// The bytes of a value.
    ///
    /// # Errors
    /// A backend failure, or a missing or corrupt value blob.
    pub fn read_value(&self, value: &ValueRef) -> Result<Vec<u8>> {
        match value {
            ValueRef::Inline(bytes) => Ok(bytes.to_vec()),
            ValueRef::Blob { id, .. } => object::read_one(&*self.kv, Kind::Blob, *id),
        }
    }

    /// One node, from the cache or the backend.
    ///
    /// # Errors
    /// A backend failure, a missing node or a corrupt one.
    pub(crate) fn node(&self, id: ObjectId) -> Result<Arc<Node>> {
        if let Some(node) = self.cache.get(&id) {
            return Ok(node);
        }
        let payload = object::read_one(&*self.kv, Kind::Node, id)?;
        let node = Arc::new(Node::decode(id, &payload)?);
        self.cache.insert(id, node.clone());
        Ok(node)
    }

    /// Many nodes; those not cached are fetched with one `get_many`.
    fn nodes(&self, ids: &[ObjectId]) -> Result<Vec<Arc<Node>>> {
        let mut found: Vec<Option<Arc<Node>>> = ids.iter().map(|id| self.cache.get(id)).collect();
        let missing: Vec<usize> = (0..ids.len()).filter(|&at| found[at].is_none()).collect();
        let missing_ids: Vec<ObjectId> = missing.iter().map(|&at| ids[at]).collect();
        // `read_many` returns one payload per id, or fails.
        for (&at, payload) in
            missing
                .iter()
                .zip(object::read_many(&*self.kv, Kind::Node, &missing_ids)?)
        {
            let node = Arc::new(Node::decode(ids[at], &payload)?);
            self.cache.insert(ids[at], node.clone());
            found[at] = Some(node);
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// The child of an interior node, checked to sit one level below it.
    fn child(&self, parent: &Node, child: &ChildRef) -> Result<Arc<Node>> {
        let node = self.node(child.id)?;
        Self::check_level(parent, child.id, &node)?;
        Ok(node)
    }

    fn check_level(parent: &Node, id: ObjectId, child: &Node) -> Result<()> {
        if child.level + 1 != parent.level {
            return Err(Error::corrupt(
                Kind::Node.name(),
                id,
                format!(
                    "child at level {} under a node at level {}",
                    child.level, parent.level
                ),
            ));
        }
        Ok(())
    }

    fn child_ref(node: &Node, index: usize) -> Result<ChildRef> {
        node.child(index).ok_or_else(|| {
            Error::corrupt(
                Kind::Node.name(),
                ObjectId::hash(Kind::Node.tag(), &node.encode()),
                "interior entry without a child",
            )
        })
    }

    /// The number of keys in the tree, read from the root.
    ///
    /// # Errors
    /// A backend failure or a missing or corrupt root.
    pub fn len(&self, root: ObjectId) -> Result<u64> {
        Ok(self.node(root)?.count())
    }

    /// The total length of the tree's values, read from the root.
    ///
    /// # Errors
    /// As [`Tree::len`].
    pub fn value_bytes(&self, root: ObjectId) -> Result<u64> {
        Ok(self.node(root)?.value_bytes())
    }

    /// The height of the tree: 1 for a single leaf.
    ///
    /// # Errors
    /// As [`Tree::len`].
    pub fn depth(&self, root: ObjectId) -> Result<u32> {
        Ok(u32::from(self.node(root)?.level) + 1)
    }

    /// The value reference stored under `key`.
    ///
    /// # Errors
    /// A backend failure or a missing or corrupt node on the path.
    pub fn get(&self, root: ObjectId, key: &str) -> Result<Option<ValueRef>> {
        let mut node = self.node(root)?;
        while node.level > 0 {
            let index = node.partition(key, false);
            if index == node.len() {
                return Ok(None);
            }
            let child = Self::child_ref(&node, index)?;
            node = self.child(&node, &child)?;
        }
        Ok(node.find(key).and_then(|index| node.slot(index).value()))
    }

    /// The value references of many keys, aligned with `keys`, fetching one
    /// tree level per backend round trip.
    ///
    /// # Errors
    /// As [`Tree::get`].
    pub fn get_many(&self, root: ObjectId, keys: &[&str]) -> Result<Vec<Option<ValueRef>>> {
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_by(|a, b| keys[*a].cmp(keys[*b]));
        let mut results = vec![None; keys.len()];
        let mut frontier: Vec<(Arc<Node>, Vec<usize>)> = vec![(self.node(root)?, order)];
        while frontier.first().is_some_and(|(node, _)| node.level > 0) {
            let mut routed: Vec<(ObjectId, Vec<usize>)> = Vec::new();
            let mut parents: Vec<Arc<Node>> = Vec::new();
            for (node, wanted) in &frontier {
                for &index in wanted {
                    let at = node.partition(keys[index], false);
                    if at == node.len() {
                        continue;
                    }
                    let child = Self::child_ref(node, at)?.id;
                    match routed.last_mut() {
                        Some((last, group)) if *last == child => group.push(index),
                        _ => {
                            routed.push((child, vec![index]));
                            parents.push(node.clone());
                        }
                    }
                }
            }
            let ids: Vec<ObjectId> = routed.iter().map(|(id, _)| *id).collect();
            let children = self.nodes(&ids)?;
            frontier = Vec::with_capacity(children.len());
            for (((id, group), child), parent) in routed.into_iter().zip(children).zip(parents) {
                Self::check_level(&parent, id, &child)?;
                frontier.push((child, group));
            }
        }
        for (leaf, wanted) in frontier {
            for index in wanted {
                if let Some(at) = leaf.find(keys[index]) {
                    results[index] = leaf.slot(at).value();
                }
            }
        }
        Ok(results)
    }

    /// Applies `edits` to the tree at `root` and returns the new root. Every
    /// new node goes into `batch`; nothing is written to the backend here.
    ///
    /// The result depends only on the resulting contents, never on the edits
    /// that led there.
    ///
    /// # Errors
    /// A backend failure or a missing or corrupt node.
    pub fn apply(&self, root: ObjectId, edits: &Edits, batch: &mut WriteBatch) -> Result<ObjectId> {
        if edits.is_empty() {
            return Ok(root);
        }
        let root_node = self.node(root)?;
        let first_try = self.replace_values(root, &root_node, edits, batch)?;
        if let Replaced::Done(root) = first_try {
            return Ok(root);
        }
        // Fetch the paths a level per round trip.
        let keys: Vec<&str> = edits.keys().map(|key| &**key).collect();
        self.prefetch_paths(&root_node, &keys)?;
        if let Replaced::NotCached = first_try {
            if let Replaced::Done(root) = self.replace_values(root, &root_node, edits, batch)? {
                return Ok(root);
            }
        }
        let mut level_edits: Vec<(Arc<str>, Option<Payload>)> = edits
            .iter()
            .map(|(key, value)| (key.clone(), value.clone().map(Payload::Value)))
            .collect();
        for level in 0..root_node.level {
            level_edits = self.rechunk_level(&root_node, level, &level_edits, batch)?;
            if level_edits.is_empty() {
                return Ok(root);
            }
        }
        // New payloads for keys the root already holds (a value-only edit
        // below): the root keeps its entries, so it is simply re-stored.
        let mut next = 0;
        if let Some(updated) = replace_payloads(&root_node, &level_edits, &mut next, true) {
            if next == level_edits.len() {
                return Ok(self.store_cached(updated, batch));
            }
        }
        let mut chunker = Chunker::new(root_node.level);
        let mut nodes = Vec::new();
        merge_entries(&root_node, &level_edits, &mut 0, None, |key, slot| {
            nodes.extend(chunker.push(key, slot));
        });
        nodes.extend(chunker.finish());
        self.build_up(nodes, root_node.level, batch)
    }

    /// The fast path of [`Tree::apply`], for edits that only give keys the
    /// tree holds new values (most commits): every node on the paths to
    /// them is rewritten once, bottom up, with payloads replaced, since no
    /// boundary can move. Works from the node cache alone; unless it is
    /// done, nothing is added to `batch`.
    fn replace_values(
        &self,
        root: ObjectId,
        root_node: &Node,
        edits: &Edits,
        batch: &mut WriteBatch,
    ) -> Result<Replaced> {
        let mut slots: Vec<(&str, Slot<'_>)> = Vec::with_capacity(edits.len());
        for (key, value) in edits {
            let Some(value) = value else {
                return Ok(Replaced::KeysChange);
            };
            slots.push((key, value.as_slot()));
        }
        let mut own = WriteBatch::new();
        let mut replaced = Vec::new();
        let (new_root, ..) =
            match self.replace_in(root, root_node, &slots, &mut own, &mut replaced)? {
                Ok(done) => done,
                Err(not_done) => return Ok(not_done),
            };
        batch.absorb(own);
        self.retire(replaced);
        Ok(Replaced::Done(new_root))
    }

    /// Rewrites the subtree at `id` with `edits` (sorted, all under it) as
    /// [`Tree::replace_values`] does; returns the new subtree's id with the
    /// value bytes the edits added and removed, and notes in `replaced` the
    /// nodes that changed.
    fn replace_in(
        &self,
        id: ObjectId,
        node: &Node,
        edits: &[(&str, Slot<'_>)],
        batch: &mut WriteBatch,
        replaced: &mut Vec<Retired>,
    ) -> Result<std::result::Result<(ObjectId, u64, u64), Replaced>> {
        let mut replacements = Vec::with_capacity(edits.len().min(node.len()));
        let (mut added, mut removed) = (0, 0);
        if node.level == 0 {
            for &(key, slot) in edits {
                let Some(index) = node.find(key) else {
                    return Ok(Err(Replaced::KeysChange));
                };
                added += slot.value_bytes();
                removed += node.slot(index).value_bytes();
                replacements.push((index, slot));
            }
        } else {
            let mut rest = edits;
            while let Some(&(first, _)) = rest.first() {
                let index = node.partition(first, false);
                if index == node.len() {
                    return Ok(Err(Replaced::KeysChange));
                }
                let bound = node.key(index);
                let taken = rest.partition_point(|(key, _)| *key <= bound);
                let child = Self::child_ref(node, index)?;
                let Some(child_node) = self.cache.get(&child.id) else {
                    return Ok(Err(Replaced::NotCached));
                };
                Self::check_level(node, child.id, &child_node)?;
                let (new, more, less) = match self.replace_in(
                    child.id,
                    &child_node,
                    &rest[..taken],
                    batch,
                    replaced,
                )? {
                    Ok(done) => done,
                    Err(not_done) => return Ok(Err(not_done)),
                };
                // The child's keys are the same; only its value bytes moved.
                replacements.push((
                    index,
                    Slot::Child(ChildRef {
                        id: new,
                        count: child.count,
                        value_bytes: (child.value_bytes + more).saturating_sub(less),
                    }),
                ));
                (added, removed) = (added + more, removed + less);
                rest = &rest[taken..];
            }
        }
        let new = self.store_cached(node.with_payloads(&replacements), batch);
        if new != id {
            replaced.push(Retired::of(id, node));
        }
        Ok(Ok((new, added, removed)))
    }

    /// Builds the tree whose level `level` is exactly `nodes`, chunking
    /// upward until one node remains, and collapsing single-child roots.
    fn build_up(
        &self,
        mut nodes: Vec<Node>,
        mut level: u8,
        batch: &mut WriteBatch,
    ) -> Result<ObjectId> {
        loop {
            if nodes.len() <= 1 {
                let Some(node) = nodes.pop() else {
                    return Ok(Self::empty_root(batch));
                };
                if node.level == 0 || node.len() > 1 {
                    return Ok(self.store_cached(node, batch));
                }
                let mut id = Self::child_ref(&node, 0)?.id;
                loop {
                    let node = self.node(id)?;
                    if node.level == 0 || node.len() > 1 {
                        return Ok(id);
                    }
                    id = Self::child_ref(&node, 0)?.id;
                }
            }
            if level >= MAX_LEVEL {
                return Err(Error::InvalidArgument(
                    "tree would exceed the maximum depth".into(),
                ));
            }
            level += 1;
            let mut chunker = Chunker::new(level);
            let mut above = Vec::new();
            for node in nodes {
                let key = node.last_key().unwrap_or_default().to_owned();
                let child = self.store_child(node, batch);
                above.extend(chunker.push(&key, Slot::Child(child)));
            }
            above.extend(chunker.finish());
            nodes = above;
        }
    }

    /// Stores a node and keeps it in the cache.
    fn store_cached(&self, node: Node, batch: &mut WriteBatch) -> ObjectId {
        let id = Self::store_node(&node, batch);
        self.cache.insert(id, Arc::new(node));
        id
    }

    /// Stores a node, keeps it in the cache, and returns the reference its
    /// parent keeps to it.
    fn store_child(&self, node: Node, batch: &mut WriteBatch) -> ChildRef {
        let child = node.child_ref(Self::store_node(&node, batch));
        self.cache.insert(child.id, Arc::new(node));
        child
    }

    /// Stores a finished node of the level below `parent` and records the
    /// entry for it there.
    fn emit(
        &self,
        node: Node,
        batch: &mut WriteBatch,
        parent: &mut BTreeMap<Arc<str>, Option<Payload>>,
    ) {
        let key = Arc::from(node.last_key().unwrap_or_default());
        let child = self.store_child(node, batch);
        parent.insert(key, Some(Payload::Child(child)));
    }

    /// Re-chunks the stretches of level `level` that `edits` touch and returns
    /// the edits this makes to the level above.
    fn rechunk_level(
        &self,
        root: &Arc<Node>,
        level: u8,
        edits: &[(Arc<str>, Option<Payload>)],
        batch: &mut WriteBatch,
    ) -> Result<Vec<(Arc<str>, Option<Payload>)>> {
        let mut parent: BTreeMap<Arc<str>, Option<Payload>> = BTreeMap::new();
        let mut replaced: Vec<(Arc<str>, Retired)> = Vec::new();
        let mut next = 0;
        while next < edits.len() {
            let Some((mut node, mut id, mut is_last)) =
                self.locate(root, level, &Seek::AtLeast(&edits[next].0))?
            else {
                break;
            };
            // Edits that only give keys this node holds new payloads leave its
            // keys, and so its boundaries, as they are: no re-chunking.
            if let Some(updated) = replace_payloads(&node, edits, &mut next, is_last) {
                let key: Arc<str> = Arc::from(node.last_key().unwrap_or_default());
                replaced.push((key.clone(), Retired::of(id, &node)));
                let child = self.store_child(updated, batch);
                parent.insert(key, Some(Payload::Child(child)));
                continue;
            }
            let mut chunker = Chunker::new(level);
            loop {
                let node_last: Arc<str> = Arc::from(node.last_key().unwrap_or_default());
                replaced.push((node_last.clone(), Retired::of(id, &node)));
                let limit = (!is_last).then_some(&*node_last);
                merge_entries(&node, edits, &mut next, limit, |key, slot| {
                    if let Some(done) = chunker.push(key, slot) {
                        self.emit(done, batch, &mut parent);
                    }
                });
                if is_last {
                    if let Some(done) = chunker.finish() {
                        self.emit(done, batch, &mut parent);
                    }
                    break;
                }
                if chunker.is_empty() {
                    // Our boundary coincides with the old one: the rest of
                    // the level is unchanged up to the next edit.
                    break;
                }
                let Some(following) = self.locate(root, level, &Seek::After(&node_last))? else {
                    return Err(Error::corrupt(
                        Kind::Node.name(),
                        id,
                        "node marked inner has no successor",
                    ));
                };
                (node, id, is_last) = following;
            }
        }
        self.retire(replaced.iter().map(|(_, retired)| *retired));
        for (key, Retired { id, .. }) in replaced {
            match parent.get(&key) {
                // Rewritten to exactly the node it was: no change to report.
                Some(Some(Payload::Child(child))) if child.id == id => {
                    parent.remove(&key);
                }
                Some(Some(_)) => {}
                _ => {
                    parent.insert(key, None);
                }
            }
        }
        Ok(parent.into_iter().collect())
    }

    /// Records nodes that a commit replaced. Their old versions are history,
    /// and left in the cache they would crowd out the live tree, commit
    /// after commit; but the next commit of another writer, or a merge,
    /// usually still needs them (as its base). So they leave the cache once
    /// the replacements of [`RETIRE_AFTER_BATCHES`] later calls, and at
    /// least [`RETIRE_AFTER_NODES`] later replacements, have followed them,
    /// and only if the cache still holds the copy that was replaced: a node
    /// written again since (a value set back, a revert) is live again.
    ///
    /// Letting them go soon matters for speed as much as for room: the
    /// allocator hands their memory to the next commit's nodes while it is
    /// still in the CPU's caches. Keeping the last 8,000 or so instead made
    /// a one-key commit at n = 1e5 a quarter slower.
    fn retire(&self, nodes: impl IntoIterator<Item = Retired>) {
        let mut retired = self.retired.lock().unwrap_or_else(PoisonError::into_inner);
        let RetiredQueue { order, batches } = &mut *retired;
        let before = order.len();
        // A node replaced again (commits racing from one base) is queued
        // again. Its first turn removes it only if the cache still holds
        // the same copy; one cached since waits for its own turn.
        order.extend(nodes);
        batches.push_back(order.len() - before);
        if batches.len() > RETIRE_AFTER_BATCHES {
            batches.pop_front();
        }
        let keep = batches.iter().sum::<usize>().max(RETIRE_AFTER_NODES);
        while order.len() > keep {
            let Some(Retired { id, copy }) = order.pop_front() else {
                break;
            };
            self.cache
                .remove_if(&id, |cached| Arc::as_ptr(cached).addr() == copy);
        }
    }

    /// Finds a node of level `level` (below the root's); also returns its id
    /// and whether it is the last node of its level.
    fn locate(
        &self,
        root: &Arc<Node>,
        level: u8,
        seek: &Seek<'_>,
    ) -> Result<Option<(Arc<Node>, ObjectId, bool)>> {
        let mut node = root.clone();
        // Replaced on the first step down; only a root ever keeps it.
        let mut id = ObjectId::from_bytes([0; crate::object::ID_LEN]);
        let mut is_last = true;
        while node.level > level {
            let index = match seek {
                Seek::AtLeast(key) => node.partition(key, false).min(node.len() - 1),
                Seek::After(key) => {
                    let index = node.partition(key, true);
                    if index == node.len() {
                        return Ok(None);
                    }
                    index
                }
            };
            is_last &= index + 1 == node.len();
            let child = Self::child_ref(&node, index)?;
            node = self.child(&node, &child)?;
            id = child.id;
        }
        Ok(Some((node, id, is_last)))
    }

    /// Loads, one level per round trip, every node on the paths to `keys`
    /// (sorted), and each leaf's right-hand sibling: an insertion or removal
    /// that moves a boundary spills into it, and fetching it now saves a
    /// round trip later.
    fn prefetch_paths(&self, root: &Arc<Node>, keys: &[&str]) -> Result<()> {
        // Each frontier node with the keys routed to it; a key beyond a
        // node's greatest goes to its last child, as `Seek::AtLeast` does.
        let mut frontier: Vec<(Arc<Node>, &[&str])> = vec![(root.clone(), keys)];
        while frontier.first().is_some_and(|(node, _)| node.level > 0) {
            let mut routed: Vec<(ObjectId, &[&str])> = Vec::new();
            let mut extra: Vec<ObjectId> = Vec::new();
            for (node, wanted) in &frontier {
                let last = node.len() - 1;
                let mut rest: &[&str] = wanted;
                while let Some(first) = rest.first() {
                    let index = node.partition(first, false).min(last);
                    let bound = node.key(index);
                    let taken = if index == last {
                        rest.len()
                    } else {
                        rest.partition_point(|key| *key <= bound)
                    };
                    routed.push((Self::child_ref(node, index)?.id, &rest[..taken]));
                    if node.level == 1 {
                        if let Some(sibling) = node.child(index + 1) {
                            extra.push(sibling.id);
                        }
                    }
                    rest = &rest[taken..];
                }
            }
            let mut ids: Vec<ObjectId> = routed.iter().map(|(id, _)| *id).chain(extra).collect();
            ids.sort_unstable();
            ids.dedup();
            let fetched: std::collections::HashMap<ObjectId, Arc<Node>> =
                ids.iter().copied().zip(self.nodes(&ids)?).collect();
            frontier = routed
                .into_iter()
                .filter_map(|(id, wanted)| fetched.get(&id).map(|node| (node.clone(), wanted)))
                .filter(|(node, _)| node.level > 0)
                .collect();
        }
        Ok(())
    }

    /// Entries with keys in the given bounds, in ascending order, read lazily.
    pub fn range(&self, root: ObjectId, lower: Bound<&str>, upper: Bound<&str>) -> Range<'_> {
        Range::new(self, root, lower, upper)
    }

    /// Entries whose keys start with `prefix`.
    pub fn prefix(&self, root: ObjectId, prefix: &str) -> Range<'_> {
        let upper = crate::backend::prefix_upper_bound(prefix);
        let upper_bound = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        Range::new(self, root, Bound::Included(prefix), upper_bound)
    }

    /// The keys whose values differ between the trees at `a` and `b`, in key
    /// order. Subtrees with equal hashes are skipped without being read.
    ///
    /// # Errors
    /// A backend failure or a missing or corrupt node.
    pub fn diff(&self, a: ObjectId, b: ObjectId) -> Result<Vec<Change>> {
        let mut changes = Vec::new();
        if a == b {
            return Ok(changes);
        }
        let (root_a, root_b) = (self.node(a)?, self.node(b)?);
        let mut left = vec![DiffItem::Subtree {
            id: a,
            level: root_a.level,
        }];
        let mut right = vec![DiffItem::Subtree {
            id: b,
            level: root_b.level,
        }];
        // An entry only one side has: removed (`old`) or added.
        let change = |(node, index): &(Arc<Node>, usize), old: bool| {
            let value = node.slot(*index).value();
            let (old, new) = if old { (value, None) } else { (None, value) };
            Change {
                key: Arc::from(node.key(*index)),
                old,
                new,
            }
        };
        loop {
            match (left.last(), right.last()) {
                (None, None) => return Ok(changes),
                (Some(DiffItem::Subtree { id: x, .. }), Some(DiffItem::Subtree { id: y, .. }))
                    if x == y =>
                {
                    left.pop();
                    right.pop();
                }
                (
                    Some(DiffItem::Subtree { level: lx, .. }),
                    Some(DiffItem::Subtree { level: ly, .. }),
                ) => {
                    if lx >= ly {
                        self.expand(&mut left)?;
                    } else {
                        self.expand(&mut right)?;
                    }
                }
                (Some(DiffItem::Subtree { .. }), _) => self.expand(&mut left)?,
                (_, Some(DiffItem::Subtree { .. })) => self.expand(&mut right)?,
                (Some(DiffItem::Entry(x)), Some(DiffItem::Entry(y))) => {
                    let (x_key, y_key) = (x.0.key(x.1), y.0.key(y.1));
                    match x_key.cmp(y_key) {
                        Ordering::Less => {
                            changes.push(change(x, true));
                            left.pop();
                        }
                        Ordering::Greater => {
                            changes.push(change(y, false));
                            right.pop();
                        }
                        Ordering::Equal => {
                            let (old, new) = (x.0.slot(x.1), y.0.slot(y.1));
                            if old != new {
                                changes.push(Change {
                                    key: Arc::from(x_key),
                                    old: old.value(),
                                    new: new.value(),
                                });
                            }
                            left.pop();
                            right.pop();
                        }
                    }
                }
                (Some(DiffItem::Entry(x)), None) => {
                    changes.push(change(x, true));
                    left.pop();
                }
                (None, Some(DiffItem::Entry(y))) => {
                    changes.push(change(y, false));
                    right.pop();
                }
            }
        }
    }

    /// Replaces the subtree on top of `stack` by its entries, first on top.
    fn expand(&self, stack: &mut Vec<DiffItem>) -> Result<()> {
        let Some(DiffItem::Subtree { id, level }) = stack.pop() else {
            return Ok(());
        };
        let node = self.node(id)?;
        if node.level != level {
            return Err(Error::corrupt(
                Kind::Node.name(),
                id,
                format!("expected level {level}, found {}", node.level),
            ));
        }
        for index in (0..node.len()).rev() {
            stack.push(match node.slot(index) {
                Slot::Child(child) => {
                    if level == 0 {
                        return Err(Error::corrupt(
                            Kind::Node.name(),
                            id,
                            "leaf entry with a child",
                        ));
                    }
                    DiffItem::Subtree {
                        id: child.id,
                        level: level - 1,
                    }
                }
                Slot::Inline(_) | Slot::Blob { .. } => DiffItem::Entry((node.clone(), index)),
            });
        }
        Ok(())
    }
}

/// Replaced nodes stay cached until this many later calls of
/// [`Tree::retire`] (one per commit on the common path, one per rewritten
/// level otherwise) have added theirs...
const RETIRE_AFTER_BATCHES: usize = 8;

/// ...and at least this many later replaced nodes: a few dozen one-key
/// commits.
const RETIRE_AFTER_NODES: usize = 64;

/// The nodes waiting to leave the cache, oldest first, each with the cached
/// copy it was replaced as.
#[derive(Default)]
struct RetiredQueue {
    order: VecDeque<Retired>,
    /// How many nodes each of the latest retirements queued, oldest first.
    batches: VecDeque<usize>,
}

/// A node a commit replaced, as the cache held it: its id, and the address
/// of the cached copy, which tells that copy from one cached after the node
/// was written again.
#[derive(Clone, Copy)]
struct Retired {
    id: ObjectId,
    copy: usize,
}

impl Retired {
    fn of(id: ObjectId, node: &Node) -> Self {
        Retired {
            id,
            copy: std::ptr::from_ref(node).addr(),
        }
    }
}

/// How [`Tree::replace_values`] ended.
enum Replaced {
    /// The edits are applied; the new root.
    Done(ObjectId),
    /// An edit adds or removes a key: a job for the general path.
    KeysChange,
    /// A node on the way is not in the cache.
    NotCached,
}

enum DiffItem {
    Subtree {
        id: ObjectId,
        level: u8,
    },
    /// A leaf entry: its node and index.
    Entry((Arc<Node>, usize)),
}

/// If every edit from `*next` that falls in `node` (all of them when it is
/// the last node of its level) sets a key the node already holds, returns the
/// node with those payloads replaced and advances `*next` past them;
/// otherwise leaves `*next` alone and returns `None`.
fn replace_payloads(
    node: &Node,
    edits: &[(Arc<str>, Option<Payload>)],
    next: &mut usize,
    is_last: bool,
) -> Option<Node> {
    let node_last = node.last_key()?;
    let mut replacements = Vec::new();
    let mut at = *next;
    while let Some((key, payload)) = edits.get(at) {
        if !is_last && &**key > node_last {
            break;
        }
        let payload = payload.as_ref()?;
        replacements.push((node.find(key)?, payload.as_slot()));
        at += 1;
    }
    *next = at;
    Some(node.with_payloads(&replacements))
}

/// Merges a node's entries with the edits from `*next` on whose keys are at
/// most `limit` (all of them without a limit), feeding the result to `out`
/// and advancing `*next` past the edits used.
fn merge_entries(
    node: &Node,
    edits: &[(Arc<str>, Option<Payload>)],
    next: &mut usize,
    limit: Option<&str>,
    mut out: impl FnMut(&str, Slot<'_>),
) {
    let mut index = 0;
    loop {
        let edit = edits
            .get(*next)
            .filter(|(key, _)| limit.is_none_or(|limit| &**key <= limit));
        let entry = (index < node.len()).then(|| node.key(index));
        match (entry, edit) {
            (None, None) => return,
            (Some(key), None) => {
                out(key, node.slot(index));
                index += 1;
            }
            (entry, Some((key, payload))) => {
                let order = entry.map_or(Ordering::Greater, |entry| entry.cmp(key));
                if let (Ordering::Less, Some(entry)) = (order, entry) {
                    out(entry, node.slot(index));
                    index += 1;
                    continue;
                }
                if order == Ordering::Equal {
                    index += 1;
                }
                if let Some(payload) = payload {
                    out(key, payload.as_slot());
                }
                *next += 1;
            }
        }
    }
}

/// A lazy, ordered walk over a key range of one tree.
pub struct Range<'t> {
    tree: &'t Tree,
    stack: Vec<(Arc<Node>, usize)>,
    upper: Option<(Arc<str>, bool)>,
    pending: Option<(ObjectId, Bound<Arc<str>>)>,
    done: bool,
}

impl<'t> Range<'t> {
    fn new(tree: &'t Tree, root: ObjectId, lower: Bound<&str>, upper: Bound<&str>) -> Self {
        let lower = match lower {
            Bound::Included(key) => Bound::Included(Arc::from(key)),
            Bound::Excluded(key) => Bound::Excluded(Arc::from(key)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let upper = match upper {
            Bound::Included(key) => Some((Arc::from(key), true)),
            Bound::Excluded(key) => Some((Arc::from(key), false)),
            Bound::Unbounded => None,
        };
        Range {
            tree,
            stack: Vec::new(),
            upper,
            pending: Some((root, lower)),
            done: false,
        }
    }

    /// Whether `key` lies beyond the upper bound.
    fn beyond(&self, key: &str) -> bool {
        match &self.upper {
            None => false,
            Some((upper, true)) => key > &**upper,
            Some((upper, false)) => key >= &**upper,
        }
    }

    /// Descends from the root to the first entry at or after the lower bound.
    fn seek(&mut self, root: ObjectId, lower: &Bound<Arc<str>>) -> Result<()> {
        let start = |node: &Node| match lower {
            Bound::Included(key) => node.partition(key, false),
            Bound::Excluded(key) => node.partition(key, true),
            Bound::Unbounded => 0,
        };
        let mut node = self.tree.node(root)?;
        while node.level > 0 {
            let index = start(&node);
            if index == node.len() {
                return Ok(());
            }
            let child = Tree::child_ref(&node, index)?;
            let next = self.load_child(&node, index, &child)?;
            self.stack.push((node, index + 1));
            node = next;
        }
        let index = start(&node);
        self.stack.push((node, index));
        Ok(())
    }

    /// Loads a child; under a level-1 node, fetches the in-range leaves that
    /// follow it in the same round trip.
    fn load_child(&self, parent: &Node, index: usize, child: &ChildRef) -> Result<Arc<Node>> {
        if parent.level == 1 {
            let mut ids = vec![child.id];
            for at in index + 1..parent.len() {
                if self.beyond(parent.key(at - 1)) {
                    break;
                }
                if let Some(sibling) = parent.child(at) {
                    ids.push(sibling.id);
                }
            }
            if ids.len() > 1 {
                self.tree.nodes(&ids)?;
            }
        }
        self.tree.child(parent, child)
    }

    fn step(&mut self) -> Result<Option<(Arc<str>, ValueRef)>> {
        if let Some((root, lower)) = self.pending.take() {
            self.seek(root, &lower)?;
        }
        loop {
            let Some((node, index)) = self.stack.last_mut() else {
                return Ok(None);
            };
            if *index >= node.len() {
                self.stack.pop();
                continue;
            }
            let (node, at) = (node.clone(), *index);
            *index += 1;
            let slot = node.slot(at);
            if let Slot::Child(child) = slot {
                // Every key of this child is greater than its predecessor's greatest.
                if at > 0 && self.beyond(node.key(at - 1)) {
                    return Ok(None);
                }
                let next = self.load_child(&node, at, &child)?;
                self.stack.push((next, 0));
                continue;
            }
            let key = node.key(at);
            if self.beyond(key) {
                return Ok(None);
            }
            // A leaf entry always has a value.
            return Ok(slot.value().map(|value| (Arc::from(key), value)));
        }
    }
}

impl Iterator for Range<'_> {
    type Item = Result<(Arc<str>, ValueRef)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}

#[cfg(test)]
mod tests;
