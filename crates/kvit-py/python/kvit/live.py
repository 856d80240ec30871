"""``Live``: an in-memory store without versions, backed by a plain dict."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kvit.store import Store

__all__ = ["Live"]


def _checked(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"keys must be str, not {type(key).__name__}")
    return key


class Live(Store):
    """A store whose writes take effect at once: a plain ``dict[str, Any]``.

    Versioning operations (``commit``, ``reset``, ``create_branch``,
    ``checkout``, ``list_branches``, merge functions and commit properties)
    raise :class:`NotImplementedError`.
    """

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._data[_checked(key)] = value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        # A snapshot: the store may change while it is iterated.
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: str, default: Any = None) -> Any:
        return self._data.get(key, default)

    def get_many(self, *keys: str) -> dict[str, Any]:
        data = self._data
        return {key: data[key] for key in keys if key in data}

    def remove(self, key: str) -> None:
        self._data.pop(key, None)

    def clear(self) -> None:
        self._data.clear()

    def keys_with_prefix(self, prefix: str) -> list[str]:
        return sorted(key for key in self._data if key.startswith(prefix))

    def __repr__(self) -> str:
        return f"<kvit.Live keys={len(self._data)}>"
