"""Rust errors become the Python exceptions the API promises."""

from __future__ import annotations

import pickle
from typing import Optional

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
