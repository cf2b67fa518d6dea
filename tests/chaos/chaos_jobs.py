"""Jobs of the chaos suite (``--app-include tests.chaos.chaos_jobs``).

Each run of a job is written down at its start on a DIRECT connection to the real Redis
(``PYRESQUE_CHAOS_REDIS``), never through the fault proxy the worker may be using:
``SADD chaos:runs "<job id> <token>"`` with a token drawn per run. Repeating that SADD
after a lost reply (a ``CLIENT KILL`` storm kills these connections too) adds nothing,
so the set counts runs exactly: the number of members starting with a job's id is how
many times that job started.

- ``ChaosOk(index, delay)``: records its run, sleeps ``delay`` seconds, returns.
- ``ChaosFail(index, delay)``: records its run, sleeps, raises :class:`ChaosFailure`
  (its failure record must exist exactly once).
"""

from __future__ import annotations

import os
import time
from typing import Any

import redis

from pyresque import Resque

#: The real Redis, for the runs' records (set by the test in the worker's environment).
URL_ENV = "PYRESQUE_CHAOS_REDIS"
#: SET of "<job id> <run token>", one member per run.
RUNS_KEY = "chaos:runs"
#: How long a job keeps trying to write down its run while Redis is away.
RECORD_PATIENCE = 60.0

_client: redis.Redis | None = None
_client_pid = 0


class ChaosFailure(Exception):
    """The planned failure of a ``ChaosFail`` job."""


def _redis() -> redis.Redis:
    global _client, _client_pid
    if _client is None or _client_pid != os.getpid():
        url = os.environ.get(URL_ENV)
        if not url:
            raise RuntimeError(f"{URL_ENV} is not set: the chaos jobs need the real Redis")
        _client = redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=2)
        _client_pid = os.getpid()
    return _client


def record_run(job_id: str) -> None:
    """Add one run of ``job_id`` to ``chaos:runs`` (safe to repeat: the token is this run's)."""
    member = f"{job_id} {os.urandom(8).hex()}"
    deadline = time.monotonic() + RECORD_PATIENCE
    while True:
        try:
            _redis().sadd(RUNS_KEY, member)
            return
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class ChaosOk:
    """A job that succeeds (after recording its run)."""

    job: Any  # set by the worker: the running Job

    def perform(self, index: int, delay: float = 0.0) -> None:
        record_run(self.job.id)
        if delay:
            time.sleep(delay)


class ChaosFail:
    """A job that fails (after recording its run)."""

    job: Any

    def perform(self, index: int, delay: float = 0.0) -> None:
        record_run(self.job.id)
        if delay:
            time.sleep(delay)
        raise ChaosFailure(f"planned failure of chaos job {index}")


def register(app: Resque) -> None:
    """Register the chaos jobs under their plain names."""
    app.job(ChaosOk, name="ChaosOk")
    app.job(ChaosFail, name="ChaosFail")
