"""A worker's backend steps, retried while the backend is unreachable:
:func:`with_backend` (``worker.with_backend(step)``)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["with_backend"]

log = logging.getLogger("pyresque.worker")


def with_backend(worker: Worker, step: Any) -> Any:
    """Run ``step()``, retrying with backoff (0.1 s doubling to 5 s) while the backend
    is unreachable; gives up (re-raises) once the worker is told to stop: a job whose
    outcome could not be written stays held under the worker, for pruning to recover.

    A step may be repeated after its reply was lost (it may have run): every step
    passed here must be safe to repeat (see ``worker_scripts``); ``step_repeated``
    says afterwards whether it was. What the backend's ``permanent_error`` names (a
    refused password, no such database, not Redis) is raised at once, never retried."""
    backend = worker.app.backend
    delay = 0.1
    failing = False
    explain = getattr(backend, "permanent_error", None)
    while True:
        try:
            result = step()
            worker.step_repeated = failing
            if failing and not worker.shutdown:  # (a step may skip Redis once told to stop)
                log.warning("backend %s reachable again", backend.describe())
            return result
        except Exception as exc:
            cause = exc.__cause__  # the app wraps the driver's error: ask about both
            permanent = (explain(exc) or (cause and explain(cause))) if callable(explain) else None
            if permanent:
                raise permanent from exc
            if not isinstance(exc, backend.connection_errors):
                raise
            if not failing:
                log.error("backend %s unreachable (%s); retrying with backoff", backend.describe(), exc)
            failing = True
            if worker.shutdown:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
