"""Metrics read from a Resque Redis on each scrape: every worker counts, whatever its language.

Start with :class:`RedisCollector` (a prometheus-client collector over a redis-py
client and a namespace), :func:`exporter_registry` (a registry holding one, from an app),
and :func:`make_metrics_asgi_app` (``/metrics`` as an ASGI app, which ``pyresque web``
mounts; ``pyresque metrics`` serves the same registry on its own port).

What a scrape reports (``queue`` is the only label besides the worker ``state``):
``resque_queue_size{queue}``, ``resque_queue_latency_seconds{queue}`` (age of the
oldest job, from its ``queue_time``; no sample for a queue whose head carries none, as
Ruby payloads), ``resque_failed_jobs``, ``resque_delayed_jobs``, ``resque_delayed_jobs_due``,
``resque_workers{state="working"|"idle"}``, ``resque_worker_heartbeat_age_seconds``
(the oldest heartbeat of a registered worker, by the Redis clock),
``resque_processed_total`` / ``resque_failed_total`` (Resque's ``stat:`` counters),
``resque_scheduler_leader`` (1 while a resque-scheduler or node-resque leader lock is
held) and ``resque_exporter_scrape_truncated`` (1 when a cap below cut the scrape).

Over a sharded app (:class:`ShardedRedisCollector`, which :func:`exporter_registry`
picks for a ``ShardedBackend``), every series also carries ``shard="name"`` (sum with
``sum without (shard) (...)``), and ``resque_exporter_shard_up{shard}`` says which
shards answered; an app that is not sharded scrapes exactly as before.

Cost: two round trips whatever the size (a pipeline of 9 reads, then a pipeline of
three read-only scripts that return counts, not payloads), per shard, the shards in
parallel. Caps: ``max_queues`` queue
names (sorted; the rest are left out), ``delayed_scan`` delayed timestamps summed for
``resque_delayed_jobs`` and ``resque_delayed_jobs_due`` (past it they are lower bounds).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pyresque.core import timefmt
from pyresque.core.errors import ConfigurationError

if TYPE_CHECKING:
    import redis
    from prometheus_client.metrics_core import Metric

    from pyresque.core.app import Resque

__all__ = [
    "EXPORTED",
    "SHARDED_EXPORTED",
    "RedisCollector",
    "ShardedRedisCollector",
    "exporter_registry",
    "make_metrics_asgi_app",
]

#: The metric names a scrape exposes (``_total`` included for counters).
EXPORTED = (
    "resque_queue_size",
    "resque_queue_latency_seconds",
    "resque_failed_jobs",
    "resque_delayed_jobs",
    "resque_delayed_jobs_due",
    "resque_workers",
    "resque_worker_heartbeat_age_seconds",
    "resque_processed_total",
    "resque_failed_total",
    "resque_scheduler_leader",
    "resque_exporter_scrape_truncated",
)
#: The names a scrape of a sharded app exposes (each series labelled ``shard``).
SHARDED_EXPORTED = (*EXPORTED, "resque_exporter_shard_up")

# Read-only scripts: a repeat after a lost reply reads again and changes nothing.
#: KEYS: queue lists. Returns per queue {LLEN, the head's last top-level-looking
#: ``"queue_time":<number>`` as text, or false}: the payload itself never leaves Redis.
_HEADS = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('LLEN', key)
  local stamp = false
  if n > 0 then
    local head = redis.call('LINDEX', key, 0)
    for found in string.gmatch(head, '"queue_time":%s*(%-?[%d%.eE%+%-]+)') do stamp = found end
  end
  out[#out + 1] = n
  out[#out + 1] = stamp
end
return out
"""
#: KEYS: any keys. Returns how many exist.
_EXISTING = """
local n = 0
for _, key in ipairs(KEYS) do n = n + redis.call('EXISTS', key) end
return n
"""
#: KEYS: lists. Returns the sum of their lengths.
_LENGTHS = """
local n = 0
for _, key in ipairs(KEYS) do n = n + redis.call('LLEN', key) end
return n
"""


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _int(value: Any) -> int:
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


class RedisCollector(Collector):
    """Reads a Resque namespace on each scrape (see the module docstring).

    Args:
        client: a redis-py client (``decode_responses=False``).
        namespace: the key namespace (``resque``).
        max_queues: queues reported at most (by name order).
        delayed_scan: delayed timestamps summed at most, for each of the two delayed counts.
        scheduler_lock_prefix: resque-scheduler's ``lock_prefix``, if one is configured.
    """

    def __init__(
        self,
        client: redis.Redis,
        namespace: str = "resque",
        *,
        max_queues: int = 5000,
        delayed_scan: int = 10000,
        scheduler_lock_prefix: str = "",
    ) -> None:
        from pyresque.backends.redis.keys import Keys

        self.client = client
        self.keys = Keys(namespace)
        self.max_queues = max_queues
        self.delayed_scan = delayed_scan
        self.lock_prefix = scheduler_lock_prefix

    def read(self) -> dict[str, Any]:
        """The raw numbers of one scrape (two round trips)."""
        k = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.time()
        pipe.smembers(k.queues)
        pipe.smembers(k.workers)
        pipe.llen(k.failed)
        pipe.zcard(k.delayed_schedule)
        pipe.zrange(k.delayed_schedule, 0, self.delayed_scan - 1)
        pipe.hgetall(k.heartbeats)
        pipe.mget(k.stat("processed"), k.stat("failed"))
        pipe.exists(k.scheduler_lock(self.lock_prefix), k.node_scheduler_lock)
        now_pair, queues_raw, workers_raw, failed, zcard, stamps, beats, stats, leaders = pipe.execute()
        now = float(now_pair[0]) + float(now_pair[1]) / 1e6
        queues = sorted(_text(q) for q in queues_raw)
        truncated = len(queues) > self.max_queues or zcard > len(stamps)
        queues = queues[: self.max_queues]
        workers = [_text(w) for w in workers_raw]
        all_keys = [k.delayed(_int(_text(s))) for s in stamps]
        due_keys = [k.delayed(_int(_text(s))) for s in stamps if _int(_text(s)) <= now]
        pipe = self.client.pipeline(transaction=False)
        pipe.eval(_HEADS, len(queues), *[k.queue(q) for q in queues])
        pipe.eval(_EXISTING, len(workers), *[k.worker(w) for w in workers])
        pipe.eval(_LENGTHS, len(all_keys), *all_keys)
        pipe.eval(_LENGTHS, len(due_keys), *due_keys)
        heads, working, delayed, due = pipe.execute()
        return {
            "now": now,
            "queues": queues,
            "heads": heads,
            "workers": workers,
            "working": int(working),
            "failed": int(failed),
            "delayed": int(delayed),
            "due": int(due),
            "beats": {_text(key): _text(v) for key, v in beats.items()},
            "processed": _int(stats[0]),
            "failed_total": _int(stats[1]),
            "leader": int(leaders) > 0,
            "truncated": truncated,
        }

    def collect(self) -> Iterable[Metric]:
        """One scrape's metric families."""
        return _families([(None, self.read())])


#: The scalar series of a scrape: name, help, the key of :meth:`RedisCollector.read`'s
#: numbers (``None``: the heartbeat age, computed), counter or gauge.
_SCALARS: tuple[tuple[str, str, str | None, bool], ...] = (
    ("resque_failed_jobs", "Entries in the failed list", "failed", False),
    ("resque_delayed_jobs", "Delayed jobs (scheduler)", "delayed", False),
    ("resque_delayed_jobs_due", "Delayed jobs already due", "due", False),
    ("resque_worker_heartbeat_age_seconds", "Oldest heartbeat of a registered worker", None, False),
    ("resque_processed", "Resque's stat:processed", "processed", True),
    ("resque_failed", "Resque's stat:failed", "failed_total", True),
    ("resque_scheduler_leader", "1 while a scheduler leader lock is held", "leader", False),
    ("resque_exporter_scrape_truncated", "1 when a cap cut this scrape", "truncated", False),
)


def _families(reads: list[tuple[str | None, dict[str, Any]]]) -> list[Metric]:
    """The metric families of one scrape: of one Redis (``[(None, data)]``), or of each
    shard (``[(name, data), ...]``, every series labelled ``shard``)."""
    sharded = bool(reads) and reads[0][0] is not None
    extra = ["shard"] if sharded else []
    size = GaugeMetricFamily("resque_queue_size", "Jobs waiting in the queue", labels=["queue", *extra])
    latency = GaugeMetricFamily(
        "resque_queue_latency_seconds", "Age of the oldest job in the queue (from queue_time)",
        labels=["queue", *extra],
    )
    workers = GaugeMetricFamily("resque_workers", "Registered workers by state", labels=["state", *extra])
    for shard, data in reads:
        tag = [shard] if shard is not None else []
        now = data["now"]
        heads = data["heads"]
        for i, queue in enumerate(data["queues"]):
            length, stamp = heads[2 * i], heads[2 * i + 1]
            size.add_metric([queue, *tag], float(length))
            if length and stamp:
                with contextlib.suppress(ValueError):
                    age = now - float(_text(stamp))
                    if 0 <= age < 10 * 365 * 86400:
                        latency.add_metric([queue, *tag], age)
        working = min(data["working"], len(data["workers"]))
        workers.add_metric(["working", *tag], float(working))
        workers.add_metric(["idle", *tag], float(len(data["workers"]) - working))
    out: list[Metric] = [size, latency, workers]
    for name, doc, key, counter in _SCALARS:
        kind = CounterMetricFamily if counter else GaugeMetricFamily
        values = [
            (shard, float(data[key]) if key else _oldest_beat(data["beats"], data["workers"], data["now"]))
            for shard, data in reads
        ]
        if not sharded:
            out.append(kind(name, doc, value=values[0][1]))
            continue
        family = kind(name, doc, labels=["shard"])
        for shard, value in values:
            family.add_metric([str(shard)], value)
        out.append(family)
    return out


class ShardedRedisCollector(Collector):
    """:class:`RedisCollector` over every shard of a sharded app, scraped concurrently
    (two round trips per shard, in parallel), every series labelled ``shard="name"``
    (``sum without (shard) (...)`` adds them up), and ``resque_exporter_shard_up{shard}``:
    0 for a shard that did not answer, or not within ``timeout`` seconds (its series are
    left out of that scrape; a stalled shard's read is left to end on its own).

    Args:
        shards: ``(name, redis-py client, namespace)`` per shard.
        timeout: seconds a scrape waits for the shards.
        options: :class:`RedisCollector`'s (``max_queues``, ``delayed_scan`` ...), per shard.
    """

    def __init__(
        self, shards: Sequence[tuple[str, redis.Redis, str]], *, timeout: float = 10.0, **options: Any
    ) -> None:
        self.collectors = [(name, RedisCollector(client, ns, **options)) for name, client, ns in shards]
        self.timeout = timeout

    def collect(self) -> Iterable[Metric]:
        """One scrape's metric families, shard by shard."""
        from concurrent.futures import ThreadPoolExecutor, wait

        pool = ThreadPoolExecutor(max_workers=len(self.collectors), thread_name_prefix="scrape")
        try:
            futures = [pool.submit(collector.read) for _, collector in self.collectors]
            wait(futures, timeout=self.timeout)
        finally:
            pool.shutdown(wait=False)  # a stalled shard's thread ends with its socket
        results: list[dict[str, Any] | None] = [
            f.result() if f.done() and f.exception() is None else None for f in futures
        ]
        up = GaugeMetricFamily(
            "resque_exporter_shard_up", "1 when the shard answered this scrape", labels=["shard"]
        )
        reads: list[tuple[str | None, dict[str, Any]]] = []
        for (name, _), data in zip(self.collectors, results, strict=True):
            up.add_metric([name], 0.0 if data is None else 1.0)
            if data is not None:
                reads.append((name, data))
        return [*_families(reads), up] if reads else [up]


def _oldest_beat(beats: dict[str, str], workers: list[str], now: float) -> float:
    """The age of the oldest heartbeat of a registered worker (0 without any). Each
    distinct text is parsed once: heartbeats have a second's resolution, so thousands
    of workers share a few dozen values."""
    texts = {text for worker in workers if (text := beats.get(worker)) is not None}
    oldest = 0.0
    for text in texts:
        when = timefmt.parse_any(text)
        if when is None:
            continue
        age = now - when.replace(tzinfo=when.tzinfo or dt.timezone.utc).timestamp()
        oldest = max(oldest, age)
    return oldest


def exporter_registry(app: Resque, **options: Any) -> CollectorRegistry:
    """A registry holding a :class:`RedisCollector` over ``app``'s Redis backend.

    Raises:
        ConfigurationError: the app's backend is not Redis.
    """
    from pyresque.backends.redis.shards import ShardedBackend

    registry = CollectorRegistry()
    if isinstance(app.backend, ShardedBackend):
        shards = [(name, s.client, s.keys.namespace) for name, s in app.backend.shards.items()]
        registry.register(ShardedRedisCollector(shards, **options))
        return registry
    client = getattr(app.backend, "client", None)
    keys = getattr(app.backend, "keys", None)
    if client is None or keys is None:
        raise ConfigurationError(f"the exporter reads Redis, not {type(app.backend).__name__}")
    registry.register(RedisCollector(client, keys.namespace, **options))
    return registry


def make_metrics_asgi_app(app: Resque | None = None, *, registry: CollectorRegistry | None = None) -> Any:
    """``/metrics`` as an ASGI app: ``registry``, or :func:`exporter_registry` of ``app``.

    Mount it in Starlette with ``Mount("/metrics", app=make_metrics_asgi_app(resque))``.
    """
    from prometheus_client import make_asgi_app

    if registry is None:
        if app is None:
            raise ConfigurationError("make_metrics_asgi_app needs an app or a registry")
        registry = exporter_registry(app)
    return make_asgi_app(registry=registry)
