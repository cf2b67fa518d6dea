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

A delayed job (``enqueue_at``/``enqueue_in``, full form) gets its producer span when
it is scheduled, and its item carries the same keys (between ``queue`` and ``id``,
hook ``pyresque_before_schedule``): the scheduler moves the item to its queue as is, so
the consumer span links to the span of the ``enqueue_in`` call.

Cost (``bench/bench_observability.py``; figures in ``docs/observability.md``): the
consumer span is opened by the ``pyresque_job_started`` hook, a plain call and a
finisher (no pluggy wrapper around the job); a 55-character version-00
``traceparent`` is parsed here (:func:`parse_traceparent`; any other shape goes
through OpenTelemetry's propagator); the span's fixed attributes are built once per
(queue, class). Without an SDK (the API's no-op provider, or no global provider set)
nothing at all is made. With ``style="child"`` and the SDK's ``ParentBased`` sampler
(its default), a job whose producer was not sampled starts no span at all (the SDK
would drop it): head sampling at the producer makes sampled-out jobs nearly free.
What is left is the SDK's own ``start_span``/``end``.

In forked children each finished job's spans are flushed (``force_flush``, up to 5 s)
before the child can exit: a synchronous export per job in the fork modes. A producer
span whose enqueue never completed (an exception, or an idempotent repeat that wrote
nothing) is ended when it leaves a bounded table.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    NoOpTracer,
    NoOpTracerProvider,
    ProxyTracerProvider,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from pyresque.core.errors import ConfigurationError
from pyresque.hooks import hookimpl

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker

__all__ = ["TRACE_KEYS", "TracingPlugin", "parse_traceparent", "plain_payload", "producer_context"]

#: The payload keys the trace context travels in (W3C trace context, as Ruby writes them).
TRACE_KEYS = ("traceparent", "tracestate")
#: Producer spans waiting for their ``after_enqueue`` at most.
_OPEN_LIMIT = 1024

#: Distinct (queue, class) pairs whose consumer name and attributes are kept built.
_NAMES_LIMIT = 1024

_propagator = TraceContextTextMapPropagator()
_ROOT = otel_context.Context()  # an empty context: spans started in it are roots
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
        self._resolved: tuple[Any, Any] = (None, None)  # (provider, its tracer or None)
        self._drops_unsampled = False  # the resolved tracer's sampler drops children of unsampled parents
        self.style = style
        self.propagate = propagate
        self._open: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._opt_out: dict[str, bool] = {}
        self._names: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}

    def _live_tracer(self) -> Any:
        """The tracer to make spans with, or ``None`` when no SDK is set up (the API's no-op
        provider, or no global provider yet): then no span nor context is made at all,
        which no one could tell from the no-op spans. Resolved once per provider."""
        provider = self.provider if self.provider is not None else trace.get_tracer_provider()
        known, tracer = self._resolved
        if provider is not known:
            if isinstance(provider, ProxyTracerProvider | NoOpTracerProvider):
                tracer = None
            else:
                tracer = provider.get_tracer("pyresque")
                if isinstance(tracer, NoOpTracer):
                    tracer = None
            self._drops_unsampled = _drops_unsampled(getattr(tracer, "sampler", None))
            self._resolved = (provider, tracer)
        return tracer

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
        self._produce(app, job)

    @hookimpl
    def pyresque_after_enqueue(self, job: Job) -> None:
        """End the producer span: the job was written."""
        self._produced(job)

    @hookimpl
    def pyresque_before_schedule(self, app: Resque, job: Job) -> None:
        """A delayed job: open its producer span and put its context in ``job.extra``
        (written into a full-form item; the scheduler moves it to the queue as is)."""
        self._produce(app, job)

    @hookimpl
    def pyresque_after_schedule(self, job: Job) -> None:
        """End the delayed job's producer span: its item was written."""
        self._produced(job)

    def _produce(self, app: Resque, job: Job) -> None:
        tracer = self._live_tracer()
        if tracer is None:
            return
        span = tracer.start_span(
            f"{job.queue} send",
            kind=SpanKind.PRODUCER,
            attributes=_attributes(job.queue, job.class_name, job.id, "send"),
        )
        extra = job.extra
        if isinstance(extra, dict) and self._wants_context(app, job):
            extra.update(_inject(span))
        with self._lock:
            stale = [self._open.pop(id(job), None)]  # a job gone unwritten whose id is reused
            self._open[id(job)] = span
            while len(self._open) > _OPEN_LIMIT:
                stale.append(self._open.popitem(last=False)[1])
        for old in stale:
            if old is not None:
                old.set_status(Status(StatusCode.ERROR, "the enqueue did not complete"))
                old.end()

    def _produced(self, job: Job) -> None:
        with self._lock:
            span = self._open.pop(id(job), None)
        if span is not None:
            span.end()

    # consumer --------------------------------------------------------------------------
    @hookimpl(tryfirst=True)
    def pyresque_job_started(self, worker: Worker, job: Job) -> Callable[[BaseException | None], None] | None:
        """Open the job's consumer span, linked to (or child of) the producer, and make it
        current while the job runs (its own spans nest under it); the finisher ends it."""
        tracer = self._live_tracer()
        if tracer is None:
            return None
        producer = producer_context(job.extra)
        if (
            producer is not None
            and not producer.trace_flags.sampled
            and self.style == "child"
            and self._drops_unsampled
        ):
            return _unrecorded(producer)  # what the SDK would make of it: nothing recorded
        name, base = self._consumer_names(job)
        attributes = dict(base)
        if job.id is not None:
            attributes["messaging.message.id"] = job.id
        if self.style == "child" and producer is not None:
            parent = trace.set_span_in_context(NonRecordingSpan(producer))
            span = tracer.start_span(name, context=parent, kind=SpanKind.CONSUMER, attributes=attributes)
        else:
            span = tracer.start_span(
                name,
                context=_ROOT,  # a root span, whatever the worker's current context
                kind=SpanKind.CONSUMER,
                attributes=attributes,
                links=(Link(producer),) if producer is not None else (),
            )
        token = otel_context.attach(trace.set_span_in_context(span))
        pid = getattr(worker, "pid", None)

        def finish(exc: BaseException | None) -> None:
            if exc is not None and span.is_recording():
                span.record_exception(exc)
                span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:200]))
            otel_context.detach(token)
            span.end()
            if pid is not None and os.getpid() != pid:
                self._flush()  # a forked child may exit right after this job

        return finish

    def _consumer_names(self, job: Job) -> tuple[str, dict[str, str]]:
        """The consumer span's name and fixed attributes for ``job``'s (queue, class),
        built once (bounded: the class name is the payload's)."""
        key = (job.queue, job.class_name)
        found = self._names.get(key)
        if found is None:
            found = (f"{job.queue} process", _attributes(job.queue, job.class_name, None, "process"))
            if len(self._names) < _NAMES_LIMIT:
                self._names[key] = found
        return found

    def _flush(self) -> None:
        provider = self.provider if self.provider is not None else trace.get_tracer_provider()
        flush = getattr(provider, "force_flush", None)
        if callable(flush):
            with contextlib.suppress(Exception):
                flush(5000)


def _drops_unsampled(sampler: Any) -> bool:
    """Whether ``sampler`` is the SDK's ``ParentBased`` dropping every span whose parent
    (remote or local) was not sampled, as it does by default."""
    try:
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased
    except ImportError:  # pragma: no cover - a tracer of another SDK
        return False
    return (
        isinstance(sampler, ParentBased)
        and getattr(sampler, "_remote_parent_not_sampled", None) is ALWAYS_OFF
        and getattr(sampler, "_local_parent_not_sampled", None) is ALWAYS_OFF
    )


def _unrecorded(producer: SpanContext) -> Callable[[BaseException | None], None]:
    """A child-style job of an unsampled trace under a ``ParentBased`` sampler: no span is
    started (the SDK would drop it), the producer's context is made current so the
    job's own spans are dropped alike, and the finisher undoes it."""
    token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(producer)))
    return lambda exc: otel_context.detach(token)


def _attributes(queue: str, class_name: str, job_id: str | None, operation: str) -> dict[str, str]:
    attributes = {
        "messaging.system": "resque",
        "messaging.destination.name": queue,
        "messaging.operation.type": operation,
        "messaging.resque.job_class": class_name[:200],
    }
    if job_id is not None:
        attributes["messaging.message.id"] = job_id
    return attributes


#: ``00-<32 hex trace id>-<16 hex span id>-<2 hex flags>``: the 55 characters of a
#: version-00 W3C ``traceparent`` (lowercase hex only, as the W3C says).
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def parse_traceparent(value: str) -> SpanContext | None:
    """The remote span context in a version-00 ``traceparent`` of exactly 55 characters,
    or ``None`` when it is not one (bad hex, an all-zero trace or span id).

    The strict, cheap form of what OpenTelemetry's W3C propagator accepts for
    version 00 (:func:`producer_context` hands it any other shape)."""
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    trace_id, span_id = int(match[1], 16), int(match[2], 16)
    if not trace_id or not span_id:
        return None
    return SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(int(match[3], 16)))


def producer_context(extra: Mapping[str, Any]) -> SpanContext | None:
    """The producer's span context from a payload's ``traceparent``/``tracestate`` keys,
    or ``None`` (absent, not strings, invalid).

    The common shape (a 55-character version-00 ``traceparent``, no ``tracestate``) is
    parsed here; anything else (a ``tracestate``, another version, blanks around) goes
    through OpenTelemetry's W3C propagator, so both accept the same payloads. Values of
    1024 characters or more are ignored (the payload is attacker-controlled)."""
    parent = extra.get("traceparent")
    if type(parent) is not str or len(parent) >= 1024:
        return None
    state = extra.get("tracestate")
    if state is None and len(parent) == 55 and parent.startswith("00-"):
        return parse_traceparent(parent)
    carrier = {"traceparent": parent}
    if isinstance(state, str) and len(state) < 1024:
        carrier["tracestate"] = state
    found = trace.get_current_span(_propagator.extract(carrier, context=_ROOT)).get_span_context()
    return found if found.is_valid else None


def _inject(span: Any) -> dict[str, str]:
    """The ``traceparent``/``tracestate`` keys of ``span`` (none for an invalid span: the
    no-op provider's), as the W3C propagator writes them."""
    found = span.get_span_context()
    if not found.is_valid:
        return {}
    keys = {"traceparent": f"00-{found.trace_id:032x}-{found.span_id:016x}-{found.trace_flags:02x}"}
    state = found.trace_state.to_header() if found.trace_state else ""
    if state:
        keys["tracestate"] = state
    return keys
