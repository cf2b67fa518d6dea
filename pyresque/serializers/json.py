"""JSON, byte-compatible with Ruby Resque and node-resque (the default).

Decoding is strict and total: whatever the bytes, :func:`loads_strict` returns a JSON
value or raises :class:`~pyresque.core.errors.DecodeError` (which keeps the bytes).
``NaN``, ``Infinity`` and ``-Infinity`` are not JSON (Ruby's and PHP's parsers refuse
them; Python's accepts them by default), nor is a number too large for a float
(``1e999``); nesting deeper than :data:`MAX_DEPTH` is refused (Ruby's parser stops at
the same depth), as is a ``\\ud800`` escape that no UTF-8 text can carry back.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pyresque.core.errors import DecodeError, EncodeError

__all__ = [
    "MAX_DEPTH",
    "JsonSerializer",
    "dumps_text",
    "loads_strict",
    "nesting_depth",
    "ruby_floats",
    "text_nests_deeper",
    "utf8_safe",
]

#: The deepest nesting of arrays and objects a payload may have: Ruby's ``JSON.parse``
#: default (``max_nesting`` 100), so whatever pyresque accepts, Ruby Resque can read.
MAX_DEPTH = 100

_encoder = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# a \u escape of a UTF-16 surrogate (only a lone one cannot be written back as UTF-8)
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# quotes and brackets only, one kind of them: what the nesting of a JSON text comes down to
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')
# looked for as ints: ``int in bytes`` is a memchr, ``bytes in bytes`` a slower search
_BACKSLASH, _QUOTE = 0x5C, 0x22
_OPENERS, _DOT = (0x5B, 0x7B), (0x2E,)


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number (NaN and infinities are not JSON)")


def _finite_float(text: str) -> float:
    value = float(text)
    if value - value:  # a finite value gives 0.0; inf - inf is nan, which is true
        raise ValueError(f"number {text[:40]} is too large for a float")
    return value


_strict_decode = json.JSONDecoder(parse_constant=_not_json, parse_float=_finite_float).decode
# for texts where no number can overflow: floats parsed in C, no call per float
_unchecked_floats_decode = json.JSONDecoder(parse_constant=_not_json).decode
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789E", b"000000000e")


def _no_number_overflows(text: bytes) -> bool:
    """True only if no number in ``text`` can be too large for a float: that takes an
    exponent of three digits or more (``1e309``) or 200 digits in a row (with an
    exponent under 100, a number needs 210 integer digits to reach 1.8e308). Strings
    are not told apart: a false alarm only costs the checked decoder."""
    marked = text.translate(_DIGITS_AS_ZERO)
    return b"e000" not in marked and b"e+000" not in marked and b"0" * 200 not in marked


def _holds_more(text: bytes, chars: tuple[int, ...], cap: int) -> bool:
    """Whether ``text`` holds more than ``cap`` of the bytes ``chars`` (together).

    ``count`` reads every byte; past 32 KB, ``find`` (a memchr) stops at ``cap + 1``,
    which is cheaper there (a megabyte of string holds few brackets)."""
    if len(text) < 32768:
        return sum(map(text.count, chars)) > cap
    found = 0
    for char in chars:
        at = text.find(char)
        while at >= 0:
            found += 1
            if found > cap:
                return True
            at = text.find(char, at + 1)
    return False


def _decoder_for(text: bytes) -> Any:
    # the per-float check is a Python call: on texts with many floats it costs more than
    # proving, in C, that no number can overflow (a short text keeps the check: cheaper)
    if len(text) > 512 and _holds_more(text, _DOT, 32) and _no_number_overflows(text):
        return _unchecked_floats_decode
    return _strict_decode


# Ruby's Float#to_s, where Python's repr differs (numeric.c, flo_to_s): an exponent form
# always has a fraction (1.0e+20, not 1e+20), and a float with no fraction digits past
# 15 integer digits is written in exponent form (1.0e+15, not 1000000000000000.0); the
# thresholds are otherwise the same (exponent below 1e-4 and from 1e16, "e%+03d").
# Strings are matched first, so that their text is left alone.
_PY_ONLY_FLOAT = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"'  # a string: kept as it is
    r"|(?<![\d.])(-?\d)(e[-+]\d+)"  # 1e+20
    r"|(?<![\d.])(-?\d)(\d{15})\.0(?!\d)"  # 1000000000000000.0
)
# the literal ".0" first: the engine then scans for it in C, checks the digits behind after
_INTEGRAL_FLOAT_END = re.compile(r"\.0(?!\d)(?<=\d{16}\.0)")


def _ruby_float(match: re.Match[str]) -> str:
    lead, exponent, first, rest = match.groups()
    if lead is not None:
        return f"{lead}.0{exponent}"
    if first is not None:
        return f"{first}.{rest.rstrip('0') or '0'}e+15"
    return match[0]


def ruby_floats(text: str) -> str:
    """``text`` (JSON written by Python) with every float as Ruby's ``Float#to_s``
    writes it: ``1e+20`` -> ``1.0e+20``, ``1e-05`` -> ``1.0e-05``,
    ``1000000000000000.0`` -> ``1.0e+15``; strings and other numbers unchanged."""
    # only a text holding such a float pays for the pass: its repr has an exponent, or
    # ends in ".0" (the cheap tests are substring searches, done in C)
    if "e+" in text or "e-" in text or (".0" in text and _INTEGRAL_FLOAT_END.search(text) is not None):
        return _PY_ONLY_FLOAT.sub(_ruby_float, text)
    return text


def _encode(obj: Any) -> str:
    try:
        return ruby_floats(_encoder.encode(obj))
    except (TypeError, ValueError, RecursionError) as exc:
        raise EncodeError(f"cannot encode as JSON: {exc}") from exc


def utf8_safe(text: str) -> str:
    """``text`` with any lone surrogate (which UTF-8 cannot carry) as a ``\\udXXX``
    escape: in JSON text, where such a character can only be inside a string, that is
    the same string, and the text now always encodes as UTF-8."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def dumps_text(obj: Any) -> str:
    """Encode ``obj`` as compact JSON text with raw UTF-8, as Ruby's JSON gem does.
    The text always encodes as UTF-8 (a lone surrogate is written as its escape).

    Raises:
        EncodeError: ``obj`` holds a value JSON cannot carry (a set, bytes, an object,
            NaN or infinity) or is nested too deeply for the encoder.
    """
    return utf8_safe(_encode(obj))


def nesting_depth(obj: Any, limit: int = MAX_DEPTH) -> int:
    """How deep lists (tuples) and dicts nest in ``obj`` (a scalar is 0, ``[]`` is 1), counted
    without recursion and only up to ``limit + 1``."""
    if not isinstance(obj, list | tuple | dict):
        return 0
    deepest = 1
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, list | tuple | dict):
                stack.append((child, depth + 1))
    return deepest


def text_nests_deeper(text: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether the valid JSON ``text`` nests arrays and objects deeper than ``limit``.

    Exact (brackets inside strings do not count) and without a Python-level loop over
    the bytes: escaped backslashes and quotes are dropped, then all but quotes and
    brackets, then every string (what is left between two quotes); each pass of
    removing ``[]`` pairs then takes one level off the deepest nesting.
    """
    if _BACKSLASH in text:
        text = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = text.translate(_ONE_KIND, _NOT_STRUCTURE)
    if _QUOTE in brackets:  # (mostly empty pieces: no allocation for those)
        brackets = b"".join(brackets.split(b'"')[::2])
    for peeled in range(limit):
        if len(brackets) <= 2 * (limit - peeled):  # too few left to reach past the limit
            return False
        brackets = brackets.replace(b"[]", b"")
    return bool(brackets)


def _too_deep(text: bytes, limit: int) -> bool:
    # cheap guards first: nesting past the limit takes more than that many brackets,
    # two bytes each (callers on a hot path test the length themselves first)
    return len(text) > 2 * limit + 1 and _holds_more(text, _OPENERS, limit) and text_nests_deeper(text, limit)


def loads_strict(data: bytes | bytearray | str, *, max_depth: int = MAX_DEPTH, what: str = "payload") -> Any:
    """Decode JSON strictly (see the module's docstring); never raises anything else.

    Raises:
        DecodeError: the bytes are not UTF-8 JSON, hold NaN or an infinity, nest deeper
            than ``max_depth``, or hold a lone surrogate; ``raw`` keeps the bytes.
    """
    if data.__class__ is bytes:  # the hot path: a payload just read
        raw: bytes = data
        text = None
    elif isinstance(data, str):
        text, raw = data, data.encode("utf-8", "surrogatepass")
    else:
        text, raw = None, bytes(data)
    try:
        value = _decoder_for(raw)(raw.decode("utf-8") if text is None else text)
    except RecursionError:
        raise DecodeError(f"{what} is nested too deeply to decode", raw) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"{what} is not valid JSON: {exc}", raw) from exc
    if len(raw) > 2 * max_depth + 1 and _too_deep(raw, max_depth):
        raise DecodeError(f"{what} nests arrays/objects deeper than {max_depth} levels", raw)
    if _BACKSLASH in raw and _SURROGATE_ESCAPE.search(raw) is not None:
        try:
            _encoder.encode(value).encode("utf-8")
        except UnicodeEncodeError:
            raise DecodeError(f"{what} holds a lone UTF-16 surrogate (not text)", raw) from None
    return value


class JsonSerializer:
    """Compact JSON (``,`` and ``:`` separators, raw UTF-8), as Ruby Resque writes it."""

    name = "json"

    def dumps(self, obj: Any, /) -> bytes:
        """Encode ``obj`` to UTF-8 JSON bytes.

        Raises:
            EncodeError: JSON cannot carry a value in ``obj``, a string holds a lone
                surrogate, or it nests deeper than :data:`MAX_DEPTH` (which no reader
                would accept back).
        """
        text = _encode(obj)
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise EncodeError(f"cannot encode as JSON: a string holds a lone surrogate ({exc})") from exc
        if _too_deep(data, MAX_DEPTH):
            raise EncodeError(f"cannot encode as JSON: nested deeper than {MAX_DEPTH} levels")
        return data

    def loads(self, data: bytes, /) -> Any:
        """Decode JSON bytes (UTF-8), strictly (:func:`loads_strict`).

        Raises:
            DecodeError: the bytes are not a JSON value pyresque accepts.
        """
        return loads_strict(data)

    def __repr__(self) -> str:
        return "JsonSerializer()"


def is_finite_json_number(value: float) -> bool:
    """Whether a float can be written as JSON (no NaN, no infinity)."""
    return not (math.isnan(value) or math.isinf(value))
