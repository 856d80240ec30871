"""The ``KVStore`` interface every storage backend implements."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from typing import Optional

__all__ = ["KVStore"]


class KVStore(abc.ABC):
    """A key-value store of bytes by string key, with an atomic ``cas``.

    Subclasses implement :meth:`get`, :meth:`set`, :meth:`remove`,
    :meth:`keys` and :meth:`cas`; the batch methods, :meth:`items`,
    ``in`` and :meth:`clear` have default implementations in terms of those,
    which a backend overrides to save round trips or to make a batch one
    transaction.

    :meth:`cas` must be atomic with respect to every other writer of the
    store: it is how kvit moves branch heads. Values are ``bytes``;
    serialization belongs to the layers above.

    The built-in backends, :class:`kvit.kv.memory.Memory`,
    :class:`kvit.kv.disk.Disk`, :class:`kvit.kv.redis.Redis` and
    :class:`kvit.kv.postgres.Postgres`, are native classes registered as
    virtual subclasses, so ``isinstance(Memory(), KVStore)`` holds; the
    cursors use them directly, without calling back into Python.
    """

    __slots__ = ()

    @abc.abstractmethod
    def get(self, key: str) -> Optional[bytes]:
        """The value stored under ``key``, or None."""

    @abc.abstractmethod
    def set(self, key: str, value: bytes) -> None:
        """Stores ``value`` under ``key``."""

    @abc.abstractmethod
    def remove(self, key: str) -> None:
        """Removes ``key``; removing a missing key is not an error."""

    @abc.abstractmethod
    def keys(self) -> Iterable[str]:
        """Every key."""

    @abc.abstractmethod
    def cas(self, key: str, value: bytes, expected: Optional[bytes]) -> bool:
        """Atomically sets ``key`` to ``value`` if its current value equals
        ``expected`` (None: the key must not exist). Returns whether it did."""

    def get_many(self, *keys: str) -> Mapping[str, bytes]:
        """The values of the existing keys among ``keys``."""
        found = {}
        for key in keys:
            value = self.get(key)
            if value is not None:
                found[key] = value
        return found

    def set_many(self, **kwargs: bytes) -> None:
        """Stores every ``key=value`` pair."""
        for key, value in kwargs.items():
            self.set(key, value)

    def items(self) -> Iterable[tuple[str, bytes]]:
        """Every ``(key, value)`` pair."""
        pairs = []
        for key in list(self.keys()):
            value = self.get(key)
            if value is not None:
                pairs.append((key, value))
        return pairs

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def remove_many(self, *keys: str) -> None:
        """Removes every key in ``keys``; missing keys are ignored."""
        for key in keys:
            self.remove(key)

    def clear(self) -> None:
        """Removes every entry."""
        self.remove_many(*list(self.keys()))
