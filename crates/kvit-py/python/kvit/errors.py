"""kvit's exceptions, mirroring the Rust core's error variants.

Every kvit-specific exception derives from :class:`KvitError`. Misuse of the
API raises the built-in exception a Python programmer expects instead:
``ValueError`` for an invalid key, branch name or argument, ``TypeError`` for a
value of the wrong type, ``KeyError`` for an unknown commit, and
``NotImplementedError`` for an operation a store does not support.

An exception raised by a Python-defined backend or merge function is never
wrapped: it reaches the caller as itself (merge function errors inside
:attr:`MergeConflict.merge_errors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Optional

__all__ = [
    "BackendError",
    "ConcurrencyError",
    "CorruptionError",
    "IntegrityError",
    "InvalidStoreError",
    "KvitError",
    "MergeConflict",
]


class KvitError(Exception):
    """Base class of the errors kvit raises for its own reasons."""


class BackendError(KvitError, OSError):
    """A built-in storage backend failed (I/O, SQLite, a closed handle, a
    Redis or PostgreSQL server that cannot be reached or fails a request)."""


class CorruptionError(KvitError):
    """A stored object or branch head is missing, truncated or does not decode."""


class IntegrityError(KvitError):
    """A stored value failed its authentication check (``kvit.SignedPickle``):
    it was altered, signed with another key, or never signed. The value was
    not decoded (not unpickled). Read through a store, the message names the
    key, and ``__cause__`` is the codec's own error.
    """


class InvalidStoreError(KvitError, ValueError):
    """A location cannot be opened as a kvit store, or was written by an
    unsupported format version."""


class ConcurrencyError(KvitError):
    """Another writer moved the branch head between our read and our swap.

    Refresh and retry, or commit with ``on_conflict="abandon"``.
    """


class MergeConflict(KvitError):
    """A three-way merge found keys that both sides changed and no merge
    function resolved.

    Attributes:
        conflicting_keys: every key that could not be merged.
        merge_errors: for keys whose merge function raised, the exception it
            raised (the original object).
    """

    conflicting_keys: set[str]
    merge_errors: dict[str, BaseException]

    def __init__(
        self,
        conflicting_keys: Iterable[str] = (),
        merge_errors: Optional[Mapping[str, BaseException]] = None,
        message: Optional[str] = None,
    ) -> None:
        self.conflicting_keys = set(conflicting_keys)
        self.merge_errors = dict(merge_errors or {})
        if message is None:
            shown = ", ".join(sorted(self.conflicting_keys)[:10])
            message = f"merge conflict on {len(self.conflicting_keys)} key(s): {shown}"
            for key, error in list(self.merge_errors.items())[:3]:
                message += f"; merge function for {key!r} failed: {error!r}"
        super().__init__(message)

    def __reduce__(self) -> tuple[type, tuple[set[str], dict[str, BaseException], str]]:
        return (type(self), (self.conflicting_keys, self.merge_errors, str(self)))
