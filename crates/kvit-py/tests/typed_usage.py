"""The public API as a user writes it, checked by ``mypy --strict`` (the
Makefile's py-test) and run by pytest (test_typing.py): every annotation
here is what the stubs promise."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any, Optional

import kvit
from kvit import (
    GCVersioned,
    KVStore,
    Live,
    MergeConflict,
    MergeResult,
    Namespaced,
    RebaseResult,
    Staged,
    Store,
    Versioned,
    counter,
)


def staged_usage() -> tuple[Staged, MergeResult]:
    s: Staged = kvit.store()
    s["name"] = "alice"
    s.set("age", 30)
    name: Any = s["name"]
    age: Optional[Any] = s.get("age")
    default: Any = s.get("missing", 0)
    found: dict[str, Any] = s.get_many("name", "age")
    assert name == "alice" and age == 30 and default == 0 and len(found) == 2
    staged: bool = s.has_changes
    assert staged
    result: MergeResult = s.commit(info={"author": "typed"})
    assert result and result.strategy == "fast_forward"
    commit: str = s.current_commit
    base: str = s.base_commit
    last: Optional[MergeResult] = s.last_merge_result
    assert commit == base and last is not None
    v: Versioned = s.versioned
    history: list[str] = v.history()
    assert history[0] == commit
    dev: Staged = s.create_branch("dev")
    branches: list[str] = dev.list_branches()
    assert branches == ["dev", "main"]
    old: Optional[Staged] = s.checkout(history[-1])
    assert old is not None and "name" not in old
    s.set_merge_fn("visits", counter())
    s.set_default_merge(kvit.last_writer_wins())
    s.remove("age")
    del s["name"]
    s.reset()
    s.refresh()
    keys: list[str] = s.keys_with_prefix("na")
    assert keys == ["name"]
    items: list[tuple[str, Any]] = list(s.items())
    assert len(items) == 2
    return s, result


def json_store(path: Path) -> Staged:
    return kvit.store(
        storage="disk",
        path=path,
        branch="dev",
        encoder=lambda v: json.dumps(v).encode(),
        decoder=lambda b: json.loads(b),
    )


def codec_usage(path: Path) -> Optional[kvit.IntegrityError]:
    key: bytes = b"typed usage: 32 byte test key..."
    as_json: Staged = kvit.store(codec="json")
    as_json["k"] = {"a": [1]}
    as_raw = Staged(Versioned(), codec="raw")
    as_raw["k"] = b"bytes"
    signed = kvit.SignedPickle(key, previous_keys=[b"an older key, 32 bytes long....."])
    shared: Staged = kvit.store(storage="disk", path=path, shared=True, codec=signed)
    shared["k"] = (1, 2)
    shared.commit()
    unsafe = kvit.store(storage="disk", path=path, shared=True, allow_unsafe_pickle=True)
    assert unsafe.decoder is pickle.loads
    Versioned(shared.versioned.store).commit({"k": b"not signed"})
    shared.refresh()
    try:
        shared["k"]
    except kvit.IntegrityError as error:
        return error
    return None


def gc_usage() -> RebaseResult:
    gc = GCVersioned(kvit.Memory(), high_water_bytes=1000, low_water_bytes=500)
    high: int = gc.high_water
    low: int = gc.low_water
    assert (high, low) == (1000, 500)
    s = Staged(gc)
    s["big"] = b"x" * 100
    s.commit()
    result: RebaseResult = gc.rebase(keep_keys=[], info={"why": "typed"})
    dropped: frozenset[str] = result.dropped_keys
    assert dropped == frozenset({"big"})
    latest: Optional[RebaseResult] = gc.last_rebase_result
    assert latest == result
    cleaned: int = gc.clean_orphans(min_age=0)
    assert cleaned >= 0
    return gc.maybe_rebase()


def namespaced_usage(base: Store) -> list[str]:
    agent = Namespaced(base, "agent")
    worker = Namespaced(agent, "worker")
    ns_path: str = worker.namespace
    assert ns_path == "agent/worker"
    worker["task"] = 1
    agent["state"] = "running"
    children = list(agent.keys())
    descendants: list[str] = agent.descendant_keys()
    assert children == ["state"] and descendants == ["state", "worker/task"]
    return descendants


def live_usage() -> Live:
    live = Live()
    live["k"] = "v"
    live.update({"a": 1})
    assert live.pop("a") == 1
    return live


def conflict(s: Staged) -> Optional[MergeConflict]:
    try:
        s.commit()
    except MergeConflict as error:
        keys: set[str] = error.conflicting_keys
        errors: dict[str, BaseException] = error.merge_errors
        assert keys or errors
        return error
    return None


def backend(store: KVStore) -> Versioned:
    return Versioned(store, branch="main")


def network_usage(redis_url: str, prefix: str, postgres_url: str, table: str) -> list[Staged]:
    redis = kvit.Redis(redis_url, prefix=prefix, connect_timeout=5.0, response_timeout=30.0)
    redis_prefix: str = redis.prefix
    address: str = redis.address
    redis.ping()
    postgres = kvit.Postgres(postgres_url, table=table, pool_size=2, connect_timeout=5.0)
    table_name: str = postgres.table
    connections: int = postgres.pool_size
    assert (redis_prefix, table_name, connections) == (prefix, table, 2) and address
    for backend_store in (redis, postgres):
        backend_store.set("raw", b"1")
        swapped: bool = backend_store.cas("raw", b"2", b"1")
        values: dict[str, bytes] = backend_store.get_many("raw")
        assert swapped and values == {"raw": b"2"}
        backend_store.clear()
        backend(backend_store)
    # A shared store needs a codec choice: plain pickle would run code that
    # anyone able to write the server put in a value.
    signed: kvit.Codec = kvit.SignedPickle(b"typed usage: 32 byte test key...")
    stores = [
        kvit.store(storage="redis", url=redis_url, prefix=prefix, codec="json"),
        kvit.store(storage="postgres", url=postgres_url, table=table, branch="dev", codec=signed),
    ]
    for s in stores:
        s["visits"] = 1
        s.set_merge_fn("visits", counter())
        s.commit()
    return stores


def run(tmp: Path) -> None:
    staged_usage()
    json_store(tmp / "db")["x"] = [1]
    assert codec_usage(tmp / "shared") is not None
    gc_usage()
    namespaced_usage(kvit.store())
    namespaced_usage(Live())
    live_usage()
    conflict(kvit.store())
    backend(kvit.Memory())
