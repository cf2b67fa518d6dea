"""Reading attacker-controlled Resque JSON for display: never raises, never trusts.

:func:`json_object` parses at most :data:`PARSE_LIMIT` bytes strictly enough (an object
or nothing); :func:`epoch` reads any time the Resque family writes; :func:`pretty`
renders a value as indented JSON text for a ``<pre>`` (escaped by the template).
"""

from __future__ import annotations

import json
from typing import Any

from pyresque.core import timefmt

__all__ = ["PARSE_LIMIT", "epoch", "json_object", "pretty"]

#: Larger values are not parsed (shown as text, cut).
PARSE_LIMIT = 1_000_000


def json_object(raw: bytes | None) -> dict[str, Any] | None:
    """``raw`` as a JSON object, or ``None`` (absent, too large, not JSON, not an object)."""
    if raw is None or len(raw) > PARSE_LIMIT:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def epoch(value: Any) -> float | None:
    """A Resque time (epoch number, Ruby/PHP/node/ISO text) as epoch seconds, or None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        parsed = timefmt.parse_any(value)
    except (ValueError, OverflowError, OSError):
        return None
    return None if parsed is None else parsed.timestamp()


def pretty(value: Any, limit: int = 20_000) -> str:
    """``value`` as indented JSON text (cut at ``limit`` characters)."""
    try:
        text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    if len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit:,} more characters)"
    return text
