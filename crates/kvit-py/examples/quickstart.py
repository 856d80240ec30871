"""kvit quickstart: a Disk store you can commit, branch, merge and diff.

    python crates/kvit-py/examples/quickstart.py [DIRECTORY]   (default: demo-data)

Run it twice: the store persists, so the second run finds the first run's
commits and branch, and the counter keeps counting.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter
from typing import Any

import kvit
from kvit import ConcurrencyError, Namespaced, Staged, counter

WRITERS = 2
INCREMENTS = 25


def show(title: str) -> None:
    print(f"\n== {title}")


def increment(
    store: Staged, key: str, rounds: int, barrier: threading.Barrier, tally: Counter[str]
) -> None:
    """Adds 1 to ``store[key]`` in each of ``rounds`` rounds, one commit each.

    Every writer stages its increment before any of them commits, so in each
    round all but the first commit find the head moved: ``counter()`` merges
    their increments three ways instead of losing them.
    """
    for _ in range(rounds):
        store[key] = store.get(key, 0) + 1
        barrier.wait()
        while True:
            try:
                result = store.commit(info={"step": "visit", "writer": threading.current_thread().name})
                tally[result.strategy] += 1
                break
            except ConcurrencyError:
                # The head moved again during our merge; the staged change is kept.
                tally["retried"] += 1


def main(path: str) -> None:
    s = kvit.store(storage="disk", path=path)
    runs: int = s.get("runs", 0)
    print(f"opened {s!r} in {path!r}; earlier runs: {runs}")
    start = s.current_commit

    show("writes and a commit")
    s["runs"] = runs + 1
    s["greeting"] = "hello"
    agent = Namespaced(s, "agent")  # keys under "agent/"
    agent["state"] = "running"
    agent["tasks"] = ["index", "merge"]
    print(f"staged: has_changes={s.has_changes}, keys={sorted(s)}")
    result = s.commit(info={"step": "write", "run": runs + 1})
    print(f"commit: {result.strategy} -> {result.commit[:12] if result.commit else None}")
    print(f"agent view: {dict(agent.items())}")

    show("a branch")
    name = f"experiment-{runs + 1}"
    experiment = s.create_branch(name)
    experiment["greeting"] = "bonjour"
    experiment.remove("agent/tasks")
    experiment.commit(info={"step": "experiment", "run": runs + 1})
    print(f"branches: {s.list_branches()}")
    print(f"main says {s['greeting']!r}, {name} says {experiment['greeting']!r}")
    changed = s.versioned.diff(s.current_commit, experiment.current_commit)
    print(f"main -> {name}: modified={sorted(changed.modified)} removed={sorted(changed.removed)}")

    show(f"{WRITERS} writers merging a counter with counter()")
    before: int = s.get("visits", 0)
    writers = [kvit.store(storage="disk", path=path) for _ in range(WRITERS)]
    for writer in writers:
        writer.set_merge_fn("visits", counter())
    barrier = threading.Barrier(WRITERS)
    tally: Counter[str] = Counter()
    threads = [
        threading.Thread(
            target=increment, args=(w, "visits", INCREMENTS, barrier, tally), name=f"writer-{i}"
        )
        for i, w in enumerate(writers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    s.refresh()
    visits: Any = s["visits"]
    print(f"visits: {before} + {WRITERS} x {INCREMENTS} = {visits}")
    assert visits == before + WRITERS * INCREMENTS, "an increment was lost"
    print(f"commits: {dict(sorted(tally.items()))} (three_way: merged by counter())")

    show("history (newest first)")
    v = s.versioned
    history = v.history()
    everything = v.history(all_parents=True)
    print(f"{len(history)} commits on main's first-parent line, {len(everything)} with merged-in ones")
    for commit in history[:3]:
        print(f"  {commit[:12]}  {v.commit_info(commit)}")
    print("  ...")
    for commit in history[3:]:
        info = v.commit_info(commit)
        if info is None or info.get("step") != "visit":
            print(f"  {commit[:12]}  {info if info is not None else '(root: the empty commit)'}")

    show("diff of this run on main")
    diff = s.versioned.diff(start, s.current_commit)
    print(f"added={sorted(diff.added)}")
    print(f"removed={sorted(diff.removed)}")
    print(f"modified={sorted(diff.modified)}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo-data")
