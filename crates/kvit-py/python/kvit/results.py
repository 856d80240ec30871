"""Result types returned by :class:`kvit.Versioned` and :class:`kvit.GCVersioned`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Optional

from kvit._native import MergeResult

__all__ = ["DiffResult", "MergeResult", "RebaseResult"]


class DiffResult(NamedTuple):
    """The keys that differ between two commits ``a`` and ``b``."""

    added: frozenset[str]
    """Keys only in ``b``."""
    removed: frozenset[str]
    """Keys only in ``a``."""
    modified: frozenset[str]
    """Keys in both with different values."""


@dataclass(frozen=True)
class RebaseResult:
    """What a :meth:`kvit.GCVersioned.rebase` did; truthy iff it rebased."""

    performed: bool
    """Whether a new root commit was written (False: nothing needed doing)."""
    new_commit: Optional[str]
    """The fresh root commit now at the branch head, or None."""
    dropped_keys: frozenset[str]
    """The user keys left out of the new commit."""
    kept_keys: frozenset[str]
    """Every key in the new commit, system keys included."""
    total_size_before: int
    """Total size (bytes) of the user values before."""
    total_size_after: int
    """Total size (bytes) of the user values after."""
    orphans_cleaned: int
    """Orphaned commits deleted by the cleanup that followed."""

    def __bool__(self) -> bool:
        return self.performed
