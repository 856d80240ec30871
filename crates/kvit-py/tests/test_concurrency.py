"""Threads: separate handles commit in parallel and lose no update."""

from __future__ import annotations

import threading
from typing import Any, Optional

import kvit
from kvit import ConcurrencyError, KVStore, Versioned

from conftest import DictStore, bytes_counter

INCREMENTS = 40


def increment(cursor: Versioned, key: str) -> None:
    """Adds one to a counter, retrying the same change after a lost race."""
    value = int(cursor.get(key) or b"0") + 1
    update = {key: str(value).encode()}
    while True:
        try:
            cursor.commit(update)
            return
        except ConcurrencyError:
            continue


def run_threads(*targets: object) -> None:
    errors: list[BaseException] = []

    def guard(target: object) -> None:
        try:
            target()  # type: ignore[operator]
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=guard, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a thread hung"
    assert not errors, errors


def test_two_threads_two_handles_counter_is_exact(store: KVStore) -> None:
    cursors = [Versioned(store), Versioned(store)]
    for cursor in cursors:
        cursor.set_merge_fn("n", bytes_counter)
    barrier = threading.Barrier(len(cursors))

    def work(cursor: Versioned) -> None:
        barrier.wait()
        for _ in range(INCREMENTS):
            increment(cursor, "n")

    run_threads(*(lambda cursor=cursor: work(cursor) for cursor in cursors))
    reader = Versioned(store)
    assert reader.get("n") == str(INCREMENTS * len(cursors)).encode()
    strategies = {
        kind
        for cursor in cursors
        if cursor.last_merge_result is not None
        for kind in [cursor.last_merge_result.strategy]
    }
    assert strategies <= {"fast_forward", "three_way"}


def test_one_handle_shared_by_threads(store: KVStore) -> None:
    cursor = Versioned(store)
    cursor.set_merge_fn("n", bytes_counter)
    lock = threading.Lock()

    def work() -> None:
        for _ in range(INCREMENTS // 2):
            # Read-modify-commit must not interleave on one cursor.
            with lock:
                increment(cursor, "n")

    run_threads(work, work)
    assert cursor.get("n") == str(INCREMENTS).encode()


def test_handles_do_not_block_each_other() -> None:
    """While one handle waits inside its backend, another handle on the same
    store commits freely: each handle has its own lock."""
    inside = threading.Event()
    release = threading.Event()
    waiting_thread: list[threading.Thread] = []

    class Slow(DictStore):
        def get(self, key: str) -> Optional[bytes]:
            if waiting_thread and threading.current_thread() is waiting_thread[0]:
                inside.set()
                assert release.wait(timeout=30), "the other handle never ran"
            return super().get(key)

    store = Slow()
    waiter, writer = Versioned(store), Versioned(store)
    heads: list[Optional[str]] = []

    def read_head_slowly() -> None:
        waiting_thread.append(threading.current_thread())
        heads.append(waiter.latest_head)

    def commit_meanwhile() -> None:
        assert inside.wait(timeout=30)
        for i in range(10):
            writer.commit({f"k{i}": b"v"})
        release.set()

    run_threads(read_head_slowly, commit_meanwhile)
    assert len(writer) == 10
    assert heads and heads[0] in writer.history()


BLOCKER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=20)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


def test_waiting_on_disk_releases_the_gil(tmp_path: object) -> None:
    """A commit blocked on another process's SQLite write lock lets other
    Python threads run."""
    import pathlib
    import subprocess
    import sys
    import time

    store = kvit.Disk(tmp_path, busy_timeout=20)  # type: ignore[arg-type]
    cursor = Versioned(store)
    database = pathlib.Path(str(tmp_path)) / "kvit.sqlite3"
    assert database.exists()
    # SQLite's locks are per process: the lock holder must be another one.
    blocker = subprocess.Popen(
        [sys.executable, "-c", BLOCKER, str(database)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert blocker.stdout is not None and blocker.stdin is not None
    try:
        assert blocker.stdout.readline().strip() == "locked"
        outcome: list[object] = []
        thread = threading.Thread(target=lambda: outcome.append(cursor.commit({"k": b"v"}).strategy))
        thread.start()
        deadline = time.monotonic() + 0.5
        spins = 0
        while time.monotonic() < deadline:
            spins += 1
        assert thread.is_alive(), "the commit should be waiting for the lock"
        assert spins > 1000, "this thread could not run while the commit waited"
    finally:
        blocker.stdin.write("\n")
        blocker.stdin.flush()
        blocker.wait(timeout=30)
    thread.join(timeout=30)
    assert outcome == ["fast_forward"]
    assert cursor.get("k") == b"v"


def test_disk_handles_in_parallel(tmp_path: object) -> None:
    # Two handles on one directory, as two processes would have.
    stores = [kvit.Disk(tmp_path, durability="normal") for _ in range(2)]  # type: ignore[arg-type]
    cursors = [Versioned(store) for store in stores]
    for cursor in cursors:
        cursor.set_merge_fn("n", bytes_counter)

    def work(cursor: Versioned) -> None:
        for _ in range(INCREMENTS):
            increment(cursor, "n")

    run_threads(*(lambda cursor=cursor: work(cursor) for cursor in cursors))
    assert Versioned(kvit.Disk(tmp_path)).get("n") == str(2 * INCREMENTS).encode()  # type: ignore[arg-type]


# ---- Staged ---------------------------------------------------------------------------


def staged_increment(s: kvit.Staged, key: str) -> None:
    """Adds one to a decoded counter; a lost race keeps the staged change,
    so committing again is the retry."""
    s[key] = s.get(key, 0) + 1
    while True:
        try:
            s.commit()
            return
        except ConcurrencyError:
            continue


def test_two_threads_two_staged_handles_counter_is_exact(store: KVStore) -> None:
    handles = [kvit.Staged(Versioned(store), allow_unsafe_pickle=True), kvit.Staged(Versioned(store), allow_unsafe_pickle=True)]
    for handle in handles:
        handle.set_merge_fn("n", kvit.counter())
    barrier = threading.Barrier(len(handles))
    strategies: list[str] = []

    def work(handle: kvit.Staged) -> None:
        barrier.wait()
        for _ in range(INCREMENTS):
            staged_increment(handle, "n")
            result = handle.last_merge_result
            assert result is not None
            strategies.append(result.strategy)

    run_threads(*(lambda handle=handle: work(handle) for handle in handles))
    assert kvit.Staged(Versioned(store), allow_unsafe_pickle=True)["n"] == INCREMENTS * len(handles)
    assert set(strategies) <= {"fast_forward", "three_way"}


def test_two_staged_handles_in_lockstep_merge_every_round(store: KVStore) -> None:
    """Both handles stage from the same head, then both commit: one
    fast-forwards, the other merges three ways with counter()."""
    handles = [kvit.Staged(Versioned(store), allow_unsafe_pickle=True), kvit.Staged(Versioned(store), allow_unsafe_pickle=True)]
    for handle in handles:
        handle.set_merge_fn("n", kvit.counter())
    barrier = threading.Barrier(len(handles))
    strategies: list[str] = []
    rounds = 10

    def work(handle: kvit.Staged) -> None:
        for _ in range(rounds):
            handle["n"] = handle.get("n", 0) + 1
            barrier.wait()
            while True:
                try:
                    strategies.append(handle.commit().strategy)
                    break
                except ConcurrencyError:
                    continue
            barrier.wait()

    run_threads(*(lambda handle=handle: work(handle) for handle in handles))
    assert kvit.Staged(Versioned(store), allow_unsafe_pickle=True)["n"] == rounds * len(handles)
    assert strategies.count("three_way") >= rounds


def test_one_staged_handle_shared_by_threads(store: KVStore) -> None:
    s = kvit.Staged(Versioned(store), allow_unsafe_pickle=True)
    lock = threading.Lock()

    def work(prefix: str) -> None:
        for i in range(INCREMENTS):
            s[f"{prefix}{i}"] = i
            assert s[f"{prefix}{i}"] == i
            with lock:  # read-modify-commit must not interleave on one handle
                staged_increment(s, "n")

    run_threads(lambda: work("a"), lambda: work("b"))
    assert s["n"] == 2 * INCREMENTS
    assert len(s) == 2 * INCREMENTS + 1


def test_cached_reads_do_not_wait_for_a_commit_in_progress(store: KVStore) -> None:
    """The deadlock rule: a thread holding the store (committing, its merge
    function blocked) must not stop readers of cached keys, nor deadlock a
    reader of an uncached key, which waits with the GIL released."""
    s = kvit.Staged(Versioned(store), allow_unsafe_pickle=True)
    s["hot"] = "cached"
    s["k"] = 0
    s["cold"] = "on disk"
    s.commit()
    s.refresh()  # drop the caches ...
    assert s["hot"] == "cached"  # ... and warm one key again
    other = kvit.Staged(Versioned(store), allow_unsafe_pickle=True)
    other["k"] = 1
    other.commit()

    merging = threading.Event()
    release = threading.Event()

    def slow_merge(old: Any, ours: Any, theirs: Any) -> Any:
        merging.set()
        assert release.wait(timeout=30), "the reader never ran"
        return (ours or 0) + (theirs or 0)

    s.set_merge_fn("k", slow_merge)
    s["k"] = 5
    cold_reads: list[Any] = []

    def read_cold() -> None:
        cold_reads.append(s.get("cold"))  # must wait for the commit

    def read_hot_then_release() -> None:
        assert merging.wait(timeout=30)
        assert s["hot"] == "cached"
        assert s.get("hot") == "cached" and "hot" in s
        cold = threading.Thread(target=read_cold)
        cold.start()
        cold.join(timeout=0.2)
        assert cold.is_alive(), "an uncached read should wait for the commit"
        release.set()
        cold.join(timeout=30)
        assert not cold.is_alive()

    run_threads(lambda: s.commit(), read_hot_then_release)
    assert cold_reads == ["on disk"]
    assert s["k"] == 6
