"""kvit.store(): every parameter of the seed's table."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

import kvit
from kvit import GCVersioned, Staged, Versioned


def test_defaults_memory_main_pickle() -> None:
    s = kvit.store()
    assert isinstance(s, Staged)
    assert type(s.versioned) is Versioned
    assert isinstance(s.versioned.store, kvit.Memory)
    assert s.branch == "main" and s.list_branches() == ["main"]
    assert s.encoder is pickle.dumps and s.decoder is pickle.loads
    s["k"] = (1, 2)
    s.commit()
    assert s.versioned.get("k") == pickle.dumps((1, 2))


def test_memory_stores_are_separate() -> None:
    a, b = kvit.store(), kvit.store()
    a["k"] = 1
    a.commit()
    assert "k" not in b


def test_storage_disk_with_path(tmp_path: Path) -> None:
    s = kvit.store(storage="disk", path=tmp_path / "db")
    assert isinstance(s.versioned.store, kvit.Disk)
    s["k"] = "persisted"
    s.commit()
    again = kvit.store(storage="disk", path=str(tmp_path / "db"))
    assert again["k"] == "persisted"


def test_storage_disk_needs_a_path() -> None:
    with pytest.raises(ValueError, match="path"):
        kvit.store(storage="disk")


def test_path_is_only_for_disk(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="path"):
        kvit.store(path=tmp_path)
    assert not list(tmp_path.iterdir())


def test_unknown_storage() -> None:
    with pytest.raises(ValueError, match="storage"):
        kvit.store(storage="sqlite")
    with pytest.raises(ValueError):
        kvit.store("Memory")


def test_network_storage_needs_a_url() -> None:
    for storage in ("redis", "postgres"):
        with pytest.raises(ValueError, match="needs a url"):
            kvit.store(storage=storage)


def test_url_prefix_and_table_only_where_they_apply(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="url"):
        kvit.store(url="redis://127.0.0.1:6379")
    with pytest.raises(ValueError, match="url"):
        kvit.store(storage="disk", path=tmp_path, url="redis://127.0.0.1:6379")
    with pytest.raises(ValueError, match="path"):
        kvit.store(storage="redis", url="redis://127.0.0.1:6379", path=tmp_path)
    with pytest.raises(ValueError, match="prefix"):
        kvit.store(prefix="app:")
    with pytest.raises(ValueError, match="prefix"):
        kvit.store(storage="postgres", url="postgres://127.0.0.1/db", prefix="app:")
    with pytest.raises(ValueError, match="table"):
        kvit.store(storage="redis", url="redis://127.0.0.1:6379", table="t")
    with pytest.raises(ValueError, match="table"):
        kvit.store(storage="disk", path=tmp_path, table="t")
    # Refused before anything is opened.
    assert not list(tmp_path.iterdir())


def test_malformed_urls_are_value_errors() -> None:
    # Checked before any connection is tried, so no server is needed.
    with pytest.raises(ValueError, match="Redis URL"):
        kvit.store(storage="redis", url="not a url", codec="json")
    with pytest.raises(ValueError, match="PostgreSQL connection URL"):
        kvit.store(storage="postgres", url="postgres://127.0.0.1:notaport/db", codec="json")


def test_network_storage_needs_a_codec_choice() -> None:
    # Plain pickle, the default elsewhere, must be asked for on a store that
    # others can write (test_codecs.py has the rest).
    for storage in ("redis", "postgres"):
        with pytest.raises(ValueError, match="allow_unsafe_pickle=True"):
            kvit.store(storage=storage, url="not a url")


def test_branch(tmp_path: Path) -> None:
    s = kvit.store(branch="dev")
    assert s.branch == "dev" and s.list_branches() == ["dev"]
    disk = kvit.store(storage="disk", path=tmp_path, branch="feature")
    disk["k"] = 1
    disk.commit()
    assert kvit.store(storage="disk", path=tmp_path).list_branches() == ["feature", "main"]
    with pytest.raises(ValueError):
        kvit.store(branch="bad..name")


def test_encoder_and_decoder() -> None:
    s = kvit.store(
        encoder=lambda v: json.dumps(v).encode(),
        decoder=lambda b: json.loads(b),
    )
    s["k"] = {"a": 1}
    s.commit()
    assert s.versioned.get("k") == b'{"a": 1}'
    s.refresh()
    assert s["k"] == {"a": 1}


def test_only_one_of_encoder_and_decoder() -> None:
    s = kvit.store(encoder=lambda v: pickle.dumps(v, protocol=2))
    assert s.decoder is pickle.loads
    s["k"] = [1]
    s.commit()
    s.refresh()
    assert s["k"] == [1]


def test_high_water_enables_gc() -> None:
    s = kvit.store(high_water_bytes=10_000)
    assert isinstance(s.versioned, GCVersioned)
    assert s.versioned.high_water == 10_000 and s.versioned.low_water == 8_000


def test_low_water(tmp_path: Path) -> None:
    s = kvit.store(high_water_bytes=10_000, low_water_bytes=1_000)
    assert isinstance(s.versioned, GCVersioned) and s.versioned.low_water == 1_000
    with pytest.raises(ValueError, match="high_water_bytes"):
        kvit.store(low_water_bytes=1_000)
    with pytest.raises(ValueError, match="high_water_bytes"):
        kvit.store(storage="disk", path=tmp_path / "refused", high_water_bytes=0)
    assert not (tmp_path / "refused").exists()


def test_gc_on_disk(tmp_path: Path) -> None:
    s = kvit.store(storage="disk", path=tmp_path, high_water_bytes=500)
    for index in range(10):
        s[f"k{index}"] = b"x" * 100
        s.commit()
    assert isinstance(s.versioned, GCVersioned)
    assert len(s) < 10 and "k9" in s


def test_repr_is_informative() -> None:
    s = kvit.store(branch="dev")
    s["a"] = 1
    assert "branch='dev'" in repr(s) and "keys=1" in repr(s)
