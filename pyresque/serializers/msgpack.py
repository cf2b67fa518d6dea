"""msgpack: compact and fast, but only other pyresque processes can read it.

Ruby Resque, php-resque, node-resque and resque-web expect JSON; use msgpack only
for queues that pyresque alone produces and consumes. Install with
``pip install pyresque[msgpack]``.
"""

from __future__ import annotations

from typing import Any

from pyresque.core.errors import ConfigurationError, DecodeError, EncodeError


class MsgpackSerializer:
    """msgpack with string keys and UTF-8 strings (raw=False)."""

    name = "msgpack"

    def __init__(self) -> None:
        try:
            import msgpack
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigurationError(
                "the msgpack serializer needs the msgpack package: pip install pyresque[msgpack]"
            ) from exc
        self._msgpack = msgpack
        self._packer = msgpack.Packer(use_bin_type=True)

    def dumps(self, obj: Any, /) -> bytes:
        """Encode ``obj`` as msgpack."""
        try:
            return bytes(self._msgpack.packb(obj, use_bin_type=True))
        except (TypeError, ValueError, OverflowError) as exc:
            raise EncodeError(f"cannot encode as msgpack: {exc}") from exc

    def loads(self, data: bytes, /) -> Any:
        """Decode msgpack bytes."""
        try:
            return self._msgpack.unpackb(data, raw=False, strict_map_key=False)
        except Exception as exc:  # msgpack raises several unrelated types
            raise DecodeError(f"payload is not valid msgpack: {exc}", bytes(data)) from exc

    def __repr__(self) -> str:
        return "MsgpackSerializer()"
