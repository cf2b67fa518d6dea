"""Every Redis key pyresque reads or writes, spelled once.

Keys are Resque's (see the wire-format spec): ``<ns>:queue:<q>``, ``<ns>:queues``,
``<ns>:failed``, ``<ns>:workers``, ``<ns>:worker:<id>``, ``<ns>:stat:<name>``,
``<ns>:job:<id>:status``, the resque-scheduler keys and the scheduler's lock.
"""

from __future__ import annotations

import functools

__all__ = ["Keys", "cluster_namespace", "hash_tag", "normalize_namespace"]


def normalize_namespace(namespace: str) -> str:
    """``"resque"``, ``"resque:"`` and ``"resque:app"`` -> the namespace without trailing ``:``."""
    ns = namespace.strip().rstrip(":")
    if not ns:
        raise ValueError("the namespace cannot be empty")
    return ns


def hash_tag(namespace: str) -> str | None:
    """The Redis Cluster hash tag that every key under ``namespace`` shares, or None.

    A key's slot is the hash of the text between its first ``{`` and the first ``}``
    after it (when that is not empty). Every pyresque key starts with the namespace, so
    they all share one slot exactly when that tag closes *inside* the namespace:
    ``{resque}`` and ``app:{jobs}`` do; ``resque`` and ``app{jobs`` do not (a ``}``
    in a queue name would end the tag somewhere else).
    """
    start = namespace.find("{")
    if start < 0:
        return None
    end = namespace.find("}", start + 1)
    if end < 0 or end == start + 1:
        return None
    return namespace[start + 1 : end]


def cluster_namespace(namespace: str) -> str:
    """``namespace`` as a Redis Cluster needs it: as it is if it holds a hash tag
    (:func:`hash_tag`), else wrapped in one (``resque`` -> ``{resque}``), so every key
    of the namespace lives in one slot and every script stays atomic on one node."""
    ns = normalize_namespace(namespace)
    return ns if hash_tag(ns) is not None else "{" + ns + "}"


class Keys:
    """Key names under one namespace (``resque`` by default)."""

    def __init__(self, namespace: str = "resque") -> None:
        self.namespace = normalize_namespace(namespace)
        self.prefix = self.namespace + ":"

    @functools.cached_property
    def slot_tag(self) -> str | None:
        """The hash tag all these keys share on a Redis Cluster (None: they do not)."""
        return hash_tag(self.namespace)

    # queues -------------------------------------------------------------------------
    @functools.cached_property
    def queues(self) -> str:
        """SET of queue names."""
        return self.prefix + "queues"

    def queue(self, name: str) -> str:
        """LIST of a queue's payloads (head = next)."""
        return f"{self.prefix}queue:{name}"

    @functools.cached_property
    def queue_prefix(self) -> str:
        """The part before a queue name in its key (to recover names from keys)."""
        return self.prefix + "queue:"

    # failures -----------------------------------------------------------------------
    @functools.cached_property
    def failed(self) -> str:
        """LIST of failure records (Ruby's ``Failure::Redis``)."""
        return self.prefix + "failed"

    def failed_queue(self, queue: str) -> str:
        """LIST of one queue's failures (Ruby's ``RedisMultiQueue``)."""
        return f"{self.prefix}{queue}_failed"

    @functools.cached_property
    def failed_queues(self) -> str:
        """SET of ``<queue>_failed`` list names (Ruby's ``RedisMultiQueue``)."""
        return self.prefix + "failed_queues"

    # stats and statuses -------------------------------------------------------------
    def stat(self, name: str) -> str:
        """STRING counter (``processed``, ``failed``, ``processed:<worker>`` ...)."""
        return f"{self.prefix}stat:{name}"

    def status(self, job_id: str) -> str:
        """STRING php-resque job status."""
        return f"{self.prefix}job:{job_id}:status"

    def status_done(self, job_id: str) -> str:
        """LIST (pyresque only, short-lived) the notification a tracked job's final status
        write pushes, for ``tracked(id).wait()``: ``<status key>:done`` (the worker's
        scripts append ``:done`` to the status key)."""
        return f"{self.prefix}job:{job_id}:status:done"

    # workers ------------------------------------------------------------------------
    @functools.cached_property
    def workers(self) -> str:
        """SET of worker ids."""
        return self.prefix + "workers"

    def worker(self, worker_id: str) -> str:
        """STRING JSON of the job a worker is processing."""
        return f"{self.prefix}worker:{worker_id}"

    def worker_started(self, worker_id: str) -> str:
        """STRING time the worker started."""
        return f"{self.prefix}worker:{worker_id}:started"

    def worker_lease(self, worker_id: str) -> str:
        """STRING (pyresque only) ``<instance>:<seq>``, refreshed every few seconds with a
        short TTL while the worker process lives: tells a live worker from a dead one
        whatever its pid or host (containers that share a hostname and pid 1)."""
        return f"{self.prefix}worker:{worker_id}:lease"

    @functools.cached_property
    def heartbeats(self) -> str:
        """HASH worker id -> last heartbeat (ISO-8601)."""
        return self.prefix + "workers:heartbeat"

    @functools.cached_property
    def pruning_lock(self) -> str:
        """STRING held while one worker prunes dead ones (Ruby >= 2.0)."""
        return self.prefix + "pruning_dead_workers_in_progress"

    @functools.cached_property
    def pause_all(self) -> str:
        """STRING ``true`` pauses every worker (Ruby >= 2.3)."""
        return self.prefix + "pause-all-workers"

    def worker_ping(self, name: str) -> str:
        """STRING node-resque liveness record (``host:pid``)."""
        return f"{self.prefix}worker:ping:{name}"

    # scheduler ----------------------------------------------------------------------
    @functools.cached_property
    def delayed_schedule(self) -> str:
        """ZSET of timestamps holding delayed items (member = score)."""
        return self.prefix + "delayed_queue_schedule"

    def delayed(self, timestamp: int) -> str:
        """LIST of items due at ``timestamp``."""
        return f"{self.prefix}delayed:{timestamp}"

    @staticmethod
    def delayed_member(timestamp: int) -> str:
        """A member of a ``timestamps:`` set (no namespace, as resque-scheduler)."""
        return f"delayed:{timestamp}"

    def delayed_id(self, job_id: str) -> str:
        """STRING (pyresque only) the due timestamp of the delayed job with this id, for
        removal by id; expires a week after that timestamp."""
        return f"{self.prefix}delayed_id:{job_id}"

    def timestamps(self, item: str) -> str:
        """SET reverse index: the ``delayed:<ts>`` lists holding this exact item."""
        return f"{self.prefix}timestamps:{item}"

    @functools.cached_property
    def last_enqueued_at(self) -> str:
        """HASH schedule name -> time of its last recurring enqueue."""
        return self.prefix + "delayed:last_enqueued_at"

    @functools.cached_property
    def persistent_schedules(self) -> str:
        """HASH schedule name -> JSON config (resque-scheduler >= 4.2)."""
        return self.prefix + "persistent_schedules"

    @functools.cached_property
    def schedules_changed(self) -> str:
        """SET of schedule names changed since the leader last loaded them."""
        return self.prefix + "schedules_changed"

    @functools.cached_property
    def schedule_ticks(self) -> str:
        """HASH schedule name -> epoch of its last enqueued recurring tick (pyresque's guard)."""
        return self.prefix + "schedule_ticks"

    @functools.cached_property
    def node_scheduler_lock(self) -> str:
        """STRING node-resque's (>= 7) scheduler leader lock; value = the scheduler's name."""
        return self.prefix + "resque_scheduler_leader_lock"

    def scheduler_lock(self, lock_prefix: str = "") -> str:
        """resque-scheduler's master lock, double-namespaced exactly as Ruby writes it.

        Ruby builds ``"<ns>:<prefix>resque_scheduler_master_lock"`` and sends it through
        Redis::Namespace, so the real key is ``resque:resque:resque_scheduler_master_lock``.
        """
        middle = f"{lock_prefix}:" if lock_prefix else ""
        return f"{self.prefix}{self.namespace}:{middle}resque_scheduler_master_lock"

    # retries ------------------------------------------------------------------------
    def retry_attempts(self, class_name: str, digest: str | None = None) -> str:
        """STRING resque-retry attempt counter: ``resque-retry:<Class>[:<digest>]``.

        Whitespace is stripped from the part after the namespace, as resque-retry's
        ``redis_retry_key`` does (``gsub(/\\s/, '')``).
        """
        tail = "resque-retry:" + class_name + (f":{digest}" if digest else "")
        return self.prefix + "".join(tail.split())

    def retry_failure(self, class_name: str, digest: str | None = None) -> str:
        """STRING last failure of a job being retried: ``failure-resque-retry:<Class>[:<digest>]``.

        resque-retry's ``MultipleWithRetrySuppression`` writes it (resque-web's Retry tab).
        """
        return self.prefix + "failure-" + self.retry_attempts(class_name, digest)[len(self.prefix) :]

    def __repr__(self) -> str:
        return f"Keys({self.namespace!r})"
