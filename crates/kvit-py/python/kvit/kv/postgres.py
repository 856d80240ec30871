"""The PostgreSQL backend: one table, shared safely by threads, processes
and machines (built into kvit, like every backend).

``Postgres(url, *, table="kvit_kv", pool_size=None, connect_timeout=None)``:
``url`` is ``postgres://user:password@host:port/database?sslmode=...`` or
libpq's ``key=value`` form. The table, ``(key TEXT COLLATE "C" PRIMARY KEY,
value BYTEA NOT NULL)``, is created on first use; its name is 1 to 63 ASCII
letters, digits and ``_``, not starting with a digit. ``pool_size`` is the
most connections the handle keeps open (8 by default), ``connect_timeout``
how long opening one may take (the URL's, else 10 seconds).

A URL that does not parse, a bad table name or a zero pool size or timeout
raises ``ValueError``; a table of that name that is not a kvit table, or a
database not in UTF-8, :class:`kvit.InvalidStoreError`; a server that cannot
be reached, refuses the login or fails a statement, :class:`kvit.BackendError`.
Keys holding ``"\\0"`` are refused with ``ValueError`` (PostgreSQL text cannot
hold NUL). See ``docs/deployment.md`` for the server settings under which an
acknowledged commit is never lost.
"""

from kvit._native import Postgres
from kvit.kv.base import KVStore

__all__ = ["Postgres"]

KVStore.register(Postgres)
