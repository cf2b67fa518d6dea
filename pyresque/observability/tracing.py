"""OpenTelemetry tracing of enqueues and jobs, as a plugin (``pyresque[tracing]``).

Start with :class:`TracingPlugin`: ``Resque(..., plugins=[TracingPlugin()])`` on the
client and the worker. An enqueue opens a PRODUCER span ``<queue> send`` and writes
its W3C trace context into the payload as top-level ``traceparent`` / ``tracestate``
keys after ``class``/``args`` (and pyresque's ``id``/``queue_time``): the keys Ruby's
``opentelemetry-instrumentation-resque`` writes (``OpenTelemetry.propagation.inject``
on the item) and reads, so a trace crosses languages. A job runs in a CONSUMER span
``<queue> process``, *linked* to the producer (Ruby's default ``propagation_style:
:link``) or, with ``style="child"``, its child. Attributes follow the messaging
semantic conventions (``messaging.system=resque``, ``messaging.destination.name``,
``messaging.operation.type``, ``messaging.message.id``) plus Ruby's
``messaging.resque.job_class`` (Ruby's instrumentation still writes the older
``messaging.destination``/``messaging.destination_kind``; they are not repeated here:
each attribute costs on every job).

Opting out writes the plain payload (no trace keys): per app with
``TracingPlugin(propagate=False)`` (spans still made, consumers become roots), per
job class with ``trace_context = False`` on the class, per call inside
``with plain_payload():``. Ruby-form payloads (``payload_form="ruby"``) never get the
keys: that form exists so Ruby's ``Resque.dequeue(Klass, *args)`` can match the bytes.

In forked children each finished job's spans are flushed (``force_flush``, up to 5 s)
before the child can exit: a synchronous export per job in the fork modes. A producer
span whose enqueue never completed (an exception, or an idempotent repeat that wrote
nothing) is ended when it leaves a bounded table.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections import OrderedDict
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pyresque.core.errors import ConfigurationError
from pyresque.hooks import hookimpl

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker

__all__ = ["TRACE_KEYS", "TracingPlugin", "plain_payload"]

#: The payload keys the trace context travels in (W3C trace context, as Ruby writes them).
TRACE_KEYS = ("traceparent", "tracestate")
#: Producer spans waiting for their ``after_enqueue`` at most.
_OPEN_LIMIT = 1024

_propagator = TraceContextTextMapPropagator()
_plain: contextvars.ContextVar[bool] = contextvars.ContextVar("pyresque_plain_payload", default=False)


@contextlib.contextmanager
def plain_payload() -> Iterator[None]:
    """Enqueues inside write no trace context (the plain payload), for this context only."""
    token = _plain.set(True)
    try:
        yield
    finally:
        _plain.reset(token)


class TracingPlugin:
    """The tracing plugin (see the module docstring).

    Args:
        tracer_provider: the provider to take the tracer from (the global one by default).
        style: ``"link"`` (the consumer span is a root linked to the producer, as Ruby
            does by default) or ``"child"`` (the consumer span is the producer's child).
        propagate: write the trace context into payloads (``False``: this app writes
            plain payloads; its spans are still made).
    """

    def __init__(
        self,
        tracer_provider: Any = None,
        *,
        style: Literal["link", "child"] = "link",
        propagate: bool = True,
    ) -> None:
        if style not in ("link", "child"):
            raise ConfigurationError(f"style must be 'link' or 'child', not {style!r}")
        self.provider = tracer_provider
        self.tracer = trace.get_tracer("pyresque", tracer_provider=tracer_provider)
        self.style = style
        self.propagate = propagate
        self._open: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._opt_out: dict[str, bool] = {}

    # producer --------------------------------------------------------------------------
    def _wants_context(self, app: Resque, job: Job) -> bool:
        if not self.propagate or _plain.get() or job.id is None:  # id None: the Ruby form
            return False
        known = self._opt_out.get(job.class_name)
        if known is None:
            try:
                target = app.registry.resolve(job.class_name)
                known = getattr(target, "trace_context", True) is False
            except Exception:  # a class another language performs
                known = False
            if len(self._opt_out) < 10_000:
                self._opt_out[job.class_name] = known
        return not known

    @hookimpl
    def pyresque_before_enqueue(self, app: Resque, job: Job) -> None:
        """Open the producer span and write its context into the payload's keys."""
        span = self.tracer.start_span(
            f"{job.queue} send", kind=SpanKind.PRODUCER, attributes=_attributes(job, "send")
        )
        extra = job.extra
        if isinstance(extra, dict) and self._wants_context(app, job):
            carrier: dict[str, str] = {}
            _propagator.inject(carrier, context=trace.set_span_in_context(span))
            for key in TRACE_KEYS:
                if key in carrier:
                    extra[key] = carrier[key]
        with self._lock:
            stale = [self._open.pop(id(job), None)]  # a job gone unwritten whose id is reused
            self._open[id(job)] = span
            while len(self._open) > _OPEN_LIMIT:
                stale.append(self._open.popitem(last=False)[1])
        for old in stale:
            if old is not None:
                old.set_status(Status(StatusCode.ERROR, "the enqueue did not complete"))
                old.end()

    @hookimpl
    def pyresque_after_enqueue(self, job: Job) -> None:
        """End the producer span: the job was written."""
        with self._lock:
            span = self._open.pop(id(job), None)
        if span is not None:
            span.end()

    # consumer --------------------------------------------------------------------------
    @hookimpl(wrapper=True)
    def pyresque_perform(self, worker: Worker, job: Job) -> Generator[None, Any, Any]:
        """Run the job in its consumer span, linked to (or child of) the producer."""
        carrier = {k: v for k in TRACE_KEYS if isinstance(v := job.extra.get(k), str) and len(v) < 1024}
        parent = _propagator.extract(carrier) if carrier else None
        producer = trace.get_current_span(parent).get_span_context() if parent is not None else None
        name = f"{job.queue} process"
        attributes = _attributes(job, "process")
        if self.style == "child" and parent is not None:
            span = self.tracer.start_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes)
        else:
            links = [Link(producer)] if producer is not None and producer.is_valid else []
            root = otel_context.Context()  # a root span, whatever the worker's current context
            span = self.tracer.start_span(
                name, context=root, kind=SpanKind.CONSUMER, attributes=attributes, links=links
            )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            return (yield)
        except BaseException as exc:
            if span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))
            raise
        finally:
            otel_context.detach(token)
            span.end()
            if os.getpid() != getattr(worker, "pid", os.getpid()):
                self._flush()  # a forked child may exit right after this job

    def _flush(self) -> None:
        provider = self.provider if self.provider is not None else trace.get_tracer_provider()
        flush = getattr(provider, "force_flush", None)
        if callable(flush):
            with contextlib.suppress(Exception):
                flush(5000)


def _attributes(job: Job, operation: str) -> dict[str, str]:
    attributes = {
        "messaging.system": "resque",
        "messaging.destination.name": job.queue,
        "messaging.operation.type": operation,
        "messaging.resque.job_class": job.class_name[:200],
    }
    if job.id is not None:
        attributes["messaging.message.id"] = job.id
    return attributes
