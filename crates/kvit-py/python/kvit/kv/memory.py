"""The in-memory backend: fast, no persistence, every operation thread-safe.

``Memory().memory`` is a copy of the contents as a dict, for debugging.
"""

from kvit._native import Memory
from kvit.kv.base import KVStore

__all__ = ["Memory"]

KVStore.register(Memory)
