"""JSON, byte-compatible with Ruby Resque and node-resque (the default)."""

from __future__ import annotations

import json
import math
from typing import Any

from pyresque.core.errors import DecodeError, EncodeError

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_decode = json.JSONDecoder().decode


def dumps_text(obj: Any) -> str:
    """Encode ``obj`` as compact JSON text with raw UTF-8, as Ruby's JSON gem does.

    Raises:
        EncodeError: ``obj`` holds a value JSON cannot carry (a set, bytes, an object,
            NaN or infinity).
    """
    try:
        return _encoder.encode(obj)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"cannot encode as JSON: {exc}") from exc


class JsonSerializer:
    """Compact JSON (``,`` and ``:`` separators, raw UTF-8), as Ruby Resque writes it."""

    name = "json"

    def dumps(self, obj: Any, /) -> bytes:
        """Encode ``obj`` to UTF-8 JSON bytes."""
        return dumps_text(obj).encode("utf-8")

    def loads(self, data: bytes, /) -> Any:
        """Decode JSON bytes (UTF-8).

        Raises:
            DecodeError: the bytes are not UTF-8 JSON.
        """
        try:
            text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
            return _decode(text)
        except (UnicodeDecodeError, ValueError) as exc:
            raise DecodeError(f"payload is not valid JSON: {exc}", bytes(data)) from exc

    def __repr__(self) -> str:
        return "JsonSerializer()"


def is_finite_json_number(value: float) -> bool:
    """Whether a float can be written as JSON (no NaN, no infinity)."""
    return not (math.isnan(value) or math.isinf(value))
