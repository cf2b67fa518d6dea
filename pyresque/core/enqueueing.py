"""What an enqueue writes, decided without I/O: the pure half of ``Resque.enqueue``.

Every client that enqueues (the sync :class:`~pyresque.Resque`, an asyncio client)
calls this module, so they all write byte-identical payloads. Start at
:func:`plan_enqueue`; the order of one enqueue is:

1. :func:`plan_enqueue` (or :func:`plan_many` for a batch) validates everything
   (queue name, payload form, job id, idempotency key, retries), names the class
   through the registry and builds the :class:`~pyresque.core.job.Job` (a new id and
   ``queue_time`` for the full form, ``{"class","args"}`` only for the Ruby form),
   decides the status tracking id and the idempotency guard. Nothing is encoded yet.
2. The caller runs ``before_enqueue`` on ``plan.job`` (it may veto).
3. :func:`encode_job` gives the payload bytes in the config's serializer
   (:func:`push_item` gives them as the :class:`~pyresque.backends.PushItem` a
   broker takes).
4. The caller makes the backend call: ``broker.push(queue, data, track_id=...)``
   when ``plan.guard is None``, else ``broker.push_once(queue, data, guard,
   track_id=...)`` (repeatable up to ``plan.retries`` times after a connection
   error: the guard makes a repeat a no-op), or ``broker.push_many`` for a batch.
5. :func:`pushed_id` turns the broker's reply into the id to return, and says
   whether this call pushed the job (then the caller runs ``after_enqueue``).

Delayed jobs (``enqueue_at``) are planned by :mod:`pyresque.core.delayed_plan`, with
this module's validation.

The config is anything with ``registry``, ``serializer``, ``payload_form`` and
``idempotency_ttl`` attributes (:class:`EnqueueConfig`); the app is one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from pyresque.backends.base import EnqueueGuard, PushItem
from pyresque.core.errors import ConfigurationError
from pyresque.core.idempotency import call_token, make_guard, parse_marker, validate_job_id, validate_retries
from pyresque.core.job import (
    Job,
    PayloadForm,
    check_ruby_form,
    validate_payload_form,
    validate_queue_name,
)

if TYPE_CHECKING:
    from pyresque.serializers import Serializer

__all__ = [
    "EnqueueConfig",
    "EnqueuePlan",
    "EnqueueRequest",
    "JobNamer",
    "build_job",
    "checked_queue",
    "encode_job",
    "plan_enqueue",
    "plan_many",
    "push_item",
    "pushed_id",
    "resolve_form",
]


class JobNamer(Protocol):
    """What names a job: a :class:`~pyresque.core.registry.JobRegistry` is one."""

    def name_for(self, job: Any) -> str:
        """The Resque class string of ``job`` (a registered class or function, or a string)."""
        ...


class EnqueueConfig(Protocol):
    """The settings an enqueue reads (a :class:`~pyresque.Resque` app has them all)."""

    @property
    def registry(self) -> JobNamer:
        """Names job classes (``name_for``)."""
        ...

    @property
    def serializer(self) -> Serializer:
        """Encodes the payload (``dumps``)."""
        ...

    @property
    def payload_form(self) -> PayloadForm:
        """The default payload form: ``"full"`` or ``"ruby"``."""
        ...

    @property
    def idempotency_ttl(self) -> int:
        """Seconds an idempotency marker keeps its key taken."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class EnqueueRequest:
    """One job for :meth:`Resque.enqueue_many` (``job_id`` and ``idempotency_key``
    as in :meth:`Resque.enqueue`)."""

    queue: str
    job: Any
    args: Sequence[Any] = ()
    track_status: bool = False
    job_id: str | None = None
    idempotency_key: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class EnqueuePlan:
    """One validated enqueue, not yet encoded nor written.

    Attributes:
        job: the job to write (``before_enqueue`` hooks get it); ``job.queue`` is the
            queue, ``job.id`` is ``None`` for the Ruby form.
        track_id: the id whose resque-status entry the push creates (``None``: untracked).
        guard: the idempotency guard (``None``: a plain push).
        token: this call's token, the one inside ``guard``'s marker (``""`` if unguarded).
        retries: how many times the guarded push may be repeated after a connection error.
    """

    job: Job
    track_id: str | None = None
    guard: EnqueueGuard | None = None
    token: str = ""
    retries: int = 0



#: queue names already validated (bounded: cleared when it grows past the limit)
_VALID_QUEUES: set[str] = set()
_VALID_QUEUES_LIMIT = 4096


def checked_queue(queue: str) -> str:
    """Return ``queue`` if it can name a queue (validated once per name, then remembered).

    Raises:
        InvalidQueueName: see :func:`~pyresque.core.job.validate_queue_name`.
    """
    if queue not in _VALID_QUEUES:
        validate_queue_name(queue)
        if len(_VALID_QUEUES) >= _VALID_QUEUES_LIMIT:
            _VALID_QUEUES.clear()
        _VALID_QUEUES.add(queue)
    return queue


def resolve_form(default: PayloadForm, given: PayloadForm | None) -> PayloadForm:
    """The payload form of one enqueue: ``given`` (validated) or the ``default``.

    Raises:
        ConfigurationError: ``given`` is not ``"full"`` or ``"ruby"``.
    """
    return default if given is None else validate_payload_form(given)


def build_job(
    config: EnqueueConfig,
    queue: str,
    job: Any,
    args: Sequence[Any],
    *,
    job_id: str | None = None,
    payload_form: PayloadForm | None = None,
) -> Job:
    """The :class:`Job` an enqueue writes (``payload_form``: the config's by default).

    The full form gets ``job_id`` or a new random id and ``queue_time``; the Ruby form
    carries the class and args only.

    Raises:
        InvalidQueueName: the queue name is unusable.
        JobNotRegistered: ``job`` is a callable no registry names.
        ConfigurationError: ``job_id`` is unusable, or given with the Ruby form.
    """
    form = resolve_form(config.payload_form, payload_form)
    name = config.registry.name_for(job)
    if form == "ruby":
        if job_id is not None:
            check_ruby_form(False, job_id, None, 0)
        return Job(checked_queue(queue), name, tuple(args))
    built = Job.new(checked_queue(queue), name, tuple(args))
    if job_id is None:
        return built
    return dataclasses.replace(built, id=validate_job_id(job_id))


def plan_enqueue(
    config: EnqueueConfig,
    queue: str,
    job: Any,
    args: Sequence[Any],
    *,
    track_status: bool = False,
    job_id: str | None = None,
    idempotency_key: str | None = None,
    retries: int = 0,
    payload_form: PayloadForm | None = None,
    token: str | None = None,
) -> EnqueuePlan:
    """Validate one enqueue and decide everything it writes (see the module docstring).

    Args:
        config: the app (or any :class:`EnqueueConfig`).
        queue, job, args: as in :meth:`Resque.enqueue`.
        track_status, job_id, idempotency_key, retries, payload_form: as there.
        token: the call token to put in the guard's marker (a new one by default;
            :func:`plan_many` shares one across a batch).

    Raises:
        ConfigurationError: ``job_id``, ``idempotency_key`` or ``retries`` unusable, or
            one of them (or ``track_status``) with the Ruby form.
        InvalidQueueName, JobNotRegistered: as :func:`build_job`.
    """
    form = resolve_form(config.payload_form, payload_form)
    if form == "ruby":
        check_ruby_form(track_status, job_id, idempotency_key, retries)
    if job_id is None and idempotency_key is None and not retries:
        built = build_job(config, queue, job, args, payload_form=form)
        return EnqueuePlan(built, built.id if track_status else None)
    token = call_token() if token is None else token
    built = build_job(config, queue, job, args, job_id=job_id, payload_form="full")
    guard = make_guard(built, job_id, idempotency_key, token, config.idempotency_ttl)
    validate_retries(retries, guard is not None)
    return EnqueuePlan(built, built.id if track_status else None, guard, token, retries)


def plan_many(
    config: EnqueueConfig,
    requests: Iterable[EnqueueRequest | tuple[str, Any, Sequence[Any]]],
    *,
    retries: int = 0,
) -> list[EnqueuePlan]:
    """Plans for :meth:`Resque.enqueue_many`: one call token for the batch, the
    config's payload form, and ``retries`` only if every request is guarded.

    Raises:
        ConfigurationError: as :func:`plan_enqueue`, or ``retries`` with an unguarded request.
    """
    token = call_token()
    plans = []
    for request in requests:
        req = request if isinstance(request, EnqueueRequest) else EnqueueRequest(*request)
        if config.payload_form == "ruby":
            check_ruby_form(req.track_status, req.job_id, req.idempotency_key, retries)
        built = build_job(config, req.queue, req.job, req.args, job_id=req.job_id)
        guard = make_guard(built, req.job_id, req.idempotency_key, token, config.idempotency_ttl)
        track_id = built.id if req.track_status else None
        plans.append(EnqueuePlan(built, track_id, guard, token if guard is not None else "", retries))
    validate_retries(retries, all(plan.guard is not None for plan in plans))
    return plans


def encode_job(config: EnqueueConfig, job: Job) -> bytes:
    """The job's payload bytes in the config's serializer (what the queue holds).

    Raises:
        EncodeError: an argument cannot be serialized.
    """
    return config.serializer.dumps(job.to_payload())


def push_item(config: EnqueueConfig, plan: EnqueuePlan) -> PushItem:
    """The plan as a broker's :class:`~pyresque.backends.PushItem` (encoded now).

    Raises:
        EncodeError: an argument cannot be serialized.
    """
    return PushItem(plan.job.queue, encode_job(config, plan.job), plan.track_id, plan.guard)


def pushed_id(plan: EnqueuePlan, marker: str | None) -> tuple[str, bool]:
    """``(id to return, whether this call pushed the job)`` from the broker's reply.

    ``marker`` is what ``push_once``/``push_many`` returned: ``None`` for an unguarded
    push (pushed; the id is ``""`` for a Ruby-form job), else the marker holding the key
    (the id of the job that took it, and whether its token is this call's).
    """
    if marker is None:
        return plan.job.id or "", True
    held_id, held_token = parse_marker(marker)
    return held_id, held_token == plan.token


def durable_replicas(value: object) -> int:
    """How many replicas a ``durable`` setting asks for: ``False``/``0`` none, ``True`` 1,
    an ``int`` that many.

    Raises:
        ConfigurationError: not a bool or an ``int`` >= 0.
    """
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"durable must be True, False or a number of replicas >= 0: {value!r}")
    return value


def push_durable(backend: Any, items: Sequence[PushItem], replicas: int, timeout: float) -> list[str | None]:
    """``backend.push_durable`` (push, then ``WAIT`` for ``replicas``), or a plain
    ConfigurationError for a backend without replicas to wait for."""
    push = getattr(backend, "push_durable", None)
    if push is None:
        raise ConfigurationError(f"durable enqueue needs a Redis backend with replicas, not {backend!r}")
    markers: list[str | None] = push(items, replicas=replicas, timeout=timeout)
    return markers
