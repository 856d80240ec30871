"""The persistent backend: one SQLite database inside a directory, shared
safely by threads and processes (built into kvit; the ``disk`` extra needs
nothing more).

``Disk(path, *, durability="full", busy_timeout=None)``: ``durability`` is
``"full"`` (every commit synced to disk) or ``"normal"`` (faster; survives a
process crash but maybe not a power loss); ``busy_timeout`` is how many
seconds to wait for other processes' write transactions (30 by default).
"""

from kvit._native import Disk
from kvit.kv.base import KVStore

__all__ = ["Disk"]

KVStore.register(Disk)
