"""``kvit.store()``: the simplest way to open a :class:`kvit.Staged` store."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

from kvit._native import GCVersioned, Versioned
from kvit.kv.base import KVStore
from kvit.kv.disk import Disk
from kvit.kv.memory import Memory
from kvit.staged import Staged

__all__ = ["store"]


def store(
    storage: str = "memory",
    *,
    path: Optional[Union[str, os.PathLike[str]]] = None,
    branch: str = "main",
    encoder: Optional[Callable[[Any], bytes]] = None,
    decoder: Optional[Callable[[bytes], Any]] = None,
    high_water_bytes: Optional[int] = None,
    low_water_bytes: Optional[int] = None,
) -> Staged:
    """A :class:`Staged` store over a new cursor on ``branch``.

    Args:
        storage: ``"memory"`` (the default) or ``"disk"``.
        path: the directory of a disk store (required for ``"disk"``).
        branch: the branch to open (created at an empty commit if new).
        encoder: turns values into bytes (default ``pickle.dumps``).
        decoder: turns bytes into values (default ``pickle.loads``).
        high_water_bytes: bound the total size of values: a commit that
            takes them above this rebases the branch, dropping the coldest
            keys (a :class:`GCVersioned` cursor).
        low_water_bytes: what a rebase shrinks to (default 80% of high water).

    Raises:
        ValueError: an unknown ``storage``, ``"disk"`` without a ``path``, a
            ``path`` for memory, a non-positive ``high_water_bytes``, or
            ``low_water_bytes`` without ``high_water_bytes``.
    """
    if storage not in ("memory", "disk"):
        raise ValueError(f'storage must be "memory" or "disk", not {storage!r}')
    if storage == "disk" and path is None:
        raise ValueError('storage="disk" needs a path (a directory)')
    if storage == "memory" and path is not None:
        raise ValueError('a path is only for storage="disk"; a memory store keeps nothing')
    if high_water_bytes is None and low_water_bytes is not None:
        raise ValueError("low_water_bytes needs high_water_bytes")
    if high_water_bytes is not None and high_water_bytes <= 0:
        raise ValueError(f"high_water_bytes must be positive, not {high_water_bytes}")
    backend: KVStore = Memory() if path is None else Disk(path)
    versioned: Versioned
    if high_water_bytes is None:
        versioned = Versioned(backend, branch=branch)
    else:
        versioned = GCVersioned(
            backend,
            branch=branch,
            high_water_bytes=high_water_bytes,
            low_water_bytes=low_water_bytes,
        )
    return Staged(versioned, encoder=encoder, decoder=decoder)
