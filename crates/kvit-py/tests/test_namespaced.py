"""Namespaced: construction and nesting, reading, writing, merge functions,
properties and branching, over Staged (each backend), Live, another
Namespaced and a user-defined Store; listing is a prefix scan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Optional

import pytest

import kvit
from kvit import (
    KVStore,
    Live,
    MergeConflict,
    MergeResult,
    Namespaced,
    Staged,
    Store,
    Versioned,
    counter,
)

from conftest import DictStore


class DictBackedStore(Store):
    """A user's own Store: only the five mapping methods."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def __delitem__(self, key: str) -> None:
        del self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.data))

    def __len__(self) -> int:
        return len(self.data)


# ---- construction ------------------------------------------------------------------


def test_namespace_must_not_contain_a_slash() -> None:
    s = kvit.store()
    with pytest.raises(ValueError, match="/"):
        Namespaced(s, "agent/worker")
    with pytest.raises(ValueError):
        Namespaced(s, "")
    with pytest.raises(TypeError):
        Namespaced(s, 7)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Store"):
        Namespaced({}, "x")  # type: ignore[arg-type]


def test_nesting_by_wrapping(staged: Staged) -> None:
    ns1 = Namespaced(staged, "agent")
    ns2 = Namespaced(ns1, "worker")
    assert ns1.namespace == "agent"
    assert ns2.namespace == "agent/worker"
    assert ns2.store is ns1
    staged["agent/worker/task"] = "index"
    assert ns2.get("task") == "index"
    assert ns1["worker/task"] == "index"
    ns2["done"] = True
    assert staged["agent/worker/done"] is True
    assert Namespaced(Namespaced(ns2, "deeper"), "deepest").namespace == "agent/worker/deeper/deepest"


@pytest.mark.parametrize("base", ["staged", "live", "user", "namespaced"])
def test_over_any_store(base: str) -> None:
    store: Store
    if base == "staged":
        store = kvit.store()
    elif base == "live":
        store = Live()
    elif base == "user":
        store = DictBackedStore()
    else:
        store = Namespaced(Live(), "outer")
    ns = Namespaced(store, "ns")
    ns["a"] = 1
    ns["sub/b"] = 2
    assert ns["a"] == 1 and "a" in ns
    assert list(ns.keys()) == ["a"]
    assert ns.descendant_keys() == ["a", "sub/b"]
    assert ns.get_many("a", "sub/b", "zz") == {"a": 1, "sub/b": 2}
    del ns["a"]
    assert "a" not in ns
    prefix = "outer/ns/" if base == "namespaced" else "ns/"
    inner = store.store if isinstance(store, Namespaced) else store
    assert inner.get(prefix + "sub/b") == 2


# ---- reading -------------------------------------------------------------------------


def test_get(staged: Staged) -> None:
    ns = Namespaced(staged, "agent")
    staged["agent/state"] = "running"
    staged["state"] = "outside"
    assert ns.get("state") == "running"
    assert ns.get("missing") is None
    assert ns.get("missing", 0) == 0
    assert ns["state"] == "running"
    with pytest.raises(KeyError) as info:
        ns["missing"]
    assert info.value.args == ("missing",)


def test_get_many_returns_unprefixed_keys(staged: Staged) -> None:
    ns = Namespaced(staged, "ns")
    staged.update({"ns/a": 1, "ns/b": 2, "a": "outside"})
    staged.commit()
    assert ns.get_many("a", "b", "c") == {"a": 1, "b": 2}


def test_keys_are_direct_children_only(staged: Staged) -> None:
    ns = Namespaced(staged, "ns")
    staged.update({"ns/a": 1, "ns/b": 2, "ns/sub/c": 3, "ns/sub/deep/d": 4, "nsx": 0, "other/a": 0})
    staged.commit()
    staged["ns/e"] = 5  # staged keys are listed too
    del staged["ns/b"]
    assert list(ns.keys()) == ["a", "e"]
    assert list(ns) == ["a", "e"]
    assert len(ns) == 2
    assert dict(ns.items()) == {"a": 1, "e": 5}


def test_descendant_keys_include_nested_paths(staged: Staged) -> None:
    ns = Namespaced(staged, "ns")
    staged.update({"ns/a": 1, "ns/sub/c": 3, "ns/sub/deep/d": 4, "nsx/a": 0})
    assert ns.descendant_keys() == ["a", "sub/c", "sub/deep/d"]
    assert Namespaced(ns, "sub").descendant_keys() == ["c", "deep/d"]
    assert list(Namespaced(ns, "sub").keys()) == ["c"]


def test_contains(staged: Staged) -> None:
    ns = Namespaced(staged, "ns")
    staged["ns/a"] = 1
    staged["b"] = 1
    assert "a" in ns
    assert "b" not in ns
    assert 1 not in ns  # type: ignore[comparison-overlap]


def test_isolation_between_namespaces() -> None:
    s = kvit.store()
    agent = Namespaced(s, "agent")
    config = Namespaced(s, "config")
    agent["state"] = "running"
    config["timeout"] = 30
    assert config.get("state") is None
    assert agent.get("timeout") is None
    assert s.get("agent/state") == "running"
    assert sorted(s) == ["agent/state", "config/timeout"]


# ---- writing -------------------------------------------------------------------------


def test_writes_are_prefixed(staged: Staged) -> None:
    ns = Namespaced(staged, "myns")
    ns["k"] = "v"
    assert staged["myns/k"] == "v"
    ns.set("j", "w")
    assert staged["myns/j"] == "w"
    ns.remove("k")
    assert "myns/k" not in staged
    ns.remove("missing")  # not an error
    with pytest.raises(KeyError):
        del ns["missing"]
    result = ns.commit()
    assert isinstance(result, MergeResult) and result.strategy == "fast_forward"
    assert staged.versioned.get("myns/j") is not None
    assert not staged.has_changes


def test_commit_and_reset_act_on_the_whole_store(staged: Staged) -> None:
    ns = Namespaced(staged, "ns")
    ns["a"] = 1
    staged["outside"] = 1
    ns.commit(info={"by": "ns"})
    assert staged.versioned.commit_info() == {"by": "ns"}
    assert staged.versioned.get("outside") is not None
    ns["b"] = 2
    staged["outside2"] = 2
    ns.reset()
    assert not staged.has_changes


def test_mutable_mapping_mixins(staged: Staged) -> None:
    ns = Namespaced(staged, "ns")
    ns.update(a=1, b=2)
    assert ns == {"a": 1, "b": 2}
    assert ns.pop("a") == 1
    assert ns.setdefault("c", 3) == 3
    staged["ns/sub/x"] = 1
    ns.clear()  # direct children only
    assert len(ns) == 0
    assert ns.descendant_keys() == ["sub/x"]


# ---- merge functions -------------------------------------------------------------------


def test_set_merge_fn_is_prefixed(make_staged: Any) -> None:
    alice, bob = make_staged(), make_staged()
    bob_ns = Namespaced(bob, "myns")
    bob_ns.set_merge_fn("counter", counter())
    alice.update({"myns/counter": 1, "counter": 1})
    alice.commit()
    bob.update({"myns/counter": 1, "counter": 2})
    with pytest.raises(MergeConflict) as info:
        bob.commit()
    assert info.value.conflicting_keys == {"counter"}  # the unprefixed key has none
    bob.remove("counter")
    bob.commit()
    assert bob_ns["counter"] == 2


def test_set_default_merge_is_store_wide(make_staged: Any) -> None:
    alice, bob = make_staged(), make_staged()
    Namespaced(bob, "myns").set_default_merge(counter())
    alice.update({"elsewhere": 1, "myns/k": 1})
    alice.commit()
    bob.update({"elsewhere": 1, "myns/k": 1})
    bob.commit()
    assert bob["elsewhere"] == 2 and bob["myns/k"] == 2


def test_commit_merge_fns_are_prefixed(make_staged: Any) -> None:
    alice, bob = make_staged(), make_staged()
    alice["myns/n"] = 1
    alice.commit()
    bob["myns/n"] = 1
    Namespaced(bob, "myns").commit(merge_fns={"n": counter()})
    assert bob["myns/n"] == 2


def test_nested_merge_fns_are_prefixed_twice(make_staged: Any) -> None:
    alice, bob = make_staged(), make_staged()
    Namespaced(Namespaced(bob, "a"), "b").set_merge_fn("n", counter())
    alice["a/b/n"] = 5
    alice.commit()
    bob["a/b/n"] = 5
    bob.commit()
    assert bob["a/b/n"] == 10


# ---- properties and branching --------------------------------------------------------


def test_properties_delegate(staged: Staged) -> None:
    ns = Namespaced(Namespaced(staged, "agent"), "worker")
    assert ns.namespace == "agent/worker"
    assert ns.last_merge_result is None
    ns["k"] = 1
    result = ns.commit()
    assert ns.current_commit == staged.current_commit == result.commit
    assert ns.base_commit == staged.base_commit
    assert ns.last_merge_result == staged.last_merge_result == result


def test_branching_delegates(staged: Staged) -> None:
    ns = Namespaced(staged, "ns")
    ns["k"] = "main"
    first = ns.commit().commit
    assert first is not None
    dev = ns.create_branch("dev")
    assert isinstance(dev, Namespaced) and dev.namespace == "ns"
    assert isinstance(dev.store, Staged) and dev.store.branch == "dev"
    dev["k"] = "dev"
    dev.commit()
    assert ns["k"] == "main"
    assert ns.list_branches() == ["dev", "main"] == staged.list_branches()
    ns["k"] = "later"
    ns.commit()
    old = ns.checkout(first)
    assert old is not None and old["k"] == "main" and old.namespace == "ns"
    assert ns.checkout("0" * 40) is None
    on_dev = ns.checkout(first, branch="dev")
    assert on_dev is not None and on_dev.store.branch == "dev"  # type: ignore[attr-defined]


def test_nested_branching_keeps_the_path(staged: Staged) -> None:
    ns = Namespaced(Namespaced(staged, "a"), "b")
    ns["k"] = 1
    ns.commit()
    dev = ns.create_branch("dev")
    assert dev.namespace == "a/b"
    assert dev["k"] == 1


def test_refresh_delegates(make_staged: Any) -> None:
    alice, bob = make_staged(), make_staged()
    ns = Namespaced(bob, "ns")
    alice["ns/k"] = 1
    alice.commit()
    assert "k" not in ns
    ns.refresh()
    assert ns["k"] == 1
    with pytest.raises(NotImplementedError):
        Namespaced(Live(), "x").refresh()


def test_over_live_versioning_raises() -> None:
    ns = Namespaced(Live(), "ns")
    with pytest.raises(NotImplementedError):
        ns.commit()
    with pytest.raises(NotImplementedError):
        ns.create_branch("dev")
    with pytest.raises(NotImplementedError):
        ns.current_commit


def test_repr(staged: Staged) -> None:
    ns = Namespaced(Namespaced(staged, "a"), "b")
    assert repr(ns).startswith("<kvit.Namespaced namespace='a/b' store=<kvit.Namespaced namespace='a'")


# ---- listing is a prefix scan -----------------------------------------------------------


class SpyStaged(Staged):
    """A Staged that records prefix scans and refuses full key scans."""

    __slots__ = ()
    prefixes: list[str] = []

    def keys_with_prefix(self, prefix: str) -> list[str]:
        SpyStaged.prefixes.append(prefix)
        return super().keys_with_prefix(prefix)

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("Namespaced listed every key of the store")


def test_listing_uses_the_stores_prefix_scan() -> None:
    s = SpyStaged(Versioned())
    s.update({"agent/a": 1, "agent/sub/b": 2, "other": 3})
    SpyStaged.prefixes.clear()
    ns = Namespaced(Namespaced(s, "agent"), "sub")
    assert list(ns.keys()) == ["b"]
    assert len(ns) == 1
    assert Namespaced(s, "agent").descendant_keys() == ["a", "sub/b"]
    assert set(SpyStaged.prefixes) == {"agent/sub/", "agent/"}


class CountingStore(DictStore):
    """Counts the keys the engine reads from the backend."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key: str) -> Optional[bytes]:
        self.reads += 1
        return super().get(key)

    def get_many(self, *keys: str) -> dict[str, bytes]:
        self.reads += len(keys)
        return {key: self.data[key] for key in keys if key in self.data}


def test_listing_a_namespace_reads_only_its_range() -> None:
    backend = CountingStore()
    writer = Staged(Versioned(backend))
    writer.update({f"bulk/{index:05d}": index for index in range(5000)})
    writer.update({"ns/a": 1, "ns/b": 2})
    writer.commit()

    def reads_of(listing: Any) -> int:
        fresh = Staged(Versioned(backend))  # a cold node cache
        before = backend.reads
        listing(fresh)
        return backend.reads - before

    namespace_reads = reads_of(lambda s: list(Namespaced(s, "ns").keys()))
    all_reads = reads_of(lambda s: list(s))
    assert namespace_reads * 5 < all_reads, (namespace_reads, all_reads)


def test_backend_kind_does_not_matter(store: KVStore) -> None:
    s = Staged(Versioned(store), allow_unsafe_pickle=True)
    ns = Namespaced(s, "ns")
    ns["a"] = 1
    ns["sub/b"] = 2
    ns.commit()
    fresh = Namespaced(Staged(Versioned(store), allow_unsafe_pickle=True), "ns")
    assert dict(fresh.items()) == {"a": 1}
    assert fresh.descendant_keys() == ["a", "sub/b"]
