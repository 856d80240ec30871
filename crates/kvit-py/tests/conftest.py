"""Fixtures shared by every test: stores parametrized over the backends.

The network backends run when their server is named in the environment
(``make test`` starts loopback servers and sets both): ``KVIT_REDIS_URL``
and ``KVIT_POSTGRES_URL``. Otherwise their cases are skipped, saying why.
Every network store a test opens has a key prefix (Redis) or table
(PostgreSQL) of its own, emptied when the test ends; the tables are dropped
when the session ends.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import threading
import uuid
from typing import Any, Callable, Iterator, Optional

import pytest

import kvit
from kvit import KVStore

REDIS_URL = os.environ.get("KVIT_REDIS_URL") or None
POSTGRES_URL = os.environ.get("KVIT_POSTGRES_URL") or None
NO_REDIS = "KVIT_REDIS_URL is not set (make test starts a loopback Redis and sets it)"
NO_POSTGRES = "KVIT_POSTGRES_URL is not set (make test starts a loopback PostgreSQL and sets it)"

# Names no other run, process or test shares: a random run token, then a
# sequence number. No prefix is the start of another (each ends in ':').
_RUN = f"{os.getpid()}_{uuid.uuid4().hex[:8]}"
_SEQUENCE = itertools.count()
_TABLES: list[str] = []


def unique_prefix() -> str:
    """A Redis key prefix no other store in any run uses."""
    return f"kvit-py:{_RUN}:{next(_SEQUENCE)}:"


def unique_table() -> str:
    """A PostgreSQL table name no other store in any run uses; dropped at
    the end of the session."""
    name = f"kvit_py_{_RUN}_{next(_SEQUENCE)}"
    _TABLES.append(name)
    return name


def drop_tables() -> None:
    """Drops every table :func:`unique_table` named, with psql if it is
    installed (the tables are empty already: each test clears its own)."""
    psql = shutil.which("psql")
    if not _TABLES or POSTGRES_URL is None or psql is None:
        return
    names = ", ".join(f'"{name}"' for name in _TABLES)
    subprocess.run(
        [psql, "-q", "-v", "ON_ERROR_STOP=1", "-d", POSTGRES_URL, "-c", f"DROP TABLE IF EXISTS {names}"],
        check=False,
        capture_output=True,
        timeout=60,
    )
    _TABLES.clear()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    drop_tables()


class NetworkStores:
    """Opens network stores for one test, each under its own prefix or
    table, and empties them all when the test ends."""

    def __init__(self) -> None:
        self.opened: list[KVStore] = []

    def redis(self, prefix: Optional[str] = None) -> kvit.Redis:
        if REDIS_URL is None:
            pytest.skip(NO_REDIS)
        store = kvit.Redis(REDIS_URL, prefix=unique_prefix() if prefix is None else prefix)
        self.opened.append(store)
        return store

    def postgres(self, table: Optional[str] = None) -> kvit.Postgres:
        if POSTGRES_URL is None:
            pytest.skip(NO_POSTGRES)
        store = kvit.Postgres(POSTGRES_URL, table=unique_table() if table is None else table)
        self.opened.append(store)
        return store

    def close(self) -> None:
        for store in self.opened:
            store.clear()
        self.opened.clear()


@pytest.fixture
def network_stores() -> Iterator[NetworkStores]:
    """Opens Redis and PostgreSQL stores that are emptied after the test."""
    stores = NetworkStores()
    yield stores
    stores.close()


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


BACKENDS = [
    "memory",
    "disk",
    "python",
    pytest.param("redis", marks=pytest.mark.skipif(REDIS_URL is None, reason=NO_REDIS)),
    pytest.param("postgres", marks=pytest.mark.skipif(POSTGRES_URL is None, reason=NO_POSTGRES)),
]


@pytest.fixture(params=BACKENDS)
def make_store(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    network_stores: NetworkStores,
) -> Callable[[], KVStore]:
    """A factory of fresh, empty stores of one backend kind."""
    kind = request.param

    def make() -> KVStore:
        if kind == "memory":
            return kvit.Memory()
        if kind == "disk":
            return kvit.Disk(tmp_path_factory.mktemp("disk"))
        if kind == "redis":
            return network_stores.redis()
        if kind == "postgres":
            return network_stores.postgres()
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


def open_staged(store: KVStore, **options: Any) -> kvit.Staged:
    """A Staged store over a new cursor on ``store``: pickle, even on Redis
    and PostgreSQL, where it must be asked for (``allow_unsafe_pickle``).
    The test servers are loopback ones that only these tests write."""
    return kvit.Staged(kvit.Versioned(store), allow_unsafe_pickle=True, **options)


@pytest.fixture
def staged(store: KVStore) -> kvit.Staged:
    """A Staged store (pickle) over branch main of a fresh store of each backend kind."""
    return open_staged(store)


@pytest.fixture
def make_staged(store: KVStore) -> Callable[[], kvit.Staged]:
    """A factory of Staged handles, each with its own cursor, on one shared store."""
    return lambda: open_staged(store)
