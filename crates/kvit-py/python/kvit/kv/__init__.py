"""Storage backends: the ``KVStore`` interface and the built-in stores."""

from kvit.kv.base import KVStore
from kvit.kv.disk import Disk
from kvit.kv.memory import Memory
from kvit.kv.postgres import Postgres
from kvit.kv.redis import Redis

__all__ = ["Disk", "KVStore", "Memory", "Postgres", "Redis"]
