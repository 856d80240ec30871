"""kvit from Python against its pure-Python peers, as ratios from one run.

Runs the same workloads on three implementations, each in its own
interpreter: kvit (the repository's ``.venv``, built by ``make py-venv``),
``kvgit==0.1.2`` (the same API as kvit, under the name kvgit) and
``kvgit==0.4.3`` (its latest release: a ``Repo`` / ``Worktree`` API over a
HAMT key map). The peers are installed from PyPI into their own virtualenvs
under ``.bench-venvs/``. This file is both the driver and the worker: the
driver starts one worker process per implementation with that
implementation's interpreter, and reads back one JSON document from each.

    python benches/python/bench.py            # n = 100,000, a few minutes
    python benches/python/bench.py --quick    # n = 10,000, well under a minute

Workloads (Memory stores unless named Disk; values are small pickled dicts,
the counter an int):

1. ``single_commit``: ``store[key] = value`` and ``commit()`` of one existing
   key at n keys (also on Disk, as ``single_commit_disk``).
2. ``bulk_load``: n ``store[key] = value`` into an empty store, then one
   ``commit()``.
3. ``open_read``: open a Disk store of n keys and read one key, in a fresh
   process (the package already imported, the OS file cache warm).
4. ``merge``: two handles at the same head; one commits 100 changes (a
   fast-forward), the other then commits 100 different changes, which is a
   three-way merge. Only the second commit is timed.
5. ``cached_read``: ``store[key]`` for a key already read once; kvit's worker
   also times ``pickle.loads`` of the same value held in a plain dict.
6. ``lost_updates``: 4 processes each commit 200 increments of one counter
   on a shared Disk store, with the ``counter()`` merge function; on
   ``ConcurrencyError`` (or a refused commit) a process refreshes, rereads
   and retries. The final total should be 800.

Small operations are repeated until a time budget runs out and reported as
medians (``time.perf_counter``). The table and the ratios go to stdout, and
everything, with every sample, to a JSON file (``--out``).

The machines this runs on are noisy, and their speed drifts over minutes,
so a ratio of two medians taken minutes apart can be off by a quarter
either way. The single-key commit is therefore also measured *interleaved*
(``single_commit_interleaved``): one server process per implementation
holds its n-key store, and the driver has them commit in turn, a short
burst each (two untimed commits, then timed ones for 30 ms or up to
``--burst`` of them), round after round, so every implementation is timed
across the same stretch of the run. Implementations whose commit takes
more than 0.1 s (kvgit 0.1.2 rewrites its whole key set) are left out of it.
The single-commit target is checked on this figure.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import pickle
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any, Callable, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
PEER_VERSIONS = {"kvgit-0.1.2": "0.1.2", "kvgit-0.4.3": "0.4.3"}
IMPLEMENTATIONS = ["kvit", *PEER_VERSIONS]
WORKLOADS = [
    "bulk_load",
    "cached_read",
    "single_commit",
    "merge",
    "open_read",
    "single_commit_disk",
    "lost_updates",
]
MERGE_KEYS = 100
# The interleaved single-key commit: each burst's untimed commits and its
# length, and the slowest commit an implementation may take to join in.
BURST_UNTIMED = 2
BURST_SECONDS = 0.03
INTERLEAVE_MAX_COMMIT_S = 0.1
COUNTER_PROCESSES = 4
COUNTER_KEY = "counter"


# --------------------------------------------------------------------------
# Adapters: one way to reach each implementation's equivalent calls.
# --------------------------------------------------------------------------


class Adapter:
    """What the workloads need from an implementation. Every handle is a
    ``MutableMapping`` with ``commit()``, ``refresh()`` and
    ``set_merge_fn()``; ``commit()`` returns a result with ``.strategy``
    that is truthy when the commit landed."""

    name = ""
    concurrency_error: type[BaseException] = Exception

    def memory(self) -> Any:
        raise NotImplementedError

    def disk(self, path: str) -> Any:
        raise NotImplementedError

    def second_handle(self, handle: Any) -> Any:
        """Another handle on the same store and branch, at its head."""
        raise NotImplementedError

    def counter(self) -> Any:
        raise NotImplementedError

    def close(self, handle: Any) -> None:
        """Lets a Disk store go, where the implementation says how."""


class KvitAdapter(Adapter):
    """kvit, through the API in the seed document: ``kvit.store()``."""

    name = "kvit"

    def __init__(self) -> None:
        import kvit

        self.kvit = kvit
        self.concurrency_error = kvit.ConcurrencyError

    def memory(self) -> Any:
        return self.kvit.store()

    def disk(self, path: str) -> Any:
        return self.kvit.store("disk", path=path)

    def second_handle(self, handle: Any) -> Any:
        kvit = self.kvit
        return kvit.Staged(kvit.Versioned(handle.versioned.store, branch=handle.branch))

    def counter(self) -> Any:
        return self.kvit.counter()


class KvgitStagedAdapter(Adapter):
    """kvgit 0.1.2: the same ``Staged`` / ``Versioned`` API as kvit.

    Its ``kvgit.store("disk", path=...)`` opens diskcache with
    ``size_limit=0``, which evicts entries (the branch head first) on every
    write, so a commit fails at once. Disk stores here are built as its
    README builds them, ``Staged(Versioned(Disk(path)))``, with diskcache's
    default 1 GB limit.
    """

    name = "kvgit-0.1.2"

    def __init__(self) -> None:
        import kvgit
        from kvgit.kv.disk import Disk

        self.kvgit = kvgit
        self.disk_backend = Disk
        self.concurrency_error = kvgit.ConcurrencyError

    def memory(self) -> Any:
        return self.kvgit.store()

    def disk(self, path: str) -> Any:
        return self.kvgit.Staged(self.kvgit.Versioned(self.disk_backend(path)))

    def second_handle(self, handle: Any) -> Any:
        return self.kvgit.Staged(self.kvgit.Versioned(handle.versioned.store))

    def counter(self) -> Any:
        return self.kvgit.counter()

    def close(self, handle: Any) -> None:
        backend = handle.versioned.store
        if isinstance(backend, self.disk_backend):
            backend.store.close()


class KvgitWorktreeAdapter(Adapter):
    """kvgit 0.4.3: ``kvgit.open(kind, path=...)`` gives a ``Worktree`` on
    branch main of a ``Repo``; ``repo.worktree("main")`` is a second one on
    the same branch. A commit that finds the branch moved merges by itself.
    """

    name = "kvgit-0.4.3"

    def __init__(self) -> None:
        import kvgit

        self.kvgit = kvgit
        self.concurrency_error = kvgit.ConcurrencyError

    def memory(self) -> Any:
        return self.kvgit.open()

    def disk(self, path: str) -> Any:
        return self.kvgit.open("disk", path=path)

    def second_handle(self, handle: Any) -> Any:
        return handle.repo.worktree(handle.branch)

    def counter(self) -> Any:
        return self.kvgit.counter()

    def close(self, handle: Any) -> None:
        handle.repo.close()


def make_adapter(name: str) -> Adapter:
    if name == "kvit":
        return KvitAdapter()
    if name == "kvgit-0.1.2":
        return KvgitStagedAdapter()
    if name == "kvgit-0.4.3":
        return KvgitWorktreeAdapter()
    raise SystemExit(f"unknown implementation {name!r}")


# --------------------------------------------------------------------------
# Measuring.
# --------------------------------------------------------------------------


def key_of(index: int) -> str:
    return f"user/{index:08d}"


def value_of(index: int, revision: int = 0) -> dict[str, Any]:
    return {"id": index, "name": f"user {index}", "rev": revision}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def summary(samples: list[float]) -> dict[str, Any]:
    return {
        "median_s": statistics.median(samples),
        "min_s": min(samples),
        "max_s": max(samples),
        "reps": len(samples),
        "samples_s": samples,
    }


def repeat_until(
    operation: Callable[[int], Optional[float]],
    *,
    budget_s: float,
    min_reps: int,
    max_reps: int,
    warmup: int = 1,
) -> list[float]:
    """Runs ``operation(rep)`` until ``budget_s`` has passed (and at least
    ``min_reps`` times, at most ``max_reps``). The operation times itself
    and returns the seconds of its timed part (None: time the whole call)."""
    samples: list[float] = []
    gc.collect()
    for rep in range(warmup):
        operation(-1 - rep)
    started = time.perf_counter()
    rep = 0
    while rep < max_reps and (rep < min_reps or time.perf_counter() - started < budget_s):
        before = time.perf_counter()
        timed = operation(rep)
        samples.append(time.perf_counter() - before if timed is None else timed)
        rep += 1
    return samples


def timed_commit(store: Any, n: int, rep: int, offset: int = 0) -> float:
    """``store[key] = value; store.commit()`` of the existing key that
    repetition ``rep`` of the single-key commit sets (keys ``offset`` apart
    for another workload); the seconds it took."""
    index = (rep * 7919 + offset) % n
    key, value = key_of(index), value_of(index, rep + 10)
    before = time.perf_counter()
    store[key] = value
    result = store.commit()
    elapsed = time.perf_counter() - before
    assert result and result.strategy == "fast_forward", result
    return elapsed


def items_of(n: int) -> list[tuple[str, dict[str, Any]]]:
    """The keys and values of an n-key store, built before any timing."""
    return [(key_of(index), value_of(index)) for index in range(n)]


def filled(adapter: Adapter, handle: Any, items: list[tuple[str, Any]]) -> Any:
    for key, value in items:
        handle[key] = value
    result = handle.commit()
    assert result, f"{adapter.name}: bulk commit did not land"
    return handle


# --------------------------------------------------------------------------
# The worker: every workload on one implementation.
# --------------------------------------------------------------------------


def run_worker(options: argparse.Namespace) -> dict[str, Any]:
    adapter = make_adapter(options.worker)
    n = options.n
    budget = options.budget
    wanted = set(options.workloads)
    results: dict[str, Any] = {}
    name = adapter.name

    # 2. Bulk load. The last store loaded is the n-key store of workloads 1,
    # 4 and 5.
    store: Any = None
    items = items_of(n)

    def bulk(rep: int) -> float:
        nonlocal store
        store = None  # let the previous store go before timing the next
        handle = adapter.memory()
        before = time.perf_counter()
        filled(adapter, handle, items)
        elapsed = time.perf_counter() - before
        store = handle
        return elapsed

    log(f"[{name}] bulk load of {n:,} keys")
    if "bulk_load" in wanted:
        results["bulk_load"] = summary(
            repeat_until(bulk, budget_s=budget * 4, min_reps=2, max_reps=5, warmup=0)
        )
    else:
        store = filled(adapter, adapter.memory(), items)
    # The harness keeps no garbage of its own: a list of n live dicts makes
    # every cyclic collection slower, which hurts the pure-Python peers most.
    del items
    gc.collect()

    middle = key_of(n // 2)

    # 5. Cached read.
    if "cached_read" in wanted:
        log(f"[{name}] cached read")
        assert store[middle] == value_of(n // 2)
        number = options.read_number
        namespace = {"store": store, "key": middle}
        per_call = {}
        for label, statement in (("getitem", "store[key]"), ("get", "store.get(key)")):
            timer = timeit.Timer(statement, globals=namespace)
            runs = timer.repeat(repeat=options.read_repeat, number=number)
            per_call[label] = [run / number for run in runs]
        entry = {"median_s": statistics.median(per_call["getitem"]), "samples_s": per_call["getitem"]}
        entry["get_median_s"] = statistics.median(per_call["get"])
        entry["get_samples_s"] = per_call["get"]
        if name == "kvit":
            plain = {middle: pickle.dumps(value_of(n // 2))}
            timer = timeit.Timer("loads(plain[key])", globals={"loads": pickle.loads, "plain": plain, "key": middle})
            runs = [run / number for run in timer.repeat(repeat=options.read_repeat, number=number)]
            entry["pickle_loads_median_s"] = statistics.median(runs)
            entry["pickle_loads_samples_s"] = runs
        results["cached_read"] = entry

    # 1. Single-key commit on Memory at n keys.
    if "single_commit" in wanted:
        log(f"[{name}] single-key commit at n = {n:,}")

        results["single_commit"] = summary(
            repeat_until(
                lambda rep: timed_commit(store, n, rep),
                budget_s=budget, min_reps=5, max_reps=500, warmup=2,
            )
        )

    # 4. Three-way merge of 100 changes per side.
    if "merge" in wanted:
        log(f"[{name}] three-way merge, {MERGE_KEYS} changes per side")
        ours = adapter.second_handle(store)
        theirs = adapter.second_handle(store)
        stride = max(1, n // MERGE_KEYS)

        def merge(rep: int) -> float:
            theirs.refresh()
            ours.refresh()
            for j in range(MERGE_KEYS):
                index = (j * stride + 2 * (rep + 2)) % n
                theirs[key_of(index)] = value_of(index, rep + 1000)
            assert theirs.commit().strategy == "fast_forward"
            for j in range(MERGE_KEYS):
                index = (j * stride + 2 * (rep + 2) + 1) % n
                ours[key_of(index)] = value_of(index, rep + 1000)
            before = time.perf_counter()
            result = ours.commit()
            elapsed = time.perf_counter() - before
            assert result and result.strategy == "three_way", result
            return elapsed

        results["merge"] = summary(
            repeat_until(merge, budget_s=budget, min_reps=3, max_reps=100, warmup=1)
        )
        del ours, theirs
    store = None

    # 3. Open a Disk store of n keys and read one key, in fresh processes.
    scratch = Path(tempfile.mkdtemp(prefix=f"kvit-bench-{name}-", dir=options.scratch))
    try:
        if "open_read" in wanted or "single_commit_disk" in wanted:
            path = str(scratch / "store")
            log(f"[{name}] Disk store of {n:,} keys")
            handle = adapter.disk(path)
            items = items_of(n)
            before = time.perf_counter()
            filled(adapter, handle, items)
            results["bulk_load_disk"] = summary([time.perf_counter() - before])
            del items
            gc.collect()

            if "single_commit_disk" in wanted:
                log(f"[{name}] single-key commit on Disk at n = {n:,}")

                results["single_commit_disk"] = summary(
                    repeat_until(
                        lambda rep: timed_commit(handle, n, rep, offset=1),
                        budget_s=budget, min_reps=5, max_reps=300, warmup=2,
                    )
                )
            adapter.close(handle)
            del handle

            if "open_read" in wanted:
                log(f"[{name}] open a Disk store and read one key, fresh processes")
                key = key_of(n // 3)
                opens, reads, totals = [], [], []
                for _ in range(options.open_processes):
                    child = child_json([sys.executable, __file__, "--child-open", name, path, key])
                    assert child["value"] == repr(value_of(n // 3)), child
                    opens.append(child["open_s"])
                    reads.append(child["read_s"])
                    totals.append(child["open_s"] + child["read_s"])
                entry = summary(totals)
                entry["open_median_s"] = statistics.median(opens)
                entry["read_median_s"] = statistics.median(reads)
                results["open_read"] = entry

        # 6. Lost updates: 4 processes x 200 counter commits on one Disk store.
        if "lost_updates" in wanted:
            log(f"[{name}] lost updates: {COUNTER_PROCESSES} processes x {options.counter_commits} commits")
            results["lost_updates"] = lost_updates(adapter, str(scratch / "counter"), options)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def serve_single(name: str, n: int) -> None:
    """The server side of the interleaved single-key commit: builds an
    n-key Memory store, says ``ready``, then for each request line
    ``"<at most> <untimed> <seconds>"`` makes the untimed commits and then
    timed ones until the seconds have passed or the count is reached, and
    answers with the timed commits' durations as a JSON list."""
    adapter = make_adapter(name)
    store = filled(adapter, adapter.memory(), items_of(n))
    gc.collect()
    print("ready", flush=True)
    rep = 0
    for line in sys.stdin:
        most, untimed, seconds = line.split()
        samples: list[float] = []
        started = time.perf_counter()
        for turn in range(int(untimed) + int(most)):
            elapsed = timed_commit(store, n, rep)
            rep += 1
            if turn >= int(untimed):
                samples.append(elapsed)
                if time.perf_counter() - started >= float(seconds):
                    break
        print(json.dumps(samples), flush=True)


def interleaved_single(
    interpreters: dict[str, str], results: dict[str, Any], options: argparse.Namespace
) -> dict[str, Any]:
    """Times the single-key commit of every implementation fast enough for
    it, in bursts taken in turn (see the module's documentation)."""
    impls = [
        impl for impl in interpreters
        if (median(results, impl, "single_commit") or 0.0) <= INTERLEAVE_MAX_COMMIT_S
    ]
    if "kvit" not in impls or len(impls) < 2:
        return {}
    log(f"single-key commit at n = {options.n:,}, interleaved: {', '.join(impls)}")
    servers = {
        impl: subprocess.Popen(
            [interpreters[impl], __file__, "--serve-single", impl, str(options.n)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for impl in impls
    }
    samples: dict[str, list[float]] = {impl: [] for impl in impls}
    bursts: dict[str, list[float]] = {impl: [] for impl in impls}

    def ask(impl: str, request: Optional[str]) -> str:
        server = servers[impl]
        assert server.stdin is not None and server.stdout is not None
        if request is not None:
            server.stdin.write(request + "\n")
            server.stdin.flush()
        answer = server.stdout.readline()
        if not answer:
            raise RuntimeError(f"{impl}: the interleaved single-commit server stopped")
        return answer

    try:
        for impl in impls:
            ask(impl, None)  # "ready", once its store is built
        for turn in range(options.rounds):
            # Each round starts with the next implementation in line.
            order = impls[turn % len(impls):] + impls[:turn % len(impls)]
            for impl in order:
                burst = json.loads(ask(impl, f"{options.burst} {BURST_UNTIMED} {BURST_SECONDS}"))
                samples[impl] += burst
                bursts[impl].append(statistics.median(burst))
    except RuntimeError as failure:
        log(str(failure))
        return {}
    finally:
        for server in servers.values():
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=60)
    for impl in impls:
        entry = summary(samples[impl])
        entry["burst_medians_s"] = bursts[impl]
        results[impl]["single_commit_interleaved"] = entry
    ratios = {
        peer: [theirs / ours for theirs, ours in zip(bursts[peer], bursts["kvit"])]
        for peer in impls if peer != "kvit"
    }
    return {"rounds": options.rounds, "burst": options.burst, "implementations": impls,
            "round_ratios": ratios}


def child_json(command: list[str], timeout: float = 600) -> dict[str, Any]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{command[2:4]} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_open(name: str, path: str, key: str) -> None:
    adapter = make_adapter(name)  # imports the package: not timed
    before = time.perf_counter()
    handle = adapter.disk(path)
    opened = time.perf_counter()
    value = handle[key]
    read = time.perf_counter()
    print(json.dumps({"open_s": opened - before, "read_s": read - opened, "value": repr(value)}))


def lost_updates(adapter: Adapter, path: str, options: argparse.Namespace) -> dict[str, Any]:
    handle = adapter.disk(path)
    handle[COUNTER_KEY] = 0
    assert handle.commit()
    adapter.close(handle)
    del handle

    start_at = time.time() + 3.0  # every process opened and waiting by then
    processes = [
        subprocess.Popen(
            [
                sys.executable, __file__, "--child-counter", adapter.name, path,
                str(options.counter_commits), repr(start_at),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(COUNTER_PROCESSES)
    ]
    children: list[dict[str, Any]] = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=600)
        if process.returncode != 0:
            children.append({"crashed": True, "stderr": stderr[-2000:]})
        else:
            children.append(json.loads(stdout.strip().splitlines()[-1]))

    handle = adapter.disk(path)
    total = handle.get(COUNTER_KEY)
    adapter.close(handle)
    expected = COUNTER_PROCESSES * options.counter_commits
    landed = sum(child.get("landed", 0) for child in children)
    wall = max((child.get("elapsed_s", 0.0) for child in children), default=0.0)
    return {
        "total": total,
        "expected": expected,
        "lost": expected - total if isinstance(total, int) else None,
        "landed_commits": landed,
        "retries": sum(child.get("retries", 0) for child in children),
        "errors": sum(child.get("errors", 0) for child in children),
        "error_kinds": sorted({kind for child in children for kind in child.get("error_kinds", [])}),
        "strategies": {
            strategy: sum(child.get("strategies", {}).get(strategy, 0) for child in children)
            for strategy in sorted({s for child in children for s in child.get("strategies", {})})
        },
        "crashed": sum(1 for child in children if child.get("crashed")),
        "wall_s": wall,
        "commits_per_s": landed / wall if wall else None,
        "children": children,
    }


def child_counter(name: str, path: str, commits: int, start_at: float) -> None:
    adapter = make_adapter(name)
    handle = adapter.disk(path)
    handle.set_merge_fn(COUNTER_KEY, adapter.counter())
    time.sleep(max(0.0, start_at - time.time()))
    retries = errors = landed = 0
    error_kinds: set[str] = set()
    strategies: dict[str, int] = {}
    before = time.perf_counter()
    for _ in range(commits):
        for _attempt in range(1000):
            handle[COUNTER_KEY] = handle.get(COUNTER_KEY, 0) + 1
            try:
                result = handle.commit()
            except adapter.concurrency_error:
                retries += 1
                handle.refresh()
                continue
            except Exception as error:  # a peer may fail in other ways; count it
                errors += 1
                error_kinds.add(type(error).__name__)
                handle.refresh()
                continue
            if result:
                landed += 1
                strategies[result.strategy] = strategies.get(result.strategy, 0) + 1
                break
            retries += 1
            handle.refresh()
    elapsed = time.perf_counter() - before
    adapter.close(handle)
    print(json.dumps({
        "landed": landed, "retries": retries, "errors": errors,
        "error_kinds": sorted(error_kinds), "strategies": strategies, "elapsed_s": elapsed,
    }))


# --------------------------------------------------------------------------
# The driver.
# --------------------------------------------------------------------------


def kvit_python(options: argparse.Namespace) -> Optional[str]:
    python = options.kvit_python or str(ROOT / ".venv" / "bin" / "python")
    check = subprocess.run(
        [python, "-c", "import kvit; s = kvit.store(); s['k'] = 1; s.commit(); assert s['k'] == 1"],
        capture_output=True, text=True,
    )
    if check.returncode != 0:
        log(f"kvit is not usable with {python} (run `make py-venv`):\n{check.stderr.strip()[-800:]}")
        return None
    return python


def peer_python(name: str, options: argparse.Namespace) -> Optional[str]:
    """The interpreter of a virtualenv holding this kvgit release (with the
    ``disk`` extra), created and installed from PyPI if need be."""
    version = PEER_VERSIONS[name]
    venv = Path(options.venvs) / name
    python = venv / "bin" / "python"
    probe = "import importlib.metadata as m, diskcache, kvgit; print(m.version('kvgit'))"
    check = subprocess.run([str(python), "-c", probe], capture_output=True, text=True) if python.exists() else None
    if check is not None and check.returncode == 0 and check.stdout.strip() == version:
        return str(python)
    if options.no_install:
        log(f"{name}: no virtualenv at {venv} (--no-install given); skipped")
        return None
    log(f"{name}: creating {venv} and installing kvgit[disk]=={version} from PyPI")
    base = getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         f"kvgit[disk]=={version}"],
        check=True,
    )
    return str(python)


def fmt_time(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def fmt_ratio(ratio: Optional[float]) -> str:
    if ratio is None:
        return "-"
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.2f}x" if ratio < 10 else f"{ratio:.1f}x"


ROWS = [
    ("bulk_load", "bulk load, n keys, one commit (Memory)"),
    ("bulk_load_disk", "bulk load, n keys, one commit (Disk, 1 run)"),
    ("single_commit", "single-key commit at n (Memory)"),
    ("single_commit_interleaved", "single-key commit at n (Memory), interleaved"),
    ("single_commit_disk", "single-key commit at n (Disk)"),
    ("merge", "three-way merge, 100 changes per side (Memory)"),
    ("open_read", "open Disk store of n keys + read one key (fresh process)"),
    ("cached_read", "read a key already read once, store[key]"),
]

# (workload, peer, comparison, threshold): "faster" means the peer's time
# over kvit's must be at least the threshold; "not_slower" means kvit's time
# over the reference's must be at most the threshold.
TARGETS = [
    ("single_commit_interleaved", "kvgit-0.4.3", "faster", 20.0),
    ("bulk_load", "kvgit-0.1.2", "faster", 5.0),
    ("open_read", "kvgit-0.1.2", "faster", 50.0),
    ("merge", "kvgit-0.4.3", "faster", 10.0),
    ("cached_read", "kvgit-0.1.2", "not_slower", 1.25),
    ("cached_read", "pickle.loads", "not_slower", 2.0),
]


def median(results: dict[str, Any], impl: str, workload: str) -> Optional[float]:
    entry = results.get(impl, {}).get(workload)
    return entry.get("median_s") if isinstance(entry, dict) else None


def report(
    results: dict[str, Any], n: int, interleaving: Optional[dict[str, Any]] = None
) -> tuple[str, list[dict[str, Any]]]:
    impls = [impl for impl in IMPLEMENTATIONS if impl in results]
    lines = [f"n = {n:,} keys; medians", ""]
    header = ["workload", *impls, *(f"{peer} / kvit" for peer in impls if peer != "kvit")]
    table = [header]
    for workload, label in ROWS:
        if not any(workload in results.get(impl, {}) for impl in impls):
            continue
        kvit_time = median(results, "kvit", workload)
        row = [label, *(fmt_time(median(results, impl, workload)) for impl in impls)]
        for peer in impls:
            if peer == "kvit":
                continue
            peer_time = median(results, peer, workload)
            row.append(fmt_ratio(peer_time / kvit_time) if peer_time and kvit_time else "-")
        table.append(row)
    kvit_read = results.get("kvit", {}).get("cached_read")
    if kvit_read:
        table.append(["pickle.loads(plain_dict[key]), kvit's process", fmt_time(kvit_read["pickle_loads_median_s"])]
                     + [""] * (len(header) - 2))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0])] + [cell.rjust(widths[i]) for i, cell in enumerate(row) if i]
        lines.append("  ".join(cells))
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))

    if interleaving:
        lines += ["", f"Interleaved single-key commit: {interleaving['rounds']} rounds of bursts of at most "
                      f"{interleaving['burst']} commits; the peer's burst median over kvit's, per round"]
        for peer, ratios in interleaving["round_ratios"].items():
            lines.append(f"  {peer} / kvit: median {fmt_ratio(statistics.median(ratios))}, "
                         f"from {fmt_ratio(min(ratios))} to {fmt_ratio(max(ratios))}")

    lines += ["", "Lost updates: 4 processes x commits of +1 on one counter, Disk, counter() merge"]
    for impl in impls:
        entry = results[impl].get("lost_updates")
        if entry:
            lines.append(
                f"  {impl:12s} total {entry['total']} of {entry['expected']} "
                f"(lost {entry['lost']}), {entry['landed_commits']} commits landed, "
                f"{entry['retries']} retries, {entry['errors']} other errors {entry['error_kinds']}, "
                f"{entry['crashed']} crashed, {fmt_time(entry['wall_s'])} "
                f"({entry['commits_per_s'] or 0:.0f} commits/s), strategies {entry['strategies']}"
            )

    checks: list[dict[str, Any]] = []
    lines += ["", "Targets (ratios from this run)"]
    for workload, reference, comparison, threshold in TARGETS:
        kvit_time = median(results, "kvit", workload)
        if reference == "pickle.loads":
            ref_time = results.get("kvit", {}).get(workload, {}).get("pickle_loads_median_s")
        else:
            ref_time = median(results, reference, workload)
        if not kvit_time or not ref_time:
            continue
        if comparison == "faster":
            value = ref_time / kvit_time
            met = value >= threshold
            text = f"{workload}: kvit {fmt_ratio(value)} faster than {reference} (target >= {threshold:g}x)"
        else:
            value = kvit_time / ref_time
            met = value <= threshold
            text = f"{workload}: kvit takes {value:.2f}x {reference}'s time (target <= {threshold:g}x)"
        checks.append({"workload": workload, "reference": reference, "comparison": comparison,
                       "threshold": threshold, "value": value, "met": met})
        lines.append(f"  {'met   ' if met else 'MISSED'} {text}")
    kvit_lost = results.get("kvit", {}).get("lost_updates")
    if kvit_lost:
        met = kvit_lost["total"] == kvit_lost["expected"]
        checks.append({"workload": "lost_updates", "reference": "expected total", "comparison": "equal",
                       "threshold": kvit_lost["expected"], "value": kvit_lost["total"], "met": met})
        lines.append(f"  {'met   ' if met else 'MISSED'} lost_updates: kvit total {kvit_lost['total']} "
                     f"(expected {kvit_lost['expected']})")
    return "\n".join(lines), checks


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                                capture_output=True, text=True).stdout.strip())
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git_commit": commit + ("+uncommitted" if dirty else ""),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run_driver(options: argparse.Namespace) -> int:
    started = time.perf_counter()
    interpreters: dict[str, str] = {}
    for impl in options.impls:
        python = kvit_python(options) if impl == "kvit" else peer_python(impl, options)
        if python:
            interpreters[impl] = python
    results: dict[str, Any] = {}
    worker_args = [
        "--n", str(options.n), "--budget", str(options.budget),
        "--read-number", str(options.read_number), "--read-repeat", str(options.read_repeat),
        "--open-processes", str(options.open_processes),
        "--counter-commits", str(options.counter_commits),
        "--workloads", *options.workloads,
    ]
    if options.scratch:
        worker_args += ["--scratch", options.scratch]
    for impl, python in interpreters.items():
        before = time.perf_counter()
        done = subprocess.run(
            [python, __file__, "--worker", impl, *worker_args],
            stdout=subprocess.PIPE, text=True, timeout=1800,
        )
        if done.returncode != 0:
            log(f"{impl}: worker failed (exit {done.returncode})")
            continue
        results[impl] = json.loads(done.stdout.strip().splitlines()[-1])
        log(f"{impl}: done in {time.perf_counter() - before:.0f} s")
    interleaving = {}
    if "single_commit" in options.workloads:
        interleaving = interleaved_single(
            {impl: python for impl, python in interpreters.items() if impl in results}, results, options
        )

    text, checks = report(results, options.n, interleaving)
    print(text)
    document = {
        "machine": machine(),
        "n": options.n,
        "counter_processes": COUNTER_PROCESSES,
        "counter_commits_per_process": options.counter_commits,
        "merge_changes_per_side": MERGE_KEYS,
        "interpreters": interpreters,
        "results": results,
        "single_commit_interleaving": interleaving,
        "targets": checks,
        "total_run_s": time.perf_counter() - started,
    }
    out = Path(options.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"\nJSON: {out}  (whole run {document['total_run_s']:.0f} s)")
    return 0 if len(results) == len(interpreters) else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=None, help="keys in each store (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="n = 10,000 and small budgets")
    parser.add_argument("--impls", nargs="+", default=IMPLEMENTATIONS, choices=IMPLEMENTATIONS)
    parser.add_argument("--workloads", nargs="+", default=WORKLOADS, choices=WORKLOADS)
    parser.add_argument("--budget", type=float, default=None, help="seconds per timing loop (default 3)")
    parser.add_argument("--read-number", type=int, default=None, help="reads per timing run")
    parser.add_argument("--read-repeat", type=int, default=7)
    parser.add_argument("--open-processes", type=int, default=None, help="fresh processes for open_read")
    parser.add_argument("--counter-commits", type=int, default=None, help="commits per counter process")
    parser.add_argument("--out", default=str(HERE / "results.json"), help="where the JSON goes")
    parser.add_argument("--venvs", default=str(ROOT / ".bench-venvs"), help="the peers' virtualenvs")
    parser.add_argument("--kvit-python", default=None, help="an interpreter with kvit (default .venv)")
    parser.add_argument("--no-install", action="store_true", help="never create the peers' virtualenvs")
    parser.add_argument("--scratch", default=None, help="where temporary Disk stores go")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--child-open", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-counter", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--serve-single", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of the interleaved single-key commit (default 25)")
    parser.add_argument("--burst", type=int, default=200,
                        help="at most this many timed commits per implementation and round")
    options = parser.parse_args()

    if options.child_open:
        child_open(*options.child_open)
        return 0
    if options.child_counter:
        name, path, commits, start_at = options.child_counter
        child_counter(name, path, int(commits), float(start_at))
        return 0
    if options.serve_single:
        name, n = options.serve_single
        serve_single(name, int(n))
        return 0

    quick = options.quick
    options.n = options.n or (10_000 if quick else 100_000)
    options.budget = options.budget or (0.5 if quick else 3.0)
    options.read_number = options.read_number or (20_000 if quick else 200_000)
    options.open_processes = options.open_processes or (3 if quick else 7)
    options.counter_commits = options.counter_commits or (50 if quick else 200)
    options.rounds = options.rounds or (5 if quick else 25)

    if options.worker:
        print(json.dumps(run_worker(options)))
        return 0
    return run_driver(options)


if __name__ == "__main__":
    sys.exit(main())
