"""Built-in merge functions on decoded values.

A merge function takes ``(old, ours, theirs)`` — the common ancestor's value
and each side's, None where the key is absent — and returns the merged
value. These work on decoded Python values (the Store layer); at the
:class:`kvit.Versioned` layer merge functions take and return ``bytes``.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

__all__ = ["MergeFn", "counter", "last_writer_wins"]

MergeFn = Callable[[Optional[Any], Optional[Any], Optional[Any]], Any]
"""``(old, ours, theirs) -> merged``."""


def counter() -> MergeFn:
    """Adds both sides' increments: ``ours + theirs - old`` (absent counts as 0)."""

    def merge(old: Any, ours: Any, theirs: Any) -> Any:
        return (ours or 0) + (theirs or 0) - (old or 0)

    return merge


def last_writer_wins() -> MergeFn:
    """Takes the other side's value: the head that committed first."""

    def merge(old: Any, ours: Any, theirs: Any) -> Any:
        return theirs

    return merge
