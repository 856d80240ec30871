"""The persistent backend: one SQLite database inside a directory, shared
safely by threads and processes (built into kvit; the ``disk`` extra needs
nothing more).

``Disk(path, *, durability="full", busy_timeout=None)``: ``durability`` is
``"full"`` (every commit synced to disk) or ``"normal"`` (faster; survives a
process crash but maybe not a power loss); ``busy_timeout`` is how many
seconds to wait for other processes' write transactions (30 by default).

``close()`` (or leaving a ``with Disk(path) as store:`` block) closes the
database connection at once instead of when the last reference goes. From
then on every call on the store raises ``BackendError`` saying it is closed,
and so does everything a cursor or ``Staged`` store over it asks of it (a
commit, a refresh, branches, history or a value it does not already hold in
memory; what it holds in memory it still answers from). The store is never
reopened behind your back: open a new ``Disk`` for that. Closing twice does
nothing.
"""

from kvit._native import Disk
from kvit.kv.base import KVStore

__all__ = ["Disk"]

KVStore.register(Disk)
