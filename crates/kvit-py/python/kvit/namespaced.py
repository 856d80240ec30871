"""``Namespaced``: a key-prefixed view over any :class:`kvit.Store`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Literal, Optional

from kvit._native import MergeResult
from kvit.merges import MergeFn
from kvit.store import Store

__all__ = ["Namespaced"]


class Namespaced(Store):
    """The keys of ``store`` under ``namespace/``, without the prefix.

    ``Namespaced(store, "agent")["state"]`` is ``store["agent/state"]``.
    Namespace names must not contain ``/``: nest namespaces by wrapping one
    view in another (``Namespaced(Namespaced(s, "agent"), "worker")`` has
    namespace ``"agent/worker"``).

    Iteration, ``keys()`` and ``len()`` cover the direct children only (keys
    with no further ``/``); :meth:`descendant_keys` lists nested keys too.
    Listing is a prefix scan of the underlying store
    (:meth:`Store.keys_with_prefix`), never a scan of all its keys when the
    store can scan a range.

    Commits, resets and branching act on the whole underlying store; merge
    functions registered or passed here name keys in this namespace, except
    :meth:`set_default_merge`, which is store-wide.
    """

    __slots__ = ("_store", "_name", "_prefix", "_path")

    def __init__(self, store: Store, namespace: str) -> None:
        if not isinstance(store, Store):
            raise TypeError(
                f"Namespaced wraps a kvit.Store (Staged, Live, Namespaced or a "
                f"Store subclass), not {type(store).__name__}"
            )
        if not isinstance(namespace, str):
            raise TypeError(f"namespace must be str, not {type(namespace).__name__}")
        if not namespace:
            raise ValueError("namespace must not be empty")
        if "/" in namespace:
            raise ValueError(
                f"namespace {namespace!r} contains '/'; nest namespaces by wrapping "
                f"one Namespaced in another"
            )
        self._store = store
        self._name = namespace
        self._prefix = namespace + "/"
        parent = store.namespace
        self._path = f"{parent}/{namespace}" if parent else namespace

    def _full(self, key: str) -> str:
        if not isinstance(key, str):
            raise TypeError(f"keys must be str, not {type(key).__name__}")
        return self._prefix + key

    def _rewrap(self, store: Store) -> Namespaced:
        return Namespaced(store, self._name)

    # ---- identity ------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The full namespace path, e.g. ``"agent/worker"``."""
        return self._path

    @property
    def store(self) -> Store:
        """The store this view wraps."""
        return self._store

    # ---- reading -------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        try:
            return self._store[self._full(key)]
        except KeyError:
            raise KeyError(key) from None

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get(self._full(key), default)

    def get_many(self, *keys: str) -> dict[str, Any]:
        """The values of the existing keys among ``keys``, by unprefixed key."""
        start = len(self._prefix)
        found = self._store.get_many(*(self._full(key) for key in keys))
        return {key[start:]: value for key, value in found.items()}

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._full(key) in self._store

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """Every key below this namespace starting with ``prefix``, nested
        ones included, unprefixed and sorted."""
        start = len(self._prefix)
        return [key[start:] for key in self._store.keys_with_prefix(self._prefix + prefix)]

    def descendant_keys(self) -> list[str]:
        """Every key below this namespace, nested ones included, unprefixed."""
        return self.keys_with_prefix("")

    def __iter__(self) -> Iterator[str]:
        return iter([key for key in self.keys_with_prefix("") if "/" not in key])

    def __len__(self) -> int:
        return sum(1 for key in self.keys_with_prefix("") if "/" not in key)

    # ---- writing -------------------------------------------------------------

    def __setitem__(self, key: str, value: Any) -> None:
        self._store[self._full(key)] = value

    def set(self, key: str, value: Any) -> None:
        self._store.set(self._full(key), value)

    def __delitem__(self, key: str) -> None:
        try:
            del self._store[self._full(key)]
        except KeyError:
            raise KeyError(key) from None

    def remove(self, key: str) -> None:
        self._store.remove(self._full(key))

    def clear(self) -> None:
        """Removes this namespace's direct children."""
        for key in list(self):
            self.remove(key)

    def commit(
        self,
        *,
        on_conflict: Literal["raise", "abandon"] = "raise",
        merge_fns: Optional[Mapping[str, MergeFn]] = None,
        default_merge: Optional[MergeFn] = None,
        info: Optional[dict[str, Any]] = None,
    ) -> MergeResult:
        """Commits the whole underlying store; ``merge_fns`` name keys in
        this namespace."""
        prefixed = None
        if merge_fns is not None:
            prefixed = {self._full(key): fn for key, fn in merge_fns.items()}
        return self._store.commit(
            on_conflict=on_conflict,
            merge_fns=prefixed,
            default_merge=default_merge,
            info=info,
        )

    def reset(self) -> None:
        """Discards the whole underlying store's pending changes."""
        self._store.reset()

    def refresh(self) -> None:
        """Refreshes the underlying store (if it can)."""
        refresh = getattr(self._store, "refresh", None)
        if refresh is None:
            raise NotImplementedError(f"{type(self._store).__name__} cannot refresh")
        refresh()

    # ---- merge functions -----------------------------------------------------

    def set_merge_fn(self, key: str, fn: Optional[MergeFn]) -> None:
        """Registers ``fn`` for ``key`` in this namespace."""
        self._store.set_merge_fn(self._full(key), fn)

    def set_default_merge(self, fn: MergeFn) -> None:
        """Registers the store-wide default merge function (not prefixed)."""
        self._store.set_default_merge(fn)

    # ---- commit state and branching (delegated) ------------------------------

    @property
    def current_commit(self) -> str:
        return self._store.current_commit

    @property
    def base_commit(self) -> str:
        return self._store.base_commit

    @property
    def last_merge_result(self) -> Optional[MergeResult]:
        return self._store.last_merge_result

    def create_branch(self, name: str) -> Namespaced:
        """Forks the underlying store onto branch ``name``; returns this
        namespace's view of the new branch."""
        return self._rewrap(self._store.create_branch(name))

    def checkout(self, commit_hash: str, *, branch: Optional[str] = None) -> Optional[Namespaced]:
        """This namespace's view of the underlying store at ``commit_hash``
        (None if there is no such commit)."""
        store = self._store.checkout(commit_hash, branch=branch)
        return None if store is None else self._rewrap(store)

    def list_branches(self) -> list[str]:
        return self._store.list_branches()

    def __repr__(self) -> str:
        return f"<kvit.Namespaced namespace={self._path!r} store={self._store!r}>"
