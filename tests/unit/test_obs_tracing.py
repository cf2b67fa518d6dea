"""Tracing: the trace context in the payload, producer and consumer spans, opt-outs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from pyresque import Resque
from pyresque.observability.tracing import TracingPlugin, plain_payload
from pyresque.testing import drain


class Quiet:
    trace_context = False

    def perform(self) -> None: ...


def _ok() -> str:
    return "ok"


def _bad() -> None:
    raise RuntimeError("bad")


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def _app(exporter: InMemorySpanExporter, **options: object) -> Resque:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = Resque(f"fakeredis://obs-tracing-{uuid.uuid4().hex}", plugins=[TracingPlugin(provider, **options)])  # type: ignore[arg-type]
    app.job(_ok, name="Ok")
    app.job(_bad, name="Bad")
    app.job(Quiet, name="Quiet")
    return app


@pytest.fixture
def app(exporter: InMemorySpanExporter) -> Iterator[Resque]:
    resque = _app(exporter)
    yield resque
    resque.close()


def _payloads(app: Resque, queue: str) -> list[dict[str, object]]:
    raw = app.backend.client.lrange(f"resque:queue:{queue}", 0, -1)  # type: ignore[attr-defined]
    return [json.loads(r) for r in raw]


def test_the_context_travels_as_top_level_keys_after_class_and_args(app: Resque) -> None:
    job_id = app.enqueue("mail", "Ok")
    (payload,) = _payloads(app, "mail")
    assert list(payload)[:2] == ["class", "args"]
    assert list(payload)[4:] in (["traceparent"], ["traceparent", "tracestate"])
    assert str(payload["traceparent"]).startswith("00-")
    assert payload["id"] == job_id


def test_send_and_process_spans_are_linked(app: Resque, exporter: InMemorySpanExporter) -> None:
    app.enqueue("mail", "Ok")
    app.enqueue("mail", "Bad")
    drain(app, raise_errors=False)
    spans = exporter.get_finished_spans()
    sends = [s for s in spans if s.kind is SpanKind.PRODUCER]
    processes = [s for s in spans if s.kind is SpanKind.CONSUMER]
    assert [s.name for s in sends] == ["mail send", "mail send"]
    assert [s.name for s in processes] == ["mail process", "mail process"]
    for send, process in zip(sends, processes, strict=True):
        assert process.parent is None
        assert [link.context.span_id for link in process.links] == [send.context.span_id]
        assert process.attributes["messaging.system"] == "resque"
        assert process.attributes["messaging.destination.name"] == "mail"
        assert process.attributes["messaging.operation.type"] == "process"
        assert send.attributes["messaging.message.id"] == process.attributes["messaging.message.id"]
    assert processes[0].status.status_code is not StatusCode.ERROR
    assert processes[1].status.status_code is StatusCode.ERROR


def test_child_of_style(exporter: InMemorySpanExporter) -> None:
    app = _app(exporter, style="child")
    app.enqueue("mail", "Ok")
    drain(app)
    send, process = exporter.get_finished_spans()
    assert process.parent is not None and process.parent.span_id == send.context.span_id
    assert process.context.trace_id == send.context.trace_id
    app.close()


def test_opt_outs_write_the_plain_payload(exporter: InMemorySpanExporter) -> None:
    app = _app(exporter)
    with plain_payload():
        app.enqueue("q", "Ok")
    app.enqueue("q", "Quiet")
    app.enqueue("q", "Ok", payload_form="ruby")
    plain = [p for p in _payloads(app, "q")]
    assert all("traceparent" not in p for p in plain)
    assert plain[2] == {"class": "Ok", "args": []}
    app.close()
    per_app = _app(exporter, propagate=False)
    per_app.enqueue("q2", "Ok")
    assert "traceparent" not in _payloads(per_app, "q2")[0]
    drain(per_app)
    assert [s.links for s in exporter.get_finished_spans() if s.kind is SpanKind.CONSUMER][-1] == ()
    per_app.close()


def test_without_the_plugin_the_payload_is_unchanged() -> None:
    app = Resque("fakeredis://obs-tracing-off")
    app.enqueue("q", "Ok")
    (payload,) = _payloads(app, "q")
    assert list(payload) == ["class", "args", "id", "queue_time"]
    app.close()


def test_the_asyncio_client_writes_the_context_too(exporter: InMemorySpanExporter) -> None:
    import asyncio

    from pyresque.aio import AsyncResque

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    name = f"fakeredis://obs-tracing-aio-{uuid.uuid4().hex}"

    async def main() -> None:
        client = AsyncResque(name, plugins=[TracingPlugin(provider)])
        await client.enqueue("mail", "Ok")
        await client.aclose()

    asyncio.run(main())
    sync = Resque(name)
    (payload,) = _payloads(sync, "mail")
    assert str(payload["traceparent"]).startswith("00-")
    assert [s.name for s in exporter.get_finished_spans()] == ["mail send"]
    sync.close()


def test_a_producer_span_of_an_enqueue_that_never_completed_ends(
    exporter: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pyresque import DontEnqueue, hookimpl
    from pyresque.observability import tracing

    class Veto:
        @hookimpl
        def pyresque_before_enqueue(self) -> None:
            raise DontEnqueue("no")

    monkeypatch.setattr(tracing, "_OPEN_LIMIT", 1)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = Resque(f"fakeredis://obs-tracing-{uuid.uuid4().hex}", plugins=[Veto(), TracingPlugin(provider)])
    for _ in range(3):
        with pytest.raises(DontEnqueue):
            app.enqueue("mail", "Ok")
    ended = exporter.get_finished_spans()
    assert len(ended) == 2 and all(s.status.status_code is StatusCode.ERROR for s in ended)
    app.close()
