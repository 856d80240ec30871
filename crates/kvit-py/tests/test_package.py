"""The package surface: exports, merge helpers, typing marker."""

from __future__ import annotations

import importlib.resources

import kvit
from kvit import counter, last_writer_wins


def test_all_is_exported() -> None:
    for name in kvit.__all__:
        assert hasattr(kvit, name), name
    for name in ("Versioned", "KVStore", "Memory", "Disk", "MergeResult", "DiffResult",
                 "ConcurrencyError", "MergeConflict", "counter", "last_writer_wins",
                 "Store", "Staged", "Live", "Namespaced", "store", "GCVersioned",
                 "RebaseResult"):
        assert name in kvit.__all__


def test_seed_import_paths() -> None:
    from kvit import ConcurrencyError, KVStore, MergeConflict  # noqa: F401
    from kvit.kv.disk import Disk
    from kvit.kv.memory import Memory

    assert Memory is kvit.Memory and Disk is kvit.Disk


def test_counter_on_decoded_values() -> None:
    merge = counter()
    assert merge(10, 13, 11) == 14
    assert merge(None, 1, 1) == 2
    assert merge(5, None, 7) == 2
    assert merge(0.5, 1.5, 2.5) == 3.5


def test_last_writer_wins() -> None:
    merge = last_writer_wins()
    assert merge("a", "b", "c") == "c"
    assert merge("a", "b", None) is None


def test_typed_package() -> None:
    files = importlib.resources.files("kvit")
    assert files.joinpath("py.typed").is_file()
    assert files.joinpath("_native.pyi").is_file()


def test_version() -> None:
    assert isinstance(kvit.__version__, str) and kvit.__version__


def test_public_classes_are_stores_over_native_cores() -> None:
    from collections.abc import MutableMapping

    from kvit._native import StagedCore

    assert issubclass(kvit.Staged, StagedCore)
    for cls in (kvit.Staged, kvit.Live, kvit.Namespaced):
        assert issubclass(cls, kvit.Store) and issubclass(cls, MutableMapping)
    assert issubclass(kvit.GCVersioned, kvit.Versioned)
