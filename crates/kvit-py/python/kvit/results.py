"""Result types returned by :class:`kvit.Versioned`."""

from __future__ import annotations

from typing import NamedTuple

from kvit._native import MergeResult

__all__ = ["DiffResult", "MergeResult"]


class DiffResult(NamedTuple):
    """The keys that differ between two commits ``a`` and ``b``."""

    added: frozenset[str]
    """Keys only in ``b``."""
    removed: frozenset[str]
    """Keys only in ``a``."""
    modified: frozenset[str]
    """Keys in both with different values."""
