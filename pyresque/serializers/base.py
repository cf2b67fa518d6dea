"""The serializer protocol: how payloads become bytes and back."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Serializer(Protocol):
    """Turns JSON-like values into bytes and back.

    ``name`` identifies the format ("json", "msgpack"); ``loads`` must raise
    :class:`pyresque.DecodeError` on bytes that are not its format, and ``dumps``
    must raise :class:`pyresque.EncodeError` on values it cannot carry.
    """

    name: str

    def dumps(self, obj: Any, /) -> bytes:
        """Encode ``obj``."""
        ...

    def loads(self, data: bytes, /) -> Any:
        """Decode ``data``."""
        ...
