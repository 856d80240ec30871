"""The network backends, Redis and PostgreSQL, from Python.

They need servers: ``KVIT_REDIS_URL`` and ``KVIT_POSTGRES_URL`` (``make
test`` starts loopback ones and sets both; otherwise these tests are skipped,
saying why). Every store here has a key prefix or a table of its own,
emptied when its test ends (conftest's ``network_stores``).

Argument checks that need no server (a missing or misplaced ``url``, a URL
that does not parse) run always.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from typing import Callable

import pytest

import kvit
from kvit import BackendError, ConcurrencyError, KVStore, Staged, Versioned
from kvit.kv.postgres import Postgres
from kvit.kv.redis import Redis

from conftest import (
    NO_POSTGRES,
    NO_REDIS,
    POSTGRES_URL,
    REDIS_URL,
    NetworkStores,
    unique_prefix,
    unique_table,
)

KINDS = ["redis", "postgres"]


def redis_url() -> str:
    if REDIS_URL is None:
        pytest.skip(NO_REDIS)
    return REDIS_URL


def postgres_url() -> str:
    if POSTGRES_URL is None:
        pytest.skip(NO_POSTGRES)
    return POSTGRES_URL


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def open_store(kind: str, network_stores: NetworkStores) -> Callable[[], KVStore]:
    """Opens a new handle on one fresh network store (each call: the same
    prefix or table, as another process would)."""
    if kind == "redis":
        prefix = unique_prefix()
        return lambda: network_stores.redis(prefix)
    table = unique_table()
    return lambda: network_stores.postgres(table)


@pytest.fixture
def net_store(open_store: Callable[[], KVStore]) -> KVStore:
    return open_store()


# The codec these stores use: a shared store has no default (plain pickle
# must be asked for), and signed pickle is the recommended one.
SIGNING_KEY = b"kvit tests: not a secret, 32 b.."


def staged_factory(kind: str, network_stores: NetworkStores) -> Callable[[], Staged]:
    """``kvit.store(storage=kind, url=..., codec=SignedPickle(...))`` on one
    fresh prefix or table, emptied after the test."""
    codec = kvit.SignedPickle(SIGNING_KEY)
    if kind == "redis":
        url, prefix = redis_url(), unique_prefix()
        network_stores.redis(prefix)  # emptied at teardown
        return lambda: kvit.store(storage="redis", url=url, prefix=prefix, codec=codec)
    url, table = postgres_url(), unique_table()
    network_stores.postgres(table)
    return lambda: kvit.store(storage="postgres", url=url, table=table, codec=codec)


# ---- KVStore conformance ----------------------------------------------------


def test_native_kvstore_classes() -> None:
    assert issubclass(Redis, KVStore) and issubclass(Postgres, KVStore)
    assert kvit.Redis is Redis and kvit.Postgres is Postgres
    assert kvit.kv.Redis is Redis and kvit.kv.Postgres is Postgres


def test_conformance(net_store: KVStore) -> None:
    store = net_store
    assert isinstance(store, KVStore)
    assert list(store.keys()) == [] and list(store.items()) == []
    assert store.get("a") is None
    store.set("a", b"1")
    store.set("a", b"2")
    store.set("empty", b"")
    assert store.get("a") == b"2" and store.get("empty") == b""
    binary = bytes(range(256)) * 40
    store.set_many(**{"b": binary, "dir/c": b"3", "ключ 😀": b"4"})
    assert store.get("b") == binary
    assert dict(store.get_many("a", "b", "missing", "ключ 😀")) == {
        "a": b"2",
        "b": binary,
        "ключ 😀": b"4",
    }
    assert dict(store.get_many()) == {}
    assert sorted(store.keys()) == sorted(["a", "b", "dir/c", "empty", "ключ 😀"])
    assert sorted(store.items()) == sorted(
        [("a", b"2"), ("b", binary), ("dir/c", b"3"), ("empty", b""), ("ключ 😀", b"4")]
    )
    assert "a" in store and "empty" in store
    assert "missing" not in store and 42 not in store
    store.remove("a")
    store.remove("missing")  # a no-op
    store.remove_many("b", "missing")
    store.remove_many()
    assert sorted(store.keys()) == ["dir/c", "empty", "ключ 😀"]
    store.clear()
    assert list(store.keys()) == [] and store.get("dir/c") is None


def test_cas(net_store: KVStore) -> None:
    store = net_store
    assert store.cas("k", b"1", None)
    assert not store.cas("k", b"2", None), "expected=None requires the key to be absent"
    assert not store.cas("k", b"2", b"wrong")
    assert store.cas("k", b"2", b"1") and store.get("k") == b"2"
    # Absent and empty are different values.
    assert store.cas("e", b"", None)
    assert not store.cas("e", b"x", None)
    assert store.cas("e", b"x", b"") and store.get("e") == b"x"
    assert not store.cas("absent", b"x", b"")


def test_cas_is_atomic_across_handles(open_store: Callable[[], KVStore]) -> None:
    handles = [open_store() for _ in range(3)]
    handles[0].set("n", b"0")

    def worker(store: KVStore) -> None:
        for _ in range(50):
            while True:
                current = store.get("n")
                assert current is not None
                if store.cas("n", str(int(current) + 1).encode(), current):
                    break

    threads = [threading.Thread(target=worker, args=(handle,)) for handle in handles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert handles[0].get("n") == b"150"


def test_argument_types(net_store: KVStore) -> None:
    with pytest.raises(TypeError, match="'k'|\"k\""):
        net_store.set("k", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        net_store.set_many(k=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        net_store.get(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        net_store.cas("k", b"v", "not bytes")  # type: ignore[arg-type]


def test_handles_share_one_store(open_store: Callable[[], KVStore]) -> None:
    first, second = open_store(), open_store()
    first.set("k", b"v")
    assert second.get("k") == b"v"
    second.clear()
    assert "k" not in first


# ---- Redis and PostgreSQL specifics ----------------------------------------


def test_redis_prefixes_are_separate_stores(network_stores: NetworkStores) -> None:
    outer = unique_prefix()
    a = network_stores.redis(outer + "a:")
    b = network_stores.redis(outer + "b:")
    a.set("k", b"a")
    b.set("k", b"b")
    assert a.get("k") == b"a" and b.get("k") == b"b"
    # The keys live under the prefix: a store on the outer prefix sees both.
    whole = network_stores.redis(outer)
    assert sorted(whole.keys()) == ["a:k", "b:k"]
    a.clear()
    assert b.get("k") == b"b" and sorted(whole.keys()) == ["b:k"]
    assert a.prefix == outer + "a:"
    a.ping()


def test_redis_address_and_repr(network_stores: NetworkStores) -> None:
    store = network_stores.redis()
    assert store.address == redis_url()
    assert repr(store) == f"<kvit.kv.redis.Redis address={redis_url()!r} prefix={store.prefix!r}>"
    # With a password the address and messages show ***: see
    # test_unreachable_servers_raise_backend_error.


def test_postgres_tables_are_separate_stores(network_stores: NetworkStores) -> None:
    a = network_stores.postgres()
    b = network_stores.postgres()
    a.set("k", b"a")
    b.set("k", b"b")
    a.clear()
    assert a.get("k") is None and b.get("k") == b"b"
    assert a.table != b.table and a.table.startswith("kvit_py_")
    assert a.pool_size == 8
    assert repr(a) == f"<kvit.kv.postgres.Postgres table={a.table!r} pool_size=8>"


def test_postgres_options(network_stores: NetworkStores) -> None:
    url = postgres_url()
    table = unique_table()
    store = Postgres(url, table=table, pool_size=2, connect_timeout=5)
    network_stores.opened.append(store)
    assert store.pool_size == 2 and store.table == table
    with pytest.raises(ValueError, match="table name"):
        Postgres(url, table="no spaces")
    with pytest.raises(ValueError, match="pool size"):
        Postgres(url, table=table, pool_size=0)
    with pytest.raises(ValueError, match="connect_timeout"):
        Postgres(url, table=table, connect_timeout=-1)
    with pytest.raises(ValueError, match="NUL"):
        store.set("a\0b", b"v")


def test_unreachable_servers_raise_backend_error() -> None:
    # Port 1 on loopback: refused at once, no timeout to wait for.
    with pytest.raises(BackendError) as redis_error:
        Redis("redis://:s3cret@127.0.0.1:1", connect_timeout=2)
    assert "s3cret" not in str(redis_error.value)
    with pytest.raises(BackendError) as postgres_error:
        Postgres("postgres://kvit:s3cret@127.0.0.1:1/db", connect_timeout=2)
    assert "s3cret" not in str(postgres_error.value)
    assert isinstance(redis_error.value, OSError)


def test_malformed_urls_raise_value_error() -> None:
    for url in ("not a url", "http://127.0.0.1:6379", "redis://127.0.0.1:6379/notadb"):
        with pytest.raises(ValueError, match="Redis URL"):
            Redis(url)
    with pytest.raises(ValueError, match="PostgreSQL connection URL"):
        Postgres("postgres://127.0.0.1:notaport/db")
    with pytest.raises(ValueError, match="connect_timeout"):
        Redis("redis://127.0.0.1:1", connect_timeout=float("nan"))


# ---- Versioned, Staged and kvit.store() ------------------------------------


def test_versioned_uses_the_store_natively(open_store: Callable[[], KVStore]) -> None:
    store = open_store()
    cursor = Versioned(store)
    assert cursor.store is store
    first = cursor.commit({"a": b"1", "b": b"2"})
    assert first.strategy == "fast_forward"
    cursor.commit({"a": b"3"})
    assert len(cursor.history()) == 3
    # Another handle, as another process would open it, sees the commits.
    again = Versioned(open_store())
    assert again.get("a") == b"3" and again.get("b") == b"2"
    assert again.current_commit == cursor.current_commit


def test_store_factory(kind: str, network_stores: NetworkStores) -> None:
    open_staged = staged_factory(kind, network_stores)
    s = open_staged()
    assert isinstance(s.versioned.store, Redis if kind == "redis" else Postgres)
    s["user"] = {"name": "alice"}
    s["visits"] = 1
    assert s.commit().strategy == "fast_forward"
    dev = s.create_branch("dev")
    dev["visits"] = 2
    dev.commit()
    assert s.list_branches() == ["dev", "main"]

    other = open_staged()
    assert other["user"] == {"name": "alice"} and other["visits"] == 1
    assert other.list_branches() == ["dev", "main"]
    history = other.versioned.history()
    old = other.checkout(history[-1])
    assert old is not None and "user" not in old
    del other["user"]
    other.commit()
    s.refresh()
    assert "user" not in s and s["visits"] == 1


def test_store_factory_with_gc(kind: str, network_stores: NetworkStores) -> None:
    if kind == "redis":
        url, prefix = redis_url(), unique_prefix()
        network_stores.redis(prefix)
        s = kvit.store(storage="redis", url=url, prefix=prefix, codec="raw", high_water_bytes=2000)
    else:
        url, table = postgres_url(), unique_table()
        network_stores.postgres(table)
        s = kvit.store(storage="postgres", url=url, table=table, codec="raw", high_water_bytes=2000)
    assert isinstance(s.versioned, kvit.GCVersioned)
    for i in range(10):
        s[f"k{i}"] = b"x" * 400
        s.commit()
    assert len(list(s.keys())) < 10


def test_two_threads_two_staged_handles_counter_is_exact(
    kind: str, network_stores: NetworkStores
) -> None:
    open_staged = staged_factory(kind, network_stores)
    handles = [open_staged(), open_staged()]
    for handle in handles:
        handle.set_merge_fn("n", kvit.counter())
    increments = 30
    barrier = threading.Barrier(len(handles))
    strategies: list[str] = []
    errors: list[BaseException] = []

    def work(handle: Staged) -> None:
        try:
            barrier.wait()
            for _ in range(increments):
                handle["n"] = handle.get("n", 0) + 1
                while True:
                    try:
                        strategies.append(handle.commit().strategy)
                        break
                    except ConcurrencyError:
                        continue
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(handle,)) for handle in handles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a thread hung"
    assert not errors, errors
    assert open_staged()["n"] == increments * len(handles)
    assert set(strategies) <= {"fast_forward", "three_way"}


# ---- the GIL -----------------------------------------------------------------


def assert_other_threads_run_while(call: Callable[[], object], *, hold: float) -> None:
    """Runs ``call`` (which the server holds up for about ``hold`` seconds)
    on a thread, and checks that this thread keeps running meanwhile."""
    outcome: list[object] = []
    thread = threading.Thread(target=lambda: outcome.append(call()))
    thread.start()
    deadline = time.monotonic() + hold / 3
    spins = 0
    while time.monotonic() < deadline:
        spins += 1
    assert thread.is_alive(), "the call should be waiting on the server"
    assert spins > 1000, "this thread could not run while the call waited"
    thread.join(timeout=30)
    assert len(outcome) == 1


def test_waiting_on_redis_releases_the_gil(network_stores: NetworkStores) -> None:
    redis_cli = shutil.which("redis-cli")
    if redis_cli is None:
        pytest.skip("redis-cli is not installed")
    store = network_stores.redis()
    store.set("k", b"v")
    # Every client waits while the server is paused.
    subprocess.run([redis_cli, "-u", redis_url(), "CLIENT", "PAUSE", "900"], check=True, capture_output=True)
    assert_other_threads_run_while(lambda: store.get("k"), hold=0.9)


def test_waiting_on_postgres_releases_the_gil(network_stores: NetworkStores) -> None:
    psql = shutil.which("psql")
    if psql is None:
        pytest.skip("psql is not installed")
    url = postgres_url()
    store = network_stores.postgres()
    table = store.table
    # Another session holds the table locked for a while.
    locker = subprocess.Popen(
        [psql, "-q", "-d", url, "-c",
         f'BEGIN; LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(1.2); COMMIT;'],
        stdout=subprocess.DEVNULL,
    )
    try:
        query = (
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = c.oid "
            f"WHERE c.relname = '{table}' AND l.mode = 'AccessExclusiveLock' AND l.granted"
        )
        deadline = time.monotonic() + 10
        while True:
            held = subprocess.run([psql, "-Atq", "-d", url, "-c", query], capture_output=True, text=True)
            if held.stdout.strip() == "1":
                break
            assert time.monotonic() < deadline, "the lock was never taken"
            time.sleep(0.02)
        assert_other_threads_run_while(lambda: store.set("k", b"v"), hold=0.9)
    finally:
        locker.wait(timeout=30)
    assert store.get("k") == b"v"
