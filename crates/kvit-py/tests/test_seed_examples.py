"""Every code example of the seed (storage-backends-store-protocol-namespaces.md),
copied as it is written there, in order; each is followed by checks of what
its comments promise. Only ``/path/to/db`` is replaced by a temporary
directory, and the RedisStore sketch is completed against a dict."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Optional

import pytest

import kvit


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    """What the seed writes as "/path/to/db"."""
    return str(tmp_path / "path" / "to" / "db")


def test_store_protocol_import() -> None:
    from kvit import Store

    assert issubclass(kvit.Staged, Store)


def test_factory(db_path: str) -> None:
    import kvit

    # Default: Staged backed by in-memory Versioned
    s = kvit.store()

    # With disk persistence
    s = kvit.store(storage="disk", path=db_path)

    # With garbage collection
    s = kvit.store(high_water_bytes=10_000)

    # Custom branch
    s = kvit.store(branch="dev")

    # Custom encoder/decoder (default is pickle)
    import json
    s = kvit.store(
        encoder=lambda v: json.dumps(v).encode(),
        decoder=lambda b: json.loads(b),
    )

    s["k"] = {"json": True}
    s.commit()
    assert s.versioned.get("k") == b'{"json": true}'
    assert Path(db_path).is_dir()


def test_staged() -> None:
    from kvit import Staged, Versioned

    s = Staged(Versioned())

    s["name"] = "alice"
    s["age"] = 30
    s.commit()

    s["name"]  # "alice"

    assert s["name"] == "alice"
    assert s["age"] == 30


def test_staged_construction() -> None:
    import pickle

    from kvit import Staged, Versioned

    versioned = Versioned()
    # Staged(versioned: Versioned, *, encoder=pickle.dumps, decoder=pickle.loads)
    s = Staged(versioned, encoder=pickle.dumps, decoder=pickle.loads)
    assert s.versioned is versioned


def test_staged_merge_functions() -> None:
    s = kvit.store()
    other = kvit.Staged(kvit.Versioned(s.versioned.store))
    fn = kvit.counter()

    s.set_merge_fn("counter", fn)        # user-level MergeFn
    s.set_default_merge(fn)              # fallback for unregistered keys

    other.update(counter=1, hits=10)
    other.commit()
    s.update(counter=1, hits=10)
    s.commit()
    assert s["counter"] == 2 and s["hits"] == 20


def test_live() -> None:
    from kvit import Live

    s = Live()
    s["k"] = "v"
    s["k"]  # "v" (immediately available)

    assert s["k"] == "v"


def test_live_construction() -> None:
    from kvit import Live

    store = Live()
    assert len(store) == 0


def test_namespaced() -> None:
    from kvit import Namespaced
    import kvit

    s = kvit.store()
    agent = Namespaced(s, "agent")
    config = Namespaced(s, "config")

    agent["state"] = "running"
    config["timeout"] = 30

    agent["state"]       # "running"
    config.get("state")  # None (isolated)
    s.get("agent/state") # "running" (prefixed in base store)

    assert agent["state"] == "running"
    assert config.get("state") is None
    assert s.get("agent/state") == "running"


def test_namespaced_nesting() -> None:
    from kvit import Namespaced

    s = kvit.store()
    s["agent/worker/task"] = "index"

    ns1 = Namespaced(s, "agent")
    ns2 = Namespaced(ns1, "worker")
    ns2.namespace  # "agent/worker"
    ns2.get("task")  # reads "agent/worker/task" from base store

    assert ns2.namespace == "agent/worker"
    assert ns2.get("task") == "index"


def test_namespaced_writing() -> None:
    from kvit import Namespaced

    s = kvit.store()
    ns = Namespaced(s, "myns")

    ns["k"] = "v"                  # writes "myns/k" in base store
    assert s["myns/k"] == "v"
    ns.set("k", "v")               # same as above
    assert s["myns/k"] == "v"
    ns.remove("k")                 # removes "myns/k"
    assert "myns/k" not in s
    result = ns.commit()           # delegates to underlying store

    assert result and s.current_commit == result.commit


def test_namespaced_merge_functions() -> None:
    from kvit import Namespaced

    s = kvit.store()
    other = kvit.Staged(kvit.Versioned(s.versioned.store))
    ns = Namespaced(s, "myns")
    fn = kvit.counter()

    ns.set_merge_fn("counter", fn)        # registers for "myns/counter"
    ns.set_default_merge(fn)              # store-wide default (not prefixed)

    other.update({"myns/counter": 1, "elsewhere": 1})
    other.commit()
    s.update({"myns/counter": 1, "elsewhere": 1})
    s.commit()
    assert ns["counter"] == 2 and s["elsewhere"] == 2


def test_namespaced_branching() -> None:
    from kvit import Namespaced

    s = kvit.store()
    ns = Namespaced(s, "myns")
    ns["k"] = 1
    some_hash = ns.commit().commit
    assert some_hash is not None

    ns.create_branch("dev")   # delegates to underlying store
    ns.checkout(some_hash)    # delegates to underlying store
    ns.list_branches()        # delegates to underlying store

    assert ns.list_branches() == ["dev", "main"]
    checked_out = ns.checkout(some_hash)
    assert checked_out is not None and checked_out["k"] == 1


def test_kvstore_import() -> None:
    from kvit import KVStore

    assert isinstance(kvit.Memory(), KVStore)


def test_memory() -> None:
    from kvit.kv.memory import Memory

    store = Memory()

    store.set("k", b"v")
    assert store.memory == {"k": b"v"}  # the underlying dict, for debugging


def test_disk_extra_is_declared() -> None:
    # pip install kvit[disk]
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    assert "disk = []" in pyproject.read_text()


def test_disk(db_path: str) -> None:
    from kvit.kv.disk import Disk

    store = Disk(db_path)

    store.set("k", b"v")
    assert Disk(db_path).get("k") == b"v"


class Client:
    """What the sketch calls ``self.client``: a dict with Redis's verbs."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.lock = threading.Lock()

    def get(self, key: str) -> Optional[bytes]:
        return self.data.get(key)

    def set(self, key: str, value: bytes) -> None:
        self.data[key] = value


def test_custom_backend() -> None:
    from kvit import KVStore

    class RedisStore(KVStore):
        def get(self, key):  # type: ignore[no-untyped-def]
            return self.client.get(key)
        def set(self, key, value):  # type: ignore[no-untyped-def]
            self.client.set(key, value)
        def cas(self, key, value, expected):  # type: ignore[no-untyped-def]
            # Use Redis WATCH/MULTI for atomicity
            with self.client.lock:
                if self.client.get(key) != expected:
                    return False
                self.client.set(key, value)
                return True
        # ... implement remaining methods
        def __init__(self) -> None:
            self.client = Client()
        def remove(self, key: str) -> None:
            self.client.data.pop(key, None)
        def keys(self) -> list[str]:
            return list(self.client.data)

    backend = RedisStore()
    s = kvit.Staged(kvit.Versioned(backend))
    s["k"] = "via redis"
    s.commit()
    assert kvit.Staged(kvit.Versioned(backend))["k"] == "via redis"
    assert any(key.startswith("refs/") or "head" in key for key in backend.keys())


def test_concurrency_error() -> None:
    s = kvit.store()
    store = s.versioned.store
    racer = kvit.Staged(kvit.Versioned(store))

    def move_head(old: Any, ours: Any, theirs: Any) -> Any:
        # Another writer updates HEAD while this commit is merging.
        mover = kvit.Staged(kvit.Versioned(store))
        mover["x"] = mover.get("x", 0) + 1
        mover.commit()
        return theirs

    racer["k"] = 1
    racer.commit()
    s.set_merge_fn("k", move_head)
    s["k"] = 2
    retried = False

    from kvit import ConcurrencyError

    try:
        s.commit()
    except ConcurrencyError:
        s.refresh()
        # re-apply changes and retry
        retried = True

    assert retried and not s.has_changes
    s.set_merge_fn("k", None)
    s["k"] = 2
    assert s.commit()
    assert s["k"] == 2


def test_merge_conflict(capsys: pytest.CaptureFixture[str]) -> None:
    s = kvit.store()
    other = kvit.Staged(kvit.Versioned(s.versioned.store))
    other.update(key_a=1, key_b=1)
    other.commit()

    def failing(old: Any, ours: Any, theirs: Any) -> Any:
        raise ValueError("...")

    s.set_merge_fn("key_a", failing)
    s.update(key_a=2, key_b=2)

    from kvit import MergeConflict

    try:
        s.commit()
    except MergeConflict as e:
        print(e.conflicting_keys)  # {"key_a", "key_b"}
        print(e.merge_errors)      # {"key_a": ValueError("...")} if a merge fn raised

        assert e.conflicting_keys == {"key_a", "key_b"}
        assert isinstance(e.conflicting_keys, set)
        assert set(e.merge_errors) == {"key_a"}
        assert isinstance(e.merge_errors["key_a"], ValueError)
        assert e.merge_errors["key_a"].args == ("...",)
    else:
        pytest.fail("no MergeConflict")
    printed = capsys.readouterr().out
    assert "key_a" in printed and "ValueError" in printed
