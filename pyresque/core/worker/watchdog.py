"""The in-process worker's hard deadline: for a job that outlives its timeout.

In-process, a job's timeout is a ``SIGALRM`` that raises inside the job; a job that
ignores the signal, or catches ``BaseException`` and carries on, would hold the worker
forever (the forking modes kill such a child at timeout + grace). The watchdog is a
thread armed for each job that has a timeout: if the job is still the current one at
timeout + :data:`HARD_GRACE`, it records the job failed (``JobTimeoutError``, through
the same ``on_failure`` hooks, so retries apply), unregisters the worker and ends the
process with :data:`EXIT_STUCK`, for its supervisor (``COUNT``, systemd, Kubernetes) to
start a fresh one. If Redis cannot be reached then, the process ends anyway: the job
stays held under the worker's id, and pruning recovers it like any dead worker's.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import TYPE_CHECKING

from pyresque.core.errors import JobTimeoutError
from pyresque.core.failure import FailureRecord
from pyresque.core.job import Job
from pyresque.core.worker.voice import clean

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["EXIT_STUCK", "HARD_GRACE", "Watchdog"]

log = logging.getLogger("pyresque.worker")

#: Seconds past a job's timeout before the watchdog ends the process.
HARD_GRACE = 2.0
#: Exit status of a process ended by the watchdog (``EX_SOFTWARE``).
EXIT_STUCK = 70


class Watchdog:
    """One thread per in-process worker; :meth:`arm` before a job, :meth:`disarm` after."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._cond = threading.Condition()
        self._armed: tuple[float, Job, str, float] | None = None  # deadline, job, token, timeout
        self._stopped = False
        self._thread: threading.Thread | None = None

    def arm(self, job: Job, token: str, timeout: float) -> None:
        """Watch ``job`` (reserved with ``token``): it must end within ``timeout`` + grace."""
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pyresque-watchdog", daemon=True)
                self._thread.start()
            self._armed = (time.monotonic() + timeout + HARD_GRACE, job, token, timeout)
            self._cond.notify()

    def disarm(self) -> None:
        """The job ended (one way or another) in time."""
        with self._cond:
            self._armed = None

    def stop(self) -> None:
        """End the thread (the worker stops)."""
        with self._cond:
            self._stopped = True
            self._armed = None
            self._cond.notify()

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                armed = self._armed
                if armed is None:
                    self._cond.wait()
                    continue
                left = armed[0] - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._fire(armed[1], armed[2], armed[3])
                return

    def _fire(self, job: Job, token: str, timeout: float) -> None:
        w = self.worker
        exc = JobTimeoutError(
            f"the job ran past its {timeout:g}s timeout and did not stop (it ignored or caught "
            "the interrupt); the worker process was ended"
        )
        log.critical(
            "job %s id=%s did not stop %gs after its %gs timeout: recording it failed and ending "
            "this worker process (exit %d) for its supervisor to replace",
            clean(job.class_name),
            clean(job.id or "-"),
            HARD_GRACE,
            timeout,
            EXIT_STUCK,
        )
        try:
            handled = False
            try:
                handled = w.app.hooks.on_failure(w, job, exc)
            except Exception:
                log.exception("an on_failure hook raised; the failure is recorded regardless")
            record = (
                None
                if handled
                else FailureRecord.from_exception(exc, payload=job.to_payload(), queue=job.queue, worker=w.id)
            )
            registry = w.registry
            registry.fail(w.id, record, job.id, token=token, pooled=True)
            registry.unregister(w.id, w.nonce)
        except Exception as error:
            log.error("could not record the stuck job (%s); pruning will recover it", error)
        finally:
            logging.shutdown()
            os._exit(EXIT_STUCK)
