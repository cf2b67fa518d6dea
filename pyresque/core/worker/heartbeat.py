"""The heartbeat thread: refreshes the worker id's lease every few seconds and
``workers:heartbeat`` every ``heartbeat_interval``; after each lease refresh reads the
worker's command through Redis (:mod:`pyresque.core.worker.remote`); registers the worker again if its
records vanished (a mistaken prune, a Redis that lost its data). A worker over shards
does this on each of its shards (``worker.registry.beat``: a shard that was away at the
start, or lost its data, gets the worker registered again; one that fails is skipped).

It only talks to Redis and logs; a failure while Redis is away is logged once (the
worker's own loop says when the backend is back).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from pyresque.core import timefmt
from pyresque.core.worker.voice import exception_text

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["Heartbeat"]

log = logging.getLogger("pyresque.worker")


class Heartbeat:
    """The heartbeat thread of one worker."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (nothing when ``heartbeat_interval`` is 0 or less)."""
        if self.worker.options.heartbeat_interval <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="pyresque-heartbeat", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (waits up to 2 s for it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
            self._thread = None

    def _beat(self) -> None:
        w = self.worker
        registry = w.registry
        per_shard = getattr(registry, "beat", None)  # a worker over shards: each shard
        next_beat = time.monotonic() + w.options.heartbeat_interval
        clash_logged = False
        failing = False
        while not self._stop.wait(w.lease_interval):
            try:
                other = w.refresh_lease()
                failing = False
                if other is not None and not clash_logged:
                    clash_logged = True
                    log.error("worker id %s is also in use by another live process (%s)", w.id, other)
                w.remote.poll()  # quiet/stop through Redis: one GET per lease refresh
                if time.monotonic() < next_beat:
                    continue
                next_beat = time.monotonic() + w.options.heartbeat_interval
                if callable(per_shard):
                    for shard in per_shard(w.id, timefmt.ruby_time_to_s()):
                        log.warning("worker %s was not registered on shard %s: registered there", w.id, shard)
                elif w.id not in registry.all():  # pruned by mistake, or Redis lost its data
                    log.warning("worker %s was no longer registered: registering again", w.id)
                    registry.register(w.id, timefmt.ruby_time_to_s())
                else:
                    registry.heartbeat(w.id)
            except Exception as exc:
                if not failing:
                    log.warning("heartbeat failed: %s (retrying quietly)", exception_text(exc))
                failing = True
