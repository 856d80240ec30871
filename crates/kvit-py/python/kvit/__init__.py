"""kvit: a versioned key-value store — a dict you can commit, branch, merge
and roll back, shared safely by threads and processes.

The engine is Rust (``kvit._native``); this package adds the pieces best
written in Python: the :class:`Store` protocol (a ``MutableMapping``) over
the native cores, :class:`Live` and :class:`Namespaced`, the
:class:`KVStore` base class for custom backends, the value codecs
(:mod:`kvit.codecs`: pickle, JSON, raw bytes, HMAC-signed pickle), the
exceptions, and decoded-value merge helpers.

>>> import kvit
>>> s = kvit.store()
>>> s["greeting"] = "hello"
>>> s.commit().strategy
'fast_forward'
>>> s["greeting"]
'hello'
"""

from kvit._native import GCVersioned, MergeResult, Versioned, __version__
from kvit.codecs import Codec, SignedPickle
from kvit.errors import (
    BackendError,
    ConcurrencyError,
    CorruptionError,
    IntegrityError,
    InvalidStoreError,
    KvitError,
    MergeConflict,
)
from kvit.factory import store
from kvit.kv import Disk, KVStore, Memory, Postgres, Redis
from kvit.live import Live
from kvit.merges import MergeFn, counter, last_writer_wins
from kvit.namespaced import Namespaced
from kvit.results import DiffResult, RebaseResult
from kvit.staged import Staged
from kvit.store import Store

__all__ = [
    "BackendError",
    "Codec",
    "ConcurrencyError",
    "CorruptionError",
    "DiffResult",
    "Disk",
    "GCVersioned",
    "IntegrityError",
    "InvalidStoreError",
    "KVStore",
    "KvitError",
    "Live",
    "Memory",
    "MergeConflict",
    "MergeFn",
    "MergeResult",
    "Namespaced",
    "Postgres",
    "RebaseResult",
    "Redis",
    "SignedPickle",
    "Staged",
    "Store",
    "Versioned",
    "__version__",
    "counter",
    "last_writer_wins",
    "store",
]
