"""KVStore conformance: Memory, Disk and a Python-defined store behave alike."""

from __future__ import annotations

import threading
from typing import Optional

import pytest

import kvit
from kvit import KVStore
from kvit.kv.disk import Disk
from kvit.kv.memory import Memory

from conftest import DictStore


def test_is_a_kvstore(store: KVStore) -> None:
    assert isinstance(store, KVStore)


def test_native_backends_are_virtual_subclasses() -> None:
    assert issubclass(Memory, KVStore)
    assert issubclass(Disk, KVStore)
    assert kvit.Memory is Memory and kvit.Disk is Disk
    assert kvit.kv.KVStore is KVStore


def test_get_set(store: KVStore) -> None:
    assert store.get("a") is None
    store.set("a", b"1")
    assert store.get("a") == b"1"
    store.set("a", b"2")
    assert store.get("a") == b"2"
    store.set("empty", b"")
    assert store.get("empty") == b""


def test_get_many_returns_existing_keys_only(store: KVStore) -> None:
    store.set("a", b"1")
    store.set("b", b"2")
    assert dict(store.get_many("a", "b", "missing")) == {"a": b"1", "b": b"2"}
    assert dict(store.get_many()) == {}


def test_set_many(store: KVStore) -> None:
    store.set_many(a=b"1", b=b"2")
    store.set_many(**{"with/slash": b"3", "a": b"4"})
    assert store.get("a") == b"4"
    assert store.get("b") == b"2"
    assert store.get("with/slash") == b"3"


def test_keys_and_items(store: KVStore) -> None:
    assert list(store.keys()) == []
    store.set_many(b=b"2", a=b"1")
    assert sorted(store.keys()) == ["a", "b"]
    assert sorted(store.items()) == [("a", b"1"), ("b", b"2")]


def test_contains(store: KVStore) -> None:
    store.set("a", b"1")
    assert "a" in store
    assert "b" not in store
    assert 42 not in store  # type: ignore[operator]


def test_remove_and_remove_many(store: KVStore) -> None:
    store.set_many(a=b"1", b=b"2", c=b"3")
    store.remove("a")
    store.remove("missing")  # a no-op
    assert "a" not in store
    store.remove_many("b", "missing")
    assert sorted(store.keys()) == ["c"]


def test_cas(store: KVStore) -> None:
    assert store.cas("k", b"1", None)
    assert not store.cas("k", b"2", None), "expected=None requires the key to be absent"
    assert not store.cas("k", b"2", b"wrong")
    assert store.get("k") == b"1"
    assert store.cas("k", b"2", b"1")
    assert store.get("k") == b"2"


def test_clear(store: KVStore) -> None:
    store.set_many(a=b"1", b=b"2")
    store.clear()
    assert list(store.keys()) == []
    assert store.get("a") is None


def test_cas_is_atomic_under_threads(store: KVStore) -> None:
    store.set("n", b"0")
    wins = []

    def worker() -> None:
        for _ in range(100):
            while True:
                current = store.get("n")
                assert current is not None
                if store.cas("n", str(int(current) + 1).encode(), current):
                    wins.append(1)
                    break

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.get("n") == b"400"
    assert len(wins) == 400


@pytest.mark.parametrize("backend", [Memory, "disk"])
def test_native_values_must_be_bytes(backend: object, tmp_path: object) -> None:
    store = Memory() if backend is Memory else Disk(tmp_path)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="'k'|\"k\""):
        store.set("k", "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bytes"):
        store.set_many(k=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        store.set(1, b"v")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        store.get(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        store.cas("k", b"v", "not bytes")  # type: ignore[arg-type]


def test_memory_debug_view() -> None:
    store = Memory()
    store.set_many(a=b"1", b=b"2")
    view = store.memory
    assert view == {"a": b"1", "b": b"2"}
    view["c"] = b"3"  # a copy: changing it changes nothing
    assert "c" not in store
    assert len(store) == 2
    assert "Memory" in repr(store)


def test_memory_seen_through_versioned() -> None:
    store = Memory()
    v = kvit.Versioned(store)
    v.commit({"k": b"v"})
    assert any(key.startswith("refs/heads/") for key in store.memory)
    assert v.store is store


def test_disk_persists(tmp_path: object) -> None:
    first = Disk(tmp_path)  # type: ignore[arg-type]
    first.set("k", b"v")
    assert Disk(tmp_path).get("k") == b"v"  # type: ignore[arg-type]
    assert str(first.path) == str(tmp_path)
    assert "Disk" in repr(first)


def test_disk_options(tmp_path: object) -> None:
    store = Disk(tmp_path, durability="normal", busy_timeout=1.5)  # type: ignore[arg-type]
    store.set("k", b"v")
    with pytest.raises(ValueError):
        Disk(tmp_path, durability="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Disk(tmp_path, busy_timeout=-1)  # type: ignore[arg-type]


def test_disk_on_a_file_is_refused(tmp_path: object) -> None:
    import pathlib

    file = pathlib.Path(str(tmp_path)) / "a-file"
    file.write_text("not a directory")
    with pytest.raises(kvit.InvalidStoreError) as info:
        Disk(file)
    assert isinstance(info.value, kvit.KvitError)
    assert isinstance(info.value, ValueError)


def test_abstract_methods_are_required() -> None:
    class Incomplete(KVStore):
        def get(self, key: str) -> Optional[bytes]:
            return None

    with pytest.raises(TypeError):
        Incomplete()  # type: ignore[abstract]


def test_default_methods_use_required_ones() -> None:
    calls: list[str] = []

    class Recording(DictStore):
        def get(self, key: str) -> Optional[bytes]:
            calls.append("get")
            return super().get(key)

        def set(self, key: str, value: bytes) -> None:
            calls.append("set")
            super().set(key, value)

    store = Recording()
    store.set_many(a=b"1", b=b"2")
    assert calls.count("set") == 2
    assert store.get_many("a", "b", "c") == {"a": b"1", "b": b"2"}
    assert calls.count("get") == 3
