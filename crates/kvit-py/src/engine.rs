//! The cursor under a `Versioned` handle, plain or size-bounded, seen the
//! same way whether the handle owns it or has lent it to a `Staged` store.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};

use kvit::{ChangeSet, CommitOptions, Engine, GcOptions, GcVersioned, MergeResult, Versioned};

/// A borrowed cursor: reads and commits go through the size-bounded
/// wrapper when there is one (it counts accesses and rebases after commits);
/// everything else is the plain cursor's, through `Deref`.
pub(crate) enum EngineMut<'a> {
    Plain(&'a mut Versioned),
    Gc(&'a mut GcVersioned),
}

impl<'a> From<&'a mut Engine> for EngineMut<'a> {
    fn from(engine: &'a mut Engine) -> Self {
        match engine {
            Engine::Plain(versioned) => EngineMut::Plain(versioned),
            Engine::Gc(gc) => EngineMut::Gc(gc),
        }
    }
}

impl Deref for EngineMut<'_> {
    type Target = Versioned;

    fn deref(&self) -> &Versioned {
        match self {
            EngineMut::Plain(versioned) => versioned,
            EngineMut::Gc(gc) => gc,
        }
    }
}

impl DerefMut for EngineMut<'_> {
    fn deref_mut(&mut self) -> &mut Versioned {
        match self {
            EngineMut::Plain(versioned) => versioned,
            EngineMut::Gc(gc) => gc,
        }
    }
}

impl EngineMut<'_> {
    pub(crate) fn get(&self, key: &str) -> kvit::Result<Option<Vec<u8>>> {
        match self {
            EngineMut::Plain(versioned) => versioned.get(key),
            EngineMut::Gc(gc) => gc.get(key),
        }
    }

    pub(crate) fn get_many(&self, keys: &[&str]) -> kvit::Result<Vec<Option<Vec<u8>>>> {
        match self {
            EngineMut::Plain(versioned) => versioned.get_many(keys),
            EngineMut::Gc(gc) => gc.get_many(keys),
        }
    }

    pub(crate) fn commit(
        &mut self,
        changes: &ChangeSet,
        options: &CommitOptions,
    ) -> kvit::Result<MergeResult> {
        match self {
            EngineMut::Plain(versioned) => versioned.commit(changes, options),
            EngineMut::Gc(gc) => gc.commit(changes, options),
        }
    }

    /// The size-bounded cursor, if this is one.
    pub(crate) fn gc(&mut self) -> Option<&mut GcVersioned> {
        match self {
            EngineMut::Plain(_) => None,
            EngineMut::Gc(gc) => Some(gc),
        }
    }

    /// An engine of the same kind (and size bounds) over another cursor: a
    /// branch or checkout of a `GCVersioned` is size-bounded too.
    pub(crate) fn sibling(&self, versioned: Versioned) -> kvit::Result<Engine> {
        Ok(match self {
            EngineMut::Plain(_) => Engine::Plain(versioned),
            EngineMut::Gc(gc) => Engine::Gc(
                GcOptions::new(i64::try_from(gc.high_water()).unwrap_or(i64::MAX))
                    .low_water_bytes(i64::try_from(gc.low_water()).unwrap_or(i64::MAX))
                    .orphan_grace(gc.orphan_grace())
                    .wrap(versioned)?,
            ),
        })
    }
}

/// A small number unique to the calling thread (never 0).
pub(crate) fn thread_token() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    thread_local! {
        static TOKEN: usize = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|token| *token)
}

/// Marks a handle as in use by the calling thread until dropped (even by a
/// panic), so that a callback calling back into the same handle is told so
/// instead of waiting for itself.
pub(crate) struct OwnerMark<'a>(&'a AtomicUsize);

impl<'a> OwnerMark<'a> {
    pub(crate) fn set(owner: &'a AtomicUsize, me: usize) -> Self {
        owner.store(me, Ordering::Release);
        OwnerMark(owner)
    }

    /// Whether the calling thread is inside a call on the handle.
    pub(crate) fn is_mine(owner: &AtomicUsize, me: usize) -> bool {
        owner.load(Ordering::Acquire) == me
    }
}

impl Drop for OwnerMark<'_> {
    fn drop(&mut self) {
        self.0.store(0, Ordering::Release);
    }
}
