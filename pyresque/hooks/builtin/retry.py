"""The retry plugin: resque-retry's behaviour, wire-compatible, as a pluggy plugin.

Opt in per job class with resque-retry's class attributes::

    class Resize:
        retry_limit = 5                      # retries after the first run
        backoff_strategy = [0, 60, 600]      # or retry_delay = 30, or exponential:
        retry_exponential_backoff = False    #   retry_delay * 2 ** n
        retry_delay_multiplicand_min = 0.8   # jitter: delay * uniform(min, max)
        retry_delay_multiplicand_max = 1.2
        retry_exceptions = (TimeoutError,)   # only these (default: any)
        fatal_exceptions = (ValueError,)     # never these

or per app with ``Resque(plugins=[RetryPlugin(default=RetryPolicy(limit=3, delay=10))])``
(a registered ``RetryPlugin`` replaces the built-in one).

What happens, in resque-retry's terms:

- before each run (``before_perform``), the attempt counter
  ``<ns>:resque-retry:<Class>[:<sha1 of args>]`` goes ``SETNX -1`` + ``INCR``: the first
  run is attempt 0;
- after a success the counter is deleted;
- after a failure (``on_failure``, also for dirty exits, timeouts and lost workers,
  which the worker reports the same way) the job is retried while the policy allows:
  at once (pushed back with the same payload) when the delay is 0, otherwise as a
  resque-scheduler delayed item ``{"class","args","queue"}`` due at
  ``ceil(now + delay)``. The hook returns ``True``: the worker counts the failure
  but writes no failure record (resque-retry's ``MultipleWithRetrySuppression``);
  for a delayed retry the failure is kept under ``<ns>:failure-resque-retry:...``
  for twice the delay, as that backend does (resque-web's Retry tab shows it);
- when the policy gives up (limit reached, fatal or non-retried exception) the
  counter is deleted and this plugin writes the one failure record, in Ruby's format
  with one extra field ``"attempts"``: how many runs the job had.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pyresque.core import timefmt
from pyresque.core.delayed_item import encode_item
from pyresque.core.errors import ConfigurationError, UnknownJobClass
from pyresque.core.failure import FailureRecord
from pyresque.core.status import JobStatus
from pyresque.hooks import hookimpl
from pyresque.hooks.builtin.retry_policy import RetryPolicy, retry_identifier
from pyresque.serializers.json import dumps_text

if TYPE_CHECKING:
    from pyresque.backends.redis.retry_counter import RedisAttemptCounter
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker

__all__ = ["ATTEMPTS_FIELD", "RetryPlugin", "RetryPolicy"]

logger = logging.getLogger(__name__)

#: The extra field of the final failure record holding how many runs the job had.
ATTEMPTS_FIELD = "attempts"

_NO_POLICY = object()


class RetryPlugin:
    """Retries failed jobs whose class (or this app) asks for it.

    Args:
        policies: policies by job class name or by job class (override class attributes).
        default: the policy of every job class that declares none (``None``: no retries).
        rng: the random source of the jitter; pass ``random.Random(seed)`` for an exact
            schedule.
        clock: the wall clock (epoch seconds), for delayed retries.
    """

    def __init__(
        self,
        *,
        policies: Mapping[Any, RetryPolicy] | None = None,
        default: RetryPolicy | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._by_name: dict[str, RetryPolicy] = {}
        self._by_obj: dict[Any, RetryPolicy] = {}
        for job, policy in (policies or {}).items():
            self.set_policy(job, policy)
        if default is not None and not isinstance(default, RetryPolicy):
            raise ConfigurationError(f"default must be a RetryPolicy, not {default!r}")
        self.default = default
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock
        self._class_policies: dict[Any, Any] = {}
        self._lock = threading.Lock()

    def set_policy(self, job: Any, policy: RetryPolicy | None) -> None:
        """Set (or with ``None`` remove) the policy of a job class or class name."""
        if policy is not None and not isinstance(policy, RetryPolicy):
            raise ConfigurationError(f"a retry policy must be a RetryPolicy, not {policy!r}")
        table: dict[Any, RetryPolicy] = self._by_name if isinstance(job, str) else self._by_obj
        if policy is None:
            table.pop(job, None)
        else:
            table[job] = policy

    def policy_for(self, app: Resque, job: Job) -> RetryPolicy | None:
        """The policy that applies to ``job`` under ``app``, or ``None``.

        A class name the app cannot resolve gets only a policy set for that name
        (``policies={"Name": ...}``), never ``default``: its failure is a configuration
        problem that retrying does not fix.

        Raises:
            ConfigurationError: the job class declares unusable retry settings.
        """
        named = self._by_name.get(job.class_name)
        if named is not None:
            return named
        try:
            target = app.registry.resolve(job.class_name)
        except UnknownJobClass:
            return None  # a class this app cannot run: retrying here cannot help
        by_obj = self._by_obj.get(target)
        if by_obj is not None:
            return by_obj
        declared = self._class_policies.get(target, _NO_POLICY)
        if declared is _NO_POLICY:
            declared = RetryPolicy.from_class(target)
            with self._lock:
                self._class_policies[target] = declared
        return declared if isinstance(declared, RetryPolicy) else self.default

    def attempt_key(self, app: Resque, job: Job) -> str:
        """The resque-retry counter key of this job."""
        return self._counter(app).key(job.class_name, retry_identifier(job.args))

    @staticmethod
    def _counter(app: Resque) -> RedisAttemptCounter:
        from pyresque.backends.redis import RedisBackend
        from pyresque.backends.redis.retry_counter import RedisAttemptCounter

        backend = app.backend
        if not isinstance(backend, RedisBackend):
            raise ConfigurationError(f"retries need the Redis backend, not {type(backend).__name__}")
        return RedisAttemptCounter(backend.client, backend.keys)

    def attempts(self, app: Resque, job: Job) -> int | None:
        """The attempt number of the job's last counted run (0 = first), if any."""
        counter = self._counter(app)
        return counter.current(counter.key(job.class_name, retry_identifier(job.args)))

    # hooks -------------------------------------------------------------------------
    @hookimpl
    def pyresque_before_perform(self, worker: Worker, job: Job) -> None:
        """Count the run (resque-retry's ``before_perform_retry``). One round trip."""
        policy = self.policy_for(worker.app, job)
        if policy is None:
            return
        counter = self._counter(worker.app)
        counter.begin(counter.key(job.class_name, retry_identifier(job.args)), policy.expire_key_after)

    @hookimpl
    def pyresque_after_perform(self, worker: Worker, job: Job) -> None:
        """Forget the count (and the last failure) after a success. One round trip."""
        if self.policy_for(worker.app, job) is None:
            return
        counter = self._counter(worker.app)
        digest = retry_identifier(job.args)
        counter.clear(counter.key(job.class_name, digest), counter.failure_key(job.class_name, digest))

    @hookimpl
    def pyresque_on_failure(self, worker: Worker, job: Job, exception: BaseException) -> bool | None:
        """Retry the job, or give up and write the final failure record.

        Returns ``True`` (handled) for every job under a policy, ``None`` otherwise.
        Round trips: 2 (read the count, then schedule or record), one more for a delayed
        retry and one more for a job with an id (its status).
        """
        app = worker.app
        policy = self.policy_for(app, job)
        if policy is None:
            return None
        counter = self._counter(app)
        digest = retry_identifier(job.args)
        key = counter.key(job.class_name, digest)
        current = counter.current(key)
        attempt = current if current is not None and current >= 0 else 0
        record = FailureRecord.from_exception(
            exception, payload=job.to_payload(), queue=job.queue, worker=str(worker.id)
        )
        if policy.should_retry(exception, attempt):
            delay = policy.delay_for(attempt, self.rng, exception)
            if delay > 0:
                self._remember(counter, job, digest, record, delay)
            self.retry(app, job, delay)
            logger.info(
                "retrying %s (attempt %d failed: %s) in %.3gs",
                job.class_name,
                attempt,
                type(exception).__name__,
                delay,
            )
            return True
        record = dataclasses.replace(record, extra={**record.extra, ATTEMPTS_FIELD: attempt + 1})
        app.failures.save(record)
        counter.clear(key, counter.failure_key(job.class_name, digest))
        return True

    @staticmethod
    def _remember(
        counter: RedisAttemptCounter, job: Job, digest: str | None, record: FailureRecord, delay: float
    ) -> None:
        """Keep the failure for resque-web's Retry tab; a problem here never stops the retry."""
        data = {**record.to_dict(), "failed_at": timefmt.ruby_failed_at().removesuffix(" UTC")}
        try:
            counter.remember_failure(
                counter.failure_key(job.class_name, digest), dumps_text(data).encode(), math.ceil(2 * delay)
            )
        except Exception:
            logger.exception("could not keep the last failure of %s for the Retry tab", job.class_name)

    def retry(self, app: Resque, job: Job, delay: float) -> int | None:
        """Put ``job`` back: at once when ``delay <= 0``, else as a delayed item.

        Returns the due timestamp of a delayed retry, ``None`` for an immediate one. A
        tracked job's status goes WAITING, and its delayed retry keeps the job id.
        Round trips: 2 (1 for a job without id).
        """
        # A tracked job waits for its retry: WAITING now (the worker's FAIL leaves it so,
        # and tracked(id).wait() does not wake with this attempt's failure).
        tracked = job.id is not None and app.backend.statuses.update(job.id, JobStatus.WAITING)
        if delay <= 0:
            app.backend.broker.push(job.queue, app.encode(job))
            return None
        due = math.ceil(self.clock() + delay)
        # The delayed item is resque-retry's id-free bytes, but a tracked job's keeps its
        # id (pyresque's id form) so the retried run reports to the same status.
        job_id = job.id if tracked else None
        app.backend.delayed.schedule(due, encode_item(job.class_name, job.args, job.queue, job_id))
        return due
