//! The versioned engine: a cursor on one branch that commits atomically,
//! moves the branch head by compare-and-swap, and three-way merges when
//! another writer got there first.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, LazyLock, Mutex, PoisonError, Weak};

use crate::backend::{KvStore, Memory};
use crate::commit::{self, Commit};
use crate::error::{Error, MergeConflict, Result};
use crate::merge::MergeFn;
use crate::object::{self, Kind, ObjectId, SharedKv, WriteBatch, Written};
use crate::refs::{self, BranchName, Expected};
use crate::tree::{Change, Edits, Tree, ValueRef, DEFAULT_CACHE_BYTES};

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 4096;
/// The largest value accepted, in bytes: below every backend's own limit.
pub const MAX_VALUE_LEN: usize = 128 * 1024 * 1024;

/// Checks a user key: not empty, no NUL, at most [`MAX_KEY_LEN`] bytes.
///
/// # Errors
/// [`Error::InvalidKey`] naming the key and the rule.
pub fn validate_key(key: &str) -> Result<()> {
    let fail = |reason| {
        Err(Error::InvalidKey {
            key: key.chars().take(100).collect(),
            reason,
        })
    };
    if key.is_empty() {
        return fail("keys must not be empty");
    }
    if key.len() > MAX_KEY_LEN {
        return fail("keys must be at most 4096 bytes");
    }
    if key.contains('\0') {
        return fail("keys must not contain NUL");
    }
    Ok(())
}

/// Checks a key and the value it is to be set to.
fn validate_update(key: &str, value: &[u8]) -> Result<()> {
    validate_key(key)?;
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::ValueTooLarge {
            key: key.to_owned(),
            len: value.len(),
            limit: MAX_VALUE_LEN,
        });
    }
    Ok(())
}

/// Changes to commit: values to set and keys to remove. A key is in at most
/// one of the two; the later call wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeSet {
    updates: BTreeMap<String, Vec<u8>>,
    removals: BTreeSet<String>,
}

impl ChangeSet {
    /// No changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value`.
    ///
    /// # Errors
    /// An invalid key or a value above [`MAX_VALUE_LEN`].
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Result<&mut Self> {
        let key = key.into();
        let value = value.into();
        validate_update(&key, &value)?;
        self.removals.remove(&key);
        self.updates.insert(key, value);
        Ok(self)
    }

    /// The changes that set each key of `updates` and remove each of
    /// `removals`, as [`ChangeSet::set`] and [`ChangeSet::remove`] would
    /// one by one; a key in both is removed. Built in one pass, which is
    /// linear for keys already in order.
    ///
    /// # Errors
    /// An invalid key or a value above [`MAX_VALUE_LEN`].
    pub fn from_entries(
        updates: impl IntoIterator<Item = (String, Vec<u8>)>,
        removals: impl IntoIterator<Item = String>,
    ) -> Result<Self> {
        let removals: BTreeSet<String> = removals.into_iter().collect();
        let mut updates: BTreeMap<String, Vec<u8>> = updates.into_iter().collect();
        for (key, value) in &updates {
            validate_update(key, value)?;
        }
        for key in &removals {
            validate_key(key)?;
        }
        if !removals.is_empty() {
            updates.retain(|key, _| !removals.contains(key));
        }
        Ok(ChangeSet { updates, removals })
    }

    /// Removes `key` (a no-op at commit time if it does not exist).
    ///
    /// # Errors
    /// An invalid key.
    pub fn remove(&mut self, key: impl Into<String>) -> Result<&mut Self> {
        let key = key.into();
        validate_key(&key)?;
        self.updates.remove(&key);
        self.removals.insert(key);
        Ok(self)
    }

    /// Whether there is nothing to commit.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty() && self.removals.is_empty()
    }

    /// The values to set.
    pub fn updates(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.updates
    }

    /// The keys to remove.
    pub fn removals(&self) -> &BTreeSet<String> {
        &self.removals
    }

    /// Forgets every change.
    pub fn clear(&mut self) {
        self.updates.clear();
        self.removals.clear();
    }
}

/// What to do when a commit loses a race it cannot merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnConflict {
    /// Return an error ([`Error::MergeConflict`] or [`Error::Concurrency`]).
    #[default]
    Raise,
    /// Leave the branch untouched and return an unmerged [`MergeResult`].
    Abandon,
}

/// Options for one commit.
#[derive(Clone, Default)]
pub struct CommitOptions {
    /// What to do on a conflict or a lost race.
    pub on_conflict: OnConflict,
    /// Merge functions for this commit, over the registered ones.
    pub merge_fns: HashMap<String, MergeFn>,
    /// The fallback merge function for this commit, over the registered one.
    pub default_merge: Option<MergeFn>,
    /// A JSON object to store with the commit.
    pub info: Option<serde_json::Value>,
}

impl CommitOptions {
    /// Default options: raise on conflict, registered merge functions, no info.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets what happens on a conflict or a lost race.
    #[must_use]
    pub fn on_conflict(mut self, on_conflict: OnConflict) -> Self {
        self.on_conflict = on_conflict;
        self
    }

    /// Adds a merge function for one key, for this commit only.
    #[must_use]
    pub fn merge_fn(mut self, key: impl Into<String>, merge: MergeFn) -> Self {
        self.merge_fns.insert(key.into(), merge);
        self
    }

    /// Sets the fallback merge function for this commit only.
    #[must_use]
    pub fn default_merge(mut self, merge: MergeFn) -> Self {
        self.default_merge = Some(merge);
        self
    }

    /// Stores a JSON object with the commit.
    #[must_use]
    pub fn info(mut self, info: serde_json::Value) -> Self {
        self.info = Some(info);
        self
    }
}

impl fmt::Debug for CommitOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommitOptions")
            .field("on_conflict", &self.on_conflict)
            .field("merge_fns", &self.merge_fns.keys().collect::<Vec<_>>())
            .field("default_merge", &self.default_merge.is_some())
            .field("info", &self.info)
            .finish()
    }
}

/// How a commit reached the branch head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Nothing to commit.
    NoOp,
    /// The head had not moved: the commit simply became the head.
    FastForward,
    /// The head had moved: the commit was merged with it.
    ThreeWay,
}

impl Strategy {
    /// The name used by the Python API: `no_op`, `fast_forward`, `three_way`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::NoOp => "no_op",
            Strategy::FastForward => "fast_forward",
            Strategy::ThreeWay => "three_way",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeResult {
    /// Whether the changes reached the branch.
    pub merged: bool,
    /// The commit now at the head (`None` if abandoned).
    pub commit: Option<ObjectId>,
    /// How the commit got there.
    pub strategy: Strategy,
    /// Keys both sides changed that were resolved automatically, by a merge
    /// function or because both made the same change.
    pub auto_merged_keys: BTreeSet<String>,
    /// Keys only the other side changed, taken as they were.
    pub carried_keys: BTreeSet<String>,
    /// Keys that could not be merged (only in an abandoned result).
    pub conflicting_keys: BTreeSet<String>,
}

impl MergeResult {
    fn simple(commit: ObjectId, strategy: Strategy) -> Self {
        MergeResult {
            merged: true,
            commit: Some(commit),
            strategy,
            auto_merged_keys: BTreeSet::new(),
            carried_keys: BTreeSet::new(),
            conflicting_keys: BTreeSet::new(),
        }
    }

    fn abandoned(strategy: Strategy, conflicting_keys: BTreeSet<String>) -> Self {
        MergeResult {
            merged: false,
            commit: None,
            strategy,
            auto_merged_keys: BTreeSet::new(),
            carried_keys: BTreeSet::new(),
            conflicting_keys,
        }
    }
}

/// The keys that differ between two commits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiffResult {
    /// Keys only in the second commit.
    pub added: BTreeSet<String>,
    /// Keys only in the first commit.
    pub removed: BTreeSet<String>,
    /// Keys in both with different values.
    pub modified: BTreeSet<String>,
}

impl DiffResult {
    fn from_changes(changes: &[Change]) -> Self {
        let mut diff = DiffResult::default();
        for change in changes {
            let key = change.key.to_string();
            match (&change.old, &change.new) {
                (None, _) => diff.added.insert(key),
                (_, None) => diff.removed.insert(key),
                _ => diff.modified.insert(key),
            };
        }
        diff
    }
}

/// Decoded commits a repo keeps: the recent history that merges, ancestor
/// searches and `history()` pages read. Every commit written enters it, so
/// a larger cache mostly means each commit frees a long-cold entry (4,096
/// made a one-key commit on a small tree about 7% slower).
const COMMIT_CACHE_LEN: usize = 1024;

/// State shared by every cursor opened on one backend handle in a process:
/// the backend and the caches of immutable objects.
pub(crate) struct Repo {
    pub(crate) tree: Tree,
    commits: quick_cache::sync::Cache<ObjectId, Arc<Commit>>,
}

impl Repo {
    /// The repo over a backend whose format marker the caller has checked:
    /// the one already open on this same handle (same `Arc`, same cache
    /// size) if there is one. Objects are immutable, so cursors can share
    /// caches, and a second writer on the store then neither fetches nor
    /// hashes nor decodes again the nodes and commits the first one wrote.
    fn checked(kv: SharedKv, cache_bytes: u64) -> Arc<Self> {
        /// Open repos by backend address and cache size.
        type OpenRepos = Mutex<HashMap<(usize, u64), Weak<Repo>>>;
        static OPEN: LazyLock<OpenRepos> = LazyLock::new(Mutex::default);
        // A live repo holds its backend, so the address cannot be reused
        // while the entry can still be upgraded.
        let key = (Arc::as_ptr(&kv).cast::<()>().addr(), cache_bytes);
        let mut open = OPEN.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(repo) = open.get(&key).and_then(Weak::upgrade) {
            return repo;
        }
        open.retain(|_, repo| repo.strong_count() > 0);
        let repo = Arc::new(Repo {
            tree: Tree::new(kv, cache_bytes),
            commits: quick_cache::sync::Cache::new(COMMIT_CACHE_LEN),
        });
        open.insert(key, Arc::downgrade(&repo));
        repo
    }

    pub(crate) fn kv(&self) -> &dyn KvStore {
        self.tree.kv()
    }

    pub(crate) fn commit(&self, id: ObjectId) -> Result<Arc<Commit>> {
        if let Some(commit) = self.commits.get(&id) {
            return Ok(commit);
        }
        let commit = Arc::new(commit::read(self.kv(), id)?);
        self.commits.insert(id, commit.clone());
        Ok(commit)
    }

    /// Caches a commit this process just wrote, so moving to it reads nothing.
    fn remember(&self, id: ObjectId, commit: Arc<Commit>) {
        self.commits.insert(id, commit);
    }

    /// Whether a commit with this id is stored (and intact). Asks the
    /// backend even when the commit is cached: garbage collection may have
    /// removed it since.
    fn has_commit(&self, id: ObjectId) -> Result<bool> {
        if !self.kv().contains(&Kind::Commit.key(&id))? {
            self.commits.remove(&id);
            return Ok(false);
        }
        match self.commit(id) {
            Ok(_) => Ok(true),
            Err(Error::MissingObject { .. }) => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// The lowest common ancestor of two commits, reading only commits at or
    /// above its generation: commits are visited highest generation first, so
    /// the first one reached from both sides is a lowest common ancestor.
    pub(crate) fn merge_base(&self, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>> {
        const FROM_A: u8 = 1;
        const FROM_B: u8 = 2;
        if a == b {
            return Ok(Some(a));
        }
        let mut reached: HashMap<ObjectId, u8> = HashMap::new();
        let mut queue: BinaryHeap<(u64, ObjectId)> = BinaryHeap::new();
        for (id, side) in [(a, FROM_A), (b, FROM_B)] {
            reached.insert(id, side);
            queue.push((self.commit(id)?.generation, id));
        }
        let mut done: HashSet<ObjectId> = HashSet::new();
        while let Some((_, id)) = queue.pop() {
            if !done.insert(id) {
                continue;
            }
            let sides = reached.get(&id).copied().unwrap_or(0);
            if sides == FROM_A | FROM_B {
                return Ok(Some(id));
            }
            for parent in &self.commit(id)?.parents {
                let entry = reached.entry(*parent).or_insert(0);
                if *entry | sides != *entry {
                    *entry |= sides;
                    queue.push((self.commit(*parent)?.generation, *parent));
                }
            }
        }
        Ok(None)
    }
}

/// A merge commit written and ready to become the head.
struct Merged {
    result: MergeResult,
    /// Its objects, to store again if the head move is held up.
    written: Written,
    /// Whether our commit, and so the cursor's, is one of its parents.
    keeps_ours: bool,
}

/// Registered merge functions, shared by a cursor's clones.
#[derive(Clone, Default)]
struct MergeRegistry {
    by_key: HashMap<String, MergeFn>,
    default: Option<MergeFn>,
}

/// Options for opening a [`Versioned`] cursor.
#[derive(Debug, Clone)]
#[must_use]
pub struct OpenOptions {
    branch: String,
    commit: Option<ObjectId>,
    commit_prefix: Option<String>,
    cache_bytes: u64,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            branch: "main".to_owned(),
            commit: None,
            commit_prefix: None,
            cache_bytes: DEFAULT_CACHE_BYTES,
        }
    }
}

impl OpenOptions {
    /// Branch `main`, at its head, with a 64 MiB node cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The branch the cursor commits to.
    pub fn branch(mut self, branch: impl Into<String>) -> Self {
        self.branch = branch.into();
        self
    }

    /// Starts at this commit instead of the branch head.
    pub fn at_commit(mut self, commit: ObjectId) -> Self {
        self.commit = Some(commit);
        self.commit_prefix = None;
        self
    }

    /// Starts at the commit a short id names (see [`Versioned::resolve_commit`]).
    pub fn at_commit_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.commit_prefix = Some(prefix.into());
        self.commit = None;
        self
    }

    /// The approximate size of the decoded-node cache.
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Opens the cursor. Without a commit it resumes from the branch head,
    /// creating the branch at an empty root commit if it does not exist.
    ///
    /// # Errors
    /// An invalid branch name, an unknown commit (or a commit prefix that
    /// does not name exactly one commit), a backend failure, or a store of
    /// another format version.
    pub fn open(self, kv: SharedKv) -> Result<Versioned> {
        let branch = BranchName::new(&self.branch)?;
        // The format marker and the branch head in one round trip.
        let mut found = kv
            .get_many(&[crate::format::FORMAT_KEY, &branch.ref_key()])?
            .into_iter();
        crate::format::check(&*kv, found.next().flatten())?;
        let head = found
            .next()
            .flatten()
            .map(|bytes| refs::parse_head(&branch, &bytes))
            .transpose()?;
        let repo = Repo::checked(kv, self.cache_bytes);
        let at = match &self.commit_prefix {
            Some(prefix) => Some(resolve_commit_prefix(&repo, prefix)?),
            None => self.commit,
        };
        let commit = match (at, head) {
            (Some(commit), _) => {
                if !repo.has_commit(commit)? {
                    return Err(Error::CommitNotFound(commit.to_hex()));
                }
                commit
            }
            (None, Some(head)) => head,
            (None, None) => Versioned::head_or_create(&repo, &branch)?,
        };
        Versioned::at(repo, branch, commit, MergeRegistry::default())
    }
}

/// The fewest hex characters a commit id prefix may have: shorter ones would
/// match most commits of any real store.
const MIN_COMMIT_PREFIX_LEN: usize = 4;

/// The commit a git-style short id names, by a prefix scan over the commit
/// object keys (`obj/c/<id>`); a full id is checked to exist.
fn resolve_commit_prefix(repo: &Repo, prefix: &str) -> Result<ObjectId> {
    let full_len = object::ID_LEN * 2;
    let is_hex = prefix
        .bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if !(MIN_COMMIT_PREFIX_LEN..=full_len).contains(&prefix.len()) || !is_hex {
        return Err(Error::InvalidArgument(format!(
            "{:?} is not a commit id: expected {MIN_COMMIT_PREFIX_LEN} to {full_len} \
             lowercase hex characters",
            prefix.chars().take(100).collect::<String>()
        )));
    }
    if prefix.len() == full_len {
        let id: ObjectId = prefix
            .parse()
            .map_err(|err: object::ParseObjectIdError| Error::InvalidArgument(err.to_string()))?;
        return if repo.has_commit(id)? {
            Ok(id)
        } else {
            Err(Error::CommitNotFound(prefix.to_owned()))
        };
    }
    let kind_prefix = Kind::Commit.prefix();
    let mut candidates = repo
        .kv()
        .keys_with_prefix(&format!("{kind_prefix}{prefix}"))?
        .into_iter()
        // A key another tool wrote that is not an id is not a commit.
        .filter_map(|key| key.get(kind_prefix.len()..)?.parse::<ObjectId>().ok());
    match (candidates.next(), candidates.count()) {
        (None, _) => Err(Error::CommitNotFound(prefix.to_owned())),
        (Some(id), 0) => Ok(id),
        (Some(_), others) => Err(Error::AmbiguousCommitPrefix {
            prefix: prefix.to_owned(),
            candidates: others + 1,
        }),
    }
}

/// A cursor on one branch of a store: reads see its current commit, and
/// [`Versioned::commit`] writes a new commit and moves the branch head to it,
/// merging with whatever other writers committed meanwhile.
///
/// A cursor is meant for one thread; open one per thread on a shared backend.
pub struct Versioned {
    repo: Arc<Repo>,
    branch: BranchName,
    current: ObjectId,
    base: ObjectId,
    root: ObjectId,
    merges: MergeRegistry,
    last_merge_result: Option<MergeResult>,
}

impl Versioned {
    /// Opens branch `main` of `kv` at its head.
    ///
    /// # Errors
    /// As [`OpenOptions::open`].
    pub fn open(kv: SharedKv) -> Result<Self> {
        OpenOptions::new().open(kv)
    }

    /// A cursor on a fresh in-memory store.
    ///
    /// # Errors
    /// Only if the system cannot provide random numbers for commit salts.
    pub fn in_memory() -> Result<Self> {
        Self::open(Arc::new(Memory::new()))
    }

    /// Options for opening a cursor.
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }

    fn at(
        repo: Arc<Repo>,
        branch: BranchName,
        commit: ObjectId,
        merges: MergeRegistry,
    ) -> Result<Self> {
        let root = repo.commit(commit)?.root;
        Ok(Versioned {
            repo,
            branch,
            current: commit,
            base: commit,
            root,
            merges,
            last_merge_result: None,
        })
    }

    /// The head of `branch`, creating the branch at an empty root commit if needed.
    fn head_or_create(repo: &Repo, branch: &BranchName) -> Result<ObjectId> {
        if let Some(head) = refs::read_head(repo.kv(), branch)? {
            return Ok(head);
        }
        let mut batch = WriteBatch::new();
        let root = Tree::empty_root(&mut batch);
        let commit = Commit::new(Vec::new(), root, 1, None, None)?.store(&mut batch);
        let mut written = batch.write_kept(repo.kv())?;
        written.restamp_if_stale(repo.kv())?;
        if refs::swap_head(repo.kv(), branch, Expected::Absent, commit)? {
            return Ok(commit);
        }
        // Another writer created the branch first: use theirs.
        refs::read_head(repo.kv(), branch)?.ok_or_else(|| Error::Concurrency {
            branch: branch.to_string(),
            expected: "a new branch".into(),
            found: "no branch".into(),
        })
    }

    // ---- identity -------------------------------------------------------

    /// The branch this cursor commits to.
    pub fn branch(&self) -> &str {
        self.branch.as_str()
    }

    /// The commit reads come from.
    pub fn current_commit(&self) -> ObjectId {
        self.current
    }

    /// The head this cursor last synchronised with; a commit expects to find it.
    pub fn base_commit(&self) -> ObjectId {
        self.base
    }

    /// The root of the current commit's key map.
    pub fn root(&self) -> ObjectId {
        self.root
    }

    /// The branch head as stored now (`None` if the branch does not exist).
    ///
    /// # Errors
    /// A backend failure or a corrupt head.
    pub fn latest_head(&self) -> Result<Option<ObjectId>> {
        refs::read_head(self.repo.kv(), &self.branch)
    }

    /// The root of the current commit's first-parent history.
    ///
    /// # Errors
    /// A backend failure or a missing or corrupt commit.
    pub fn initial_commit(&self) -> Result<ObjectId> {
        Ok(self
            .repo
            .commit(self.current)?
            .origin
            .unwrap_or(self.current))
    }

    /// The result of the last commit made through this cursor.
    pub fn last_merge_result(&self) -> Option<&MergeResult> {
        self.last_merge_result.as_ref()
    }

    /// The backend.
    pub fn kv(&self) -> &dyn KvStore {
        self.repo.kv()
    }

    /// The shared backend handle.
    pub fn shared_kv(&self) -> SharedKv {
        self.repo.tree.shared_kv().clone()
    }

    pub(crate) fn repo(&self) -> &Arc<Repo> {
        &self.repo
    }

    // ---- reads ------------------------------------------------------------

    /// The value of `key` in the current commit.
    ///
    /// # Errors
    /// A backend failure or a missing or corrupt object.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.repo
            .tree
            .get(self.root, key)?
            .map(|value| self.repo.tree.read_value(&value))
            .transpose()
    }

    /// The values of `keys`, aligned with them; one round trip per tree level
    /// plus one for all the blobs.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let refs = self.repo.tree.get_many(self.root, keys)?;
        self.read_values(refs)
    }

    fn read_values(&self, refs: Vec<Option<ValueRef>>) -> Result<Vec<Option<Vec<u8>>>> {
        let blob_ids: Vec<ObjectId> = refs
            .iter()
            .flatten()
            .filter_map(ValueRef::blob_id)
            .collect();
        let blobs: HashMap<ObjectId, Vec<u8>> = blob_ids
            .iter()
            .copied()
            .zip(object::read_many(self.kv(), Kind::Blob, &blob_ids)?)
            .collect();
        Ok(refs
            .into_iter()
            .map(|value| {
                value.map(|value| match value {
                    ValueRef::Inline(bytes) => bytes.to_vec(),
                    ValueRef::Blob { id, .. } => blobs.get(&id).cloned().unwrap_or_default(),
                })
            })
            .collect())
    }

    /// Whether `key` exists in the current commit.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn contains(&self, key: &str) -> Result<bool> {
        Ok(self.repo.tree.get(self.root, key)?.is_some())
    }

    /// The number of keys, read from the root.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn len(&self) -> Result<u64> {
        self.repo.tree.len(self.root)
    }

    /// Whether the current commit holds no keys.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// The total length of all values, read from the root.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn total_value_bytes(&self) -> Result<u64> {
        self.repo.tree.value_bytes(self.root)
    }

    /// Every key, in ascending order.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn keys(&self) -> Result<Vec<String>> {
        self.keys_with_prefix("")
    }

    /// The keys starting with `prefix`, in ascending order, by a range scan.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        self.repo
            .tree
            .prefix(self.root, prefix)
            .map(|item| item.map(|(key, _)| key.to_string()))
            .collect()
    }

    /// The keys after `after` (exclusive) that start with `prefix`, at most `limit`.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn keys_page(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>> {
        let upper = crate::backend::prefix_upper_bound(prefix);
        let lower = after.map_or(Bound::Included(prefix), Bound::Excluded);
        let upper = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        self.repo
            .tree
            .range(self.root, lower, upper)
            .take(limit)
            .map(|item| item.map(|(key, _)| key.to_string()))
            .collect()
    }

    /// The pairs whose keys start with `prefix`, in ascending key order.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn items_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let entries: Vec<(std::sync::Arc<str>, ValueRef)> = self
            .repo
            .tree
            .prefix(self.root, prefix)
            .collect::<Result<_>>()?;
        let (keys, refs): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .map(|(key, value)| (key, Some(value)))
            .unzip();
        let values = self.read_values(refs)?;
        Ok(keys
            .into_iter()
            .zip(values)
            .map(|(key, value)| (key.to_string(), value.unwrap_or_default()))
            .collect())
    }

    /// Every key with its value's length, in ascending key order.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn key_sizes(&self) -> Result<Vec<(String, u64)>> {
        self.repo
            .tree
            .prefix(self.root, "")
            .map(|item| item.map(|(key, value)| (key.to_string(), value.len())))
            .collect()
    }

    // ---- merge functions ----------------------------------------------

    /// Registers a merge function for `key`.
    pub fn set_merge_fn(&mut self, key: impl Into<String>, merge: MergeFn) {
        self.merges.by_key.insert(key.into(), merge);
    }

    /// Registers the fallback merge function for keys without their own.
    pub fn set_default_merge(&mut self, merge: MergeFn) {
        self.merges.default = Some(merge);
    }

    /// Removes the merge function registered for `key`.
    pub fn clear_merge_fn(&mut self, key: &str) {
        self.merges.by_key.remove(key);
    }

    // ---- commit ---------------------------------------------------------

    /// Commits `changes` atomically and moves the branch head to the result.
    ///
    /// If the head still is [`Versioned::base_commit`], the new commit simply
    /// becomes the head. If another writer moved it, the new commit is merged
    /// three ways with the head against their lowest common ancestor; keys
    /// both sides changed go to their merge function (per call, then
    /// registered, then the defaults), or conflict if the changes differ.
    /// On any failure the cursor is as it was before the call.
    ///
    /// # Errors
    /// [`Error::MergeConflict`] or [`Error::Concurrency`] (unless abandoning),
    /// [`Error::InvalidArgument`] for info that is not a JSON object,
    /// [`Error::MissingObject`] when the branch moved away from this cursor's
    /// commit and garbage collection has since removed that commit (refresh
    /// the cursor; nothing was published), or a backend failure.
    pub fn commit(&mut self, changes: &ChangeSet, options: &CommitOptions) -> Result<MergeResult> {
        let result = self.commit_inner(changes, options)?;
        if result.merged {
            if let Some(commit) = result.commit {
                self.move_to(commit)?;
            }
        }
        self.last_merge_result = Some(result.clone());
        Ok(result)
    }

    fn commit_inner(&self, changes: &ChangeSet, options: &CommitOptions) -> Result<MergeResult> {
        let info = match &options.info {
            None => None,
            Some(value @ serde_json::Value::Object(_)) => Some(value.to_string()),
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "commit info must be a JSON object, not {other}"
                )));
            }
        };
        if changes.is_empty() && info.is_none() {
            return Ok(MergeResult::simple(self.current, Strategy::NoOp));
        }
        let kv = self.repo.kv();
        let mut batch = WriteBatch::new();
        // Two sorted runs, merged and built into the map in linear time.
        let edits: Edits = changes
            .updates()
            .iter()
            .map(|(key, value)| {
                (
                    Arc::from(key.as_str()),
                    Some(ValueRef::store(value, &mut batch)),
                )
            })
            .chain(
                changes
                    .removals()
                    .iter()
                    .map(|key| (Arc::from(key.as_str()), None)),
            )
            .collect();
        let root = self.repo.tree.apply(self.root, &edits, &mut batch)?;
        let parent = self.repo.commit(self.current)?;
        let origin = Some(parent.origin.unwrap_or(self.current));
        let ours = Arc::new(Commit::new(
            vec![self.current],
            root,
            parent.generation + 1,
            origin,
            info,
        )?);
        let ours_id = ours.store(&mut batch);
        let mut ours_written = batch.write_kept(kv)?;
        self.repo.remember(ours_id, ours.clone());

        failpoint!("commit::before-head-cas");
        // A writer held up since storing its objects stores them again, so
        // that no collection can have removed them when the head moves.
        ours_written.restamp_if_stale(kv)?;
        let moved = refs::swap_head(kv, &self.branch, Expected::At(self.base), ours_id)?;
        failpoint!("commit::after-head-cas");
        if moved {
            return Ok(MergeResult::simple(ours_id, Strategy::FastForward));
        }
        let Some(head) = refs::read_head(kv, &self.branch)? else {
            // The branch was deleted (or never existed): ours recreates it.
            // The deletion orphaned the commit ours is made on, so a
            // collection may have removed it since.
            self.ensure_current_stored()?;
            ours_written.restamp_if_stale(kv)?;
            if refs::swap_head(kv, &self.branch, Expected::Absent, ours_id)? {
                return Ok(MergeResult::simple(ours_id, Strategy::FastForward));
            }
            return self.lost_race(options, Strategy::FastForward, None);
        };
        let Merged {
            result: merged,
            written: mut merge_written,
            keeps_ours,
        } = match self.three_way(ours_id, &ours, &edits, head, options)? {
            Ok(merged) => merged,
            Err(conflict) => {
                if options.on_conflict == OnConflict::Abandon {
                    return Ok(MergeResult::abandoned(
                        Strategy::ThreeWay,
                        conflict.conflicting_keys,
                    ));
                }
                return Err(Error::MergeConflict(conflict));
            }
        };
        let commit = merged.commit.unwrap_or(ours_id);
        failpoint!("merge::before-head-cas");
        // A merge that keeps ours makes it reachable, and with it the commit
        // this cursor stands on; that one is not the head, so a reset or a
        // deletion may have orphaned it and a collection removed it. Landing
        // anyway would publish a history with a hole in it.
        if keeps_ours {
            self.ensure_current_stored()?;
        }
        ours_written.restamp_if_stale(kv)?;
        merge_written.restamp_if_stale(kv)?;
        let moved = refs::swap_head(kv, &self.branch, Expected::At(head), commit)?;
        failpoint!("merge::after-head-cas");
        if moved {
            return Ok(merged);
        }
        self.lost_race(options, Strategy::ThreeWay, Some(head))
    }

    /// Fails with [`Error::MissingObject`] if the commit this cursor stands
    /// on is no longer stored: garbage collection removed it after something
    /// orphaned it, and the cursor must be refreshed.
    fn ensure_current_stored(&self) -> Result<()> {
        if self.repo.has_commit(self.current)? {
            return Ok(());
        }
        Err(Error::MissingObject {
            kind: Kind::Commit.name(),
            id: self.current,
        })
    }

    fn lost_race(
        &self,
        options: &CommitOptions,
        strategy: Strategy,
        expected: Option<ObjectId>,
    ) -> Result<MergeResult> {
        if options.on_conflict == OnConflict::Abandon {
            return Ok(MergeResult::abandoned(strategy, BTreeSet::new()));
        }
        let found = self.latest_head()?;
        let show =
            |id: Option<ObjectId>| id.map_or_else(|| "no branch".to_owned(), |id| id.to_hex());
        Err(Error::Concurrency {
            branch: self.branch.to_string(),
            expected: show(expected.or(Some(self.base))),
            found: show(found),
        })
    }

    /// Merges our commit with `head` and writes the merge commit. The outer
    /// error is a failure; the inner one, the keys that would not merge.
    fn three_way(
        &self,
        ours_id: ObjectId,
        ours: &Commit,
        ours_edits: &Edits,
        head: ObjectId,
        options: &CommitOptions,
    ) -> Result<std::result::Result<Merged, MergeConflict>> {
        let tree = &self.repo.tree;
        let theirs = self.repo.commit(head)?;
        // Histories that share no commit (a GC rebase starts a new root) merge
        // against what this cursor started from: the other side's changes are
        // then exactly what it did to that state.
        let common = self.repo.merge_base(ours_id, head)?;
        let base = common.unwrap_or(self.current);
        let base_root = self.repo.commit(base)?.root;
        let ours_changes = if base == self.current {
            // Ours is the base plus our edits: no need to walk both trees.
            Self::changes_of(tree, base_root, ours_edits)?
        } else {
            tree.diff(base_root, ours.root)?
        };
        let theirs_changes = tree.diff(base_root, theirs.root)?;

        let mut batch = WriteBatch::new();
        let mut edits = Edits::new();
        let mut result = MergeResult::simple(ours_id, Strategy::ThreeWay);
        let mut conflict = MergeConflict::default();
        let mut theirs_iter = theirs_changes.iter().peekable();
        for change in &ours_changes {
            while let Some(other) = theirs_iter.next_if(|other| other.key < change.key) {
                result.carried_keys.insert(other.key.to_string());
            }
            let Some(other) = theirs_iter.next_if(|other| other.key == change.key) else {
                edits.insert(change.key.clone(), change.new.clone());
                continue;
            };
            let key = change.key.to_string();
            let merge = options
                .merge_fns
                .get(&key)
                .or_else(|| self.merges.by_key.get(&key))
                .or(options.default_merge.as_ref())
                .or(self.merges.default.as_ref());
            match merge {
                Some(merge) => {
                    let read = |value: &Option<ValueRef>| {
                        value.as_ref().map(|v| tree.read_value(v)).transpose()
                    };
                    let (old, mine, their) =
                        (read(&change.old)?, read(&change.new)?, read(&other.new)?);
                    match merge(old.as_deref(), mine.as_deref(), their.as_deref()) {
                        Ok(value) => {
                            if let Some(value) = &value {
                                if value.len() > MAX_VALUE_LEN {
                                    conflict.merge_errors.insert(
                                        key.clone(),
                                        format!(
                                            "merged value is {} bytes, above the limit",
                                            value.len()
                                        )
                                        .into(),
                                    );
                                    conflict.conflicting_keys.insert(key);
                                    continue;
                                }
                            }
                            edits.insert(
                                change.key.clone(),
                                value.map(|v| ValueRef::store(&v, &mut batch)),
                            );
                            result.auto_merged_keys.insert(key);
                        }
                        Err(err) => {
                            conflict.merge_errors.insert(key.clone(), err);
                            conflict.conflicting_keys.insert(key);
                        }
                    }
                }
                None if change.new == other.new => {
                    result.auto_merged_keys.insert(key);
                }
                None => {
                    conflict.conflicting_keys.insert(key);
                }
            }
        }
        result
            .carried_keys
            .extend(theirs_iter.map(|other| other.key.to_string()));
        if !conflict.conflicting_keys.is_empty() {
            return Ok(Err(conflict));
        }
        let root = tree.apply(theirs.root, &edits, &mut batch)?;
        let keeps_ours = common.is_some();
        let merge_commit = self.merge_commit(ours_id, ours, head, &theirs, keeps_ours, root)?;
        let merge_id = merge_commit.store(&mut batch);
        let written = batch.write_kept(self.repo.kv())?;
        self.repo.remember(merge_id, Arc::new(merge_commit));
        result.commit = Some(merge_id);
        Ok(Ok(Merged {
            result,
            written,
            keeps_ours,
        }))
    }

    /// What `edits` change in the tree at `root`, as [`Tree::diff`] of the
    /// tree before and after them would report it: in key order, without
    /// the edits that leave a key as it was.
    fn changes_of(tree: &Tree, root: ObjectId, edits: &Edits) -> Result<Vec<Change>> {
        let keys: Vec<&str> = edits.keys().map(|key| &**key).collect();
        let old = tree.get_many(root, &keys)?;
        Ok(edits
            .iter()
            .zip(old)
            .filter(|((_, new), old)| *new != old)
            .map(|((key, new), old)| Change {
                key: key.clone(),
                old,
                new: new.clone(),
            })
            .collect())
    }

    /// The merge commit of ours and the head, with tree `root`.
    fn merge_commit(
        &self,
        ours_id: ObjectId,
        ours: &Commit,
        head: ObjectId,
        theirs: &Commit,
        keeps_ours: bool,
        root: ObjectId,
    ) -> Result<Commit> {
        let info = ours.info.clone();
        if keeps_ours {
            let origin = ours.origin.unwrap_or(self.current);
            let generation = ours.generation.max(theirs.generation) + 1;
            return Commit::new(vec![ours_id, head], root, generation, Some(origin), info);
        }
        // The head's history was cut by a rebase: ours stays out of it.
        // Attaching the cursor's old history again would keep alive what the
        // rebase dropped, and a later merge could find its common ancestor in
        // that old history, far below what the head already holds, and apply
        // the changes in between a second time.
        let origin = theirs.origin.unwrap_or(head);
        Commit::new(vec![head], root, theirs.generation + 1, Some(origin), info)
    }

    /// Moves the cursor (current and base) to `commit`, for the garbage
    /// collector's rebase, which moves the head itself.
    pub(crate) fn move_to_commit(&mut self, commit: ObjectId) -> Result<()> {
        self.move_to(commit)
    }

    fn move_to(&mut self, commit: ObjectId) -> Result<()> {
        self.root = self.repo.commit(commit)?.root;
        self.current = commit;
        self.base = commit;
        Ok(())
    }

    // ---- navigation -----------------------------------------------------

    /// Moves the cursor to the branch head, to see other writers' commits.
    ///
    /// # Errors
    /// A backend failure; if the branch no longer exists it is recreated at
    /// an empty root commit.
    pub fn refresh(&mut self) -> Result<()> {
        let head = Self::head_or_create(&self.repo, &self.branch)?;
        self.move_to(head)
    }

    /// A new cursor at `commit`, on this branch or on `branch`; `None` if there
    /// is no such commit.
    ///
    /// # Errors
    /// An invalid branch name or a backend failure.
    pub fn checkout(&self, commit: ObjectId, branch: Option<&str>) -> Result<Option<Versioned>> {
        let branch = match branch {
            Some(name) => BranchName::new(name)?,
            None => self.branch.clone(),
        };
        if !self.repo.has_commit(commit)? {
            return Ok(None);
        }
        Ok(Some(Versioned::at(
            self.repo.clone(),
            branch,
            commit,
            self.merges.clone(),
        )?))
    }

    /// Creates branch `name` at the current commit and returns a cursor on it.
    ///
    /// # Errors
    /// [`Error::BranchExists`] if the name is taken (also when another writer
    /// takes it at the same moment), an invalid name,
    /// [`Error::MissingObject`] if garbage collection removed the current
    /// commit after the branch moved away from it, or a backend failure.
    pub fn create_branch(&self, name: &str) -> Result<Versioned> {
        let branch = BranchName::new(name)?;
        // A head must never name a commit that is gone.
        self.ensure_current_stored()?;
        if !refs::swap_head(self.repo.kv(), &branch, Expected::Absent, self.current)? {
            return Err(Error::BranchExists(name.to_owned()));
        }
        Versioned::at(self.repo.clone(), branch, self.current, self.merges.clone())
    }

    /// Forces this branch's head to `commit` and moves the cursor there;
    /// `false` (and nothing changed) if there is no such commit.
    ///
    /// # Errors
    /// A backend failure.
    pub fn reset_to(&mut self, commit: ObjectId) -> Result<bool> {
        if !self.repo.has_commit(commit)? {
            return Ok(false);
        }
        let kv = self.repo.kv();
        loop {
            let expected = match refs::read_head(kv, &self.branch)? {
                Some(head) => Expected::At(head),
                None => Expected::Absent,
            };
            if refs::swap_head(kv, &self.branch, expected, commit)? {
                break;
            }
        }
        self.move_to(commit)?;
        Ok(true)
    }

    /// Every branch name, sorted.
    ///
    /// # Errors
    /// A backend failure.
    pub fn list_branches(&self) -> Result<Vec<String>> {
        Ok(refs::list_heads(self.repo.kv())?
            .into_iter()
            .map(|(name, _)| name.to_string())
            .collect())
    }

    /// Deletes branch `name`; returns whether it existed. Its commits stay
    /// until garbage collection finds them unreachable.
    ///
    /// # Errors
    /// An invalid name or a backend failure.
    pub fn delete_branch(&self, name: &str) -> Result<bool> {
        let branch = BranchName::new(name)?;
        let kv = self.repo.kv();
        let existed = kv.contains(&branch.ref_key())?;
        kv.remove(&branch.ref_key())?;
        Ok(existed)
    }

    // ---- history --------------------------------------------------------

    /// Commits from `from` (default: the current commit) back to the root,
    /// newest first: first parents only, or with `all_parents` the whole
    /// ancestry, each commit once, by descending generation.
    ///
    /// # Errors
    /// A backend failure or a missing or corrupt commit.
    pub fn history(&self, from: Option<ObjectId>, all_parents: bool) -> Result<Vec<ObjectId>> {
        let start = from.unwrap_or(self.current);
        let mut out = Vec::new();
        if !all_parents {
            let mut next = Some(start);
            while let Some(id) = next {
                out.push(id);
                next = self.repo.commit(id)?.parents.first().copied();
            }
            return Ok(out);
        }
        let mut seen: HashSet<ObjectId> = HashSet::from([start]);
        let first = self.repo.commit(start)?;
        let mut queue: BinaryHeap<(u64, u64, ObjectId)> =
            BinaryHeap::from([(first.generation, first.time_ms, start)]);
        while let Some((_, _, id)) = queue.pop() {
            out.push(id);
            for parent in &self.repo.commit(id)?.parents {
                if seen.insert(*parent) {
                    let commit = self.repo.commit(*parent)?;
                    queue.push((commit.generation, commit.time_ms, *parent));
                }
            }
        }
        Ok(out)
    }

    /// The keys that differ between commits `a` and `b`.
    ///
    /// # Errors
    /// [`Error::CommitNotFound`], or a backend failure.
    pub fn diff(&self, a: ObjectId, b: ObjectId) -> Result<DiffResult> {
        let root = |id: ObjectId| match self.repo.commit(id) {
            Ok(commit) => Ok(commit.root),
            Err(Error::MissingObject { .. }) => Err(Error::CommitNotFound(id.to_hex())),
            Err(err) => Err(err),
        };
        Ok(DiffResult::from_changes(
            &self.repo.tree.diff(root(a)?, root(b)?)?,
        ))
    }

    /// The JSON info stored with `commit` (default: the current commit).
    ///
    /// # Errors
    /// A backend failure, or info that is not valid JSON.
    pub fn commit_info(&self, commit: Option<ObjectId>) -> Result<Option<serde_json::Value>> {
        let id = commit.unwrap_or(self.current);
        let commit = self.repo.commit(id)?;
        commit
            .info
            .as_deref()
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|err| Error::corrupt(Kind::Commit.name(), id, format!("info: {err}")))
            })
            .transpose()
    }

    /// The commit a git-style short id names: `prefix` is 4 to 40 lowercase
    /// hex characters, found by a prefix scan over the stored commits; a full
    /// 40-character id is checked to exist.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] naming text that is not 4 to 40 lowercase
    /// hex characters, [`Error::CommitNotFound`] naming a prefix no commit
    /// starts with, [`Error::AmbiguousCommitPrefix`] naming a prefix several
    /// commits start with and how many, or a backend failure.
    pub fn resolve_commit(&self, prefix: &str) -> Result<ObjectId> {
        resolve_commit_prefix(&self.repo, prefix)
    }

    /// The decoded commit object.
    ///
    /// # Errors
    /// A backend failure or a missing or corrupt commit.
    pub fn commit_object(&self, commit: ObjectId) -> Result<Arc<Commit>> {
        self.repo.commit(commit)
    }

    /// The lowest common ancestor of two commits, if they share history.
    ///
    /// # Errors
    /// A backend failure or a missing or corrupt commit.
    pub fn merge_base(&self, a: ObjectId, b: ObjectId) -> Result<Option<ObjectId>> {
        self.repo.merge_base(a, b)
    }
}

impl fmt::Debug for Versioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Versioned")
            .field("branch", &self.branch.as_str())
            .field("commit", &self.current.short(12))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Memory;
    use proptest::prelude::*;

    /// Inline and blob values from small domains, so that edits often
    /// repeat the value a key already has.
    fn value() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        prop_oneof![
            prop::collection::vec(0u8..2, 0..3),
            prop::collection::vec(0u8..2, 65..67),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Building changes in one pass gives what setting and then removing
        /// each key one by one gives, in any order of input.
        #[test]
        fn changes_from_entries_match_one_by_one(
            updates in prop::collection::vec((0u8..40, value()), 0..60),
            removals in prop::collection::vec(0u8..40, 0..20),
        ) {
            let key = |k: u8| format!("k{k:02}");
            let mut one_by_one = ChangeSet::new();
            for (k, value) in &updates {
                one_by_one.set(key(*k), value.clone()).unwrap();
            }
            for k in &removals {
                one_by_one.remove(key(*k)).unwrap();
            }
            let at_once = ChangeSet::from_entries(
                updates.iter().map(|(k, value)| (key(*k), value.clone())),
                removals.iter().map(|k| key(*k)),
            )
            .unwrap();
            prop_assert_eq!(at_once, one_by_one);
        }
    }

    #[test]
    fn changes_from_entries_refuse_what_set_refuses() {
        let err = ChangeSet::from_entries([("a\0b".to_owned(), vec![1])], []).unwrap_err();
        assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
        let err = ChangeSet::from_entries([], [String::new()]).unwrap_err();
        assert!(matches!(err, Error::InvalidKey { .. }), "{err}");
        let big = vec![0; MAX_VALUE_LEN + 1];
        let err = ChangeSet::from_entries([("big".to_owned(), big)], []).unwrap_err();
        assert!(
            matches!(&err, Error::ValueTooLarge { key, .. } if key == "big"),
            "{err}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// The merge's shortcut for our own changes reports exactly what a
        /// diff of the trees before and after our edits would.
        #[test]
        fn changes_of_edits_match_the_diff(
            base in prop::collection::btree_map(0u16..400, value(), 0..300),
            edits in prop::collection::btree_map(0u16..400, prop::option::of(value()), 0..60),
        ) {
            let tree = Tree::open(Arc::new(Memory::new()), DEFAULT_CACHE_BYTES).unwrap();
            let mut batch = WriteBatch::new();
            let empty = Tree::empty_root(&mut batch);
            batch.write_to(tree.kv()).unwrap();
            let mut batch = WriteBatch::new();
            let to_edits = |batch: &mut WriteBatch, items: Vec<(u16, Option<Vec<u8>>)>| -> Edits {
                items
                    .into_iter()
                    .map(|(key, value)| {
                        (
                            Arc::from(format!("k{key:04}").as_str()),
                            value.map(|value| ValueRef::store(&value, batch)),
                        )
                    })
                    .collect()
            };
            let base_edits = to_edits(&mut batch, base.into_iter().map(|(k, v)| (k, Some(v))).collect());
            let root = tree.apply(empty, &base_edits, &mut batch).unwrap();
            batch.write_to(tree.kv()).unwrap();
            let mut batch = WriteBatch::new();
            // Some edits repeat the base's value: those are no change.
            let ours = to_edits(&mut batch, edits.into_iter().collect());
            let after = tree.apply(root, &ours, &mut batch).unwrap();
            batch.write_to(tree.kv()).unwrap();
            prop_assert_eq!(
                Versioned::changes_of(&tree, root, &ours).unwrap(),
                tree.diff(root, after).unwrap()
            );
        }
    }
}
