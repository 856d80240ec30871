"""``Staged``: a dict of Python values over a ``Versioned`` cursor, whose
writes are buffered in memory and flushed by :meth:`Staged.commit` as one
atomic commit.

Everything is done by the native core (:class:`kvit._native.StagedCore`);
this subclass adds the :class:`kvit.Store` protocol, so that ``items()``,
``values()``, ``update()``, ``pop()``, ``setdefault()`` and ``==`` work as on
a dict, and the choice of codec (``codec=``, see :mod:`kvit.codecs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from kvit._native import Postgres, Redis, StagedCore, Versioned, _StagedSeed
from kvit.codecs import CodecChoice, resolve_codec
from kvit.store import Store

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["Staged"]


def _describe(versioned: Versioned, shared: bool) -> str:
    """How refusal messages name the store."""
    backend = versioned.store
    if isinstance(backend, Redis):
        return "A Redis store"
    if isinstance(backend, Postgres):
        return "A PostgreSQL store"
    if shared:
        return f"A shared {type(backend).__name__} store (shared=True)"
    return f"A {type(backend).__name__} store"


def _network(versioned: Versioned) -> Optional[str]:
    backend = versioned.store
    if isinstance(backend, Redis):
        return "redis"
    if isinstance(backend, Postgres):
        return "postgres"
    return None


class Staged(StagedCore, Store):
    """A staging buffer of Python values over a ``Versioned`` cursor.

    ``Staged(versioned, *, codec=None, encoder=None, decoder=None,
    shared=None, allow_unsafe_pickle=False)``: ``set()`` /
    ``store[key] = value`` stage a value, ``remove()`` / ``del`` stage a
    removal, reads see staged changes first and then the current commit,
    and ``commit()`` encodes the staged values and writes them as one commit
    (a three-way merge if another writer moved the branch meanwhile; merge
    functions registered here work on decoded values). Staged changes are
    cleared when a commit lands and kept when it fails.

    Values are encoded with ``codec`` — ``"pickle"``, ``"json"``, ``"raw"``
    or a :class:`kvit.Codec` such as :class:`kvit.SignedPickle` — or with
    your own ``encoder``/``decoder`` functions (not both). Without either,
    pickle. On a store others can write (a Redis or PostgreSQL backend, or
    ``shared=True``) plain pickle is refused with ``ValueError`` unless
    ``allow_unsafe_pickle=True``: decoding it runs code the writer chose
    (see ``docs/security.md``). ``shared`` defaults to True for Redis and
    PostgreSQL and False otherwise.

    The store takes the cursor over: ``staged.versioned`` is the
    ``Versioned`` (or ``GCVersioned``) it was given, and a call through it
    that moves the cursor (a commit, ``refresh()``, ``reset_to()``, a GC
    rebase) drops the staged changes.

    Values read are returned as they were decoded (and staged values as
    they were given), not copies: mutate a value and ``set`` it again rather
    than changing it in place. Decoded values are cached; a value written
    and not read is let go when its commit lands, and decoded on its first
    read after that.
    """

    __slots__ = ()

    def __new__(
        cls,
        versioned: Union[Versioned, _StagedSeed],
        *,
        codec: Optional[CodecChoice] = None,
        encoder: Optional[Callable[[Any], bytes]] = None,
        decoder: Optional[Callable[[bytes], Any]] = None,
        shared: Optional[bool] = None,
        allow_unsafe_pickle: bool = False,
    ) -> Self:
        if isinstance(versioned, _StagedSeed):
            # A branch or checkout of an open store: it shares that store's codec.
            return super().__new__(cls, versioned)
        if isinstance(versioned, Versioned):
            network = _network(versioned)
            if network is not None and shared is False:
                raise ValueError(
                    f"a {network} store is always shared (anyone with access to the "
                    "server can write it); to keep plain pickle there, pass "
                    "allow_unsafe_pickle=True"
                )
            is_shared = network is not None or bool(shared)
            encoder, decoder = resolve_codec(
                codec,
                encoder,
                decoder,
                shared=is_shared,
                allow_unsafe_pickle=allow_unsafe_pickle,
                where=_describe(versioned, is_shared),
            )
        # Anything else: the native constructor says what it needs.
        return super().__new__(cls, versioned, encoder=encoder, decoder=decoder)

    def __init__(
        self,
        versioned: Union[Versioned, _StagedSeed],
        *,
        codec: Optional[CodecChoice] = None,
        encoder: Optional[Callable[[Any], bytes]] = None,
        decoder: Optional[Callable[[bytes], Any]] = None,
        shared: Optional[bool] = None,
        allow_unsafe_pickle: bool = False,
    ) -> None:
        # Everything was done by __new__ (the native core is built there).
        pass

    def clear(self) -> None:
        """Stages the removal of every key."""
        for key in list(self):
            self.remove(key)
