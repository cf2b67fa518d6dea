"""Serializers: JSON (default, Resque-compatible) and msgpack (optional).

``get_serializer`` resolves a name or passes an instance through;
``load_any`` decodes a payload whichever of the two formats it is in.
"""

from __future__ import annotations

from typing import Any

from pyresque.core.errors import DecodeError, UnknownSerializerError
from pyresque.serializers.base import Serializer
from pyresque.serializers.json import JsonSerializer

__all__ = ["JsonSerializer", "Serializer", "get_serializer", "load_any", "sniff_format"]

_JSON = JsonSerializer()


def get_serializer(spec: str | Serializer) -> Serializer:
    """Return the serializer named by ``spec`` ("json", "msgpack"), or ``spec`` itself.

    Raises:
        UnknownSerializerError: the name is not known.
    """
    if not isinstance(spec, str):
        if not isinstance(spec, Serializer):
            raise UnknownSerializerError(f"not a serializer: {spec!r}")
        return spec
    if spec == "json":
        return _JSON
    if spec == "msgpack":
        from pyresque.serializers.msgpack import MsgpackSerializer

        return MsgpackSerializer()
    raise UnknownSerializerError(f"unknown serializer {spec!r}; known: 'json', 'msgpack'")


def sniff_format(data: bytes) -> str:
    """Guess the format of a payload from its first byte: "json", "msgpack" or "unknown".

    A Resque payload is a map: JSON starts with ``{`` (maybe after blanks);
    msgpack maps start with 0x80-0x8f, 0xde or 0xdf. Other JSON values (which are
    not jobs, but read as what they are) count as JSON too.
    """
    stripped = data.lstrip(b" \t\r\n")
    if not stripped:
        return "unknown"
    first = stripped[0]
    if first in (0x7B, 0x5B, 0x22, 0x2D) or 0x30 <= first <= 0x39:  # { [ " - 0-9
        return "json"
    if stripped.startswith((b"null", b"true", b"false", b"NaN", b"Infinity")):
        return "json"
    if 0x80 <= first <= 0x8F or first in (0xDE, 0xDF):
        return "msgpack"
    return "unknown"


def load_any(data: bytes, preferred: Serializer | None = None) -> Any:
    """Decode ``data`` with ``preferred``, or with whichever format it turns out to be.

    Total: whatever the bytes (and whatever a custom ``preferred`` serializer raises),
    the only exception is :class:`DecodeError`.

    Raises:
        DecodeError: the bytes are neither JSON nor msgpack, or are JSON pyresque
            refuses (NaN, too deep ...: see :mod:`pyresque.serializers.json`); the
            message says which format was tried and why it failed; ``raw`` keeps the bytes.
    """
    first: DecodeError | None = None
    if preferred is not None:
        try:
            return preferred.loads(data)
        except DecodeError as exc:
            first = exc
        except RecursionError:
            first = DecodeError("payload is nested too deeply to decode", bytes(data))
        except Exception as exc:  # a custom serializer: its failure is this payload's
            name = getattr(preferred, "name", "?")
            first = DecodeError(f"the {name} serializer failed: {exc!r:.300}", bytes(data))
    raw = bytes(data)
    fmt = sniff_format(raw)
    if fmt == "json":
        if first is not None and isinstance(preferred, JsonSerializer):
            raise first  # the same decoder would say the same again
        return _JSON.loads(raw)
    if fmt == "msgpack":
        try:
            from pyresque.serializers.msgpack import MsgpackSerializer

            serializer = MsgpackSerializer()
        except Exception as exc:
            raise DecodeError(
                "payload looks like msgpack but msgpack is not installed (pip install pyresque[msgpack])",
                raw,
            ) from exc
        if first is not None and getattr(preferred, "name", None) == "msgpack":
            raise first
        return serializer.loads(raw)
    raise DecodeError(f"payload is neither JSON nor msgpack: {raw[:40]!r}", raw)
