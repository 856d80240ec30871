"""``Staged``: a dict of Python values over a ``Versioned`` cursor, whose
writes are buffered in memory and flushed by :meth:`Staged.commit` as one
atomic commit.

Everything is done by the native core (:class:`kvit._native.StagedCore`);
this subclass adds the :class:`kvit.Store` protocol, so that ``items()``,
``values()``, ``update()``, ``pop()``, ``setdefault()`` and ``==`` work as on
a dict.
"""

from __future__ import annotations

from kvit._native import StagedCore
from kvit.store import Store

__all__ = ["Staged"]


class Staged(StagedCore, Store):
    """A staging buffer of Python values over a ``Versioned`` cursor.

    ``Staged(versioned, *, encoder=pickle.dumps, decoder=pickle.loads)``:
    ``set()`` / ``store[key] = value`` stage a value, ``remove()`` / ``del``
    stage a removal, reads see staged changes first and then the current
    commit, and ``commit()`` encodes the staged values and writes them as one
    commit (a three-way merge if another writer moved the branch meanwhile;
    merge functions registered here work on decoded values). Staged changes
    are cleared when a commit lands and kept when it fails.

    The store takes the cursor over: ``staged.versioned`` is the
    ``Versioned`` (or ``GCVersioned``) it was given, and a call through it
    that moves the cursor (a commit, ``refresh()``, ``reset_to()``, a GC
    rebase) drops the staged changes.

    Values read are returned as they were decoded (and values written as
    they were given), not copies: mutate a value and ``set`` it again rather
    than changing it in place.
    """

    __slots__ = ()

    def clear(self) -> None:
        """Stages the removal of every key."""
        for key in list(self):
            self.remove(key)
