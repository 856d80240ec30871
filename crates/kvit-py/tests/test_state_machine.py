"""A hypothesis state machine over the Python API, against a dict model.

Several ``Staged`` handles share one store: two opened independently on
branch ``main`` (on Disk, each over its own ``kvit.Disk`` handle on the same
directory, as two processes would), plus the handles that
``create_branch`` and ``checkout`` return. Rules set, remove, read, commit
(plain, or adding to a counter key with ``kvit.counter()`` as the merge
function), reset, refresh, branch and check out recorded commits, in any
order. The model keeps every commit's contents and each handle's cursor and
staged overlay, and predicts each commit's outcome: no-op, fast-forward, or
a three-way merge against the handle's own commit (the merge base: every
commit a handle can sit on was a head of its branch, so it is an ancestor of
the branch head) with its carried, auto-merged and conflicting keys.

Invariants, after every step: every handle's visible contents (through
``items()``, ``len()``, ``in`` and ``get``) are its overlay over its commit's
contents; every branch head, read through a fresh cursor and decoded, holds
the model's contents; the branch list matches. ``MergeConflict`` is expected
exactly where the model predicts conflicting keys; ``ConcurrencyError``
never (one thread: nobody can move a head between a read and its swap), so
it fails the test.

Deterministic for CI (``derandomize=True``, no example database) and bounded
to a few seconds per backend.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from typing import Any, Callable, Optional

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import kvit
from kvit import KVStore, MergeConflict

KEYS = ["a", "b", "c", "dir/d"]
COUNTER = "n"
ALL_KEYS = KEYS + [COUNTER]
BRANCH_NAMES = ["dev", "feature"]
NO_SUCH_COMMIT = "0" * 64

# Values whose equality is equality of their pickles (no bools, floats or
# mixed int/str equalities), so the model can compare values where kvit
# compares stored bytes.
VALUES = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(["", "x", "yy"]),
    st.lists(st.integers(0, 2), max_size=2),
)
HANDLE = st.integers(0, 3)


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT: Any = _Absent()
"""A key missing from a snapshot; in an overlay, a staged removal."""


def same(x: Any, y: Any) -> bool:
    return type(x) is type(y) and x == y


def nullable(value: Any) -> Any:
    return None if value is ABSENT else value


def counter_merge(old: Any, ours: Any, theirs: Any) -> Any:
    return (ours or 0) + (theirs or 0) - (old or 0)


class Handle:
    """A Staged handle and what the model says about it."""

    def __init__(self, staged: kvit.Staged, branch: str, commit: str) -> None:
        self.staged = staged
        self.branch = branch
        self.commit = commit
        self.overlay: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"Handle({self.branch!r}, {self.commit[:8]}, overlay={self.overlay})"


class StoreMachine(RuleBasedStateMachine):
    """The machine; subclasses say which backend."""

    def make_backend(self) -> KVStore:
        raise NotImplementedError

    def __init__(self) -> None:
        super().__init__()
        self.tmp: Optional[str] = None
        first = self.make_backend()
        second = self.make_backend()
        self.backend = first
        a = kvit.Staged(kvit.Versioned(first))
        b = kvit.Staged(kvit.Versioned(second))
        initial = a.current_commit
        assert b.current_commit == initial
        # commit hash -> contents; branch -> head; (commit, branch) pairs that
        # were heads of that branch (so ancestors of its head from then on).
        self.commits: dict[str, dict[str, Any]] = {initial: {}}
        self.heads: dict[str, str] = {"main": initial}
        self.recorded: list[tuple[str, str]] = [(initial, "main")]
        self.handles = [Handle(a, "main", initial), Handle(b, "main", initial)]

    def teardown(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ---- the model ----------------------------------------------------------

    def handle(self, index: int) -> Handle:
        return self.handles[index % len(self.handles)]

    def view(self, h: Handle) -> dict[str, Any]:
        contents = dict(self.commits[h.commit])
        for key, value in h.overlay.items():
            if value is ABSENT:
                contents.pop(key, None)
            else:
                contents[key] = value
        return contents

    def moved(self, h: Handle, commit: str, contents: dict[str, Any]) -> None:
        """``h`` committed ``commit``, now the head of its branch."""
        assert commit not in self.commits or self.commits[commit] == contents
        self.commits[commit] = contents
        self.heads[h.branch] = commit
        self.recorded.append((commit, h.branch))
        h.commit = commit
        h.overlay = {}

    # ---- writes -------------------------------------------------------------

    @rule(index=HANDLE, key=st.sampled_from(KEYS), value=VALUES, item=st.booleans())
    def set(self, index: int, key: str, value: Any, item: bool) -> None:
        h = self.handle(index)
        if item:
            h.staged[key] = value
        else:
            h.staged.set(key, value)
        h.overlay[key] = value

    @rule(index=HANDLE, key=st.sampled_from(KEYS), item=st.booleans())
    def remove(self, index: int, key: str, item: bool) -> None:
        h = self.handle(index)
        present = key in self.view(h)
        if item:
            if present:
                del h.staged[key]
            else:
                with pytest.raises(KeyError):
                    del h.staged[key]
        else:
            h.staged.remove(key)
        if present:
            h.overlay[key] = ABSENT

    # ---- reads (the invariants read everything after every step too) -------

    @rule(index=HANDLE, key=st.sampled_from(ALL_KEYS))
    def read(self, index: int, key: str) -> None:
        """Every kind of read of one handle (the invariants read the whole
        view after each step through ``items()``, ``get`` and ``in``)."""
        h = self.handle(index)
        view = self.view(h)
        expected = view.get(key, ABSENT)
        assert same(h.staged.get(key, ABSENT), expected)
        if expected is ABSENT:
            assert h.staged.get(key) is None and key not in h.staged
            with pytest.raises(KeyError):
                h.staged[key]
        else:
            assert same(h.staged[key], expected) and key in h.staged
        assert h.staged.get_many(key, "missing") == ({} if expected is ABSENT else {key: expected})
        assert list(h.staged.keys()) == sorted(view)
        assert h.staged.keys_with_prefix("dir/") == sorted(k for k in view if k.startswith("dir/"))
        assert len(h.staged) == len(view)
        assert h.staged.has_changes == bool(h.overlay)

    # ---- commits --------------------------------------------------------------

    def commit(self, h: Handle, merge_fns: Optional[dict[str, Callable[..., Any]]] = None) -> None:
        head = self.heads[h.branch]
        if not h.overlay:
            result = h.staged.commit(merge_fns=merge_fns)
            assert result.merged and result.strategy == "no_op"
            assert h.staged.current_commit == h.commit
            event("commit: no_op")
            return
        ours = self.view(h)
        if h.commit == head:
            result = h.staged.commit(merge_fns=merge_fns)
            assert result.merged and result.strategy == "fast_forward"
            assert result.commit == h.staged.current_commit
            self.moved(h, result.commit, ours)
            event("commit: fast_forward")
            return
        base, theirs = self.commits[h.commit], self.commits[head]
        merged = dict(theirs)
        carried: set[str] = set()
        auto: set[str] = set()
        conflicting: set[str] = set()
        for key in set(base) | set(ours) | set(theirs):
            old, mine, other = (side.get(key, ABSENT) for side in (base, ours, theirs))
            ours_changed, theirs_changed = not same(mine, old), not same(other, old)
            if ours_changed and not theirs_changed:
                if mine is ABSENT:
                    merged.pop(key, None)
                else:
                    merged[key] = mine
            elif theirs_changed and not ours_changed:
                carried.add(key)
            elif ours_changed and theirs_changed:
                if merge_fns and key in merge_fns:
                    merged[key] = counter_merge(nullable(old), nullable(mine), nullable(other))
                    auto.add(key)
                elif same(mine, other):
                    auto.add(key)
                else:
                    conflicting.add(key)
        if conflicting:
            with pytest.raises(MergeConflict) as raised:
                h.staged.commit(merge_fns=merge_fns)
            assert raised.value.conflicting_keys == conflicting
            assert raised.value.merge_errors == {}
            # Nothing moved; the staged changes are kept.
            assert h.staged.current_commit == h.commit
            assert h.staged.has_changes
            event("commit: MergeConflict")
            return
        result = h.staged.commit(merge_fns=merge_fns)
        assert result.merged and result.strategy == "three_way"
        assert result.carried_keys == carried
        assert result.auto_merged_keys == auto
        assert result.commit == h.staged.current_commit
        self.moved(h, result.commit, merged)
        event("commit: three_way" + (" (counter merged)" if COUNTER in auto and merge_fns else ""))
        if h.branch != "main":
            event("three_way on a branch")

    @rule(index=HANDLE)
    def plain_commit(self, index: int) -> None:
        self.commit(self.handle(index))

    @rule(index=HANDLE, delta=st.integers(1, 3))
    def counter_commit(self, index: int, delta: int) -> None:
        """Adds ``delta`` to the counter and commits with ``kvit.counter()``
        resolving it, so concurrent increments from several handles add up."""
        h = self.handle(index)
        current = h.staged.get(COUNTER, 0)
        assert current == self.view(h).get(COUNTER, 0)
        h.staged[COUNTER] = current + delta
        h.overlay[COUNTER] = current + delta
        self.commit(h, merge_fns={COUNTER: kvit.counter()})

    # ---- navigation -------------------------------------------------------------

    @rule(index=HANDLE)
    def reset(self, index: int) -> None:
        h = self.handle(index)
        h.staged.reset()
        h.overlay = {}
        assert not h.staged.has_changes

    @rule(index=HANDLE)
    def refresh(self, index: int) -> None:
        h = self.handle(index)
        h.staged.refresh()
        h.commit = self.heads[h.branch]
        h.overlay = {}
        assert h.staged.current_commit == h.commit

    @rule(index=HANDLE, name=st.sampled_from(BRANCH_NAMES))
    def create_branch(self, index: int, name: str) -> None:
        h = self.handle(index)
        if name in self.heads:
            with pytest.raises(ValueError):
                h.staged.create_branch(name)
            return
        branch = h.staged.create_branch(name)
        assert isinstance(branch, kvit.Staged)
        assert branch.branch == name and branch.current_commit == h.commit
        assert not branch.has_changes
        self.heads[name] = h.commit
        self.recorded.append((h.commit, name))
        self.handles.append(Handle(branch, name, h.commit))

    @rule(index=HANDLE, pick=st.integers(0, 1000), name_branch=st.booleans(), bogus=st.booleans())
    def checkout(self, index: int, pick: int, name_branch: bool, bogus: bool) -> None:
        """Replaces a handle by one at a recorded commit (on that commit's
        branch); an unknown commit gives None."""
        h = self.handle(index)
        if bogus:
            assert h.staged.checkout(NO_SUCH_COMMIT) is None
            return
        commit, branch = self.recorded[pick % len(self.recorded)]
        if branch == h.branch and not name_branch:
            new = h.staged.checkout(commit)
        else:
            new = h.staged.checkout(commit, branch=branch)
        assert new is not None and isinstance(new, kvit.Staged)
        assert new.branch == branch and new.current_commit == commit
        self.handles[self.handles.index(h)] = Handle(new, branch, commit)
        event("checkout of a past head" if commit != self.heads[branch] else "checkout of a head")

    # ---- invariants -------------------------------------------------------------

    @invariant()
    def every_handle_reads_its_view(self) -> None:
        for h in self.handles:
            view = self.view(h)
            assert h.staged.current_commit == h.commit
            assert dict(h.staged.items()) == view
            assert len(h.staged) == len(view)
            for key in ALL_KEYS:
                assert (key in h.staged) == (key in view)
                assert same(h.staged.get(key, ABSENT), view.get(key, ABSENT))

    @invariant()
    def committed_contents_match(self) -> None:
        assert sorted(self.handles[0].staged.list_branches()) == sorted(self.heads)
        for branch, head in self.heads.items():
            cursor = kvit.Versioned(self.backend, branch=branch)
            assert cursor.current_commit == head
            stored = {key: pickle.loads(value) for key, value in cursor.items()}
            assert stored == self.commits[head]


class MemoryMachine(StoreMachine):
    def __init__(self) -> None:
        self.memory = kvit.Memory()
        super().__init__()

    def make_backend(self) -> KVStore:
        return self.memory  # one store, shared by the handles


class DiskMachine(StoreMachine):
    def make_backend(self) -> KVStore:
        if getattr(self, "tmp", None) is None:
            self.tmp = tempfile.mkdtemp(prefix="kvit-machine-")
        assert self.tmp is not None
        # A handle of its own on the directory for each caller, as another
        # process would open it.
        return kvit.Disk(self.tmp, durability="normal")


def bounded(examples: int, steps: int) -> settings:
    """Deterministic (the same examples on every run, no example database)
    and bounded: a few seconds per machine."""
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


TestMemoryMachine = MemoryMachine.TestCase
TestMemoryMachine.settings = bounded(examples=450, steps=60)

TestDiskMachine = DiskMachine.TestCase
TestDiskMachine.settings = bounded(examples=150, steps=50)
