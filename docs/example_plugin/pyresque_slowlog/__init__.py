"""A pyresque plugin that times every job and logs the slow ones.

Install it (``pip install ./docs/example_plugin``) and every app that loads entry
points (``Resque(..., load_entry_points=True)``, the ``pyresque worker`` command)
registers it as ``slowlog``. Change the threshold on an app with
``app.plugins.pm.get_plugin("slowlog").threshold = 0.5``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator
from typing import Any

from pyresque import Job, hookimpl

__all__ = ["SlowLog"]

logger = logging.getLogger("pyresque_slowlog")


class SlowLog:
    """Measures each job's run (hooks and ``set_up``/``tear_down`` included).

    Attributes:
        threshold: seconds from which a run is logged as slow (a WARNING).
        timings: ``(class name, job id, seconds)`` of the runs seen by this process.
    """

    def __init__(self, threshold: float = 1.0) -> None:
        self.threshold = threshold
        self.timings: list[tuple[str, str | None, float]] = []

    @hookimpl(wrapper=True)
    def pyresque_perform(self, job: Job) -> Generator[None, Any, Any]:
        """Around every job: time it, whether it succeeds or fails."""
        started = time.perf_counter()
        try:
            return (yield)
        finally:
            elapsed = time.perf_counter() - started
            self.timings.append((job.class_name, job.id, elapsed))
            if elapsed >= self.threshold:
                logger.warning(
                    "slow job %s id=%s on %s took %.3fs (threshold %.3fs)",
                    job.class_name,
                    job.id,
                    job.queue,
                    elapsed,
                    self.threshold,
                )
