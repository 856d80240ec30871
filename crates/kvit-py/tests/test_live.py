"""Live: an in-memory store without versions, backed by a plain dict."""

from __future__ import annotations

from collections.abc import MutableMapping

import pytest

from kvit import Live, Store


def test_writes_take_effect_immediately() -> None:
    s = Live()
    s["k"] = "v"
    assert s["k"] == "v"
    s.set("n", 1)
    assert s.get("n") == 1
    s.remove("n")
    assert "n" not in s


def test_construction_takes_no_parameters() -> None:
    s = Live()
    assert len(s) == 0
    with pytest.raises(TypeError):
        Live({"a": 1})  # type: ignore[call-arg]


def test_is_a_store_and_a_mutable_mapping() -> None:
    s = Live()
    assert isinstance(s, Store) and isinstance(s, MutableMapping)


@pytest.mark.parametrize(
    "operation",
    [
        lambda s: s.commit(),
        lambda s: s.reset(),
        lambda s: s.create_branch("dev"),
        lambda s: s.checkout("0" * 40),
        lambda s: s.list_branches(),
        lambda s: s.set_merge_fn("k", None),
        lambda s: s.set_default_merge(lambda old, ours, theirs: ours),
        lambda s: s.current_commit,
        lambda s: s.base_commit,
        lambda s: s.last_merge_result,
    ],
    ids=[
        "commit",
        "reset",
        "create_branch",
        "checkout",
        "list_branches",
        "set_merge_fn",
        "set_default_merge",
        "current_commit",
        "base_commit",
        "last_merge_result",
    ],
)
def test_versioning_operations_raise_not_implemented(operation: object) -> None:
    s = Live()
    s["k"] = "v"
    with pytest.raises(NotImplementedError, match="Live"):
        operation(s)  # type: ignore[operator]
    assert s["k"] == "v"


def test_values_are_kept_as_given() -> None:
    s = Live()
    value = [1, 2]
    s["k"] = value
    assert s["k"] is value
    s["unpicklable"] = lambda: None  # no encoding at all
    assert callable(s["unpicklable"])


def test_mapping_behaviour() -> None:
    s = Live()
    s.update(a=1, b=2)
    assert s == {"a": 1, "b": 2}
    assert s.get_many("a", "zz") == {"a": 1}
    assert s.keys_with_prefix("a") == ["a"]
    for key in s:  # iteration is over a snapshot
        del s[key]
    assert len(s) == 0
    with pytest.raises(KeyError):
        del s["a"]
    s["x"] = 1
    s.clear()
    assert dict(s) == {}


def test_keys_must_be_str() -> None:
    with pytest.raises(TypeError, match="str"):
        Live()[1] = 1  # type: ignore[index]


def test_repr() -> None:
    s = Live()
    s["a"] = 1
    assert repr(s) == "<kvit.Live keys=1>"
