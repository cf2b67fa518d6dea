"""What observability costs: the in-process drain of no-op jobs with metrics and tracing
on vs off (and with history on), in one run, taking turns.

    .venv/bin/python -m bench.bench_observability [--jobs 5000] [--rounds 4]

Starts its own redis-server. Each round enqueues ``--jobs`` no-op jobs (outside the
timed window; traced variants enqueue through a client app with its own provider, so
payloads carry their ``traceparent`` and the producer spans are exported before the
drain, as a client process's would be) and drains them with an in-process burst
worker, for each variant:

- ``off``: a plain app;
- ``on``: :class:`~pyresque.observability.metrics.PrometheusMetrics` and
  :class:`~pyresque.observability.tracing.TracingPlugin` (an SDK provider sampling
  every trace, a batch processor and an exporter that drops the spans: the cost of
  making them);
- ``metrics``, ``tracing``: one of the two alone;
- ``sampled``: ``on`` with 1 % of the traces sampled (``ParentBased(TraceIdRatioBased(0.01))``);
- ``sampled-child``: ``sampled`` with ``style="child"``: the producer's decision holds
  for the job (head sampling), so a sampled-out job starts no span;
- ``no-sdk``: ``on`` with the API's no-op provider (no SDK installed);
- ``sdk-span``: no pyresque plugin, one bare SDK span per job (``start_span(name)`` /
  ``end()`` around it, same provider setup as ``on``): the SDK's own share, measured
  inside a real drain (a span costs about twice as much there as in a tight loop:
  the worker's other code has the caches between two spans);
- ``history``: ``on`` plus :class:`~pyresque.observability.history.HistoryPlugin`
  (one more round trip per job).

Also per round, steadier on a busy machine: ``perform_job`` alone per variant (the
hooks, plugins and the job, no Redis, one payload performed ``--jobs`` times), and the
SDK alone in a tight loop (a bare ``start_span(name).end()``, and a span made as the
consumer span is: kind, five attributes, one link).

The variants take turns at going first (ABBA, as ``bench_compare`` does: the second
drain of a pair runs slower on a busy 2-core machine). Reported per variant: median
jobs/s, its ratio to ``off`` and the loss (the target: ``on`` loses at most 15 %), this
process's CPU per job (``time.process_time``; the span processor's thread included,
steadier than wall time on a shared machine) and Redis's (``INFO cpu``) per job.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, NoOpTracerProvider, SpanContext, SpanKind, TraceFlags

from bench._server import RedisServer
from pyresque import Resque, hookimpl
from pyresque.backends.redis import RedisBackend
from pyresque.core.worker import Worker
from pyresque.core.worker.perform import perform_job
from pyresque.observability.history import HistoryPlugin
from pyresque.observability.metrics import PrometheusMetrics
from pyresque.observability.tracing import TracingPlugin

QUEUE = "bench"


class _Drop(SpanExporter):
    """Accepts spans and forgets them."""

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def noop() -> None:
    """The job."""


def _app(port: int, plugins: list[object]) -> Resque:
    app = Resque(RedisBackend(redis.Redis(port=port)), plugins=plugins)
    app.job(noop, name="noop")
    return app


#: A variant: (the worker's app, the app that enqueues, what to call when done).
Made = tuple[Resque, Resque, Callable[[], None]]


class _BareSpan:
    """One bare SDK span per job, nothing else (no context, attributes, link, or current
    span): the least any tracing does, so the SDK's own cost inside a real drain."""

    def __init__(self, provider: TracerProvider) -> None:
        self.tracer = provider.get_tracer("bench")

    @hookimpl
    def pyresque_job_started(self) -> Callable[[BaseException | None], None]:
        span = self.tracer.start_span("bench process")
        return lambda exc: span.end()


def _provider(ratio: float) -> TracerProvider:
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
    provider.add_span_processor(BatchSpanProcessor(_Drop()))
    return provider


def _variants(port: int) -> dict[str, Callable[[], Made]]:
    def off() -> Made:
        app = _app(port, [])
        return app, app, lambda: None

    def on(
        metrics: bool = True,
        tracing: bool = True,
        history: bool = False,
        ratio: float = 1.0,
        style: str = "link",
    ) -> Made:
        plugins: list[object] = []
        if metrics:
            plugins.append(PrometheusMetrics())
        if not tracing:
            app = _app(port, plugins + ([HistoryPlugin()] if history else []))
            return app, app, lambda: None
        provider = _provider(ratio)
        plugins.append(TracingPlugin(provider, style=style))  # type: ignore[arg-type]
        if history:
            plugins.append(HistoryPlugin())
        # The producer is another app with its own provider, as a client process is: its
        # spans are exported before the drain, not charged to the worker.
        producer = _provider(ratio)
        client = _app(port, [TracingPlugin(producer)])

        def close() -> None:
            provider.shutdown()
            producer.shutdown()
            client.close()

        return _app(port, plugins), client, close

    def bare_span() -> Made:
        provider = _provider(1.0)
        app = _app(port, [_BareSpan(provider)])
        return app, app, provider.shutdown

    def no_sdk() -> Made:
        app = _app(port, [PrometheusMetrics(), TracingPlugin(NoOpTracerProvider())])
        return app, app, lambda: None

    return {
        "off": off,
        "on": on,
        "metrics": lambda: on(tracing=False),
        "tracing": lambda: on(metrics=False),
        "sampled": lambda: on(ratio=0.01),
        "sampled-child": lambda: on(ratio=0.01, style="child"),
        "no-sdk": no_sdk,
        "sdk-span": bare_span,
        "history": lambda: on(history=True),
    }


def _redis_cpu(client: redis.Redis) -> float:
    info: Any = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def _enqueue(client: Resque, jobs: int) -> None:
    client.enqueue_many([(QUEUE, "noop", ()) for _ in range(jobs)])
    for plugin in client.hooks.pm.get_plugins():
        flush = getattr(plugin.provider, "force_flush", None) if isinstance(plugin, TracingPlugin) else None
        if flush is not None:
            flush()  # the producer's spans leave before the timed drain


def _drain(make: Callable[[], Made], client: redis.Redis, jobs: int) -> tuple[float, float, float]:
    """One drain: (jobs/s, this process's CPU microseconds per job, Redis's)."""
    client.flushall()
    app, producer, close = make()
    try:
        _enqueue(producer, jobs)
        redis_cpu = _redis_cpu(client)
        start, cpu = time.perf_counter(), time.process_time()
        Worker(app, QUEUE, mode="inprocess", burst=True, heartbeat_interval=0).work()
        rate = jobs / (time.perf_counter() - start)
        cpu_us = (time.process_time() - cpu) / jobs * 1e6
        redis_us = (_redis_cpu(client) - redis_cpu) / jobs * 1e6
        assert client.llen(f"resque:queue:{QUEUE}") == 0
        return rate, cpu_us, redis_us
    finally:
        close()
        app.close()
        if producer is not app:
            producer.close()


def _hooks_alone(make: Callable[[], Made], client: redis.Redis, jobs: int) -> float:
    """CPU microseconds per job of ``perform_job`` alone (hooks, plugins, the job; no
    Redis): one real payload (with its ``traceparent``) performed ``jobs`` times."""
    client.flushall()
    app, producer, close = make()
    try:
        _enqueue(producer, 1)
        raw: Any = client.lpop(f"resque:queue:{QUEUE}")
        job = app.decode(raw, QUEUE)
        worker = Worker(app, QUEUE, mode="inprocess", burst=True, heartbeat_interval=0)
        cpu = time.process_time()
        for _ in range(jobs):
            perform_job(worker, job)
        return (time.process_time() - cpu) / jobs * 1e6
    finally:
        close()
        app.close()
        if producer is not app:
            producer.close()


def _sdk_alone(spans: int) -> tuple[float, float]:
    """CPU microseconds per span of the SDK alone (``on``'s provider setup): a bare
    ``start_span(name).end()``, and one made as the consumer span is."""
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(1.0)))
    provider.add_span_processor(BatchSpanProcessor(_Drop()))
    tracer = provider.get_tracer("bench")
    producer = SpanContext(0x0AF7651916CD43DD8448EB211C80319C, 0xB7AD6B7169203331, True, TraceFlags(1))
    root = otel_context.Context()
    attributes = {
        "messaging.system": "resque",
        "messaging.destination.name": QUEUE,
        "messaging.operation.type": "process",
        "messaging.resque.job_class": "noop",
        "messaging.message.id": "0" * 32,
    }
    try:
        cpu = time.process_time()
        for _ in range(spans):
            tracer.start_span("bench process").end()
        bare = (time.process_time() - cpu) / spans * 1e6
        cpu = time.process_time()
        for _ in range(spans):
            tracer.start_span(
                "bench process",
                context=root,
                kind=SpanKind.CONSUMER,
                attributes=dict(attributes),
                links=(Link(producer),),
            ).end()
        consumer = (time.process_time() - cpu) / spans * 1e6
        return bare, consumer
    finally:
        provider.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=4, help="an even number keeps the turns fair")
    opts = parser.parse_args()
    server = RedisServer()
    server.start()
    try:
        client = redis.Redis(port=server.port)
        variants = _variants(server.port)
        names = list(variants)
        rates: dict[str, list[float]] = {name: [] for name in names}
        cpus: dict[str, list[float]] = {name: [] for name in names}
        redis_cpus: dict[str, list[float]] = {name: [] for name in names}
        sdk: dict[str, list[float]] = {"bare": [], "consumer": []}
        alone: dict[str, list[float]] = {name: [] for name in names if name not in ("history", "sdk-span")}
        for round_no in range(opts.rounds):
            order = names if round_no % 2 == 0 else names[::-1]
            for name in order:
                rate, cpu, redis_us = _drain(variants[name], client, opts.jobs)
                rates[name].append(rate)
                cpus[name].append(cpu)
                redis_cpus[name].append(redis_us)
            for name in alone if round_no % 2 == 0 else list(alone)[::-1]:
                alone[name].append(_hooks_alone(variants[name], client, opts.jobs))
            bare, consumer = _sdk_alone(opts.jobs)
            sdk["bare"].append(bare)
            sdk["consumer"].append(consumer)
        base = statistics.median(rates["off"])
        base_cpu = statistics.median(cpus["off"])
        print(f"{opts.jobs} no-op jobs, in-process drain, {opts.rounds} rounds (ABBA), medians:")
        for name in names:
            median, cpu = statistics.median(rates[name]), statistics.median(cpus[name])
            redis_us = statistics.median(redis_cpus[name])
            head = f"  {name:8} {median:7.0f} jobs/s  {cpu:6.1f} us CPU/job  redis {redis_us:5.1f} us/job"
            if name != "off":
                head += (
                    f"  ratio {median / base:.3f}  loss {(1 - median / base) * 100:+5.1f} %"
                    f"  CPU {cpu - base_cpu:+6.1f} us/job"
                )
            print(head)
        base_alone = statistics.median(alone["off"])
        print("perform_job alone (hooks, plugins and the job; no Redis, no worker loop):")
        for name, runs in alone.items():
            median = statistics.median(runs)
            more = "" if name == "off" else f"  {median - base_alone:+6.1f} us/job"
            print(f"  {name:8} {median:6.1f} us CPU/job{more}")
        bare, consumer = statistics.median(sdk["bare"]), statistics.median(sdk["consumer"])
        print("the SDK alone in a tight loop (BatchSpanProcessor, every trace sampled):")
        print(f"  start_span(name).end()        {bare:6.1f} us CPU/span")
        print(f"  as the consumer span is made  {consumer:6.1f} us CPU/span")
        sdk_span = statistics.median(cpus["sdk-span"]) - base_cpu
        tracing = statistics.median(cpus["tracing"]) - base_cpu
        rest = tracing - sdk_span
        print(f"in the drain: a bare SDK span per job {sdk_span:+.1f} us CPU/job, 'tracing' {tracing:+.1f}:")
        print(f"  the rest (the span's attributes and link, the trace context, the hook) {rest:+.1f}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
