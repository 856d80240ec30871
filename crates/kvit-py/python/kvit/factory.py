"""``kvit.store()``: the simplest way to open a :class:`kvit.Staged` store."""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Union

from kvit._native import GCVersioned, Versioned
from kvit.codecs import CodecChoice, resolve_codec
from kvit.kv.base import KVStore
from kvit.kv.disk import Disk
from kvit.kv.memory import Memory
from kvit.kv.postgres import Postgres
from kvit.kv.redis import Redis
from kvit.staged import Staged

__all__ = ["store"]

_STORAGES = ("memory", "disk", "redis", "postgres")


def store(
    storage: str = "memory",
    *,
    path: Optional[Union[str, os.PathLike[str]]] = None,
    url: Optional[str] = None,
    prefix: Optional[str] = None,
    table: Optional[str] = None,
    branch: str = "main",
    codec: Optional[CodecChoice] = None,
    encoder: Optional[Callable[[Any], bytes]] = None,
    decoder: Optional[Callable[[bytes], Any]] = None,
    shared: Optional[bool] = None,
    allow_unsafe_pickle: bool = False,
    high_water_bytes: Optional[int] = None,
    low_water_bytes: Optional[int] = None,
) -> Staged:
    """A :class:`Staged` store over a new cursor on ``branch``.

    Args:
        storage: ``"memory"`` (the default), ``"disk"``, ``"redis"`` or
            ``"postgres"``.
        path: the directory of a disk store (required for ``"disk"``).
        url: the server of a ``"redis"`` or ``"postgres"`` store (required
            for those), e.g. ``"redis://:secret@host:6379/0"`` or
            ``"postgres://user:secret@host:5432/db"``.
        prefix: the key prefix of a ``"redis"`` store, so several stores can
            share one database (default none: the store owns the database).
        table: the table of a ``"postgres"`` store (default ``"kvit_kv"``).
        branch: the branch to open (created at an empty commit if new).
        codec: how values are stored: ``"pickle"``, ``"json"``, ``"raw"``
            (bytes only) or a :class:`kvit.Codec` such as
            ``kvit.SignedPickle(key)`` (see :mod:`kvit.codecs`). Default:
            pickle on ``"memory"`` and private ``"disk"`` stores; on shared
            ones (below) there is no default: choose one.
        encoder: turns values into bytes (instead of ``codec``).
        decoder: turns bytes into values (instead of ``codec``).
        shared: whether parties other than this program can write the store
            (only for ``"disk"``, default False: mark a directory that other
            users or services write ``shared=True``). ``"redis"`` and
            ``"postgres"`` stores are always shared. On a shared store plain
            pickle, whose decoding runs code the writer chose, is refused
            unless ``allow_unsafe_pickle=True``; see ``docs/security.md``.
        allow_unsafe_pickle: accept plain pickle on a shared store.
        high_water_bytes: bound the total size of values: a commit that
            takes them above this rebases the branch, dropping the coldest
            keys (a :class:`GCVersioned` cursor).
        low_water_bytes: what a rebase shrinks to (default 80% of high water).

    Raises:
        ValueError: an unknown ``storage``; ``"disk"`` without a ``path``;
            ``"redis"`` or ``"postgres"`` without a ``url``, or with a URL
            that does not parse; ``path``, ``url``, ``prefix`` or ``table``
            for a storage that does not take it; a non-positive
            ``high_water_bytes``, or ``low_water_bytes`` without
            ``high_water_bytes``; both ``codec`` and ``encoder``/``decoder``,
            or an unknown codec name; ``shared=True`` for ``"memory"`` or
            ``shared=False`` for ``"redis"``/``"postgres"``; a shared store
            without a codec (or with plain pickle, or an ``encoder`` but no
            ``decoder``) and without ``allow_unsafe_pickle=True``. Every
            check is made before anything is opened.
        kvit.BackendError: the Redis or PostgreSQL server cannot be reached
            or refuses the login.
    """
    if storage not in _STORAGES:
        raise ValueError(
            f'storage must be "memory", "disk", "redis" or "postgres", not {storage!r}'
        )
    if storage == "disk" and path is None:
        raise ValueError('storage="disk" needs a path (a directory)')
    if storage == "memory" and path is not None:
        raise ValueError('a path is only for storage="disk"; a memory store keeps nothing')
    if path is not None and storage != "disk":
        raise ValueError(f'a path is only for storage="disk"; storage={storage!r} takes a url')
    if storage in ("redis", "postgres") and url is None:
        raise ValueError(f"storage={storage!r} needs a url (the server to connect to)")
    if url is not None and storage not in ("redis", "postgres"):
        raise ValueError(f'a url is only for storage="redis" or "postgres", not {storage!r}')
    if prefix is not None and storage != "redis":
        raise ValueError(f'a prefix is only for storage="redis", not {storage!r}')
    if table is not None and storage != "postgres":
        raise ValueError(f'a table is only for storage="postgres", not {storage!r}')
    if high_water_bytes is None and low_water_bytes is not None:
        raise ValueError("low_water_bytes needs high_water_bytes")
    if high_water_bytes is not None and high_water_bytes <= 0:
        raise ValueError(f"high_water_bytes must be positive, not {high_water_bytes}")
    if storage == "memory" and shared:
        raise ValueError(
            "shared=True is for a disk directory others write; a memory store "
            "lives in this process only"
        )
    if storage in ("redis", "postgres") and shared is False:
        raise ValueError(
            f"a {storage} store is always shared (anyone with access to the server "
            "can write it); to keep plain pickle there, pass allow_unsafe_pickle=True"
        )
    is_shared = storage in ("redis", "postgres") or bool(shared)
    where = {
        "redis": "A Redis store",
        "postgres": "A PostgreSQL store",
        "disk": "A shared disk store (shared=True)",
    }.get(storage, "This store")
    encoder, decoder = resolve_codec(
        codec,
        encoder,
        decoder,
        shared=is_shared,
        allow_unsafe_pickle=allow_unsafe_pickle,
        where=where,
    )
    backend: KVStore
    if storage == "memory":
        backend = Memory()
    elif storage == "disk":
        assert path is not None
        backend = Disk(path)
    elif storage == "redis":
        assert url is not None
        backend = Redis(url, prefix=prefix or "")
    else:
        assert url is not None
        backend = Postgres(url, table="kvit_kv" if table is None else table)
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
    # The codec was settled above (before anything was opened).
    return Staged(versioned, encoder=encoder, decoder=decoder, allow_unsafe_pickle=True)
