"""Type aliases shared across the package."""

from __future__ import annotations

from typing import Any, TypeAlias

#: A value that JSON can carry (kept loose: mypy cannot express recursive JSON well).
JSON: TypeAlias = Any

#: A decoded Resque payload: ``{"class": ..., "args": [...], ...}``.
Payload: TypeAlias = dict[str, Any]
