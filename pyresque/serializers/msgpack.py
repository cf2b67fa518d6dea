"""msgpack: compact and fast, but only other pyresque processes can read it.

Ruby Resque, php-resque, node-resque and resque-web expect JSON; use msgpack only
for queues that pyresque alone produces and consumes. Install with
``pip install pyresque[msgpack]``.
"""

from __future__ import annotations

from typing import Any

from pyresque.core.errors import ConfigurationError, DecodeError, EncodeError
from pyresque.serializers.json import MAX_DEPTH, nesting_depth

# every byte that is not a map or array header (fixmap, fixarray, array16/32, map16/32):
# deleting them leaves an upper bound of the number of containers, hence of the depth
_NOT_CONTAINER_HEADERS = bytes(b for b in range(256) if not (0x80 <= b <= 0x9F or 0xDC <= b <= 0xDF))


def _too_deep(data: bytes, value: Any) -> bool:
    # cheap guards first: each level takes a header byte
    return (
        len(data) > MAX_DEPTH
        and len(data.translate(None, _NOT_CONTAINER_HEADERS)) > MAX_DEPTH
        and nesting_depth(value) > MAX_DEPTH
    )


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
        """Encode ``obj`` as msgpack.

        Raises:
            EncodeError: msgpack cannot carry a value in ``obj``, or it nests deeper than
                :data:`~pyresque.serializers.json.MAX_DEPTH` (which no worker would accept).
        """
        try:
            data = bytes(self._msgpack.packb(obj, use_bin_type=True))
        except (TypeError, ValueError, OverflowError) as exc:
            raise EncodeError(f"cannot encode as msgpack: {exc}") from exc
        if _too_deep(data, obj):
            raise EncodeError(f"cannot encode as msgpack: nested deeper than {MAX_DEPTH} levels")
        return data

    def loads(self, data: bytes, /) -> Any:
        """Decode msgpack bytes.

        Raises:
            DecodeError: not msgpack, or nested deeper than
                :data:`~pyresque.serializers.json.MAX_DEPTH` (as JSON is); ``raw`` keeps
                the bytes. NaN and infinities are msgpack and decode as floats (a failure
                record, which is JSON, keeps such a payload as text).
        """
        try:
            value = self._msgpack.unpackb(data, raw=False, strict_map_key=False)
        except RecursionError:
            raise DecodeError("payload is nested too deeply to decode", bytes(data)) from None
        except Exception as exc:  # msgpack raises several unrelated types
            raise DecodeError(f"payload is not valid msgpack: {exc}", bytes(data)) from exc
        if _too_deep(data, value):
            raise DecodeError(f"payload nests arrays/maps deeper than {MAX_DEPTH} levels", bytes(data))
        return value

    def __repr__(self) -> str:
        return "MsgpackSerializer()"
