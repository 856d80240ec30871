"""Staged: construction, every method and property row of the seed, merge
functions on decoded values, codec errors, and the read cache's
invalidation."""

from __future__ import annotations

import gc
import json
import pickle
import threading
import weakref
from typing import Any, Callable, Optional

import pytest

import kvit
from kvit import (
    ConcurrencyError,
    GCVersioned,
    KVStore,
    MergeConflict,
    MergeResult,
    Staged,
    Versioned,
    counter,
    last_writer_wins,
)

# ---- construction -------------------------------------------------------------


def test_defaults_are_pickle(staged: Staged) -> None:
    assert staged.encoder is pickle.dumps
    assert staged.decoder is pickle.loads
    staged["k"] = {"a": [1, 2]}
    staged.commit()
    assert staged.versioned.get("k") == pickle.dumps({"a": [1, 2]})


def test_custom_encoder_and_decoder(store: KVStore) -> None:
    encode: Callable[[Any], bytes] = lambda value: json.dumps(value).encode()  # noqa: E731
    s = Staged(Versioned(store), encoder=encode, decoder=json.loads)
    s["k"] = {"a": [1, 2]}
    s.commit()
    assert s.versioned.get("k") == b'{"a": [1, 2]}'
    with pytest.raises(pickle.UnpicklingError, match="'k'"):
        Staged(Versioned(store), allow_unsafe_pickle=True)["k"]  # pickle cannot read JSON
    fresh = Staged(Versioned(store), encoder=encode, decoder=json.loads)
    assert fresh["k"] == {"a": [1, 2]}


def test_encoder_and_decoder_must_be_callable() -> None:
    with pytest.raises(TypeError, match="encoder"):
        Staged(Versioned(), encoder=42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="decoder"):
        Staged(Versioned(), decoder="json")  # type: ignore[arg-type]


def test_needs_a_versioned() -> None:
    with pytest.raises(TypeError, match="Versioned"):
        Staged(kvit.Memory())  # type: ignore[arg-type]


def test_over_a_gc_versioned() -> None:
    gc = GCVersioned(high_water_bytes=10_000)
    s = Staged(gc)
    assert s.versioned is gc
    s["k"] = 1
    s.commit()
    assert gc.get("k") == pickle.dumps(1)


def test_one_cursor_stages_one_store() -> None:
    v = Versioned()
    Staged(v)
    with pytest.raises(ValueError, match="already backs a Staged"):
        Staged(v)


# ---- methods ---------------------------------------------------------------------


def test_set_stages_a_value(staged: Staged) -> None:
    staged.set("k", "v")
    assert staged.has_changes
    assert staged.get("k") == "v"
    assert staged.versioned.get("k") is None  # not committed yet
    staged.commit()
    assert staged.versioned.get("k") == pickle.dumps("v")


def test_remove_stages_a_removal(staged: Staged) -> None:
    staged["k"] = "v"
    staged.commit()
    staged.remove("k")
    assert staged.has_changes
    assert staged.get("k") is None
    assert staged.versioned.get("k") is not None  # still committed
    staged.commit()
    assert staged.versioned.get("k") is None
    staged.remove("k")  # missing: nothing staged
    assert not staged.has_changes


def test_get_checks_staged_first_then_committed(staged: Staged) -> None:
    staged["a"] = "committed"
    staged["b"] = "committed"
    staged.commit()
    staged["a"] = "staged"
    del staged["b"]
    assert staged.get("a") == "staged"
    assert staged.get("b") is None
    assert staged.get("b", "default") == "default"
    assert staged.get_many("a", "b") == {"a": "staged"}
    staged["b"] = "again"  # a set after a removal wins
    assert staged["b"] == "again"


def test_commit_returns_a_merge_result(staged: Staged) -> None:
    staged["k"] = 1
    result = staged.commit(info={"author": "alice", "n": [1, 2]})
    assert isinstance(result, MergeResult)
    assert result and result.strategy == "fast_forward"
    assert staged.versioned.commit_info(result.commit) == {"author": "alice", "n": [1, 2]}
    assert not staged.has_changes
    assert staged.commit().strategy == "no_op"


def test_commit_arguments_are_checked(staged: Staged) -> None:
    staged["k"] = 1
    with pytest.raises(ValueError, match="on_conflict"):
        staged.commit(on_conflict="ignore")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        staged.commit(info="not a dict")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        staged.commit(merge_fns={"k": 42})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        staged.commit(unknown=1)  # type: ignore[call-arg]
    assert staged.has_changes  # nothing was lost


def test_staged_changes_are_kept_when_a_commit_fails(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    alice["k"] = "alice"
    alice.commit()
    bob["k"] = "bob"
    bob["other"] = 1
    with pytest.raises(MergeConflict) as info:
        bob.commit()
    assert info.value.conflicting_keys == {"k"}
    assert bob.has_changes
    assert bob["k"] == "bob" and bob["other"] == 1
    abandoned = bob.commit(on_conflict="abandon")
    assert not abandoned and abandoned.commit is None
    assert bob.has_changes
    landed = bob.commit(merge_fns={"k": last_writer_wins()})
    assert landed.strategy == "three_way"
    assert not bob.has_changes
    assert bob["k"] == "alice" and bob["other"] == 1


def test_reset_discards_staged_changes(staged: Staged) -> None:
    staged["a"] = 1
    staged.commit()
    staged["a"] = 2
    staged["b"] = 2
    staged.reset()
    assert not staged.has_changes
    assert dict(staged) == {"a": 1}


def test_refresh_reloads_head_and_discards_staged(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    bob["seen"] = "before"
    assert bob.get("seen") == "before"
    alice["k"] = "from alice"
    alice.commit()
    assert "k" not in bob
    bob.refresh()
    assert not bob.has_changes
    assert bob["k"] == "from alice"
    assert "seen" not in bob
    assert bob.base_commit == alice.current_commit


def test_create_branch_returns_a_staged(staged: Staged) -> None:
    staged["k"] = "main"
    staged.commit()
    staged["pending"] = 1
    dev = staged.create_branch("dev")
    assert isinstance(dev, Staged)
    assert dev.branch == "dev" and dev.versioned.branch == "dev"
    assert dev["k"] == "main"
    assert "pending" not in dev  # staged changes stay with their store
    dev["k"] = "dev"
    dev.commit()
    assert staged["k"] == "main"
    assert dev.encoder is staged.encoder
    with pytest.raises(ValueError):
        staged.create_branch("dev")
    with pytest.raises(ValueError):
        staged.create_branch("bad name with ..")


def test_checkout_returns_a_staged_or_none(staged: Staged) -> None:
    staged["k"] = 1
    first = staged.commit().commit
    assert first is not None
    staged["k"] = 2
    staged.commit()
    old = staged.checkout(first)
    assert isinstance(old, Staged)
    assert old["k"] == 1 and old.current_commit == first and old.branch == "main"
    assert staged.checkout("f" * 40) is None
    fix = staged.checkout(first, branch="fix")
    assert fix is not None and fix.branch == "fix"
    fix["k"] = 10
    fix.commit()
    assert "fix" in staged.list_branches()
    assert staged["k"] == 2


def test_list_branches(staged: Staged) -> None:
    assert staged.list_branches() == ["main"]
    staged.create_branch("x")
    assert staged.list_branches() == ["main", "x"]


def test_has_changes(staged: Staged) -> None:
    assert staged.has_changes is False
    staged["a"] = 1
    assert staged.has_changes is True
    staged.commit()
    assert staged.has_changes is False
    staged.remove("a")
    assert staged.has_changes is True


# ---- properties ------------------------------------------------------------------


def test_versioned_is_the_instance_given() -> None:
    v = Versioned()
    s = Staged(v)
    assert s.versioned is v
    assert s.versioned is s.versioned
    built = kvit.store()
    assert built.versioned is built.versioned
    assert isinstance(built.versioned, Versioned)


def test_commit_properties_delegate_to_versioned(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    assert alice.last_merge_result is None
    alice["a"] = 1
    alice.commit()
    bob["b"] = 1
    result = bob.commit()
    v = bob.versioned
    assert bob.current_commit == v.current_commit == result.commit
    assert bob.base_commit == v.base_commit
    assert bob.last_merge_result == v.last_merge_result == result
    assert result.strategy == "three_way" and result.carried_keys == {"a"}


def test_calls_through_versioned_keep_the_store_consistent(staged: Staged) -> None:
    staged["a"] = 1
    staged.commit()
    assert staged["a"] == 1
    staged["pending"] = 1
    v = staged.versioned
    v.commit({"a": pickle.dumps(2)})  # moves the cursor: staged changes go
    assert staged["a"] == 2
    assert not staged.has_changes
    first = v.history()[-1]
    assert v.reset_to(first)
    assert "a" not in staged
    assert staged.current_commit == first


# ---- merge functions on decoded values ----------------------------------------


def test_merge_functions_get_decoded_values(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    seen: list[tuple[Any, Any, Any]] = []

    def union(old: Optional[set[str]], ours: Optional[set[str]], theirs: Optional[set[str]]) -> set[str]:
        seen.append((old, ours, theirs))
        return (ours or set()) | (theirs or set())

    alice["tags"] = {"a"}
    alice.commit()
    bob.refresh()
    bob.set_merge_fn("tags", union)
    alice["tags"] = {"a", "b"}
    alice.commit()
    bob["tags"] = {"a", "c"}
    bob.commit()
    assert seen == [({"a"}, {"a", "c"}, {"a", "b"})]
    assert bob["tags"] == {"a", "b", "c"}


def test_counter_and_default_merge(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    bob.set_merge_fn("visits", counter())
    bob.set_default_merge(last_writer_wins())
    alice.update(visits=5, name="alice")
    alice.commit()
    bob.update(visits=3, name="bob")
    bob.commit()
    assert bob["visits"] == 8
    assert bob["name"] == "alice"


def test_set_merge_fn_none_unregisters(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    bob.set_merge_fn("k", counter())
    bob.set_merge_fn("k", None)
    alice["k"] = 1
    alice.commit()
    bob["k"] = 2
    with pytest.raises(MergeConflict):
        bob.commit()


def test_per_call_merge_functions(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    alice.update(a=1, b=1)
    alice.commit()
    bob.update(a=1, b=1)
    bob.commit(merge_fns={"a": counter()}, default_merge=lambda old, ours, theirs: "default")
    assert bob["a"] == 2 and bob["b"] == "default"


def test_merge_fn_exception_is_kept(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    raised = ArithmeticError("no")

    def failing(old: Any, ours: Any, theirs: Any) -> Any:
        raise raised

    bob.set_merge_fn("k", failing)
    alice["k"] = 1
    alice.commit()
    bob["k"] = 2
    with pytest.raises(MergeConflict) as info:
        bob.commit()
    assert info.value.conflicting_keys == {"k"}
    assert info.value.merge_errors["k"] is raised
    assert bob.has_changes


def test_merge_functions_must_be_callable(staged: Staged) -> None:
    with pytest.raises(TypeError):
        staged.set_merge_fn("k", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        staged.set_default_merge("x")  # type: ignore[arg-type]


# ---- codec errors -----------------------------------------------------------------


def test_unpicklable_value_names_the_key(staged: Staged) -> None:
    staged["fine"] = 1
    staged["the-lock"] = threading.Lock()
    with pytest.raises(TypeError) as info:
        staged.commit()
    assert "the-lock" in str(info.value)
    assert "encode" in str(info.value)
    assert isinstance(info.value.__cause__, TypeError)
    assert staged.has_changes and staged["fine"] == 1


def test_encoder_returning_no_bytes_names_the_key(store: KVStore) -> None:
    s = Staged(Versioned(store), allow_unsafe_pickle=True, encoder=lambda value: str(value))  # type: ignore[arg-type,return-value]
    s["k"] = 1
    with pytest.raises(TypeError) as info:
        s.commit()
    assert "'k'" in str(info.value) and "bytes" in str(info.value)


def test_an_encoder_failing_deep_in_a_large_commit_names_its_key(store: KVStore) -> None:
    # Values are encoded in batches; the failure sits past the first ones.
    def encoder(value: object) -> bytes:
        if value == 1100:
            raise ValueError("cannot encode 1100")
        return pickle.dumps(value)

    s = Staged(Versioned(store), allow_unsafe_pickle=True, encoder=encoder, decoder=pickle.loads)
    for index in range(1300):
        s[f"k{index:05d}"] = index
    with pytest.raises(ValueError) as info:
        s.commit()
    assert "'k01100'" in str(info.value) and "encode" in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)
    assert s.has_changes and len(list(s.keys())) == 1300
    assert Staged(Versioned(store), allow_unsafe_pickle=True).keys() == set()
    s["k01100"] = -1
    assert s.commit()
    fresh = Staged(Versioned(store), allow_unsafe_pickle=True)
    assert fresh["k01299"] == 1299 and fresh["k01100"] == -1 and len(fresh) == 1300


def test_reads_stay_right_past_the_read_cache_limit() -> None:
    # The read cache holds 100,000 values and lets the oldest go when full.
    s = kvit.store()
    count = 100_050
    for index in range(count):
        s[f"k{index:06d}"] = index
    assert s.commit()
    # Reading every key fills the cache past its limit.
    assert [s[f"k{index:06d}"] for index in range(count)] == list(range(count))
    s["k000001"] = "new"
    for index in (0, 1, 2, 5_000, 99_999, count - 1):
        expected = "new" if index == 1 else index
        assert s[f"k{index:06d}"] == expected
    assert len(s) == count
    fresh = kvit.Staged(kvit.Versioned(s.versioned.store), allow_unsafe_pickle=True)
    assert fresh["k000001"] == 1 and fresh["k000002"] == 2


def test_decoder_error_names_the_key(store: KVStore) -> None:
    writer = Staged(Versioned(store), allow_unsafe_pickle=True, encoder=lambda value: b"\xff not json")
    writer["broken"] = 1
    writer.commit()
    reader = Staged(Versioned(store), encoder=json.dumps, decoder=json.loads)  # type: ignore[arg-type]
    with pytest.raises(ValueError) as info:
        reader["broken"]
    assert "'broken'" in str(info.value) and "decode" in str(info.value)


def test_invalid_keys(staged: Staged) -> None:
    with pytest.raises(TypeError):
        staged[b"bytes"] = 1  # type: ignore[index]
    with pytest.raises(ValueError):
        staged[""] = 1
    with pytest.raises(TypeError):
        staged.get(1)  # type: ignore[call-overload]
    with pytest.raises(TypeError):
        staged[[1]]  # type: ignore[index]
    assert not staged.has_changes


# ---- the read cache -------------------------------------------------------------


def test_reads_return_the_decoded_object(staged: Staged) -> None:
    value = {"a": [1]}
    staged["k"] = value
    assert staged["k"] is value
    staged.commit()
    assert staged["k"] is value
    staged.refresh()
    first = staged["k"]
    assert first == value and first is not value
    assert staged["k"] is first  # decoded once


def test_written_values_are_let_go_when_their_commit_lands(staged: Staged) -> None:
    value = frozenset({1, 2})  # picklable and weakly referenceable
    watch = weakref.ref(value)
    staged["k"] = value
    del value
    gc.collect()
    assert watch() is not None  # staged: kept until the commit
    assert staged.commit()
    gc.collect()
    assert watch() is None
    first = staged["k"]
    assert first == frozenset({1, 2})
    assert staged["k"] is first  # decoded once, then cached
    staged["k"] = frozenset({3})
    assert staged["k"] == frozenset({3})  # a write drops the cached value


def test_cache_follows_three_way_merges(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    bob.set_merge_fn("n", counter())
    assert bob.get("n") is None
    alice.update(n=1, other="alice")
    alice.commit()
    bob["n"] = 1
    assert bob["n"] == 1
    bob.commit()
    assert bob["n"] == 2
    assert bob["other"] == "alice"


def test_cache_follows_reset_and_refresh(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()
    bob["k"] = "staged"
    assert bob["k"] == "staged"
    bob.reset()
    assert "k" not in bob and bob.get("k") is None
    alice["k"] = "committed"
    alice.commit()
    assert bob.get("k") is None
    bob.refresh()
    assert bob["k"] == "committed"
    alice["k"] = "newer"
    alice.commit()
    assert bob["k"] == "committed"  # its own commit until refreshed
    bob.refresh()
    assert bob["k"] == "newer"


def test_cache_follows_removals(staged: Staged) -> None:
    staged["k"] = 1
    staged.commit()
    assert staged["k"] == 1
    del staged["k"]
    assert "k" not in staged
    with pytest.raises(KeyError):
        staged["k"]
    staged.commit()
    assert staged.get("k") is None


def test_cache_follows_gc_rebases() -> None:
    gc = GCVersioned(high_water_bytes=400, low_water_bytes=200)
    s = Staged(gc)
    s["old"] = b"o" * 150
    s.commit()
    assert s["old"] == b"o" * 150
    s["new"] = b"n" * 150
    s.commit()
    s["newest"] = b"x" * 150
    s.commit()  # 450 bytes of values > 400: rebase keeps the hottest
    assert gc.last_rebase_result is not None and gc.last_rebase_result.performed
    assert "old" in gc.last_rebase_result.dropped_keys
    assert "old" not in s
    assert s.get("old") is None
    assert s["newest"] == b"x" * 150


def test_reentrant_use_from_a_merge_function_is_an_error(make_staged: Callable[[], Staged]) -> None:
    alice, bob = make_staged(), make_staged()

    def sneaky(old: Any, ours: Any, theirs: Any) -> Any:
        return bob.get("never-read")  # needs bob, which is committing

    bob.set_merge_fn("k", sneaky)
    alice["k"] = 1
    alice.commit()
    bob["k"] = 2
    with pytest.raises(MergeConflict) as info:
        bob.commit()
    assert isinstance(info.value.merge_errors["k"], RuntimeError)


def test_repr(staged: Staged) -> None:
    staged["a"] = 1
    text = repr(staged)
    assert "Staged" in text and "branch='main'" in text and "keys=1" in text
    assert "changes staged" in text
    staged.commit()
    assert staged.current_commit[:12] in repr(staged)


def test_commit_concurrency_error_keeps_changes(make_staged: Callable[[], Staged]) -> None:
    """A lost race after the merge raises ConcurrencyError with the staged
    changes kept; the seed's retry pattern (refresh, re-apply) works."""
    alice, bob = make_staged(), make_staged()
    racing_enabled = True

    def racing(old: Any, ours: Any, theirs: Any) -> Any:
        if racing_enabled:
            # Another writer moves the head every time bob merges.
            other = Staged(Versioned(alice.versioned.store), allow_unsafe_pickle=True)
            other["x"] = other.get("x", 0) + 1
            other.commit()
        return (ours or 0) + (theirs or 0) - (old or 0)

    bob.set_merge_fn("n", racing)
    alice["n"] = 1
    alice.commit()
    bob["n"] = 1
    with pytest.raises(ConcurrencyError):
        bob.commit()
    assert bob.has_changes and bob["n"] == 1
    racing_enabled = False
    bob.refresh()
    bob["n"] = bob.get("n", 0) + 1
    bob.commit()
    assert bob["n"] == 2
