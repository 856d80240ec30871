"""GCVersioned, bullet by bullet of SPEC.md ("GCVersioned — size-bounded
stores"), plus Versioned.clean_orphans and GC under Staged."""

from __future__ import annotations

import dataclasses
import time

import pytest

import kvit
from kvit import (
    ConcurrencyError,
    GCVersioned,
    KVStore,
    RebaseResult,
    Staged,
    Versioned,
)


def sized(length: int, fill: bytes = b"x") -> bytes:
    return fill * length


# ---- construction and water marks ------------------------------------------------


def test_signature_and_defaults(store: KVStore) -> None:
    gc = GCVersioned(store, high_water_bytes=1000)
    assert isinstance(gc, Versioned)
    assert gc.branch == "main"
    assert gc.store is store
    assert (gc.high_water, gc.low_water) == (1000, 800)
    assert gc.last_rebase_result is None
    fresh = GCVersioned(high_water_bytes=10)  # no store: a fresh in-memory one
    assert isinstance(fresh.store, kvit.Memory)


def test_high_water_is_required_and_positive() -> None:
    with pytest.raises(TypeError):
        GCVersioned()  # type: ignore[call-arg]
    for bad in (0, -5):
        with pytest.raises(ValueError, match="high_water_bytes"):
            GCVersioned(high_water_bytes=bad)


@pytest.mark.parametrize(
    ("low", "expected"),
    [(None, 800), (500, 500), (1000, 1000), (0, 800), (-1, 800), (1001, 800)],
)
def test_low_water_defaults_to_80_percent(low: int | None, expected: int) -> None:
    gc = GCVersioned(high_water_bytes=1000, low_water_bytes=low)
    assert gc.low_water == expected


def test_branch_and_commit_hash(store: KVStore) -> None:
    v = Versioned(store)
    first = v.commit({"a": b"1"}).commit
    v.commit({"a": b"2"})
    assert first is not None
    gc = GCVersioned(store, commit_hash=first, high_water_bytes=100)
    assert gc.get("a") == b"1" and gc.current_commit == first
    dev = GCVersioned(store, branch="dev", high_water_bytes=100)
    assert dev.branch == "dev" and "dev" in v.list_branches()


def test_all_versioned_methods_work(store: KVStore) -> None:
    gc = GCVersioned(store, high_water_bytes=10_000)
    result = gc.commit({"a": b"1", "b": b"2"}, info={"step": 1})
    assert result.strategy == "fast_forward"
    assert gc.get("a") == b"1" and gc.get_many("a", "zz") == {"a": b"1"}
    assert gc.keys() == ["a", "b"] and len(gc) == 2 and "a" in gc
    assert gc.commit_info() == {"step": 1}
    gc.commit(removals=["b"])
    assert gc.diff(gc.history()[1], gc.current_commit).removed == frozenset({"b"})
    dev = gc.create_branch("dev")
    assert isinstance(dev, GCVersioned)
    assert (dev.high_water, dev.low_water) == (gc.high_water, gc.low_water)
    old = gc.checkout(gc.history()[-1])
    assert isinstance(old, GCVersioned)
    assert gc.list_branches() == ["dev", "main"]
    assert "GCVersioned" in repr(gc) and "high_water=10000" in repr(gc)


# ---- maybe_rebase after every commit -------------------------------------------


def test_commits_rebase_when_above_high_water(store: KVStore) -> None:
    gc = GCVersioned(store, high_water_bytes=1000, low_water_bytes=500)
    gc.commit({"a": sized(400)})
    assert gc.last_rebase_result is None or not gc.last_rebase_result.performed
    gc.commit({"b": sized(400)})
    assert gc.last_rebase_result is None or not gc.last_rebase_result.performed
    gc.commit({"c": sized(400)})  # 1200 > 1000
    result = gc.last_rebase_result
    assert result is not None and result.performed
    assert result.total_size_before == 1200
    assert result.total_size_after <= 500
    assert result.dropped_keys == frozenset({"a", "b"})
    assert gc.keys() == ["c"]


def test_maybe_rebase_does_nothing_below_high_water() -> None:
    gc = GCVersioned(high_water_bytes=1000)
    gc.commit({"a": sized(100)})
    result = gc.maybe_rebase()
    assert isinstance(result, RebaseResult)
    assert not result.performed and not result
    assert result.new_commit is None
    assert result.total_size_before == result.total_size_after == 100
    assert result.dropped_keys == frozenset() and result.orphans_cleaned == 0


def test_maybe_rebase_rebases_above_high_water() -> None:
    plain = Versioned()
    plain.commit({"a": sized(600), "b": sized(600)})
    gc = GCVersioned(plain.store, high_water_bytes=1000)
    result = gc.maybe_rebase()
    assert result.performed and result.total_size_after <= 800


# ---- rebase -------------------------------------------------------------------------


def test_rebase_writes_a_fresh_root_commit(store: KVStore) -> None:
    gc = GCVersioned(store, high_water_bytes=10_000)
    gc.commit({"a": b"1"})
    gc.commit({"b": b"2"})
    result = gc.rebase(info={"reason": "test"})
    assert result.performed and result.new_commit == gc.current_commit
    assert gc.history() == [result.new_commit]  # no parents
    assert gc.commit_info() == {"reason": "test"}
    assert gc.latest_head == result.new_commit
    assert gc.keys() == ["a", "b"]  # under low water: nothing to drop
    assert result.dropped_keys == frozenset()
    assert result.kept_keys == frozenset({"a", "b"})


def test_rebase_keeps_exactly_keep_keys_and_system_keys(store: KVStore) -> None:
    gc = GCVersioned(store, high_water_bytes=10_000)
    gc.commit({"a": b"1", "b": b"2", "c": b"3", "__meta": b"m", "ns/__x": b"x", "__ns/y": b"y"})
    result = gc.rebase(["b", "not-there"])
    assert gc.keys() == ["__meta", "b", "ns/__x"]
    assert result.kept_keys == frozenset({"__meta", "b", "ns/__x"})
    assert result.dropped_keys == frozenset({"a", "c", "__ns/y"})
    with pytest.raises(TypeError):
        gc.rebase("b")  # a lone string is not a list of keys


def test_system_keys_do_not_count_towards_the_limits() -> None:
    gc = GCVersioned(high_water_bytes=100)
    gc.commit({"__big": sized(5000), "ns/__big": sized(5000), "user": sized(50)})
    assert gc.last_rebase_result is None or not gc.last_rebase_result.performed
    gc.commit({"user2": sized(60)})  # users: 110 > 100
    result = gc.last_rebase_result
    assert result is not None and result.performed
    assert result.total_size_before == 110
    assert "__big" in gc and "ns/__big" in gc


def test_default_rebase_drops_coldest_first() -> None:
    gc = GCVersioned(high_water_bytes=1000, low_water_bytes=700)
    gc.commit({"a": sized(300), "b": sized(300), "c": sized(300)})
    assert gc.get("a") is not None  # a is now hotter than b and c
    gc.commit({"d": sized(300)})  # 1200 > 1000: drop b, then c
    result = gc.last_rebase_result
    assert result is not None and result.performed
    assert result.dropped_keys == frozenset({"b", "c"})
    assert gc.keys() == ["a", "d"]
    assert result.total_size_after == 600


def test_ties_drop_the_larger_first() -> None:
    gc = GCVersioned(high_water_bytes=1000, low_water_bytes=800)
    gc.commit({"small": sized(200), "large": sized(400), "mid": sized(300)})
    gc.get("mid")
    gc.commit({"new": sized(200)})  # 1100 > 1000; small and large are coldest
    result = gc.last_rebase_result
    assert result is not None
    assert result.dropped_keys == frozenset({"large"})
    assert gc.keys() == ["mid", "new", "small"]


def test_rebase_moves_the_head_by_cas(store: KVStore) -> None:
    gc = GCVersioned(store, high_water_bytes=10_000)
    gc.commit({"a": b"1"})
    other = Versioned(store)
    other.commit({"b": b"2"})  # the head moved under gc
    head = other.current_commit
    with pytest.raises(ConcurrencyError):
        gc.rebase()
    assert gc.latest_head == head
    gc.refresh()
    assert gc.rebase().performed


def test_rebase_cleans_orphans(store: KVStore) -> None:
    gc = GCVersioned(store, high_water_bytes=10_000)
    gc.commit({"a": sized(100)})
    old = gc.current_commit
    gc.commit({"a": sized(100, b"y")})
    result = gc.rebase()
    assert isinstance(result.orphans_cleaned, int)  # young commits have a grace period
    assert gc.checkout(old) is not None
    time.sleep(0.01)  # min_age=0 takes what was written before now, to the millisecond
    assert gc.clean_orphans(min_age=0) >= 2
    assert gc.checkout(old) is None
    assert gc.get("a") == sized(100, b"y")
    assert gc.clean_orphans(min_age=0) == 0


def test_rebase_result_fields() -> None:
    fields = [field.name for field in dataclasses.fields(RebaseResult)]
    assert fields == [
        "performed",
        "new_commit",
        "dropped_keys",
        "kept_keys",
        "total_size_before",
        "total_size_after",
        "orphans_cleaned",
    ]
    gc = GCVersioned(high_water_bytes=100)
    gc.commit({"a": sized(80), "b": sized(80)})
    result = gc.last_rebase_result
    assert result is not None and result == gc.last_rebase_result
    assert isinstance(result.new_commit, str) and len(result.new_commit) == 40
    assert isinstance(result.dropped_keys, frozenset) and isinstance(result.kept_keys, frozenset)
    assert result.total_size_before == 160 and result.total_size_after == 80
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.performed = False  # type: ignore[misc]


# ---- clean_orphans -----------------------------------------------------------------


def test_clean_orphans_respects_min_age(store: KVStore) -> None:
    v = Versioned(store)
    v.commit({"a": b"1"})
    side = v.create_branch("side")
    side.commit({"orphan": b"x" * 100})
    orphan = side.current_commit
    v.delete_branch("side")
    assert v.clean_orphans() == 0  # default min_age: an hour
    assert v.clean_orphans(min_age=3600) == 0
    time.sleep(0.01)
    assert v.clean_orphans(min_age=0) == 1
    assert v.checkout(orphan) is None
    assert v.get("a") == b"1"
    with pytest.raises(ValueError):
        v.clean_orphans(min_age=-1)


# ---- under Staged and store() ------------------------------------------------------


def test_store_with_high_water_builds_staged_over_gc() -> None:
    s = kvit.store(high_water_bytes=1000)
    assert isinstance(s, Staged)
    assert isinstance(s.versioned, GCVersioned)
    assert (s.versioned.high_water, s.versioned.low_water) == (1000, 800)
    s2 = kvit.store(high_water_bytes=1000, low_water_bytes=300)
    assert isinstance(s2.versioned, GCVersioned) and s2.versioned.low_water == 300


def test_staged_over_gc_stays_bounded() -> None:
    s = kvit.store(high_water_bytes=2000)
    for index in range(50):
        s[f"k{index}"] = sized(100)
        s.commit()
    gc = s.versioned
    assert isinstance(gc, GCVersioned)
    assert gc.last_rebase_result is not None and gc.last_rebase_result.performed
    total = sum(len(gc.get(key) or b"") for key in gc.keys())
    assert total <= 2000
    assert "k49" in s  # the newest is kept
    assert len(s) == len(gc)


def test_rebase_through_staged_versioned_drops_staged_changes() -> None:
    s = Staged(GCVersioned(high_water_bytes=10_000))
    s["a"] = 1
    s.commit()
    s["pending"] = 2
    gc = s.versioned
    assert isinstance(gc, GCVersioned)
    gc.rebase(keep_keys=[])
    assert not s.has_changes
    assert "a" not in s and s.get("a") is None
