"""kvit: a versioned key-value store — a dict you can commit, branch, merge
and roll back, shared safely by threads and processes.

The engine is Rust (``kvit._native``); this package adds the pieces best
written in Python: the :class:`KVStore` base class for custom backends, the
exceptions, and decoded-value merge helpers.

>>> import kvit
>>> v = kvit.Versioned()
>>> v.commit({"greeting": b"hello"}).strategy
'fast_forward'
>>> v.get("greeting")
b'hello'
"""

from kvit._native import MergeResult, Versioned, __version__
from kvit.errors import (
    BackendError,
    ConcurrencyError,
    CorruptionError,
    InvalidStoreError,
    KvitError,
    MergeConflict,
)
from kvit.kv import Disk, KVStore, Memory
from kvit.merges import MergeFn, counter, last_writer_wins
from kvit.results import DiffResult

__all__ = [
    "BackendError",
    "ConcurrencyError",
    "CorruptionError",
    "DiffResult",
    "Disk",
    "InvalidStoreError",
    "KVStore",
    "KvitError",
    "Memory",
    "MergeConflict",
    "MergeFn",
    "MergeResult",
    "Versioned",
    "__version__",
    "counter",
    "last_writer_wins",
]
