"""Value codecs: how a :class:`kvit.Staged` store turns values into the bytes
it stores, and those bytes back into values.

``kvit.store(codec=...)`` and ``Staged(versioned, codec=...)`` take one of:

- ``"pickle"`` (the default for memory and private disk stores): any
  picklable value. **Decoding pickle runs code chosen by whoever wrote the
  bytes**, so it is only safe where nobody you do not trust can write the
  store.
- ``"json"``: JSON values (``dict`` with ``str`` keys, ``list``, ``str``,
  ``int``, ``float``, ``bool``, ``None``). Tuples come back as lists. Safe to
  decode whoever wrote it.
- ``"raw"``: ``bytes`` only (anything else is a ``TypeError``), stored as
  they are. Safe to decode.
- :class:`SignedPickle` ``(key)``: pickle in an authenticated envelope. Each
  value carries an HMAC-SHA256 of its pickled bytes under ``key``; a value
  whose tag does not check out raises :class:`kvit.IntegrityError` and is
  never unpickled.
- an instance of your own :class:`Codec` subclass.

For stores that others can write (Redis, PostgreSQL, a Disk directory marked
``shared=True``) plain pickle is refused unless asked for with
``allow_unsafe_pickle=True``. See ``docs/security.md`` for the threat model.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
from collections.abc import Iterable
from typing import Any, Callable, Literal, Optional, Union

from kvit.errors import IntegrityError

__all__ = [
    "Codec",
    "CodecChoice",
    "Json",
    "Pickle",
    "Raw",
    "SignedPickle",
]

Encoder = Callable[[Any], bytes]
Decoder = Callable[[bytes], Any]


class Codec:
    """A pair of functions between values and stored bytes.

    Subclass it and implement :meth:`encode` and :meth:`decode` to pass your
    own codec as ``codec=``. Set :attr:`runs_code` to True if decoding can
    run code that the stored bytes choose (as unpickling does): such a codec
    is then refused on shared stores unless ``allow_unsafe_pickle=True``.
    """

    #: A short name, for messages and ``repr``.
    name: str = "custom"
    #: Whether decoding can run code chosen by the writer of the bytes.
    runs_code: bool = False

    def encode(self, value: Any) -> bytes:
        """The bytes to store for ``value``."""
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        """The value stored as ``data``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__qualname__}()"


class Pickle(Codec):
    """Plain pickle: any picklable value. Decoding runs code chosen by the
    writer of the bytes: use it only on stores nobody untrusted can write."""

    name = "pickle"
    runs_code = True
    # The functions themselves, so that ``store.encoder is pickle.dumps``.
    encode = staticmethod(pickle.dumps)  # type: ignore[assignment]
    decode = staticmethod(pickle.loads)  # type: ignore[assignment]


class Json(Codec):
    """JSON (UTF-8, compact): ``dict`` with ``str`` keys, ``list``, ``str``,
    ``int``, ``float``, ``bool`` and ``None``. Tuples decode as lists.

    A value JSON cannot represent raises ``TypeError`` (or ``ValueError``
    for a circular structure) at commit, naming the key.
    """

    name = "json"

    def encode(self, value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    def decode(self, data: bytes) -> Any:
        return json.loads(data)


class Raw(Codec):
    """Bytes stored as they are: values must be ``bytes`` (anything else
    raises ``TypeError``), and reads return ``bytes``."""

    name = "raw"

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, bytes):
            raise TypeError(
                f'codec="raw" stores bytes only, not {type(value).__name__} '
                '(encode it yourself, or use codec="json")'
            )
        return value

    def decode(self, data: bytes) -> Any:
        return data


_MAGIC = b"KVS1"
_TAG_LEN = hashlib.sha256().digest_size
_MIN_KEY_LEN = 16


def _key_bytes(key: object, what: str) -> bytes:
    if isinstance(key, str) or not isinstance(key, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"{what} must be bytes (e.g. secrets.token_bytes(32)), not {type(key).__name__}"
        )
    data = bytes(key)
    if len(data) < _MIN_KEY_LEN:
        raise ValueError(
            f"{what} must be at least {_MIN_KEY_LEN} bytes (32 random bytes are "
            f"recommended: secrets.token_bytes(32)), not {len(data)}"
        )
    return data


class SignedPickle(Codec):
    """Pickle in an authenticated envelope: HMAC-SHA256 under a secret key.

    A stored value is ``b"KVS1"``, then the 32-byte HMAC-SHA256 of the
    pickled bytes under ``key``, then the pickled bytes. Decoding checks the
    tag (a constant-time comparison) *before* unpickling; a value that is
    not such an envelope, or whose tag does not match, raises
    :class:`kvit.IntegrityError` (naming the key when read through a store)
    and is never unpickled.

    Args:
        key: the secret, at least 16 bytes; use 32 random bytes
            (``secrets.token_bytes(32)``) kept out of the store and its
            server. Everyone who can write values must hold it, and
            everyone who holds it can make values that will be unpickled.
        previous_keys: older keys still accepted when reading (values are
            always signed with ``key``), for rotating the key: add the new
            key, keep the old one here until every value was rewritten.

    What it does not stop: replaying a value that was validly signed before
    (an old value, or one copied from another key or branch) — see
    ``docs/security.md``.
    """

    name = "signed-pickle"

    def __init__(
        self,
        key: Union[bytes, bytearray, memoryview],
        *,
        previous_keys: Iterable[Union[bytes, bytearray, memoryview]] = (),
    ) -> None:
        self._key = _key_bytes(key, "the SignedPickle key")
        self._keys = (self._key,) + tuple(
            _key_bytes(old, "each of previous_keys") for old in previous_keys
        )

    def _tag(self, key: bytes, payload: bytes) -> bytes:
        return hmac.new(key, payload, hashlib.sha256).digest()

    def encode(self, value: Any) -> bytes:
        payload = pickle.dumps(value)
        return _MAGIC + self._tag(self._key, payload) + payload

    def decode(self, data: bytes) -> Any:
        if len(data) < len(_MAGIC) + _TAG_LEN or not data.startswith(_MAGIC):
            raise IntegrityError(
                "the value is not a kvit.SignedPickle envelope (unsigned, truncated, "
                "or written with another codec); it was not unpickled"
            )
        tag = data[len(_MAGIC) : len(_MAGIC) + _TAG_LEN]
        payload = data[len(_MAGIC) + _TAG_LEN :]
        matched = False
        for key in self._keys:
            # Every key is tried, so the time taken does not say which matched.
            matched |= hmac.compare_digest(self._tag(key, payload), tag)
        if not matched:
            raise IntegrityError(
                "the value failed its HMAC-SHA256 check (altered, or signed with "
                "another key); it was not unpickled"
            )
        return pickle.loads(payload)

    def __repr__(self) -> str:
        extra = f", previous_keys=<{len(self._keys) - 1}>" if len(self._keys) > 1 else ""
        return f"SignedPickle(key=<{len(self._key)} bytes, hidden>{extra})"


CodecChoice = Union[Literal["pickle", "json", "raw"], Codec]
"""What ``codec=`` takes: a built-in codec's name or a :class:`Codec`."""

_BY_NAME: dict[str, Codec] = {"pickle": Pickle(), "json": Json(), "raw": Raw()}


def _unsafe_message(where: str, what: str) -> str:
    return (
        f"{where} can be written by other programs and users, and {what} runs "
        "whatever code a value's writer put in it. Choose a safe codec: codec=\"json\", "
        "codec=kvit.SignedPickle(key) (pickle checked with HMAC-SHA256 before "
        "unpickling), or codec=\"raw\" (bytes only); or accept the risk with "
        "allow_unsafe_pickle=True. See docs/security.md."
    )


def resolve_codec(
    codec: Optional[CodecChoice],
    encoder: Optional[Encoder],
    decoder: Optional[Decoder],
    *,
    shared: bool,
    allow_unsafe_pickle: bool,
    where: str,
) -> tuple[Optional[Encoder], Optional[Decoder]]:
    """The encoder and decoder a store gets (None: the default, pickle).

    ``shared`` says whether parties other than this program can write the
    store (``where`` names it in messages); there, plain pickle needs
    ``allow_unsafe_pickle=True``, and an explicit ``decoder`` counts as the
    caller's choice.

    Raises:
        ValueError: both ``codec`` and ``encoder``/``decoder``; an unknown
            codec name; plain pickle on a shared store without
            ``allow_unsafe_pickle=True``.
        TypeError: a ``codec`` that is neither a name nor a :class:`Codec`.
    """
    if codec is not None and (encoder is not None or decoder is not None):
        raise ValueError("pass codec= or encoder=/decoder=, not both")
    if codec is None:
        if encoder is None and decoder is None:
            codec = _BY_NAME["pickle"]
        else:
            if decoder is None and shared and not allow_unsafe_pickle:
                # The decoder would default to pickle.loads.
                raise ValueError(
                    _unsafe_message(where, "the default decoder (pickle.loads)")
                    + " To keep your encoder, pass the matching decoder= too."
                )
            return encoder, decoder
    if isinstance(codec, str):
        chosen = _BY_NAME.get(codec)
        if chosen is None:
            raise ValueError(
                'codec must be "pickle", "json", "raw" or a kvit.Codec such as '
                f"kvit.SignedPickle(key), not {codec!r}"
            )
        codec = chosen
    if not isinstance(codec, Codec):
        raise TypeError(
            'codec must be "pickle", "json", "raw" or a kvit.Codec such as '
            f"kvit.SignedPickle(key), not {type(codec).__name__}"
        )
    if codec.runs_code and shared and not allow_unsafe_pickle:
        what = "unpickling" if isinstance(codec, Pickle) else f"decoding with codec {codec!r}"
        raise ValueError(_unsafe_message(where, what))
    return codec.encode, codec.decode
