"""The Redis backend: one Redis string per key, shared safely by threads,
processes and machines (built into kvit, like every backend).

``Redis(url, *, prefix="", connect_timeout=None, response_timeout=None)``:
``url`` is ``redis://[[user]:password@]host[:port][/db]``, ``rediss://...``
for TLS, or ``redis+unix:///path/to/socket``. Every key the store writes is
put under ``prefix``, and the store sees only keys under it, so several
stores can share one Redis database; with the default empty prefix the store
owns the whole database and :meth:`~kvit.KVStore.clear` empties it.
``connect_timeout`` (5 seconds by default) bounds opening a connection,
``response_timeout`` (30 seconds) one reply.

A URL that does not parse raises ``ValueError``; a server that cannot be
reached, refuses the password or fails a request raises
:class:`kvit.BackendError`. See ``docs/deployment.md`` for the server
settings under which an acknowledged commit is never lost.
"""

from kvit._native import Redis
from kvit.kv.base import KVStore

__all__ = ["Redis"]

KVStore.register(Redis)
