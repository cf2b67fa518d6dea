"""Bounded label values: a payload's class name is attacker-controlled.

A metric label takes one time series per distinct value, so a label copied from a
payload would let whoever writes payloads grow a scrape without bound. A
:class:`ClassLabels` turns a class name into a label value: names longer than
:data:`MAX_LABEL_LENGTH` are cut, and once ``limit`` distinct names were seen every new
one reads :data:`OTHER`. Callers pass :data:`UNKNOWN` for a class the worker could
not resolve (the registry refuses it: it is nobody's code).
"""

from __future__ import annotations

import threading

__all__ = ["DEFAULT_LIMIT", "MAX_LABEL_LENGTH", "OTHER", "UNKNOWN", "ClassLabels"]

#: The label of a class past the distinct-name limit.
OTHER = "other"
#: The label of a class name the worker cannot resolve (not a registered job).
UNKNOWN = "unknown"
#: Longest label value kept (longer names are cut).
MAX_LABEL_LENGTH = 120
#: Distinct class labels kept by default.
DEFAULT_LIMIT = 200


class ClassLabels:
    """Maps class names to at most ``limit`` distinct label values (plus the two fixed ones).

    Args:
        limit: how many distinct names get their own label; later ones read ``"other"``.
    """

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, name: object) -> str:
        """The label value of class ``name`` (anything that is not a string is ``"unknown"``)."""
        if not isinstance(name, str) or not name:
            return UNKNOWN
        value = name[:MAX_LABEL_LENGTH]
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value
