"""The Python read path, as ratios measured in one run (DESIGN.md,
"Performance targets"): reading an already-read committed key from a
``kvit.Staged`` store against ``pickle.loads`` of a value held in a dict,
and against ``kvgit`` 0.1.2's ``Staged`` (if installed), which returns the
decoded value from a Python dict.

    python crates/kvit-py/benches/read_path.py [--keys N] [--repeat R]
"""

from __future__ import annotations

import argparse
import pickle
import timeit
from typing import Any, Callable

import kvit


def best(stmt: Callable[[], Any], number: int, repeat: int) -> float:
    """Seconds per call, best of ``repeat`` runs of ``number`` calls."""
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    value = {"name": "alice", "visits": 3, "tags": ["a", "b"]}
    keys = [f"user/{index:06d}" for index in range(args.keys)]
    key = keys[len(keys) // 2]

    plain = {k: pickle.dumps(value) for k in keys}
    s = kvit.store()
    for k in keys:
        s[k] = value
    s.commit()
    s.refresh()  # drop every cache: the first read below decodes
    assert s[key] == value and s.get(key) == value

    n, r = args.number, args.repeat
    figures: dict[str, float] = {
        "pickle.loads(dict[key])": best(lambda: pickle.loads(plain[key]), n, r),
        "dict[key] (no decoding)": best(lambda: plain[key], n, r),
        "kvit Staged[key]": best(lambda: s[key], n, r),
        "kvit Staged.get(key)": best(lambda: s.get(key), n, r),
    }
    try:
        import kvgit  # type: ignore[import-not-found]

        g = kvgit.Staged(kvgit.Versioned())
        for k in keys:
            g[k] = value
        g.commit()
        assert g.get(key) == value
        figures["kvgit 0.1.2 Staged.get(key)"] = best(lambda: g.get(key), n, r)
        figures["kvgit 0.1.2 Staged[key]"] = best(lambda: g[key], n, r)
    except ImportError:
        pass

    base = figures["pickle.loads(dict[key])"]
    for name, seconds in figures.items():
        print(f"{name:32s} {seconds * 1e9:8.1f} ns   {seconds / base:5.2f}x pickle.loads")
    if "kvgit 0.1.2 Staged.get(key)" in figures:
        kvgit_get = figures["kvgit 0.1.2 Staged.get(key)"]
        print(f"kvit Staged[key] / kvgit get     {figures['kvit Staged[key]'] / kvgit_get:5.2f}x")
        print(f"kvit Staged.get / kvgit get      {figures['kvit Staged.get(key)'] / kvgit_get:5.2f}x")
        print(f"kvit Staged[key] / kvgit [key]   "
              f"{figures['kvit Staged[key]'] / figures['kvgit 0.1.2 Staged[key]']:5.2f}x")


if __name__ == "__main__":
    main()
