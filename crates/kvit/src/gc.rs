//! Garbage collection: size-bounded branches ([`GcVersioned`] rebases onto a
//! fresh root commit that keeps only the hottest keys) and orphan cleanup
//! ([`clean_orphans`]), safe beside concurrent writers by an age-based grace
//! rule. The rules are written down in `docs/gc.md`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::backend::KvStore;
use crate::commit::Commit;
use crate::error::{Error, Result};
use crate::object::{self, Kind, ObjectId, WriteBatch, HEADER_LEN};
use crate::refs::{self, BranchName, Expected};
use crate::tree::{Edits, Node, Slot};
use crate::versioned::{ChangeSet, CommitOptions, MergeResult, Versioned};

/// The default grace period of the orphan cleanup that follows a rebase.
pub const DEFAULT_ORPHAN_GRACE: Duration = Duration::from_secs(60);

/// Keys per `get_many` or `remove_many`.
const CHUNK: usize = 1000;

/// Whether `key` is a system key: its last `/`-separated segment starts with
/// `__` (`__meta` and `ns/__meta` are, `__ns/x` is not). A rebase always keeps
/// system keys, and they do not count towards the size limits.
pub fn is_system_key(key: &str) -> bool {
    key.rsplit('/')
        .next()
        .is_some_and(|last| last.starts_with("__"))
}

// ---- orphan cleanup ------------------------------------------------------

/// Deletes the commits that no branch head reaches and that were written more
/// than `min_age` ago, with the tree nodes and value blobs only they hold;
/// returns the number of commits deleted.
///
/// Safe beside concurrent writers whose commits take less than `min_age` from
/// writing their objects to moving their head; `Duration::ZERO` is only safe
/// when nobody else is writing. The grace rule is in `docs/gc.md`.
///
/// # Errors
/// A backend failure, a branch head that does not hold a commit id, or a
/// reachable object that is corrupt (nothing is deleted then: what it refers
/// to cannot be known).
pub fn clean_orphans(kv: &dyn KvStore, min_age: Duration) -> Result<usize> {
    Ok(collect(kv, min_age)?.commits)
}

/// What one collection did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Collected {
    commits: usize,
    nodes: usize,
    blobs: usize,
    /// Objects deleted and then written back because a commit that appeared
    /// during the collection turned out to need them.
    restored: usize,
}

/// An object as the scan found it.
struct Scanned {
    write_time: u64,
    stored: Vec<u8>,
}

type Objects = HashMap<(Kind, ObjectId), Scanned>;

fn collect(kv: &dyn KvStore, min_age: Duration) -> Result<Collected> {
    let start = object::now_millis();
    let grace = u64::try_from(min_age.as_millis()).unwrap_or(u64::MAX);
    // Written at or before the cutoff is old. With no grace that includes the
    // current millisecond: everything the scan finds is old enough.
    let cutoff = start.saturating_sub(grace);

    // (1) Every object with its write time. Anything written later is no candidate.
    let mut scanned: Objects = HashMap::new();
    for kind in [Kind::Commit, Kind::Node, Kind::Blob] {
        for (key, stored) in kv.scan_prefix(kind.prefix())? {
            // A key that is not an object id is not ours to delete.
            let Some(Ok(id)) = key.get(kind.prefix().len()..).map(str::parse::<ObjectId>) else {
                continue;
            };
            // A value too short for a header is garbage: as old as can be.
            let write_time = object::write_time(&stored).unwrap_or(0);
            scanned.insert((kind, id), Scanned { write_time, stored });
        }
    }

    // (2) Roots: every head, and every commit young enough to be in flight.
    let mut roots: Vec<ObjectId> = refs::list_heads(kv)?
        .into_iter()
        .map(|(_, head)| head)
        .collect();
    roots.extend(
        scanned
            .iter()
            .filter(|((kind, _), object)| *kind == Kind::Commit && object.write_time > cutoff)
            .map(|((_, id), _)| *id),
    );

    // (3) Everything the roots reach.
    let mut marked: HashSet<(Kind, ObjectId)> = HashSet::new();
    mark(kv, &scanned, &roots, true, &mut marked, &mut |_, _| Ok(()))?;

    // (4) Delete what is unmarked and old.
    scanned.retain(|key, object| !marked.contains(key) && object.write_time <= cutoff);
    let mut collected = Collected::default();
    let deleted = delete(kv, &scanned, &mut collected);

    // (5) A safety net for what (4) cannot see: a commit written after (1)
    // that reuses, without storing them again, objects only an orphan held
    // (a cursor left on a commit that a reset or rebase orphaned). Give back
    // whatever a head or a young commit reaches now, even if (4) failed
    // partway. Objects a writer stored again were never removed: (4) removes
    // only what still holds the bytes the scan saw.
    if !scanned.is_empty() {
        restore(kv, &scanned, &marked, cutoff, &mut collected)?;
    }
    deleted.map(|()| collected)
}

/// Step (4): removes `doomed`, commits first so that a failure partway never
/// leaves a commit whose nodes are gone. Each object is removed only if it
/// still holds the bytes the scan saw: a writer that stored it again since
/// (with a fresh write time) keeps it.
fn delete(kv: &dyn KvStore, doomed: &Objects, collected: &mut Collected) -> Result<()> {
    for kind in [Kind::Commit, Kind::Node, Kind::Blob] {
        let entries: Vec<(String, &[u8])> = doomed
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((k, id), object)| (k.key(id), object.stored.as_slice()))
            .collect();
        for chunk in entries.chunks(CHUNK) {
            let refs: Vec<(&str, &[u8])> = chunk
                .iter()
                .map(|(key, stored)| (key.as_str(), *stored))
                .collect();
            *count_of(collected, kind) += kv.remove_if_unchanged(&refs)?;
            failpoint!("gc::sweep");
        }
    }
    Ok(())
}

fn count_of(collected: &mut Collected, kind: Kind) -> &mut usize {
    match kind {
        Kind::Commit => &mut collected.commits,
        Kind::Node => &mut collected.nodes,
        Kind::Blob => &mut collected.blobs,
    }
}

/// Step (5): walks from the heads and young commits as they are now, past
/// everything step (3) already marked, and writes back any deleted object met.
fn restore(
    kv: &dyn KvStore,
    deleted: &Objects,
    marked: &HashSet<(Kind, ObjectId)>,
    cutoff: u64,
    collected: &mut Collected,
) -> Result<()> {
    // Leniently: a head broken since step (2) must not stop the restore.
    let mut roots: Vec<ObjectId> = kv
        .scan_prefix(refs::HEADS_PREFIX)?
        .into_iter()
        .filter_map(|(_, head)| std::str::from_utf8(&head).ok()?.parse().ok())
        .collect();
    for (key, stored) in kv.scan_prefix(Kind::Commit.prefix())? {
        let Some(Ok(id)) = key
            .get(Kind::Commit.prefix().len()..)
            .map(str::parse::<ObjectId>)
        else {
            continue;
        };
        if object::write_time(&stored).is_some_and(|time| time > cutoff) {
            roots.push(id);
        }
    }
    let mut reached = marked.clone();
    let mut give_back: Vec<(Kind, String, Vec<u8>)> = Vec::new();
    let stamp = object::now_millis().to_le_bytes();
    mark(kv, deleted, &roots, false, &mut reached, &mut |kind, id| {
        if let Some(object) = deleted.get(&(kind, id)) {
            if object::verify(kind, id, &object.stored).is_ok() {
                let mut stored = object.stored.clone();
                stored[..HEADER_LEN].copy_from_slice(&stamp);
                give_back.push((kind, kind.key(&id), stored));
            }
        }
        Ok(())
    })?;
    for chunk in give_back.chunks(CHUNK) {
        let entries: Vec<(&str, &[u8])> = chunk
            .iter()
            .map(|(_, key, stored)| (key.as_str(), stored.as_slice()))
            .collect();
        kv.set_many(&entries)?;
    }
    for (kind, _, _) in &give_back {
        let count = count_of(collected, *kind);
        *count = count.saturating_sub(1);
        collected.restored += 1;
    }
    Ok(())
}

/// Marks everything `roots` reach: commits' parents and trees, nodes'
/// children and blobs. Objects in `known` are taken from there, others read
/// from the backend a wave at a time; a missing object is skipped, a corrupt
/// one is an error when `strict` and skipped otherwise. `visit` sees every
/// object newly marked, present or not.
fn mark(
    kv: &dyn KvStore,
    known: &Objects,
    roots: &[ObjectId],
    strict: bool,
    marked: &mut HashSet<(Kind, ObjectId)>,
    visit: &mut dyn FnMut(Kind, ObjectId) -> Result<()>,
) -> Result<()> {
    let mut wave: Vec<(Kind, ObjectId)> = Vec::new();
    for root in roots {
        if marked.insert((Kind::Commit, *root)) {
            wave.push((Kind::Commit, *root));
        }
    }
    while !wave.is_empty() {
        failpoint!("gc::mark");
        let mut next: Vec<(Kind, ObjectId)> = Vec::new();
        let mut reach = |kind: Kind, id: ObjectId, next: &mut Vec<(Kind, ObjectId)>| {
            if marked.insert((kind, id)) {
                next.push((kind, id));
            }
        };
        // Blobs have nothing to follow: no need to read them.
        let to_read: Vec<(Kind, ObjectId)> = wave
            .iter()
            .filter(|(kind, id)| *kind != Kind::Blob && !known.contains_key(&(*kind, *id)))
            .copied()
            .collect();
        let mut fetched: HashMap<(Kind, ObjectId), Vec<u8>> = HashMap::new();
        for kind in [Kind::Commit, Kind::Node] {
            let ids: Vec<ObjectId> = to_read
                .iter()
                .filter(|(k, _)| *k == kind)
                .map(|(_, id)| *id)
                .collect();
            for chunk in ids.chunks(CHUNK) {
                let keys: Vec<String> = chunk.iter().map(|id| kind.key(id)).collect();
                let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
                for (id, stored) in chunk.iter().zip(kv.get_many(&key_refs)?) {
                    if let Some(stored) = stored {
                        fetched.insert((kind, *id), stored);
                    }
                }
            }
        }
        for (kind, id) in wave {
            visit(kind, id)?;
            if kind == Kind::Blob {
                continue;
            }
            let stored = match known.get(&(kind, id)) {
                Some(object) => &object.stored,
                None => match fetched.get(&(kind, id)) {
                    Some(stored) => stored,
                    None => continue,
                },
            };
            let children = match children(kind, id, stored) {
                Ok(children) => children,
                Err(err) if strict => return Err(err),
                Err(_) => continue,
            };
            for (kind, id) in children {
                reach(kind, id, &mut next);
            }
        }
        wave = next;
    }
    Ok(())
}

/// The objects a stored commit or node refers to.
fn children(kind: Kind, id: ObjectId, stored: &[u8]) -> Result<Vec<(Kind, ObjectId)>> {
    let payload = object::verify(kind, id, stored)?;
    let mut out = Vec::new();
    if kind == Kind::Commit {
        let commit = Commit::decode(id, payload)?;
        out.extend(
            commit
                .parents
                .into_iter()
                .map(|parent| (Kind::Commit, parent)),
        );
        out.push((Kind::Node, commit.root));
    } else {
        let node = Node::decode(id, payload)?;
        for (_, slot) in node.iter() {
            match slot {
                Slot::Child(child) => out.push((Kind::Node, child.id)),
                Slot::Blob { id: blob, .. } => out.push((Kind::Blob, blob)),
                Slot::Inline(_) => {}
            }
        }
    }
    Ok(out)
}

impl Versioned {
    /// Deletes unreachable commits older than `min_age` from this cursor's
    /// store; see [`clean_orphans`].
    ///
    /// # Errors
    /// As [`clean_orphans`].
    pub fn clean_orphans(&self, min_age: Duration) -> Result<usize> {
        clean_orphans(self.kv(), min_age)
    }
}

// ---- size-bounded branches ---------------------------------------------

/// What a rebase did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebaseResult {
    /// Whether a new root commit was written (false: nothing needed doing).
    pub performed: bool,
    /// The fresh root commit now at the branch head.
    pub new_commit: Option<ObjectId>,
    /// The user keys left out of the new commit.
    pub dropped_keys: BTreeSet<String>,
    /// Every key in the new commit, system keys included.
    pub kept_keys: BTreeSet<String>,
    /// Total length of the user values before.
    pub total_size_before: u64,
    /// Total length of the user values after.
    pub total_size_after: u64,
    /// Orphaned commits deleted by the cleanup that followed.
    pub orphans_cleaned: usize,
}

impl RebaseResult {
    fn not_performed(total: u64) -> Self {
        RebaseResult {
            performed: false,
            new_commit: None,
            dropped_keys: BTreeSet::new(),
            kept_keys: BTreeSet::new(),
            total_size_before: total,
            total_size_after: total,
            orphans_cleaned: 0,
        }
    }
}

/// Options for a [`GcVersioned`]; finish with [`GcOptions::wrap`] or
/// [`GcOptions::open`].
#[derive(Debug, Clone)]
#[must_use]
pub struct GcOptions {
    high_water_bytes: i64,
    low_water_bytes: Option<i64>,
    orphan_grace: Duration,
}

impl GcOptions {
    /// Rebase when user values total more than `high_water_bytes`; low water
    /// at 80% of that; a 60 second grace for the orphan cleanup.
    pub fn new(high_water_bytes: i64) -> Self {
        GcOptions {
            high_water_bytes,
            low_water_bytes: None,
            orphan_grace: DEFAULT_ORPHAN_GRACE,
        }
    }

    /// What a rebase shrinks the user values to; a value `<= 0` or above
    /// high water means the default, 80% of high water.
    pub fn low_water_bytes(mut self, bytes: i64) -> Self {
        self.low_water_bytes = Some(bytes);
        self
    }

    /// The `min_age` of the orphan cleanup after each rebase.
    pub fn orphan_grace(mut self, grace: Duration) -> Self {
        self.orphan_grace = grace;
        self
    }

    /// Wraps an open cursor.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if high water is not positive.
    pub fn wrap(self, versioned: Versioned) -> Result<GcVersioned> {
        if self.high_water_bytes <= 0 {
            return Err(Error::InvalidArgument(format!(
                "high_water_bytes must be positive, not {}",
                self.high_water_bytes
            )));
        }
        let high = self.high_water_bytes.unsigned_abs();
        let default_low = u64::try_from(u128::from(high) * 4 / 5).unwrap_or(high);
        let low = match self.low_water_bytes {
            Some(low) if low > 0 && low.unsigned_abs() <= high => low.unsigned_abs(),
            _ => default_low,
        };
        Ok(GcVersioned {
            inner: versioned,
            high_water: high,
            low_water: low,
            orphan_grace: self.orphan_grace,
            access: Mutex::new(AccessLog::default()),
            last_rebase_result: None,
            last_rebase_error: None,
        })
    }

    /// Opens branch `main` of `kv` at its head and wraps it.
    ///
    /// # Errors
    /// As [`Versioned::open`] and [`GcOptions::wrap`].
    pub fn open(self, kv: Arc<dyn KvStore>) -> Result<GcVersioned> {
        self.wrap(Versioned::open(kv)?)
    }
}

/// When each key was last read or written through a [`GcVersioned`].
#[derive(Default)]
struct AccessLog {
    clock: u64,
    ticks: HashMap<String, u64>,
}

impl AccessLog {
    /// Records one access of all `keys`: they share a tick.
    fn touch<'k>(&mut self, keys: impl IntoIterator<Item = &'k str>) {
        self.clock += 1;
        for key in keys {
            match self.ticks.get_mut(key) {
                Some(tick) => *tick = self.clock,
                None => {
                    self.ticks.insert(key.to_owned(), self.clock);
                }
            }
        }
    }

    fn tick(&self, key: &str) -> u64 {
        self.ticks.get(key).copied().unwrap_or(0)
    }
}

/// A [`Versioned`] cursor that keeps the total size of its user values
/// bounded: after every commit that takes them above high water, it rebases
/// the branch onto a fresh root commit holding every system key and the most
/// recently used user keys, at most low water of them, then cleans orphans.
///
/// Everything else is the wrapped cursor's, through `Deref`. Reads and commits
/// made through the wrapped cursor directly are not counted as accesses.
pub struct GcVersioned {
    inner: Versioned,
    high_water: u64,
    low_water: u64,
    orphan_grace: Duration,
    access: Mutex<AccessLog>,
    last_rebase_result: Option<RebaseResult>,
    last_rebase_error: Option<Error>,
}

impl GcVersioned {
    /// Wraps `versioned` with the default low water and grace.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `high_water_bytes` is not positive.
    pub fn new(versioned: Versioned, high_water_bytes: i64) -> Result<Self> {
        GcOptions::new(high_water_bytes).wrap(versioned)
    }

    /// Options for a size-bounded cursor.
    pub fn options(high_water_bytes: i64) -> GcOptions {
        GcOptions::new(high_water_bytes)
    }

    /// The user-value total above which a commit triggers a rebase.
    pub fn high_water(&self) -> u64 {
        self.high_water
    }

    /// The user-value total a rebase shrinks to.
    pub fn low_water(&self) -> u64 {
        self.low_water
    }

    /// The `min_age` of the orphan cleanup after each rebase.
    pub fn orphan_grace(&self) -> Duration {
        self.orphan_grace
    }

    /// The last rebase performed through this cursor.
    pub fn last_rebase_result(&self) -> Option<&RebaseResult> {
        self.last_rebase_result.as_ref()
    }

    /// Why the rebase that the last commit triggered failed, if it did (the
    /// commit itself had landed; the next commit tries again).
    pub fn last_rebase_error(&self) -> Option<&Error> {
        self.last_rebase_error.as_ref()
    }

    /// The wrapped cursor.
    pub fn into_inner(self) -> Versioned {
        self.inner
    }

    fn log(&self) -> std::sync::MutexGuard<'_, AccessLog> {
        self.access.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an access of `keys` made without reading through this cursor
    /// (a layer above that serves them from its own cache).
    pub fn record_access(&self, keys: &[&str]) {
        self.log().touch(keys.iter().copied());
    }

    /// The value of `key`, counted as an access.
    ///
    /// # Errors
    /// As [`Versioned::get`].
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let value = self.inner.get(key)?;
        self.log().touch([key]);
        Ok(value)
    }

    /// The values of `keys`, counted as one access of each.
    ///
    /// # Errors
    /// As [`Versioned::get_many`].
    pub fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<Vec<u8>>>> {
        let values = self.inner.get_many(keys)?;
        self.log().touch(keys.iter().copied());
        Ok(values)
    }

    /// Commits as [`Versioned::commit`], counts the written keys as accessed,
    /// then calls [`GcVersioned::maybe_rebase`]. A failed rebase does not fail
    /// the commit, which has landed: see [`GcVersioned::last_rebase_error`].
    ///
    /// # Errors
    /// As [`Versioned::commit`].
    pub fn commit(&mut self, changes: &ChangeSet, options: &CommitOptions) -> Result<MergeResult> {
        let result = self.inner.commit(changes, options)?;
        if result.merged {
            {
                let mut log = self.log();
                log.touch(changes.updates().keys().map(String::as_str));
                for key in changes.removals() {
                    log.ticks.remove(key);
                }
            }
            self.last_rebase_error = self.maybe_rebase().err();
        }
        Ok(result)
    }

    /// Rebases if user values total more than high water. The total comes
    /// from the root when that is enough to decide, else from a key scan.
    ///
    /// # Errors
    /// A backend failure, or as [`GcVersioned::rebase`].
    pub fn maybe_rebase(&mut self) -> Result<RebaseResult> {
        let upper_bound = self.inner.total_value_bytes()?;
        if upper_bound <= self.high_water {
            return Ok(RebaseResult::not_performed(upper_bound));
        }
        let total = user_total(&self.inner.key_sizes()?);
        if total <= self.high_water {
            return Ok(RebaseResult::not_performed(total));
        }
        self.rebase(None, None)
    }

    /// Moves the branch onto a fresh root commit (no parents) that keeps every
    /// system key and either exactly the existing `keep_keys` or, without
    /// them, the hottest user keys: the coldest (least recently read or
    /// written through this cursor; never is coldest; ties: larger first) are
    /// dropped until user values total at most low water. Then cleans orphans
    /// older than the grace period.
    ///
    /// # Errors
    /// [`Error::Concurrency`] if the branch head is no longer this cursor's
    /// base (nothing changes then); [`Error::InvalidArgument`] for `info` that
    /// is not a JSON object; a backend failure. A failure in the cleanup is
    /// returned after the rebase has landed and the cursor has moved.
    pub fn rebase(
        &mut self,
        keep_keys: Option<&[&str]>,
        info: Option<serde_json::Value>,
    ) -> Result<RebaseResult> {
        let info = match info {
            None => None,
            Some(value @ serde_json::Value::Object(_)) => Some(value.to_string()),
            Some(other) => {
                return Err(Error::InvalidArgument(format!(
                    "rebase info must be a JSON object, not {other}"
                )));
            }
        };
        let sizes = self.inner.key_sizes()?;
        let total_size_before = user_total(&sizes);
        let dropped: BTreeSet<String> = match keep_keys {
            Some(keep) => {
                let keep: HashSet<&str> = keep.iter().copied().collect();
                sizes
                    .iter()
                    .filter(|(key, _)| !is_system_key(key) && !keep.contains(key.as_str()))
                    .map(|(key, _)| key.clone())
                    .collect()
            }
            None => self.coldest_over_low_water(&sizes, total_size_before),
        };
        let dropped_bytes: u64 = sizes
            .iter()
            .filter(|(key, _)| dropped.contains(key))
            .map(|(_, len)| len)
            .sum();
        let kept_keys: BTreeSet<String> = sizes
            .into_iter()
            .map(|(key, _)| key)
            .filter(|key| !dropped.contains(key))
            .collect();

        let repo = self.inner.repo().clone();
        let kv = repo.kv();
        let edits: Edits = dropped
            .iter()
            .map(|key| (Arc::from(key.as_str()), None))
            .collect();
        let mut batch = WriteBatch::new();
        let root = repo.tree.apply(self.inner.root(), &edits, &mut batch)?;
        let new_commit = Commit::new(Vec::new(), root, 1, None, info)?.store(&mut batch);
        let mut written = batch.write_kept(kv)?;
        let branch = BranchName::new(self.inner.branch())?;
        let base = self.inner.base_commit();
        failpoint!("gc::rebase-before-head");
        // As a commit does: objects held too long are stored again first.
        written.restamp_if_stale(kv)?;
        if !refs::swap_head(kv, &branch, Expected::At(base), new_commit)? {
            return Err(Error::Concurrency {
                branch: branch.to_string(),
                expected: base.to_hex(),
                found: refs::read_head(kv, &branch)?
                    .map_or_else(|| "no branch".to_owned(), |head| head.to_hex()),
            });
        }
        self.inner.move_to_commit(new_commit)?;
        {
            let mut log = self.log();
            for key in &dropped {
                log.ticks.remove(key);
            }
        }
        let mut result = RebaseResult {
            performed: true,
            new_commit: Some(new_commit),
            dropped_keys: dropped,
            kept_keys,
            total_size_before,
            total_size_after: total_size_before - dropped_bytes,
            orphans_cleaned: 0,
        };
        self.last_rebase_result = Some(result.clone());
        result.orphans_cleaned = clean_orphans(kv, self.orphan_grace)?;
        self.last_rebase_result = Some(result.clone());
        Ok(result)
    }

    /// The user keys to drop, coldest first, until at most low water remains.
    fn coldest_over_low_water(&self, sizes: &[(String, u64)], total: u64) -> BTreeSet<String> {
        let log = self.log();
        let mut order: Vec<(u64, u64, &str)> = sizes
            .iter()
            .filter(|(key, _)| !is_system_key(key))
            .map(|(key, len)| (log.tick(key), *len, key.as_str()))
            .collect();
        order.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
        let mut remaining = total;
        let mut dropped = BTreeSet::new();
        for (_, len, key) in order {
            if remaining <= self.low_water {
                break;
            }
            remaining -= len;
            dropped.insert(key.to_owned());
        }
        dropped
    }

    /// Deletes unreachable commits older than `min_age`; see [`clean_orphans`].
    ///
    /// # Errors
    /// As [`clean_orphans`].
    pub fn clean_orphans(&self, min_age: Duration) -> Result<usize> {
        clean_orphans(self.inner.kv(), min_age)
    }
}

fn user_total(sizes: &[(String, u64)]) -> u64 {
    sizes
        .iter()
        .filter(|(key, _)| !is_system_key(key))
        .map(|(_, len)| len)
        .sum()
}

impl Deref for GcVersioned {
    type Target = Versioned;

    fn deref(&self) -> &Versioned {
        &self.inner
    }
}

impl DerefMut for GcVersioned {
    fn deref_mut(&mut self) -> &mut Versioned {
        &mut self.inner
    }
}

impl fmt::Debug for GcVersioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcVersioned")
            .field("versioned", &self.inner)
            .field("high_water", &self.high_water)
            .field("low_water", &self.low_water)
            .field("orphan_grace", &self.orphan_grace)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
// A failed `unwrap` in a test is a test failure, which is all a test needs.
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::backend::Memory;

    #[test]
    fn system_keys() {
        for key in ["__x", "ns/__x", "a/b/__", "__"] {
            assert!(is_system_key(key), "{key}");
        }
        for key in ["x", "_x", "__ns/x", "ns/x__", "ns/_x", "ns/"] {
            assert!(!is_system_key(key), "{key}");
        }
    }

    #[test]
    fn low_water_default_rounds_without_overflow() {
        let v = Versioned::in_memory().unwrap();
        let gc = GcVersioned::new(v, i64::MAX).unwrap();
        assert_eq!(gc.low_water(), 7_378_697_629_483_820_645);
        let gc = GcVersioned::new(gc.into_inner(), 10).unwrap();
        assert_eq!(gc.low_water(), 8);
    }

    /// Step (5): a commit that appears after the scan and needs an object
    /// the scan saw as an old orphan gets that object back.
    #[test]
    fn restore_gives_back_what_a_new_commit_reaches() {
        let kv = Memory::new();
        let mut v = Versioned::open(Arc::new(kv.clone())).unwrap();
        let mut changes = ChangeSet::new();
        changes.set("big", vec![7u8; 100]).unwrap();
        v.commit(&changes, &CommitOptions::new()).unwrap();
        let old = v.current_commit();
        let root = v.root();
        // Orphan it, then pretend a scan saw all of it as old.
        let mut scanned: Objects = HashMap::new();
        for kind in Kind::ALL {
            for (key, stored) in kv.scan_prefix(kind.prefix()).unwrap() {
                let id: ObjectId = key[kind.prefix().len()..].parse().unwrap();
                scanned.insert(
                    (kind, id),
                    Scanned {
                        write_time: 0,
                        stored,
                    },
                );
            }
        }
        let deleted: Objects = scanned
            .into_iter()
            .filter(|((kind, id), _)| !(*kind == Kind::Commit && *id != old))
            .collect();
        let keys: Vec<String> = deleted.keys().map(|(kind, id)| kind.key(id)).collect();
        let refs_: Vec<&str> = keys.iter().map(String::as_str).collect();
        kv.remove_many(&refs_).unwrap();
        // A young commit reusing the deleted tree, written after "the scan".
        let mut batch = WriteBatch::new();
        Commit::new(Vec::new(), root, 1, None, None)
            .unwrap()
            .store(&mut batch);
        batch.write_to(&kv).unwrap();
        let mut collected = Collected {
            commits: 1,
            nodes: 5,
            blobs: 1,
            restored: 0,
        };
        restore(&kv, &deleted, &HashSet::new(), 0, &mut collected).unwrap();
        assert!(collected.restored >= 2, "{collected:?}");
        assert!(kv.contains(&Kind::Node.key(&root)).unwrap());
        assert_eq!(crate::verify::verify(&kv).unwrap().missing, []);
    }

    /// Step (2): a commit stored but not yet at a head protects the old,
    /// orphaned nodes its tree re-uses without storing them again.
    #[test]
    fn a_young_commit_protects_old_nodes_it_reuses() {
        let kv = Memory::new();
        let v = Versioned::open(Arc::new(kv.clone())).unwrap();
        let mut side = v.create_branch("side").unwrap();
        let mut changes = ChangeSet::new();
        changes.set("big", vec![7u8; 100]).unwrap();
        side.commit(&changes, &CommitOptions::new()).unwrap();
        let orphan_root = side.root();
        v.delete_branch("side").unwrap();
        std::thread::sleep(Duration::from_millis(60));
        // An in-flight writer: its commit is stored, its head not yet moved.
        let mut batch = WriteBatch::new();
        Commit::new(Vec::new(), orphan_root, 1, None, None)
            .unwrap()
            .store(&mut batch);
        batch.write_to(&kv).unwrap();
        let collected = collect(&kv, Duration::from_millis(50)).unwrap();
        assert_eq!(collected.commits, 1, "{collected:?}");
        assert_eq!((collected.nodes, collected.blobs), (0, 0), "{collected:?}");
        assert!(kv.contains(&Kind::Node.key(&orphan_root)).unwrap());
        // Once it is old and still unreferenced, it goes too.
        std::thread::sleep(Duration::from_millis(60));
        let collected = collect(&kv, Duration::from_millis(50)).unwrap();
        assert_eq!(collected.commits, 1, "{collected:?}");
        assert!(
            collected.blobs == 1 && collected.nodes >= 1,
            "{collected:?}"
        );
        assert!(crate::verify::verify(&kv).unwrap().is_clean());
    }
}
