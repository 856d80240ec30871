"""Fixtures shared by every test: stores parametrized over the backends."""

from __future__ import annotations

import threading
from typing import Callable, Iterator, Optional

import pytest

import kvit
from kvit import KVStore


class DictStore(KVStore):
    """The smallest Python-defined backend: a dict, with a lock for cas.

    Implements only the required methods, so every default method of
    KVStore is exercised through it.
    """

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def get(self, key: str) -> Optional[bytes]:
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        if not isinstance(value, bytes):
            raise TypeError(f"value for {key!r} must be bytes")
        self.data[key] = value

    def remove(self, key: str) -> None:
        self.data.pop(key, None)

    def keys(self) -> list[str]:
        return list(self.data)

    def cas(self, key: str, value: bytes, expected: Optional[bytes]) -> bool:
        with self.lock:
            if self.data.get(key) != expected:
                return False
            self.data[key] = value
            return True


BACKENDS = ["memory", "disk", "python"]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Callable[[], KVStore]:
    """A factory of fresh, empty stores of one backend kind."""
    kind = request.param

    def make() -> KVStore:
        if kind == "memory":
            return kvit.Memory()
        if kind == "disk":
            return kvit.Disk(tmp_path_factory.mktemp("disk"))
        return DictStore()

    return make


@pytest.fixture
def store(make_store: Callable[[], KVStore]) -> KVStore:
    """A fresh, empty store of each backend kind."""
    return make_store()


@pytest.fixture
def versioned(store: KVStore) -> kvit.Versioned:
    """A cursor on branch main of a fresh store of each backend kind."""
    return kvit.Versioned(store)


@pytest.fixture
def two_writers(store: KVStore) -> Iterator[tuple[kvit.Versioned, kvit.Versioned]]:
    """Two cursors on branch main of one shared store."""
    yield kvit.Versioned(store), kvit.Versioned(store)


def bytes_counter(old: Optional[bytes], ours: Optional[bytes], theirs: Optional[bytes]) -> bytes:
    """A counter on ASCII decimal bytes: both sides' increments add up."""
    value = lambda side: int(side) if side is not None else 0  # noqa: E731
    return str(value(ours) + value(theirs) - value(old)).encode()


@pytest.fixture
def staged(store: KVStore) -> kvit.Staged:
    """A Staged store (pickle) over branch main of a fresh store of each backend kind."""
    return kvit.Staged(kvit.Versioned(store))


@pytest.fixture
def make_staged(store: KVStore) -> Callable[[], kvit.Staged]:
    """A factory of Staged handles, each with its own cursor, on one shared store."""
    return lambda: kvit.Staged(kvit.Versioned(store))
