"""Versioned through Python: every bullet of SPEC.md's Versioned section,
on every backend."""

from __future__ import annotations

import re
import threading
from typing import Callable, Optional

import pytest

import kvit
from kvit import ConcurrencyError, KVStore, MergeConflict, MergeResult, Versioned

from conftest import DictStore, bytes_counter

HEX40 = re.compile(r"^[0-9a-f]{40}$")


class FlakyStore(DictStore):
    """A Python store whose branch-head swaps can be made to lose."""

    def __init__(self) -> None:
        super().__init__()
        self.lose_head_swaps = False

    def cas(self, key: str, value: bytes, expected: Optional[bytes]) -> bool:
        if self.lose_head_swaps and key.startswith("refs/heads/"):
            return False
        return super().cas(key, value, expected)


class HookedStore(DictStore):
    """A Python store that runs a hook (once) just before a branch-head swap:
    another writer committing at exactly the wrong moment."""

    def __init__(self) -> None:
        super().__init__()
        self.before_head_swap: Optional[Callable[[], None]] = None

    def cas(self, key: str, value: bytes, expected: Optional[bytes]) -> bool:
        hook, self.before_head_swap = self.before_head_swap, None
        if hook is not None and key.startswith("refs/heads/"):
            hook()
        return super().cas(key, value, expected)


# ---- construction -----------------------------------------------------------


def test_no_store_means_fresh_memory() -> None:
    a, b = Versioned(), Versioned()
    a.commit({"k": b"v"})
    assert b.get("k") is None
    assert isinstance(a.store, kvit.Memory)
    assert a.branch == "main"


def test_new_branch_starts_at_an_empty_root(store: KVStore) -> None:
    v = Versioned(store, branch="dev")
    assert v.keys() == []
    assert v.list_branches() == ["dev"]
    assert v.history() == [v.current_commit]
    assert v.initial_commit == v.current_commit
    assert v.latest_head == v.current_commit


def test_resumes_from_the_branch_head(store: KVStore) -> None:
    first = Versioned(store)
    result = first.commit({"k": b"v"})
    again = Versioned(store)
    assert again.current_commit == result.commit
    assert again.get("k") == b"v"


def test_open_at_a_commit(versioned: Versioned) -> None:
    old = versioned.commit({"k": b"1"}).commit
    versioned.commit({"k": b"2"})
    assert old is not None
    at_old = Versioned(versioned.store, commit_hash=old)
    assert at_old.get("k") == b"1"
    assert at_old.current_commit == old == at_old.base_commit
    with pytest.raises(KeyError):
        Versioned(versioned.store, commit_hash="0" * 40)
    with pytest.raises(ValueError):
        Versioned(versioned.store, commit_hash="not-a-commit")


def test_invalid_branch_name_is_a_value_error(store: KVStore) -> None:
    with pytest.raises(ValueError):
        Versioned(store, branch="bad..name")


def test_store_must_be_a_kvstore() -> None:
    with pytest.raises(TypeError, match="KVStore"):
        Versioned({})  # type: ignore[arg-type]


# ---- reads ------------------------------------------------------------------


def test_reads(versioned: Versioned) -> None:
    versioned.commit({"a": b"1", "b": b"2", "c/d": b"3"})
    assert versioned.get("a") == b"1"
    assert versioned.get("missing") is None
    assert versioned.get_many("a", "c/d", "missing") == {"a": b"1", "c/d": b"3"}
    assert versioned.keys() == ["a", "b", "c/d"]
    assert "a" in versioned and "missing" not in versioned
    assert 3 not in versioned  # type: ignore[operator]
    assert len(versioned) == 3
    assert list(versioned) == ["a", "b", "c/d"]
    assert versioned.keys_with_prefix("c/") == ["c/d"]
    assert versioned.items() == [("a", b"1"), ("b", b"2"), ("c/d", b"3")]
    assert versioned.items("c/") == [("c/d", b"3")]
    with pytest.raises(TypeError):
        versioned.get(1)  # type: ignore[arg-type]


# ---- commit: strategies -----------------------------------------------------


def test_nothing_to_do_is_a_truthy_no_op(versioned: Versioned) -> None:
    before = versioned.current_commit
    result = versioned.commit()
    assert result.strategy == "no_op"
    assert result and result.merged
    assert result.commit == before == versioned.current_commit
    assert versioned.commit({}, []).strategy == "no_op"


def test_info_alone_makes_a_commit(versioned: Versioned) -> None:
    result = versioned.commit(info={"message": "just a note"})
    assert result.strategy == "fast_forward"
    assert versioned.commit_info() == {"message": "just a note"}


def test_fast_forward(versioned: Versioned) -> None:
    base = versioned.current_commit
    result = versioned.commit({"k": b"v"})
    assert result.strategy == "fast_forward"
    assert result.merged and result.commit is not None
    assert HEX40.match(result.commit)
    assert versioned.current_commit == versioned.base_commit == result.commit
    assert versioned.latest_head == result.commit
    assert versioned.history() == [result.commit, base]
    assert versioned.last_merge_result == result


def test_removals(versioned: Versioned) -> None:
    versioned.commit({"a": b"1", "b": b"2"})
    versioned.commit(removals=["a", "never-existed"])
    assert versioned.keys() == ["b"]
    versioned.commit(removals={"b"})
    assert versioned.keys() == []


def test_three_way_one_side_changes_win(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    alice.commit({"shared": b"0", "gone": b"x", "theirs": b"0", "mine": b"0"})
    bob.refresh()
    alice.commit({"theirs": b"1"}, ["gone"])
    result = bob.commit({"mine": b"1"})
    assert result.strategy == "three_way"
    assert result.merged
    assert result.carried_keys == {"theirs", "gone"}
    assert result.auto_merged_keys == set()
    assert bob.get("theirs") == b"1"
    assert bob.get("mine") == b"1"
    assert bob.get("gone") is None, "a removal counts as a change"
    assert bob.get("shared") == b"0"
    assert bob.latest_head == result.commit == bob.current_commit
    assert result.commit is not None
    merge = result.commit
    assert len(bob.history(merge, all_parents=True)) == len(set(bob.history(merge, all_parents=True)))


def test_three_way_our_removal_wins(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    alice.commit({"k": b"v", "other": b"0"})
    bob.refresh()
    alice.commit({"other": b"1"})
    bob.commit(removals=["k"])
    assert bob.get("k") is None
    assert bob.get("other") == b"1"


def test_removed_by_both_is_removed(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    alice.commit({"k": b"v"})
    bob.refresh()
    alice.commit(removals=["k"])
    result = bob.commit({"x": b"1"}, ["k"])
    assert result.strategy == "three_way"
    assert bob.get("k") is None
    assert bob.get("x") == b"1"


def test_identical_change_without_function_is_taken(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    alice.commit({"k": b"same"})
    result = bob.commit({"k": b"same"})
    assert result.strategy == "three_way"
    assert result.auto_merged_keys == {"k"}
    assert bob.get("k") == b"same"


def test_different_change_without_function_conflicts(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    alice.commit({"k": b"alice", "a": b"1"})
    before = (bob.current_commit, bob.base_commit, bob.keys())
    head = bob.latest_head
    with pytest.raises(MergeConflict) as info:
        bob.commit({"k": b"bob", "b": b"2"})
    assert info.value.conflicting_keys == {"k"}
    assert info.value.merge_errors == {}
    assert bob.latest_head == head, "nothing is written to the head"
    assert (bob.current_commit, bob.base_commit, bob.keys()) == before
    assert bob.get("k") is None


def test_conflict_abandoned_is_falsy(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    alice.commit({"k": b"alice"})
    before = bob.current_commit
    result = bob.commit({"k": b"bob"}, on_conflict="abandon")
    assert not result
    assert result.merged is False and result.commit is None
    assert result.conflicting_keys == {"k"}
    assert bob.current_commit == before
    assert bob.last_merge_result == result


def test_registered_merge_function_decides(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    seen: list[tuple[Optional[bytes], Optional[bytes], Optional[bytes]]] = []

    def merge(old: Optional[bytes], ours: Optional[bytes], theirs: Optional[bytes]) -> bytes:
        seen.append((old, ours, theirs))
        return bytes_counter(old, ours, theirs)

    bob.set_merge_fn("n", merge)
    alice.commit({"n": b"1"})
    result = bob.commit({"n": b"1"})
    # Even identical bytes go to the registered function: two increments.
    assert seen == [(None, b"1", b"1")]
    assert bob.get("n") == b"2"
    assert result.auto_merged_keys == {"n"}


def test_merge_function_arguments(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    alice.commit({"k": b"old"})
    bob.refresh()
    seen = []

    def merge(old: Optional[bytes], ours: Optional[bytes], theirs: Optional[bytes]) -> Optional[bytes]:
        seen.append((old, ours, theirs))
        return None  # None removes the key

    bob.set_merge_fn("k", merge)
    alice.commit({"k": b"theirs"})
    bob.commit(removals=["k"])
    assert seen == [(b"old", None, b"theirs")]
    assert bob.get("k") is None


def test_default_merge(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    bob.set_default_merge(lambda old, ours, theirs: (ours or b"") + (theirs or b""))
    alice.commit({"a": b"A", "b": b"A"})
    bob.commit({"a": b"B", "b": b"B"})
    assert bob.get("a") == b"BA"
    assert bob.get("b") == b"BA"


def test_per_call_functions_override_registered(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    bob.set_merge_fn("k", lambda old, ours, theirs: b"registered")
    bob.set_default_merge(lambda old, ours, theirs: b"registered default")
    alice.commit({"k": b"a", "j": b"a", "m": b"a"})
    bob.commit(
        {"k": b"b", "j": b"b", "m": b"b"},
        merge_fns={"k": lambda old, ours, theirs: b"per call"},
        default_merge=lambda old, ours, theirs: b"per call default",
    )
    assert bob.get("k") == b"per call"
    assert bob.get("j") == b"per call default"
    assert bob.get("m") == b"per call default"


def test_key_function_beats_default(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    bob.set_merge_fn("k", lambda old, ours, theirs: b"key")
    bob.set_default_merge(lambda old, ours, theirs: b"default")
    alice.commit({"k": b"a", "j": b"a"})
    bob.commit({"k": b"b", "j": b"b"})
    assert bob.get("k") == b"key"
    assert bob.get("j") == b"default"


def test_unregistering_a_merge_function(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    bob.set_merge_fn("k", lambda old, ours, theirs: b"merged")
    bob.set_merge_fn("k", None)
    alice.commit({"k": b"a"})
    with pytest.raises(MergeConflict):
        bob.commit({"k": b"b"})


def test_merge_fn_must_be_callable(versioned: Versioned) -> None:
    with pytest.raises(TypeError):
        versioned.set_merge_fn("k", 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        versioned.set_default_merge("not callable")  # type: ignore[arg-type]


def test_merge_functions_are_inherited_by_branches(versioned: Versioned) -> None:
    versioned.set_merge_fn("n", bytes_counter)
    dev = versioned.create_branch("dev")
    other = Versioned(versioned.store, branch="dev")
    other.commit({"n": b"1"})
    dev.commit({"n": b"1"})
    assert dev.get("n") == b"2"


def test_merge_fn_must_return_bytes(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    bob.set_merge_fn("k", lambda old, ours, theirs: 42)  # type: ignore[arg-type,return-value]
    alice.commit({"k": b"a"})
    with pytest.raises(MergeConflict) as info:
        bob.commit({"k": b"b"})
    assert isinstance(info.value.merge_errors["k"], TypeError)


def test_every_commit_is_unique(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    root = alice.current_commit
    ours = alice.commit({"k": b"same"}).commit
    merged = bob.commit({"k": b"same"})
    # The same change from the same parent is still two commits.
    assert merged.strategy == "three_way"
    everything = bob.history(all_parents=True)
    assert len(everything) == 4
    assert everything[0] == merged.commit and everything[-1] == root
    assert ours in everything
    c1 = Versioned(alice.store, commit_hash=root, branch="x").commit({"k": b"v"})
    c2 = Versioned(alice.store, commit_hash=root, branch="y").commit({"k": b"v"})
    assert c1.commit != c2.commit


def test_no_update_is_lost(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    alice.set_merge_fn("n", bytes_counter)
    bob.set_merge_fn("n", bytes_counter)
    alice.commit({"n": b"1"})
    bob.commit({"n": b"1"})  # three-way
    alice.commit({"n": str(int(alice.get("n") or b"0") + 1).encode()})  # three-way again
    alice.refresh()
    assert alice.get("n") == b"3"


# ---- commit: arguments ------------------------------------------------------


def test_on_conflict_must_be_known(versioned: Versioned) -> None:
    with pytest.raises(ValueError, match="on_conflict"):
        versioned.commit({"k": b"v"}, on_conflict="retry")  # type: ignore[arg-type]
    assert versioned.get("k") is None


def test_key_in_updates_and_removals(versioned: Versioned) -> None:
    with pytest.raises(ValueError, match="both"):
        versioned.commit({"k": b"v"}, ["k"])


def test_update_values_must_be_bytes(versioned: Versioned) -> None:
    with pytest.raises(TypeError, match="'?\"?name'?\"?"):
        versioned.commit({"name": "alice"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        versioned.commit({1: b"v"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        versioned.commit(removals="k")  # a lone str is not a list of keys
    assert versioned.keys() == []


def test_invalid_keys(versioned: Versioned) -> None:
    with pytest.raises(ValueError):
        versioned.commit({"": b"v"})
    with pytest.raises(ValueError):
        versioned.commit({"a\0b": b"v"})


def test_updates_may_be_any_mapping(versioned: Versioned) -> None:
    from collections import OrderedDict
    from types import MappingProxyType

    versioned.commit(MappingProxyType({"a": b"1"}))
    versioned.commit(OrderedDict(b=bytearray(b"2")))
    assert versioned.get_many("a", "b") == {"a": b"1", "b": b"2"}


def test_info_round_trip(versioned: Versioned) -> None:
    info = {
        "message": "hello",
        "n": 3,
        "big": 2**63,
        "ratio": 0.5,
        "flag": True,
        "none": None,
        "nested": {"list": [1, "two", [3.0]], "tuple": (1, 2)},
    }
    result = versioned.commit({"k": b"v"}, info=info)
    expected = dict(info, nested={"list": [1, "two", [3.0]], "tuple": [1, 2]})
    assert versioned.commit_info() == expected
    assert versioned.commit_info(result.commit) == expected
    first = versioned.history()[-1]
    assert versioned.commit_info(first) is None, "none was stored"
    versioned.commit({"j": b"v"})
    assert versioned.commit_info() is None
    assert versioned.commit_info("0" * 40) is None


def test_info_must_be_json_like(versioned: Versioned) -> None:
    with pytest.raises(TypeError):
        versioned.commit({"k": b"v"}, info={"x": object()})
    with pytest.raises(TypeError):
        versioned.commit({"k": b"v"}, info=["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        versioned.commit({"k": b"v"}, info={1: "non-str key"})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        versioned.commit({"k": b"v"}, info={"x": float("nan")})
    assert versioned.keys() == []


# ---- lost races ---------------------------------------------------------------


def test_lost_head_swap_raises_concurrency_error() -> None:
    store = FlakyStore()
    v = Versioned(store)
    v.commit({"k": b"1"})
    before = (v.current_commit, v.base_commit)
    store.lose_head_swaps = True
    with pytest.raises(ConcurrencyError):
        v.commit({"k": b"2"})
    assert (v.current_commit, v.base_commit) == before
    assert v.get("k") == b"1"

    result = v.commit({"k": b"2"}, on_conflict="abandon")
    assert not result
    assert result.merged is False and result.commit is None
    assert (v.current_commit, v.base_commit) == before

    store.lose_head_swaps = False
    assert v.commit({"k": b"2"}).strategy == "fast_forward"
    assert v.get("k") == b"2"


def test_head_moving_during_commit_is_merged() -> None:
    store = HookedStore()
    alice, bob = Versioned(store), Versioned(store)
    alice.commit({"a": b"0"})
    bob.refresh()

    def alice_commits() -> None:
        alice.commit({"a": b"1"})

    store.before_head_swap = alice_commits
    result = bob.commit({"b": b"1"})
    assert result.strategy == "three_way"
    assert result.carried_keys == {"a"}
    assert bob.get_many("a", "b") == {"a": b"1", "b": b"1"}


def test_concurrency_error_is_retryable(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    alice.commit({"k": b"1"})
    bob.refresh()
    assert bob.get("k") == b"1"
    assert bob.base_commit == alice.current_commit


# ---- navigation -------------------------------------------------------------


def test_refresh_sees_other_writers(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    result = alice.commit({"k": b"v"})
    assert bob.get("k") is None
    assert bob.latest_head == result.commit != bob.current_commit
    bob.refresh()
    assert bob.get("k") == b"v"
    assert bob.current_commit == bob.base_commit == result.commit


def test_checkout(versioned: Versioned) -> None:
    first = versioned.commit({"k": b"1"}).commit
    versioned.commit({"k": b"2"})
    assert first is not None
    old = versioned.checkout(first)
    assert old is not None
    assert old.get("k") == b"1"
    assert old.branch == "main"
    assert old.current_commit == first
    assert versioned.get("k") == b"2", "the original cursor does not move"
    assert versioned.checkout("0" * 40) is None
    assert versioned.checkout("nonsense") is None
    other = versioned.checkout(first, branch="elsewhere")
    assert other is not None and other.branch == "elsewhere"
    other.commit({"k": b"3"})
    assert "elsewhere" in versioned.list_branches()
    assert versioned.get("k") == b"2"


def test_checkout_then_commit_merges_into_branch(versioned: Versioned) -> None:
    first = versioned.commit({"a": b"1"}).commit
    versioned.commit({"b": b"1"})
    assert first is not None
    old = versioned.checkout(first)
    assert old is not None
    result = old.commit({"c": b"1"})
    assert result.strategy == "three_way"
    versioned.refresh()
    assert versioned.keys() == ["a", "b", "c"]


def test_create_branch(versioned: Versioned) -> None:
    versioned.commit({"k": b"1"})
    dev = versioned.create_branch("dev")
    assert isinstance(dev, Versioned)
    assert dev.branch == "dev"
    assert dev.current_commit == versioned.current_commit
    dev.commit({"k": b"dev"})
    assert versioned.get("k") == b"1"
    versioned.refresh()
    assert versioned.get("k") == b"1"
    assert Versioned(versioned.store, branch="dev").get("k") == b"dev"
    with pytest.raises(ValueError):
        versioned.create_branch("dev")
    with pytest.raises(ValueError):
        versioned.create_branch("main")
    with pytest.raises(ValueError):
        versioned.create_branch("bad name")


def test_create_branch_race_has_one_winner(store: KVStore) -> None:
    cursors = [Versioned(store) for _ in range(4)]
    outcomes: list[str] = []
    barrier = threading.Barrier(len(cursors))

    def create(cursor: Versioned) -> None:
        barrier.wait()
        try:
            cursor.create_branch("contested")
            outcomes.append("created")
        except ValueError:
            outcomes.append("exists")

    threads = [threading.Thread(target=create, args=(cursor,)) for cursor in cursors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "exists", "exists", "exists"]


def test_reset_to(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    first = alice.commit({"k": b"1"}).commit
    alice.commit({"k": b"2"})
    assert first is not None
    assert bob.reset_to(first) is True
    assert bob.current_commit == bob.base_commit == bob.latest_head == first
    assert bob.get("k") == b"1"
    assert alice.latest_head == first
    assert bob.reset_to("0" * 40) is False
    assert bob.reset_to("garbage") is False
    assert bob.latest_head == first


def test_list_branches_sorted(versioned: Versioned) -> None:
    versioned.create_branch("zeta")
    versioned.create_branch("alpha")
    versioned.create_branch("team/beta")
    assert versioned.list_branches() == ["alpha", "main", "team/beta", "zeta"]
    assert versioned.delete_branch("zeta") is True
    assert versioned.delete_branch("zeta") is False
    assert versioned.list_branches() == ["alpha", "main", "team/beta"]


# ---- history and diff ---------------------------------------------------------


def test_history(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    root = alice.current_commit
    a1 = alice.commit({"a": b"1"}).commit
    b1 = bob.commit({"b": b"1"})  # three-way: merge of b's commit and a1
    assert b1.strategy == "three_way"
    merge = b1.commit
    assert merge is not None and a1 is not None
    first_parents = bob.history()
    assert first_parents[0] == merge
    assert first_parents[-1] == root
    assert a1 not in first_parents, "first parents follow our side"
    everything = bob.history(all_parents=True)
    assert everything[0] == merge and everything[-1] == root
    assert a1 in everything
    assert len(everything) == len(set(everything)) == 4
    assert bob.history(a1) == [a1, root]
    assert all(HEX40.match(commit) for commit in everything)
    with pytest.raises(KeyError):
        bob.history("0" * 40)
    with pytest.raises(ValueError):
        bob.history("xyz")


def test_initial_commit(versioned: Versioned) -> None:
    root = versioned.current_commit
    versioned.commit({"a": b"1"})
    versioned.commit({"a": b"2"})
    assert versioned.initial_commit == root
    assert versioned.history()[-1] == root


def test_diff(versioned: Versioned) -> None:
    a = versioned.commit({"same": b"1", "changed": b"1", "removed": b"1"}).commit
    b = versioned.commit({"changed": b"2", "added": b"1"}, ["removed"]).commit
    assert a is not None and b is not None
    diff = versioned.diff(a, b)
    assert isinstance(diff, kvit.DiffResult)
    assert diff.added == frozenset({"added"})
    assert diff.removed == frozenset({"removed"})
    assert diff.modified == frozenset({"changed"})
    assert isinstance(diff.added, frozenset)
    added, removed, modified = versioned.diff(b, a)
    assert (added, removed, modified) == ({"removed"}, {"added"}, {"changed"})
    assert versioned.diff(a, a) == kvit.DiffResult(frozenset(), frozenset(), frozenset())
    with pytest.raises(KeyError):
        versioned.diff(a, "0" * 40)


def test_merge_base(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    root = alice.current_commit
    a = alice.commit({"a": b"1"}).commit
    dev = bob.create_branch("dev")
    d = dev.commit({"d": b"1"}).commit
    assert a is not None and d is not None
    assert alice.merge_base(a, d) == root


# ---- MergeResult ----------------------------------------------------------------


def test_merge_result_value() -> None:
    result = MergeResult(True, "a" * 40, "three_way", {"k"}, ["c"])
    assert result and result.merged
    assert result.auto_merged_keys == {"k"} and isinstance(result.auto_merged_keys, set)
    assert result.carried_keys == {"c"}
    assert result.conflicting_keys == set()
    assert result == MergeResult(True, "a" * 40, "three_way", {"k"}, {"c"})
    assert result != MergeResult(False)
    assert "three_way" in repr(result) and "'k'" in repr(result)
    assert not MergeResult(False)
    with pytest.raises(ValueError):
        MergeResult(True, None, "sideways")  # type: ignore[arg-type]


def test_repr(versioned: Versioned) -> None:
    versioned.commit({"a": b"1", "b": b"2"})
    text = repr(versioned)
    assert "main" in text
    assert versioned.current_commit[:12] in text
    assert "keys=2" in text
