"""Tracing of delayed jobs: enqueue_in -> scheduler -> worker on a real redis-server.

The delayed item carries the producer's trace context (full form only), the
scheduler moves it to the queue as is, and the consumer span links to (or is the
child of) the span of the ``enqueue_in`` call.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

import redis
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from pyresque import Resque
from pyresque.core.scheduling.scheduler import Scheduler
from pyresque.core.worker import Worker
from pyresque.observability.tracing import TracingPlugin

pytestmark = pytest.mark.redis

RAN: list[str] = []


def _mail(tag: str) -> None:
    RAN.append(tag)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _app(redis_url: str, exporter: InMemorySpanExporter, style: str = "link") -> Resque:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = Resque(redis_url, plugins=[TracingPlugin(provider, style=style)])  # type: ignore[arg-type]
    app.job(_mail, name="Mail")
    return app


@pytest.fixture
def raw(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _items(raw: redis.Redis) -> list[bytes]:
    stamps = raw.zrange("resque:delayed_queue_schedule", 0, -1)
    return [item for ts in stamps for item in raw.lrange(b"resque:delayed:" + ts, 0, -1)]


def _promote(app: Resque, raw: redis.Redis, queue: str) -> None:
    """Poll the scheduler until the delayed job is in its queue (generous deadline)."""
    deadline = time.monotonic() + 30
    while raw.llen(f"resque:queue:{queue}") == 0:
        assert time.monotonic() < deadline, "the scheduler never moved the delayed job"
        Scheduler(app, interval=1).poll()
        time.sleep(0.05)


def _one(spans: list[ReadableSpan], kind: SpanKind) -> ReadableSpan:
    (span,) = [s for s in spans if s.kind is kind]
    return span


@pytest.mark.parametrize("style", ["link", "child"])
def test_a_delayed_jobs_consumer_span_joins_the_enqueue_in_span(
    redis_url: str, raw: redis.Redis, exporter: InMemorySpanExporter, style: str
) -> None:
    app = _app(redis_url, exporter, style)
    tag = uuid.uuid4().hex
    job_id = app.enqueue_in(1, "mail", "Mail", tag)
    (item,) = _items(raw)
    data = json.loads(item)
    assert list(data) == ["class", "args", "queue", "traceparent", "id"]  # the id stays last
    assert item.endswith(b',"id":"' + job_id.encode() + b'"}')
    send = _one(list(exporter.get_finished_spans()), SpanKind.PRODUCER)  # ended once written
    assert send.name == "mail send"
    assert send.attributes is not None and send.attributes["messaging.message.id"] == job_id
    context = send.get_span_context()
    assert (
        data["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    )

    _promote(app, raw, "mail")
    assert raw.lrange("resque:queue:mail", 0, -1) == [item]  # moved as is
    Worker(app, "mail", mode="inprocess", burst=True, heartbeat_interval=0).work()
    assert tag in RAN
    process = _one(list(exporter.get_finished_spans()), SpanKind.CONSUMER)
    assert process.name == "mail process"
    assert process.attributes is not None and process.attributes["messaging.message.id"] == job_id
    if style == "link":
        assert process.parent is None
        assert [(link.context.trace_id, link.context.span_id) for link in process.links] == [
            (context.trace_id, context.span_id)
        ]
    else:
        assert process.parent is not None and process.parent.span_id == context.span_id
        assert process.context.trace_id == context.trace_id
    app.close()


def test_delayed_items_with_trace_context_are_still_found_and_removed(
    redis_url: str, raw: redis.Redis, exporter: InMemorySpanExporter
) -> None:
    app = _app(redis_url, exporter)
    first = app.enqueue_in(600, "mail", "Mail", "a")
    app.enqueue_in(900, "mail", "Mail", "b")
    assert all(b'"traceparent":"00-' in item for item in _items(raw))
    assert len(app.scheduled_at("mail", "Mail", "b")) == 1
    assert app.remove_delayed_by_id(first) == 1
    assert app.remove_delayed("mail", "Mail", "b") == 1  # the id form, found by its bytes
    assert _items(raw) == []
    app.close()


def test_the_ruby_form_item_stays_resque_schedulers_bytes(
    redis_url: str, raw: redis.Redis, exporter: InMemorySpanExporter
) -> None:
    app = _app(redis_url, exporter)
    app.enqueue_in(600, "mail", "Mail", "x", payload_form="ruby")
    assert _items(raw) == [b'{"class":"Mail","args":["x"],"queue":"mail"}']
    app.close()
