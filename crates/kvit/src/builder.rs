//! `store()`: the simplest way to open a [`Staged`] store.

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::{Disk, DiskOptions, Durability, KvStore, Memory};
use crate::codec::{Codec, Json};
use crate::error::{Error, Result};
use crate::gc::GcOptions;
use crate::staged::{Engine, Staged};
use crate::versioned::OpenOptions;

/// Where a store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// In this process's memory (the default).
    #[default]
    Memory,
    /// In a directory on local disk (`SQLite`), shared by processes.
    Disk,
}

/// Builds a [`Staged`] store: memory or disk, a branch, a codec, and
/// optionally a size bound. Start with [`store()`].
#[derive(Clone, Default)]
#[must_use]
pub struct StoreBuilder {
    storage: Storage,
    path: Option<PathBuf>,
    backend: Option<Arc<dyn KvStore>>,
    durability: Durability,
    branch: Option<String>,
    high_water_bytes: Option<i64>,
    low_water_bytes: Option<i64>,
}

/// A builder for a store in memory, on branch `main`, with no size bound.
///
/// ```
/// use kvit::{Store, StoreCommitOptions};
///
/// let s = kvit::store().open_json()?;
/// s.set("name", "alice".into())?;
/// s.commit(&StoreCommitOptions::new())?;
/// # Ok::<(), kvit::Error>(())
/// ```
pub fn store() -> StoreBuilder {
    StoreBuilder::default()
}

impl std::fmt::Debug for StoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBuilder")
            .field("storage", &self.storage)
            .field("path", &self.path)
            .field("custom_backend", &self.backend.is_some())
            .field("branch", &self.branch)
            .field("high_water_bytes", &self.high_water_bytes)
            .field("low_water_bytes", &self.low_water_bytes)
            .finish_non_exhaustive()
    }
}

impl StoreBuilder {
    /// Memory or disk.
    pub fn storage(mut self, storage: Storage) -> Self {
        self.storage = storage;
        self
    }

    /// The directory of a disk store.
    pub fn path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// A disk store in `path`.
    pub fn disk(self, path: impl Into<PathBuf>) -> Self {
        self.storage(Storage::Disk).path(path)
    }

    /// How hard a disk store syncs (default: every commit survives power loss).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Any backend, instead of memory or disk.
    pub fn backend(mut self, backend: Arc<dyn KvStore>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The branch to open (default `main`).
    pub fn branch(mut self, branch: impl Into<String>) -> Self {
        self.branch = Some(branch.into());
        self
    }

    /// Bounds the total size of values: commits above this rebase the branch,
    /// dropping the coldest keys.
    pub fn high_water_bytes(mut self, bytes: i64) -> Self {
        self.high_water_bytes = Some(bytes);
        self
    }

    /// What a rebase shrinks to (default 80% of high water).
    pub fn low_water_bytes(mut self, bytes: i64) -> Self {
        self.low_water_bytes = Some(bytes);
        self
    }

    fn open_backend(&self) -> Result<Arc<dyn KvStore>> {
        // Refuse a bad bound before a disk directory is created for it.
        if self.high_water_bytes.is_some_and(|high| high <= 0) {
            return Err(Error::InvalidArgument(
                "high_water_bytes must be positive".into(),
            ));
        }
        if let Some(backend) = &self.backend {
            return Ok(backend.clone());
        }
        match self.storage {
            Storage::Memory => Ok(Arc::new(Memory::new())),
            Storage::Disk => {
                let path = self.path.as_ref().ok_or_else(|| {
                    Error::InvalidArgument("storage \"disk\" needs a path to a directory".into())
                })?;
                Ok(Arc::new(
                    DiskOptions::new().durability(self.durability).open(path)?,
                ))
            }
        }
    }

    /// Opens the cursor the store stages over.
    ///
    /// # Errors
    /// A disk store without a path, an invalid branch or size bound, or a
    /// backend failure.
    pub fn open_engine(&self) -> Result<Engine> {
        let backend = self.open_backend()?;
        let mut options = OpenOptions::new();
        if let Some(branch) = &self.branch {
            options = options.branch(branch.clone());
        }
        if self.high_water_bytes.is_none() && self.low_water_bytes.is_some() {
            return Err(Error::InvalidArgument(
                "low_water_bytes needs high_water_bytes".into(),
            ));
        }
        let Some(high) = self.high_water_bytes else {
            return Ok(Engine::Plain(options.open(backend)?));
        };
        let mut gc = GcOptions::new(high);
        if let Some(low) = self.low_water_bytes {
            gc = gc.low_water_bytes(low);
        }
        Ok(Engine::from(gc.wrap(options.open(backend)?)?))
    }

    /// Opens the store with `codec`.
    ///
    /// # Errors
    /// As [`StoreBuilder::open_engine`].
    pub fn open<C: Codec>(self, codec: C) -> Result<Staged<C>> {
        Ok(Staged::new(self.open_engine()?, codec))
    }

    /// Opens the store with JSON values.
    ///
    /// # Errors
    /// As [`StoreBuilder::open_engine`].
    pub fn open_json(self) -> Result<Staged<Json<serde_json::Value>>> {
        self.open(Json::new())
    }
}

impl From<Disk> for StoreBuilder {
    fn from(disk: Disk) -> Self {
        store().backend(Arc::new(disk))
    }
}
