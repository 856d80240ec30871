"""The Store protocol table, row by row, on every implementation: Staged
(over each backend), Live, and Namespaced (over Staged, over Live, nested)."""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import pytest

import kvit
from kvit import Live, MergeResult, Namespaced, Staged, Store, Versioned

from conftest import NO_POSTGRES, NO_REDIS, POSTGRES_URL, REDIS_URL, DictStore, NetworkStores

IMPLEMENTATIONS = [
    "staged-memory",
    "staged-disk",
    "staged-python",
    pytest.param("staged-redis", marks=pytest.mark.skipif(REDIS_URL is None, reason=NO_REDIS)),
    pytest.param(
        "staged-postgres", marks=pytest.mark.skipif(POSTGRES_URL is None, reason=NO_POSTGRES)
    ),
    "live",
    "namespaced-staged",
    "namespaced-live",
    "namespaced-nested",
]


def make(kind: str, tmp_path: Path, network_stores: NetworkStores) -> Store:
    if kind == "staged-redis":
        return Staged(Versioned(network_stores.redis()), allow_unsafe_pickle=True)
    if kind == "staged-postgres":
        return Staged(Versioned(network_stores.postgres()), allow_unsafe_pickle=True)
    if kind == "staged-memory":
        return Staged(Versioned(kvit.Memory()))
    if kind == "staged-disk":
        return Staged(Versioned(kvit.Disk(tmp_path / "db")))
    if kind == "staged-python":
        return Staged(Versioned(DictStore()))
    if kind == "live":
        return Live()
    if kind == "namespaced-staged":
        return Namespaced(kvit.store(), "ns")
    if kind == "namespaced-live":
        return Namespaced(Live(), "ns")
    return Namespaced(Namespaced(kvit.store(), "outer"), "inner")


@pytest.fixture(params=IMPLEMENTATIONS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path, network_stores: NetworkStores) -> Store:
    return make(request.param, tmp_path, network_stores)


def versioned(store: Store) -> bool:
    """Whether the store (or the store under the views) has versions."""
    while isinstance(store, Namespaced):
        store = store.store
    return not isinstance(store, Live)


def settle(store: Store) -> None:
    """Commits, where there is something to commit to, so that reads below
    come from the commit as well as the buffer."""
    if versioned(store):
        store.commit()


def test_store_is_importable_and_a_mutable_mapping(any_store: Store) -> None:
    from kvit import Store as Imported

    assert Imported is Store
    assert isinstance(any_store, Store)
    assert isinstance(any_store, MutableMapping)
    assert issubclass(type(any_store), MutableMapping)


def test_get_value_or_default(any_store: Store) -> None:
    any_store["k"] = "v"
    assert any_store.get("k") == "v"
    assert any_store.get("missing") is None
    assert any_store.get("missing", 7) == 7
    settle(any_store)
    assert any_store.get("k") == "v"
    assert any_store.get("missing", "d") == "d"


def test_get_many_existing_keys_only(any_store: Store) -> None:
    any_store["a"] = 1
    any_store["b"] = 2
    settle(any_store)
    any_store["c"] = 3
    got = any_store.get_many("a", "c", "missing")
    assert got == {"a": 1, "c": 3}
    assert isinstance(got, dict)
    assert any_store.get_many() == {}


def test_keys_iterates_over_all_keys(any_store: Store) -> None:
    any_store["a"] = 1
    settle(any_store)
    any_store["b"] = 2
    assert sorted(any_store.keys()) == ["a", "b"]
    assert "a" in any_store.keys()


def test_contains(any_store: Store) -> None:
    any_store["a"] = 1
    assert "a" in any_store
    settle(any_store)
    assert "a" in any_store
    assert "b" not in any_store
    assert 1 not in any_store  # type: ignore[comparison-overlap]
    assert None not in any_store


def test_getitem_raises_key_error_if_missing(any_store: Store) -> None:
    any_store["a"] = {"nested": [1, 2]}
    assert any_store["a"] == {"nested": [1, 2]}
    settle(any_store)
    assert any_store["a"] == {"nested": [1, 2]}
    with pytest.raises(KeyError) as info:
        any_store["missing"]
    assert info.value.args == ("missing",)


def test_setitem_sets_a_value(any_store: Store) -> None:
    any_store["a"] = 1
    any_store["a"] = 2
    assert any_store["a"] == 2
    settle(any_store)
    any_store["a"] = 3
    assert any_store["a"] == 3


def test_delitem_removes_or_raises_key_error(any_store: Store) -> None:
    any_store["a"] = 1
    any_store["b"] = 2
    settle(any_store)
    del any_store["a"]
    assert "a" not in any_store
    with pytest.raises(KeyError):
        any_store["a"]
    with pytest.raises(KeyError):
        del any_store["a"]
    with pytest.raises(KeyError):
        del any_store["never"]
    settle(any_store)
    assert list(any_store) == ["b"]


def test_iter_over_keys(any_store: Store) -> None:
    for key in ("x", "y", "z"):
        any_store[key] = key
    settle(any_store)
    del any_store["y"]
    any_store["w"] = "w"
    assert sorted(iter(any_store)) == ["w", "x", "z"]


def test_len_counts_keys(any_store: Store) -> None:
    assert len(any_store) == 0
    any_store["a"] = 1
    any_store["b"] = 2
    assert len(any_store) == 2
    settle(any_store)
    del any_store["a"]
    any_store["c"] = 3
    assert len(any_store) == 2


def test_set_sets_a_value(any_store: Store) -> None:
    any_store.set("a", [1])
    assert any_store["a"] == [1]
    settle(any_store)
    assert any_store["a"] == [1]


def test_remove_removes_a_key(any_store: Store) -> None:
    any_store.set("a", 1)
    settle(any_store)
    any_store.remove("a")
    assert "a" not in any_store
    any_store.remove("never-there")  # not an error
    settle(any_store)
    assert "a" not in any_store


def test_commit_flushes_changes(any_store: Store) -> None:
    any_store["a"] = 1
    if not versioned(any_store):
        with pytest.raises(NotImplementedError):
            any_store.commit()
        return
    result = any_store.commit()
    assert isinstance(result, MergeResult)
    assert result and result.strategy == "fast_forward"
    assert any_store.current_commit == result.commit
    assert any_store.commit().strategy == "no_op"


def test_reset_discards_pending_changes(any_store: Store) -> None:
    if not versioned(any_store):
        with pytest.raises(NotImplementedError):
            any_store.reset()
        return
    any_store["a"] = 1
    any_store.commit()
    any_store["a"] = 2
    any_store["b"] = 3
    del any_store["a"]
    any_store.reset()
    assert dict(any_store.items()) == {"a": 1}


def test_create_branch_forks_the_current_commit(any_store: Store) -> None:
    if not versioned(any_store):
        with pytest.raises(NotImplementedError):
            any_store.create_branch("dev")
        return
    any_store["a"] = 1
    any_store.commit()
    dev = any_store.create_branch("dev")
    assert isinstance(dev, Store)
    assert type(dev) is type(any_store)
    assert dev["a"] == 1
    dev["a"] = 2
    dev.commit()
    assert any_store["a"] == 1
    with pytest.raises(ValueError):
        any_store.create_branch("dev")


def test_checkout_opens_a_commit(any_store: Store) -> None:
    if not versioned(any_store):
        with pytest.raises(NotImplementedError):
            any_store.checkout("0" * 40)
        return
    any_store["a"] = 1
    first = any_store.commit().commit
    assert first is not None
    any_store["a"] = 2
    any_store.commit()
    old = any_store.checkout(first)
    assert isinstance(old, Store)
    assert old["a"] == 1
    assert any_store.checkout("0" * 40) is None
    assert any_store.checkout("not a commit id") is None
    other = any_store.checkout(first, branch="other")
    assert other is not None
    other["b"] = 1
    other.commit()
    assert "other" in any_store.list_branches()


def test_list_branches(any_store: Store) -> None:
    if not versioned(any_store):
        with pytest.raises(NotImplementedError):
            any_store.list_branches()
        return
    assert any_store.list_branches() == ["main"]
    any_store.create_branch("b2")
    any_store.create_branch("a1")
    assert any_store.list_branches() == ["a1", "b2", "main"]


def test_mutable_mapping_mixins(any_store: Store) -> None:
    any_store.update({"a": 1, "b": 2})
    any_store.update(c=3)
    assert sorted(any_store.items()) == [("a", 1), ("b", 2), ("c", 3)]
    assert sorted(any_store.values()) == [1, 2, 3]
    assert any_store.pop("a") == 1
    assert any_store.pop("a", "gone") == "gone"
    with pytest.raises(KeyError):
        any_store.pop("a")
    assert any_store.setdefault("b", 99) == 2
    assert any_store.setdefault("d", 4) == 4
    assert any_store == {"b": 2, "c": 3, "d": 4}
    assert any_store != {"b": 2}
    settle(any_store)
    key, value = any_store.popitem()
    assert key in ("b", "c", "d") and value in (2, 3, 4)
    any_store.clear()
    assert len(any_store) == 0 and dict(any_store) == {}
    settle(any_store)
    assert list(any_store) == []


def test_values_are_any_python_objects(any_store: Store) -> None:
    values: dict[str, Any] = {
        "none": None,
        "tuple": (1, "two"),
        "set": {1, 2},
        "bytes": b"\x00\xff",
        "float": 1.5,
        "big": 10**30,
    }
    any_store.update(values)
    settle(any_store)
    for key, value in values.items():
        assert any_store[key] == value
    assert "none" in any_store and any_store.get("none", "default") is None


def test_keys_must_be_str(any_store: Store) -> None:
    with pytest.raises(TypeError):
        any_store[1] = "x"  # type: ignore[index]
