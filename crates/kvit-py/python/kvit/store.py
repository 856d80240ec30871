"""The ``Store`` protocol: a dict with commit semantics.

:class:`Store` is a :class:`collections.abc.MutableMapping` of ``str`` keys
to any values, plus the versioning operations. :class:`kvit.Staged`,
:class:`kvit.Live` and :class:`kvit.Namespaced` implement it, and so can
your own classes: implement the five mapping methods (``__getitem__``,
``__setitem__``, ``__delitem__``, ``__iter__``, ``__len__``) and the
versioning operations your store supports; the rest has defaults. A store
without versions leaves the versioning operations as they are here: they
raise :class:`NotImplementedError`.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from typing import Any, Literal, Optional

from kvit._native import MergeResult
from kvit.merges import MergeFn

__all__ = ["Store"]


def _unsupported(store: object, operation: str) -> NotImplementedError:
    return NotImplementedError(
        f"{type(store).__name__} has no versions: it cannot {operation}"
    )


class Store(MutableMapping[str, Any]):
    """A mutable mapping of ``str`` keys to values, with commit semantics.

    ``store[key]`` raises :class:`KeyError` for a missing key, and so does
    ``del store[key]``; :meth:`get` returns a default instead and
    :meth:`remove` does nothing. Writes may be buffered until :meth:`commit`
    (``Staged``) or take effect at once (``Live``).
    """

    __slots__ = ()

    # ---- reading and writing (defaults in terms of the mapping methods) ----

    def get_many(self, *keys: str) -> dict[str, Any]:
        """The values of the existing keys among ``keys``."""
        found: dict[str, Any] = {}
        for key in keys:
            try:
                found[key] = self[key]
            except KeyError:
                pass
        return found

    def set(self, key: str, value: Any) -> None:
        """Sets ``key`` to ``value`` (same as ``store[key] = value``)."""
        self[key] = value

    def remove(self, key: str) -> None:
        """Removes ``key``; a missing key is not an error."""
        try:
            del self[key]
        except KeyError:
            pass

    def keys_with_prefix(self, prefix: str) -> list[str]:
        """The keys starting with ``prefix``, sorted.

        :class:`kvit.Namespaced` lists its keys with this; a store that can
        scan a key range (as ``Staged`` does) should override it.
        """
        return sorted(key for key in self if key.startswith(prefix))

    @property
    def namespace(self) -> Optional[str]:
        """The namespace path this store is confined to (None: the whole store)."""
        return None

    # ---- versioning (a store without versions raises NotImplementedError) ----

    def commit(
        self,
        *,
        on_conflict: Literal["raise", "abandon"] = "raise",
        merge_fns: Optional[Mapping[str, MergeFn]] = None,
        default_merge: Optional[MergeFn] = None,
        info: Optional[dict[str, Any]] = None,
    ) -> MergeResult:
        """Flushes pending changes to storage as one atomic commit."""
        raise _unsupported(self, "commit")

    def reset(self) -> None:
        """Discards pending changes."""
        raise _unsupported(self, "reset")

    def create_branch(self, name: str) -> Store:
        """Forks the current commit onto branch ``name``; returns a store on it."""
        raise _unsupported(self, "create_branch")

    def checkout(self, commit_hash: str, *, branch: Optional[str] = None) -> Optional[Store]:
        """A store at ``commit_hash`` (None if there is no such commit)."""
        raise _unsupported(self, "checkout")

    def list_branches(self) -> list[str]:
        """Every branch name, sorted."""
        raise _unsupported(self, "list_branches")

    def set_merge_fn(self, key: str, fn: Optional[MergeFn]) -> None:
        """Registers a merge function on decoded values for ``key``."""
        raise _unsupported(self, "set_merge_fn")

    def set_default_merge(self, fn: MergeFn) -> None:
        """Registers the merge function for keys without their own."""
        raise _unsupported(self, "set_default_merge")

    @property
    def current_commit(self) -> str:
        """The commit reads come from."""
        raise _unsupported(self, "have a current_commit")

    @property
    def base_commit(self) -> str:
        """The branch head this store last synchronised with."""
        raise _unsupported(self, "have a base_commit")

    @property
    def last_merge_result(self) -> Optional[MergeResult]:
        """The result of the last commit, or None."""
        raise _unsupported(self, "have a last_merge_result")
