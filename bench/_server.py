"""A throwaway redis-server for benchmarks (never the machine's own)."""

from __future__ import annotations

import statistics
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.redis_server import RedisServer  # noqa: E402

__all__ = ["RedisServer", "median_of", "ratio"]


def median_of(runs: int, once: Callable[[], float]) -> float:
    """The median of ``runs`` calls of ``once`` (each returns a rate)."""
    return statistics.median(once() for _ in range(runs))


def ratio(a: float, b: float) -> str:
    """``a / b`` as ``1.23x``."""
    return f"{a / b:.2f}x" if b else "n/a"
