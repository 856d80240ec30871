"""Value codecs (``codec=``) and shared-store safety.

Pickle decoding runs code chosen by whoever wrote the bytes. These tests
check the safe codecs' round trips, that ``kvit.SignedPickle`` refuses a
value that fails its HMAC check *before* unpickling it (with a payload whose
unpickling would trip a flag), and that stores others can write refuse plain
pickle unless it is asked for.
"""

from __future__ import annotations

import pickle
import secrets
from pathlib import Path
from typing import Any, Callable

import pytest

import kvit
from kvit import IntegrityError, KVStore, Namespaced, SignedPickle, Staged, Versioned
from kvit.codecs import Codec, Json, Pickle, Raw

from conftest import DictStore, NetworkStores

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))

# ---- a payload whose unpickling runs code -----------------------------------

TRIPPED: list[str] = []


def _trip(note: str) -> str:
    TRIPPED.append(note)
    return "pwned"


class Exploit:
    """Unpickling it calls ``_trip`` (any callable would do: ``os.system``)."""

    def __reduce__(self) -> tuple[Callable[[str], str], tuple[str]]:
        return (_trip, ("unpickled",))


EXPLOIT = pickle.dumps(Exploit())


@pytest.fixture(autouse=True)
def clear_flag() -> None:
    TRIPPED.clear()


def plant(store: KVStore, key: str, data: bytes, branch: str = "main") -> None:
    """What a party with write access to the backend (and no codec key) can
    do: commit arbitrary bytes under ``key`` through a raw cursor."""
    Versioned(store, branch=branch).commit({key: data})


def test_the_exploit_runs_under_plain_pickle() -> None:
    # Shows the threat is real: the default codec runs the payload.
    s = kvit.store()
    plant(s.versioned.store, "k", EXPLOIT)
    s.refresh()
    assert s["k"] == "pwned" and TRIPPED == ["unpickled"]


# ---- json and raw -------------------------------------------------------------


@pytest.mark.parametrize("storage", ["memory", "disk"])
def test_json_round_trip(storage: str, tmp_path: Path) -> None:
    path = tmp_path / "db" if storage == "disk" else None
    s = kvit.store(storage, path=path, codec="json")
    values: dict[str, Any] = {
        "dict": {"name": "ålice", "tags": ["a", "b"], "n": None},
        "int": -12,
        "float": 1.5,
        "bool": True,
        "none": None,
        "text": "ключ 😀",
        "list": [1, [2, {"x": 3}]],
    }
    s.update(values)
    s["tuple"] = (1, 2)
    s.commit()
    assert s.versioned.get("dict") == '{"name":"ålice","tags":["a","b"],"n":null}'.encode()
    assert s.versioned.get("int") == b"-12"
    again = kvit.store(storage, path=path, codec="json") if path else s
    again.refresh()
    assert {key: again[key] for key in values} == values
    assert again["tuple"] == [1, 2]  # JSON has no tuples


def test_json_refuses_what_json_cannot_hold() -> None:
    s = kvit.store(codec="json")
    s["ok"] = 1
    s["bad"] = {1, 2}
    with pytest.raises(TypeError, match="key 'bad'"):
        s.commit()
    assert s.has_changes  # kept for another try
    del s["bad"]
    assert s.commit().merged


def test_json_reads_never_run_code() -> None:
    s = kvit.store(codec="json")
    plant(s.versioned.store, "k", EXPLOIT)
    s.refresh()
    with pytest.raises(ValueError, match="key 'k'"):
        s["k"]
    assert TRIPPED == []


def test_raw_round_trip_and_type_check() -> None:
    s = kvit.store(codec="raw")
    s["blob"] = bytes(range(256))
    s["empty"] = b""
    s.commit()
    assert s.versioned.get("blob") == bytes(range(256))
    s.refresh()
    assert s["blob"] == bytes(range(256)) and s["empty"] == b""
    assert type(s["blob"]) is bytes
    for bad in ("text", 1, bytearray(b"x"), None):
        s.reset()
        s["bad"] = bad
        with pytest.raises(TypeError, match="raw.*bytes only"):
            s.commit()
    s.reset()
    # Reading raw never decodes anything: an exploit is just bytes.
    plant(s.versioned.store, "k", EXPLOIT)
    s.refresh()
    assert s["k"] == EXPLOIT and TRIPPED == []


def test_codec_pickle_is_the_default() -> None:
    s = kvit.store(codec="pickle")
    assert s.encoder is pickle.dumps and s.decoder is pickle.loads
    assert Staged(Versioned(), codec="pickle").decoder is pickle.loads
    assert Staged(Versioned()).decoder is pickle.loads


def test_codec_on_staged_and_its_branches() -> None:
    s = Staged(Versioned(DictStore()), codec="json")
    s["k"] = [1]
    s.commit()
    dev = s.create_branch("dev")
    dev["k"] = [2]
    dev.commit()
    assert dev.versioned.get("k") == b"[2]"
    old = s.checkout(s.current_commit)
    assert old is not None and old["k"] == [1]
    assert old.encoder == s.encoder


def test_codec_objects() -> None:
    assert Json().decode(Json().encode({"a": [1]})) == {"a": [1]}
    assert Raw().encode(b"x") == b"x" and Raw().decode(b"x") == b"x"
    assert Pickle().encode is pickle.dumps and Pickle.runs_code
    assert not Json.runs_code and not Raw.runs_code and not SignedPickle.runs_code

    class Upper(Codec):
        name = "upper"

        def encode(self, value: Any) -> bytes:
            return str(value).upper().encode()

        def decode(self, data: bytes) -> Any:
            return data.decode()

    s = kvit.store(codec=Upper())
    s["k"] = "shout"
    s.commit()
    s.refresh()
    assert s["k"] == "SHOUT"


def test_bad_codec_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="codec must be"):
        kvit.store(codec="yaml")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="codec must be"):
        kvit.store(codec=pickle)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not both"):
        kvit.store(codec="json", encoder=pickle.dumps)
    with pytest.raises(ValueError, match="not both"):
        Staged(Versioned(), codec="json", decoder=pickle.loads)
    with pytest.raises(ValueError, match="shared=True"):
        kvit.store(shared=True)
    # Refused before anything is opened.
    with pytest.raises(ValueError, match="codec must be"):
        kvit.store("disk", path=tmp_path / "db", codec="yaml")  # type: ignore[arg-type]
    assert not (tmp_path / "db").exists()


# ---- SignedPickle ---------------------------------------------------------------


def test_signed_pickle_round_trip() -> None:
    s = kvit.store(codec=SignedPickle(KEY))
    s["k"] = {"any": ("picklable", 1, b"value")}
    s.commit()
    stored = s.versioned.get("k")
    assert stored is not None and stored.startswith(b"KVS1") and len(stored) > 36
    # Another handle with the same key reads it.
    reader = Staged(Versioned(s.versioned.store), codec=SignedPickle(KEY))
    assert reader["k"] == {"any": ("picklable", 1, b"value")}


def test_tampered_value_is_refused_before_unpickling() -> None:
    s = kvit.store(codec=SignedPickle(KEY))
    s["k"] = "honest"
    s.commit()
    # A writer without the key replaces the value with a plain exploit...
    plant(s.versioned.store, "k", EXPLOIT)
    s.refresh()
    with pytest.raises(IntegrityError, match="key 'k'") as raised:
        s["k"]
    assert "not a kvit.SignedPickle envelope" in str(raised.value)
    assert "not unpickled" in str(raised.value)
    assert isinstance(raised.value.__cause__, IntegrityError)
    assert isinstance(raised.value, kvit.KvitError)
    # ... or dresses it as an envelope with a made-up tag, or flips one byte
    # of a signed value to splice the exploit in.
    forged = b"KVS1" + secrets.token_bytes(32) + EXPLOIT
    honest = SignedPickle(KEY).encode("honest")
    spliced = honest[:36] + EXPLOIT
    flipped = honest[:-2] + bytes([honest[-2] ^ 1]) + honest[-1:]
    for data in (forged, spliced, flipped, b"", b"KVS1", honest[:35]):
        plant(s.versioned.store, "k", data)
        s.refresh()
        with pytest.raises(IntegrityError, match="key 'k'"):
            s.get("k")
        with pytest.raises(IntegrityError):
            s.get_many("k")
        with pytest.raises(IntegrityError):
            list(s.items())
    assert TRIPPED == []


def test_wrong_key_is_refused() -> None:
    writer = kvit.store(codec=SignedPickle(OTHER_KEY))
    writer["k"] = Exploit()  # validly signed, but with another key
    writer.commit()
    reader = Staged(Versioned(writer.versioned.store), codec=SignedPickle(KEY))
    with pytest.raises(IntegrityError, match=r"key 'k'.*HMAC-SHA256 check"):
        reader["k"]
    assert TRIPPED == []
    # The codec refuses on its own, too.
    with pytest.raises(IntegrityError, match="HMAC-SHA256"):
        SignedPickle(KEY).decode(SignedPickle(OTHER_KEY).encode(1))


def test_key_rotation_with_previous_keys() -> None:
    old = kvit.store(codec=SignedPickle(OTHER_KEY))
    old["k"] = "from before"
    old.commit()
    rotated = Staged(
        Versioned(old.versioned.store), codec=SignedPickle(KEY, previous_keys=[OTHER_KEY])
    )
    assert rotated["k"] == "from before"
    rotated["k"] = "rewritten"
    rotated.commit()
    # Written with the new key only: a reader without the old key reads it.
    assert Staged(Versioned(old.versioned.store), codec=SignedPickle(KEY))["k"] == "rewritten"
    old.refresh()
    with pytest.raises(IntegrityError):
        old["k"]


def test_signed_pickle_merge_functions_see_values() -> None:
    store = kvit.Memory()
    a = Staged(Versioned(store), codec=SignedPickle(KEY))
    b = Staged(Versioned(store), codec=SignedPickle(KEY))
    for s in (a, b):
        s.set_merge_fn("n", kvit.counter())
        s["n"] = s.get("n", 0) + 1
    a.commit()
    assert b.commit().strategy == "three_way"
    a.refresh()
    assert a["n"] == 2
    # A namespaced view over a signed store.
    ns = Namespaced(a, "ns")
    ns["x"] = [1]
    ns.commit()
    assert a.versioned.get("ns/x") is not None and ns["x"] == [1]


def test_signed_pickle_key_checks() -> None:
    with pytest.raises(TypeError, match="bytes"):
        SignedPickle("a text key that is long enough")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SignedPickle(b"short")
    with pytest.raises(ValueError, match="at least 16 bytes"):
        SignedPickle(KEY, previous_keys=[b""])
    assert SignedPickle(bytearray(KEY)).decode(SignedPickle(KEY).encode(5)) == 5
    shown = repr(SignedPickle(KEY, previous_keys=[OTHER_KEY]))
    assert "hidden" in shown and repr(KEY) not in shown and KEY.hex() not in shown


# ---- shared stores refuse plain pickle unless asked ----------------------------

SAFE_OPTIONS = ('codec="json"', "codec=kvit.SignedPickle(key)", "allow_unsafe_pickle=True")


@pytest.mark.parametrize(
    "storage,url",
    [("redis", "redis://127.0.0.1:1/0"), ("postgres", "postgres://kvit@127.0.0.1:1/db")],
)
def test_network_stores_refuse_plain_pickle(storage: str, url: str) -> None:
    # Refused before connecting (nothing listens on port 1: a connection
    # attempt would be a BackendError, not this ValueError).
    with pytest.raises(ValueError) as raised:
        kvit.store(storage, url=url)
    message = str(raised.value)
    for option in SAFE_OPTIONS:
        assert option in message, option
    assert "Redis" in message if storage == "redis" else "PostgreSQL" in message
    assert "docs/security.md" in message
    with pytest.raises(ValueError, match="allow_unsafe_pickle=True"):
        kvit.store(storage, url=url, codec="pickle")
    with pytest.raises(ValueError, match="matching decoder"):
        kvit.store(storage, url=url, encoder=pickle.dumps)
    with pytest.raises(ValueError, match="always shared"):
        kvit.store(storage, url=url, shared=False, codec="json")
    # With a choice made, the store opens (and then fails to connect).
    for choice in (
        {"codec": "json"},
        {"codec": "raw"},
        {"codec": SignedPickle(KEY)},
        {"encoder": pickle.dumps, "decoder": pickle.loads},
        {"allow_unsafe_pickle": True},
    ):
        with pytest.raises(kvit.BackendError):
            kvit.store(storage, url=url, **choice)


def test_shared_disk_refuses_plain_pickle(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with pytest.raises(ValueError, match="shared disk store") as raised:
        kvit.store("disk", path=path, shared=True)
    for option in SAFE_OPTIONS:
        assert option in str(raised.value)
    assert not path.exists()  # refused before anything is created
    with pytest.raises(ValueError, match="allow_unsafe_pickle"):
        kvit.store("disk", path=path, shared=True, codec=Pickle())
    s = kvit.store("disk", path=path, shared=True, codec=SignedPickle(KEY))
    s["k"] = (1, 2)
    s.commit()
    unsafe = kvit.store("disk", path=path, shared=True, allow_unsafe_pickle=True)
    assert unsafe.decoder is pickle.loads
    # A private disk store (the default) keeps pickle as before.
    private = kvit.store("disk", path=tmp_path / "private")
    assert private.decoder is pickle.loads


def test_staged_refuses_plain_pickle_when_shared(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shared Disk store"):
        Staged(Versioned(kvit.Disk(tmp_path)), shared=True)
    s = Staged(Versioned(kvit.Disk(tmp_path)), shared=True, codec="json")
    s["k"] = 1
    s.commit()
    assert Staged(Versioned(kvit.Disk(tmp_path)), shared=True, allow_unsafe_pickle=True)


def test_staged_over_network_backends_refuses_plain_pickle(
    network_stores: NetworkStores,
) -> None:
    for open_backend in (network_stores.redis, network_stores.postgres):
        backend: KVStore = open_backend()
        with pytest.raises(ValueError, match="allow_unsafe_pickle=True"):
            Staged(Versioned(backend))
        with pytest.raises(ValueError, match="always shared"):
            Staged(Versioned(backend), shared=False)
        s = Staged(Versioned(backend), codec=SignedPickle(KEY))
        s["k"] = {"v": 1}
        s.commit()
        plant(backend, "k", EXPLOIT)
        s.refresh()
        with pytest.raises(IntegrityError, match="key 'k'"):
            s["k"]
        assert TRIPPED == []
