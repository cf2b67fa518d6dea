"""The cheap per-job path of the observability plugins: the ``pyresque_job_started``
hook (start + finisher), the strict ``traceparent`` parser, skipped jobs counted, the
job's own spans nested under the consumer span, and nothing made without an SDK."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("prometheus_client")

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import CollectorRegistry

from pyresque import DontPerform, Resque, hookimpl
from pyresque.core.errors import ConfigurationError
from pyresque.core.worker import Worker
from pyresque.observability.metrics import PrometheusMetrics
from pyresque.observability.tracing import TracingPlugin, producer_context
from pyresque.testing import drain


def _url() -> str:
    return f"fakeredis://obs-started-{uuid.uuid4().hex}"


def _provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


# -- the job's own spans nest under the consumer span ------------------------------------
def test_a_jobs_own_spans_are_children_of_its_consumer_span() -> None:
    exporter = InMemorySpanExporter()
    provider = _provider(exporter)
    inner = provider.get_tracer("job")

    def work() -> None:
        with inner.start_as_current_span("inside"):
            pass

    async def awork() -> None:
        with inner.start_as_current_span("inside async"):
            await asyncio.sleep(0)

    app = Resque(_url(), plugins=[TracingPlugin(provider)])
    app.job(work, name="Work")
    app.job(awork, name="AWork")
    app.enqueue("q", "Work")
    app.enqueue("q", "AWork")
    Worker(app, "q", mode="inprocess", burst=True).work()
    spans = exporter.get_finished_spans()
    consumers = [s for s in spans if s.kind is SpanKind.CONSUMER]
    assert len(consumers) == 2
    for name in ("inside", "inside async"):
        (span,) = [s for s in spans if s.name == name]
        assert span.parent is not None
        assert span.parent.span_id in {c.context.span_id for c in consumers}
        assert span.context.trace_id in {c.context.trace_id for c in consumers}
    assert trace.get_current_span() is trace.INVALID_SPAN  # detached after each job
    app.close()


# -- skipped jobs are counted -----------------------------------------------------------
class SkipInSetUp:
    def set_up(self) -> None:
        raise DontPerform("not today")

    def perform(self) -> None:
        raise AssertionError("skipped jobs do not run")


class SkipHook:
    @hookimpl
    def pyresque_before_perform(self, job: Any) -> None:
        if job.class_name == "Vetoed":
            raise DontPerform("vetoed")


def test_a_skipped_job_counts_as_processed_with_outcome_skipped() -> None:
    registry = CollectorRegistry()
    app = Resque(_url(), plugins=[PrometheusMetrics(registry), SkipHook()])
    app.job(SkipInSetUp, name="SkipInSetUp")
    app.job(lambda: None, name="Vetoed")
    app.job(lambda: None, name="Fine")
    for name in ("SkipInSetUp", "Vetoed", "Fine"):
        app.enqueue("q", name)
    Worker(app, "q", mode="inprocess", burst=True).work()

    def processed(name: str, outcome: str) -> float:
        labels = {"queue": "q", "class": name, "outcome": outcome}
        return registry.get_sample_value("resque_jobs_processed_total", labels) or 0.0

    assert [processed(n, "skipped") for n in ("SkipInSetUp", "Vetoed", "Fine")] == [1, 1, 0]
    assert [processed(n, "success") for n in ("SkipInSetUp", "Vetoed", "Fine")] == [0, 0, 1]
    assert registry.get_sample_value("resque_jobs_in_progress") == 0
    app.close()


# -- the hook itself --------------------------------------------------------------------
def test_finishers_run_in_reverse_order_with_the_outcome() -> None:
    seen: list[str] = []

    class Observer:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def pyresque_job_started(self, job: Any) -> Any:
            seen.append(f"start {self.name}")

            def finish(exc: BaseException | None) -> None:
                seen.append(f"finish {self.name} {type(exc).__name__}")

            return finish

    class Order:
        @hookimpl
        def pyresque_before_perform(self) -> None:
            seen.append("before_perform")

        @hookimpl
        def pyresque_after_perform(self) -> None:
            seen.append("after_perform")

        @hookimpl
        def pyresque_on_failure(self) -> None:
            seen.append("on_failure")

    def bad() -> None:
        raise RuntimeError("no")

    app = Resque(_url(), plugins=[Order(), Observer("a"), Observer("b")])
    app.job(lambda: None, name="Ok")
    app.job(bad, name="Bad")
    app.enqueue("q", "Ok")
    drain(app)
    assert seen == [
        "start b",
        "start a",
        "before_perform",
        "after_perform",
        "finish a NoneType",
        "finish b NoneType",
    ]
    seen.clear()
    app.enqueue("q", "Bad")
    drain(app, raise_errors=False)
    assert seen == [
        "start b",
        "start a",
        "before_perform",
        "finish a RuntimeError",
        "finish b RuntimeError",
        "on_failure",
    ]
    app.close()


def test_a_raising_finisher_is_logged_and_a_raising_start_fails_the_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    finished: list[BaseException | None] = []

    class Good:
        @hookimpl(tryfirst=True)
        def pyresque_job_started(self) -> Any:
            return finished.append

    class BadFinish:
        @hookimpl
        def pyresque_job_started(self) -> Any:
            def finish(exc: BaseException | None) -> None:
                raise RuntimeError("finisher bug")

            return finish

    app = Resque(_url(), plugins=[Good(), BadFinish()])
    app.job(lambda: None, name="Ok")
    app.enqueue("q", "Ok")
    with caplog.at_level(logging.ERROR, "pyresque.hooks.manager"):
        log = drain(app)
    assert len(log.succeeded) == 1 and finished == [None]
    assert "finisher raised" in caplog.text
    app.close()

    class BadStart:
        @hookimpl
        def pyresque_job_started(self) -> Any:
            raise RuntimeError("start bug")

    finished.clear()
    app = Resque(_url(), plugins=[BadStart(), Good()])  # Good starts first (tryfirst), then BadStart raises
    app.job(lambda: None, name="Ok")
    app.enqueue("q", "Ok")
    log = drain(app, raise_errors=False)
    assert len(log.failed) == 1
    assert len(finished) == 1 and isinstance(finished[0], RuntimeError)
    app.close()


def test_a_wrapper_implementation_is_refused() -> None:
    class Wrapper:
        @hookimpl(wrapper=True)
        def pyresque_job_started(self) -> Any:
            return (yield)

    with pytest.raises(ConfigurationError, match="cannot be a wrapper"):
        Resque(_url(), plugins=[Wrapper()])


# -- no SDK: nothing made ---------------------------------------------------------------
def test_without_an_sdk_nothing_is_made_or_written() -> None:
    plugin = TracingPlugin(NoOpTracerProvider())
    app = Resque(_url(), plugins=[plugin])
    app.job(lambda: None, name="Ok")
    app.enqueue("q", "Ok")
    raw = app.backend.client.lrange("resque:queue:q", 0, -1)  # type: ignore[attr-defined]
    assert b"traceparent" not in raw[0]
    job = app.decode(raw[0], "q")
    assert plugin.pyresque_job_started(worker=None, job=job) is None  # type: ignore[arg-type]
    app.close()


# -- traceparent: the strict parser accepts what the W3C propagator accepts --------------
GOOD = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CASES = [
    GOOD,
    GOOD[:-2] + "00",
    GOOD[:-2] + "03",
    GOOD.upper(),
    GOOD.replace("0af7", "0_f7"),  # int() would take the underscore
    GOOD.replace("0af7", "+af7"),
    GOOD.replace("0af7", " af7"),
    "00-" + "0" * 32 + "-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-" + "0" * 16 + "-01",
    "ff" + GOOD[2:],
    "01" + GOOD[2:],
    "01" + GOOD[2:] + "-extra",
    GOOD + "-extra",
    " " + GOOD,
    GOOD[:-1],
    GOOD + "0",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g",
    "",
    "garbage",
]


@pytest.mark.parametrize("value", CASES)
def test_the_traceparent_parser_agrees_with_the_w3c_propagator(value: str) -> None:
    extracted = trace.get_current_span(TraceContextTextMapPropagator().extract({"traceparent": value}))
    expected = extracted.get_span_context()
    found = producer_context({"traceparent": value})
    if not expected.is_valid:
        assert found is None
    else:
        assert found is not None
        assert (found.trace_id, found.span_id, found.trace_flags, found.is_remote) == (
            expected.trace_id,
            expected.span_id,
            expected.trace_flags,
            True,
        )


def test_a_tracestate_and_bad_types_are_handled() -> None:
    found = producer_context({"traceparent": GOOD, "tracestate": "vendor=1,other=2"})
    assert found is not None and found.trace_state.get("vendor") == "1"
    assert producer_context({"traceparent": 5}) is None
    assert producer_context({"traceparent": GOOD + " " * 2000}) is None  # too long to read
    assert producer_context({}) is None


# -- head sampling: a child-style job of an unsampled trace costs no span -----------------
@pytest.mark.parametrize("follow", [True, False], ids=["parent-based", "remote-unsampled-on"])
def test_a_child_style_job_of_an_unsampled_trace_records_what_the_sampler_says(follow: bool) -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

    producer = TracerProvider(sampler=ALWAYS_OFF)  # the client samples nothing
    exporter = InMemorySpanExporter()
    sampler = (
        ParentBased(ALWAYS_ON) if follow else ParentBased(ALWAYS_ON, remote_parent_not_sampled=ALWAYS_ON)
    )
    worker_side = TracerProvider(sampler=sampler)
    worker_side.add_span_processor(SimpleSpanProcessor(exporter))
    url = _url()
    client = Resque(url, plugins=[TracingPlugin(producer)])
    client.enqueue("q", "Work")
    seen: list[Any] = []

    def work() -> None:
        seen.append(trace.get_current_span().get_span_context())
        with worker_side.get_tracer("job").start_as_current_span("inside"):
            pass

    app = Resque(url, plugins=[TracingPlugin(worker_side, style="child")])
    app.job(work, name="Work")
    raw = app.backend.client.lindex("resque:queue:q", 0)  # type: ignore[attr-defined]
    sent = producer_context(app.decode(raw, "q").extra)
    assert sent is not None and not sent.trace_flags.sampled
    drain(app)
    (current,) = seen
    assert current.trace_id == sent.trace_id  # the job runs in the producer's trace either way
    names = sorted(s.name for s in exporter.get_finished_spans())
    assert names == ([] if follow else ["inside", "q process"])
    assert trace.get_current_span() is trace.INVALID_SPAN
    app.close()
    client.close()


def test_in_the_async_worker_path_too_the_jobs_spans_nest_and_skips_are_counted() -> None:
    from pyresque.testing import adrain

    exporter = InMemorySpanExporter()
    provider = _provider(exporter)
    inner = provider.get_tracer("job")
    registry = CollectorRegistry()

    async def awork() -> None:
        with inner.start_as_current_span("inside async"):
            await asyncio.sleep(0)

    class AsyncSkip:
        async def set_up(self) -> None:
            raise DontPerform("later")

        async def perform(self) -> None:
            raise AssertionError("skipped jobs do not run")

    app = Resque(_url(), plugins=[TracingPlugin(provider), PrometheusMetrics(registry)])
    app.job(awork, name="AWork")
    app.job(AsyncSkip, name="AsyncSkip")
    app.enqueue("q", "AWork")
    app.enqueue("q", "AsyncSkip")
    asyncio.run(adrain(app))
    spans = exporter.get_finished_spans()
    (consumer,) = [
        s
        for s in spans
        if s.kind is SpanKind.CONSUMER and s.attributes["messaging.resque.job_class"] == "AWork"
    ]  # type: ignore[index]
    (span,) = [s for s in spans if s.name == "inside async"]
    assert span.parent is not None and span.parent.span_id == consumer.context.span_id
    labels = {"queue": "q", "class": "AsyncSkip", "outcome": "skipped"}
    assert registry.get_sample_value("resque_jobs_processed_total", labels) == 1
    app.close()
