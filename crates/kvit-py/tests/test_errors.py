"""Rust errors become the Python exceptions the API promises."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Callable, Optional

import pytest

import kvit
from kvit import (
    BackendError,
    ConcurrencyError,
    CorruptionError,
    InvalidStoreError,
    KvitError,
    MergeConflict,
    Versioned,
)

from conftest import DictStore


class Boom(Exception):
    """A user's own exception type."""


def test_exception_tree() -> None:
    for error in (ConcurrencyError, MergeConflict, CorruptionError, BackendError, InvalidStoreError):
        assert issubclass(error, KvitError)
        assert issubclass(error, Exception)
    assert issubclass(BackendError, OSError)
    assert issubclass(InvalidStoreError, ValueError)


def test_merge_conflict_keeps_the_original_exceptions(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    raised = Boom("cannot merge k")

    def failing(old: Optional[bytes], ours: Optional[bytes], theirs: Optional[bytes]) -> bytes:
        raise raised

    bob.set_merge_fn("k", failing)
    alice.commit({"k": b"a", "plain": b"a", "ok": b"a"})
    bob.set_merge_fn("ok", lambda old, ours, theirs: b"merged")
    head = bob.latest_head
    with pytest.raises(MergeConflict) as info:
        bob.commit({"k": b"b", "plain": b"b", "ok": b"b"})
    error = info.value
    assert error.conflicting_keys == {"k", "plain"}
    assert isinstance(error.conflicting_keys, set)
    assert set(error.merge_errors) == {"k"}
    assert error.merge_errors["k"] is raised
    assert "k" in str(error)
    assert bob.latest_head == head
    assert bob.get("k") is None


def test_merge_conflict_from_python() -> None:
    error = MergeConflict({"a"}, {"a": ValueError("x")})
    assert error.conflicting_keys == {"a"}
    assert isinstance(error.merge_errors["a"], ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert copy.conflicting_keys == {"a"} and str(copy) == str(error)
    assert MergeConflict().merge_errors == {}


def test_reentrant_merge_function_is_an_error(two_writers: tuple[Versioned, Versioned]) -> None:
    alice, bob = two_writers
    bob.set_merge_fn("k", lambda old, ours, theirs: bob.get("k"))
    alice.commit({"k": b"a"})
    with pytest.raises(MergeConflict) as info:
        bob.commit({"k": b"b"})
    assert isinstance(info.value.merge_errors["k"], RuntimeError)
    # The handle still works afterwards.
    bob.refresh()
    assert bob.get("k") == b"a"


def test_python_backend_errors_propagate_as_themselves() -> None:
    raised = Boom("backend down")

    class Broken(DictStore):
        fail = False

        def get(self, key: str) -> Optional[bytes]:
            if self.fail:
                raise raised
            return super().get(key)

    store = Broken()
    v = Versioned(store)
    v.commit({"k": b"v"})
    store.fail = True
    with pytest.raises(Boom) as info:
        Versioned(store)
    assert info.value is raised
    with pytest.raises(NotImplementedError):

        class Unsupported(DictStore):
            def cas(self, key: str, value: bytes, expected: Optional[bytes]) -> bool:
                raise NotImplementedError("no cas here")

        Versioned(Unsupported())


def test_python_backend_returning_garbage() -> None:
    class Garbage(DictStore):
        def get(self, key: str) -> Optional[bytes]:
            value = super().get(key)
            return value.decode("latin-1") if value is not None else None  # type: ignore[return-value]

    with pytest.raises(TypeError, match="bytes"):
        v = Versioned(Garbage())
        v.commit({"k": b"v"})
        Versioned(v.store).get("k")


def test_corrupt_head(store: kvit.KVStore) -> None:
    Versioned(store).commit({"k": b"v"})
    store.set("refs/heads/main", b"not a commit id")
    with pytest.raises(CorruptionError):
        Versioned(store)


def test_corrupt_object() -> None:
    store = kvit.Memory()
    v = Versioned(store)
    v.commit({"k": b"v" * 10_000})  # large enough to be its own blob
    for key, value in store.items():
        if not key.startswith(("refs/", "kvit/")):
            store.set(key, value[:-1] + bytes([value[-1] ^ 1]))
    with pytest.raises(CorruptionError):
        Versioned(store).get("k")


def test_unsupported_format(store: kvit.KVStore) -> None:
    Versioned(store)
    store.set(next(key for key in store.keys() if key.startswith("kvit/")), b"999")
    with pytest.raises(InvalidStoreError):
        Versioned(store)


def test_value_and_type_errors(versioned: Versioned) -> None:
    with pytest.raises(ValueError):
        versioned.commit({"": b"v"})
    with pytest.raises(TypeError):
        versioned.commit({"k": 1})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        versioned.create_branch("-bad")
    with pytest.raises(KeyError):
        versioned.diff("0" * 40, "1" * 40)


# ---- commit ids given by a unique prefix ------------------------------------


def _two_commits_sharing_a_prefix(versioned: Versioned) -> str:
    """Commits until two commits share their first 4 hex characters (a few
    hundred commits: the birthday bound of 16**4); returns those 4."""
    seen: set[str] = set()
    for i in range(20_000):
        commit = versioned.commit({"k": str(i).encode()}).commit
        assert commit is not None
        if commit[:4] in seen:
            return commit[:4]
        seen.add(commit[:4])
    raise AssertionError("no two of 20,000 commits share a 4-character prefix")


def test_unique_commit_prefixes_name_their_commit(versioned: Versioned) -> None:
    first = versioned.commit({"k": b"1"}, info={"n": 1}).commit
    assert first is not None
    versioned.commit({"k": b"2"})
    head = versioned.current_commit
    opened = versioned.checkout(first[:7])
    assert opened is not None and opened.current_commit == first
    assert Versioned(versioned.store, commit_hash=first[:4]).current_commit == first
    assert versioned.history(first[:6]) == versioned.history(first)
    assert versioned.diff(first[:5], head[:12]).modified == frozenset({"k"})
    assert versioned.merge_base(first[:8], head[:8]) == first
    assert versioned.commit_info(first[:10]) == {"n": 1}
    assert versioned.reset_to(first[:9]) and versioned.current_commit == first
    staged = kvit.Staged(Versioned(versioned.store), allow_unsafe_pickle=True)
    at_first = staged.checkout(first[:6])
    assert at_first is not None and at_first.current_commit == first


def test_unknown_commit_ids_keep_their_documented_answers(versioned: Versioned) -> None:
    head = versioned.commit({"k": b"v"}).commit
    assert head is not None
    unknown = ("0" if head[0] != "0" else "1") + head[1:6]
    # The calls whose answer to an unknown commit is None / False still give it...
    assert versioned.checkout(unknown) is None
    assert versioned.reset_to(unknown) is False
    assert versioned.commit_info(unknown) is None
    # ...and the others raise KeyError naming what was asked for.
    for call in (
        lambda: versioned.history(unknown),
        lambda: versioned.diff(unknown, head),
        lambda: versioned.merge_base(head, unknown),
        lambda: Versioned(versioned.store, commit_hash=unknown),
    ):
        with pytest.raises(KeyError, match=unknown):
            call()
    assert versioned.current_commit == head


@pytest.mark.parametrize("text", ["abc", "ABCD", "not a commit id", "0" * 41, "g" * 40])
def test_text_that_cannot_be_a_commit_id(versioned: Versioned, text: str) -> None:
    assert versioned.checkout(text) is None
    assert versioned.reset_to(text) is False
    assert versioned.commit_info(text) is None
    for call in (
        lambda: versioned.history(text),
        lambda: versioned.diff(text, versioned.current_commit),
        lambda: Versioned(versioned.store, commit_hash=text),
    ):
        with pytest.raises(ValueError, match="4 to 40 lowercase hex"):
            call()


def test_ambiguous_commit_prefixes_are_value_errors() -> None:
    versioned = Versioned(kvit.Memory())
    prefix = _two_commits_sharing_a_prefix(versioned)
    head = versioned.current_commit
    staged = kvit.Staged(Versioned(versioned.store))
    for call in (
        lambda: versioned.checkout(prefix),
        lambda: versioned.reset_to(prefix),
        lambda: versioned.commit_info(prefix),
        lambda: versioned.history(prefix),
        lambda: versioned.diff(prefix, head),
        lambda: Versioned(versioned.store, commit_hash=prefix),
        lambda: staged.checkout(prefix),
    ):
        with pytest.raises(ValueError, match=rf'"{prefix}" is ambiguous: \d+ commits'):
            call()
    assert versioned.current_commit == versioned.latest_head == head


# ---- a store used after close ---------------------------------------------


def test_a_closed_disk_refuses_every_call(tmp_path: Path) -> None:
    disk = kvit.Disk(tmp_path / "store")
    versioned = Versioned(disk)
    first = versioned.commit({"k": b"v"}).commit
    assert not disk.closed
    disk.close()
    assert disk.closed and "closed" in repr(disk)
    disk.close()  # closing twice does nothing
    calls: dict[str, Callable[[], object]] = {
        "get": lambda: disk.get("k"),
        "set": lambda: disk.set("k", b"w"),
        "get_many": lambda: disk.get_many("k"),
        "set_many": lambda: disk.set_many(k=b"w"),
        "keys": disk.keys,
        "items": disk.items,
        "in": lambda: "k" in disk,
        "remove": lambda: disk.remove("k"),
        "remove_many": lambda: disk.remove_many("k"),
        "cas": lambda: disk.cas("k", b"w", b"v"),
        "clear": disk.clear,
        "commit": lambda: versioned.commit({"other": b"x"}),
        "refresh": versioned.refresh,
        "latest_head": lambda: versioned.latest_head,
        "list_branches": versioned.list_branches,
        "create_branch": lambda: versioned.create_branch("dev"),
        "checkout": lambda: versioned.checkout(first or ""),
        "open a cursor": lambda: Versioned(disk),
        "open a store": lambda: kvit.Staged(Versioned(disk)),
    }
    for name, call in calls.items():
        with pytest.raises(BackendError, match="has been closed") as info:
            call()
        assert str(tmp_path / "store") in str(info.value), name
    assert versioned.current_commit == first
    # Nothing was lost, and nothing reopened the store behind our back.
    assert Versioned(kvit.Disk(tmp_path / "store")).get("k") == b"v"


def test_disk_closes_at_the_end_of_a_with_block(tmp_path: Path) -> None:
    with kvit.Disk(tmp_path) as disk:
        disk.set("k", b"v")
        assert not disk.closed
    assert disk.closed
    with pytest.raises(BackendError, match="closed"):
        disk.get("k")
    with pytest.raises(Boom), kvit.Disk(tmp_path) as other:
        raise Boom("the block failed")
    assert other.closed
    assert kvit.Disk(tmp_path).get("k") == b"v"


# ---- sizes ------------------------------------------------------------------


def test_keys_up_to_the_limit_and_no_further(versioned: Versioned, staged: kvit.Staged) -> None:
    longest = "k" * 4096
    # A key this long ahead of another used to make the tree unbuildable.
    versioned.commit({longest: b"v", "z": b"w"})
    assert versioned.get(longest) == b"v" and len(versioned) == 2
    with pytest.raises(ValueError, match="4096"):
        versioned.commit({longest + "k": b"v"})
    with pytest.raises(ValueError, match="4096"):
        versioned.commit(removals=[longest + "k"])
    with pytest.raises(ValueError, match="4096"):
        staged[longest + "k"] = 1
        staged.commit()


def test_values_above_the_limit_name_the_key() -> None:
    versioned = Versioned()
    with pytest.raises(ValueError, match=r"'big'|\"big\""):
        versioned.commit({"big": bytes(128 * 1024 * 1024 + 1)})
    assert versioned.keys() == []


@pytest.mark.parametrize("backend", ["memory", "disk"])
def test_backends_keep_empty_and_nul_keys_exactly(backend: str, tmp_path: Path) -> None:
    # A KVStore is bytes by string key and reinterprets nothing; it is the
    # versioned layer above that refuses such keys for user data.
    store: kvit.KVStore = kvit.Memory() if backend == "memory" else kvit.Disk(tmp_path)
    store.set_many(**{"": b"empty", "a\0b": b"nul", "a": b"plain"})
    assert store.get("") == b"empty" and store.get("a\0b") == b"nul"
    assert sorted(store.keys()) == ["", "a", "a\0b"]
    assert store.cas("a\0b", b"nul2", b"nul") and store.get("a") == b"plain"
    store.remove("a\0b")
    assert "a\0b" not in store and "a" in store
    for key, rule in (("", "must not be empty"), ("a\0b", "must not contain NUL")):
        with pytest.raises(ValueError, match=rule):
            Versioned(store).commit({key: b"v"})
