"""The app object: one backend, one serializer, one job registry, one set of hooks.

Configured per app, Celery-style; two apps with different backends and namespaces
work side by side in one process, and nothing connects until first use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, overload

from pyresque.backends import Backend, FailureStore, PushItem, create_backend
from pyresque.backends.failure import FailureBackendSpec, make_failure_store
from pyresque.core import delayed, delayed_plan, enqueueing
from pyresque.core.control import WorkersControl
from pyresque.core.dequeue import JobMatch, dequeue_matching, stored_args
from pyresque.core.enqueueing import EnqueueRequest
from pyresque.core.errors import BackendConnectionError, BackendError, InvalidJobError
from pyresque.core.idempotency import DEFAULT_IDEMPOTENCY_TTL, retry_on, validate_ttl
from pyresque.core.job import Job, PayloadForm, validate_payload_form
from pyresque.core.overview import Info, overview
from pyresque.core.registry import JobRegistry
from pyresque.core.tracking import TrackedJob, tracked
from pyresque.hooks.manager import HookManager
from pyresque.serializers import Serializer, get_serializer, load_any

__all__ = ["EnqueueRequest", "Info", "Resque"]

T = TypeVar("T")


class Resque:
    """A pyresque app.

    Args:
        backend: a URL (``redis://``, ``rediss://``, ``unix://``, ``host:port``,
            ``fakeredis://``) or a :class:`~pyresque.backends.Backend`. ``None`` means
            ``redis://localhost:6379/0``.
        namespace: key prefix for URL backends (``resque`` -> ``resque:queue:...``).
        serializer: ``"json"`` (Resque-compatible, the default), ``"msgpack"``, or an
            object with ``dumps``/``loads``.
        registry: a shared :class:`JobRegistry`; a new one by default.
        allow_modules: module prefixes whose jobs resolve by dotted name.
        plugins: pluggy plugins for this app only.
        load_entry_points: also load plugins from the ``pyresque`` entry-point group.
        blocked_plugins: entry-point plugin names not to load.
        failure_backend: where failures go: ``"redis"`` (the ``failed`` list, default),
            ``"redis_multi_queue"``, a ``FailureStore``, a factory taking the backend,
            or a list of those (``Multiple``: written to all, read from the first).
            It replaces ``backend.failures`` (of a shared backend object too).
        idempotency_ttl: seconds an ``idempotency_key`` (or caller-chosen ``job_id``)
            stays taken after its enqueue: a repeat within it is a no-op. 24 h by default.
        payload_form: what enqueues write by default: ``"full"`` (class, args, id,
            queue_time) or ``"ruby"`` (Ruby's exact ``{"class","args"}``, no id: see
            :meth:`enqueue`).
        durable: make every enqueue wait until this many replicas have it (``True``: 1) with
            ``WAIT``, at most ``durable_timeout`` s (docs/scaling.md). Off by default.
    """

    def __init__(
        self,
        backend: str | Backend | None = None,
        *,
        namespace: str = "resque",
        serializer: str | Serializer = "json",
        registry: JobRegistry | None = None,
        allow_modules: Iterable[str] = (),
        plugins: Iterable[object] = (),
        load_entry_points: bool = False,
        blocked_plugins: Iterable[str] = (),
        failure_backend: FailureBackendSpec | None = None,
        idempotency_ttl: int = DEFAULT_IDEMPOTENCY_TTL,
        payload_form: PayloadForm = "full",
        durable: bool | int = False,
        durable_timeout: float = 1.0,
    ) -> None:
        self.backend = create_backend(backend, namespace)
        self.durable = enqueueing.durable_replicas(durable)
        self.durable_timeout = float(durable_timeout)
        if failure_backend is not None:
            self.backend.failures = make_failure_store(failure_backend, self.backend)
        self.serializer = get_serializer(serializer)
        self.registry = registry if registry is not None else JobRegistry(allow_modules)
        self.hooks = HookManager(plugins, load_entry_points=load_entry_points, blocked=blocked_plugins)
        self.idempotency_ttl = validate_ttl(idempotency_ttl)
        self.payload_form: PayloadForm = validate_payload_form(payload_form)
        #: the WARNING that a delayed job was written while no scheduler leads (once a minute)
        self.scheduler_warning = delayed_plan.SchedulerWarning()

    # registration ------------------------------------------------------------------
    @overload
    def job(self, obj: T, *, name: str | None = None) -> T: ...

    @overload
    def job(self, obj: None = None, *, name: str | None = None) -> Callable[[T], T]: ...

    def job(self, obj: Any = None, *, name: str | None = None) -> Any:
        """Register a job class or function (``@app.job`` or ``@app.job(name="Foo::Bar")``)."""
        return self.registry.register(obj, name=name)

    @property
    def plugins(self) -> HookManager:
        """This app's plugins: ``app.plugins.register(plugin)``."""
        return self.hooks

    # enqueue: the pure part (validation, the payload, the guard) is core/enqueueing.py
    def build_job(
        self,
        queue: str,
        job: Any,
        args: Sequence[Any],
        *,
        job_id: str | None = None,
        payload_form: PayloadForm | None = None,
    ) -> Job:
        """The :class:`Job` that ``enqueue`` would write, without writing it
        (``payload_form``: the app's by default; the Ruby form has no id).

        Raises:
            ConfigurationError: ``job_id`` is not a usable id (see :meth:`enqueue`).
        """
        return enqueueing.build_job(self, queue, job, args, job_id=job_id, payload_form=payload_form)

    def encode(self, job: Job) -> bytes:
        """The job's payload as bytes in this app's serializer."""
        return self.serializer.dumps(job.to_payload())

    def enqueue(
        self,
        queue: str,
        job: Any,
        *args: Any,
        track_status: bool = False,
        job_id: str | None = None,
        idempotency_key: str | None = None,
        retries: int = 0,
        payload_form: PayloadForm | None = None,
        durable: bool | int | None = None,
    ) -> str:
        """Put a job on ``queue`` and return its id (32 hex characters unless chosen).

        ``job`` is a registered class or function, or a class-name string for a job
        another language performs (``"Foo::Bar"``, ``"My_Job"``). One round trip.

        Idempotent enqueue: with ``idempotency_key`` (or ``job_id``, the key when no key
        is given), the push is guarded in the same atomic step by the marker
        ``<ns>:enqueued:<key>``, kept ``idempotency_ttl`` seconds (24 h by default). A
        repeat while the key is taken writes nothing (no push, the status is left
        alone) and returns the id of the job that took it. ``retries=N`` retries up to
        N times after a connection error (a lost reply included), safely thanks to the
        marker. Hooks: ``before_enqueue`` runs once per call (before Redis is asked);
        ``after_enqueue`` runs only if this call pushed the job (on whichever attempt),
        never for a call that found the key taken.

        Args:
            job_id: the job's id instead of a random one: 1 to 64 characters among
                ``A-Z a-z 0-9 _ . -``.
            idempotency_key: 1 to 200 characters, no whitespace or control characters.
            retries: how many times to retry after a connection error; needs
                ``idempotency_key`` or ``job_id``.
            payload_form: ``"ruby"`` writes Ruby Resque's exact ``{"class","args"}``
                (what Ruby's ``Resque.dequeue(Klass, *args)`` removes); such a job has
                no id, so the call returns ``""`` and cannot track its status, take a
                ``job_id``, an ``idempotency_key`` or ``retries``. ``"full"`` (class,
                args, id, queue_time); the app's ``payload_form`` by default.
            durable: wait for this many replicas (``True``: 1) to have the job (the
                app's ``durable`` by default); raises ``BackendConnectionError`` if
                fewer confirm within ``durable_timeout`` (the job is on the master).

        Raises:
            ConfigurationError: ``job_id``, ``idempotency_key`` or ``retries`` unusable,
                or one of them (or ``track_status``) with the Ruby form (nothing is
                written).
            InvalidQueueName: the queue name is empty or unusable.
            JobNotRegistered: ``job`` is a callable no registry or allow-list names.
            EncodeError: an argument cannot be serialized (nothing is written).
            DontEnqueue: a ``before_enqueue`` hook vetoed the job (nothing is written).
            BackendConnectionError: the backend cannot be reached (after ``retries``).
        """
        plan = enqueueing.plan_enqueue(
            self,
            queue,
            job,
            args,
            track_status=track_status,
            job_id=job_id,
            idempotency_key=idempotency_key,
            retries=retries,
            payload_form=payload_form,
        )
        built = plan.job
        hooks = self.hooks
        if hooks.needs("pyresque_before_enqueue", self, built, "before_enqueue"):
            hooks.before_enqueue(self, built)
        data = self.encode(built)
        broker = self.backend.broker
        guard = plan.guard
        replicas = self.durable if durable is None else enqueueing.durable_replicas(durable)
        if replicas:
            item = PushItem(queue, data, plan.track_id, guard)

            def durable_push() -> str | None:
                with self.connection_guard():
                    return enqueueing.push_durable(self.backend, [item], replicas, self.durable_timeout)[0]

            marker = retry_on((BackendConnectionError,), plan.retries, durable_push)
        elif guard is None:
            with self.connection_guard():
                broker.push(queue, data, track_id=plan.track_id)
            marker = None
        else:

            def attempt() -> str:
                with self.connection_guard():
                    return broker.push_once(queue, data, guard, track_id=plan.track_id)

            marker = retry_on((BackendConnectionError,), plan.retries, attempt)
        return self._pushed(plan, marker)

    def _pushed(self, plan: enqueueing.EnqueuePlan, marker: str | None) -> str:
        """The id to return for ``plan``; ``after_enqueue`` if this call pushed it."""
        job_id, pushed = enqueueing.pushed_id(plan, marker)
        hooks = self.hooks
        if pushed and hooks.needs("pyresque_after_enqueue", self, plan.job, "after_enqueue"):
            hooks.after_enqueue(self, plan.job)
        return job_id

    def enqueue_many(
        self, requests: Iterable[EnqueueRequest | tuple[str, Any, Sequence[Any]]], *, retries: int = 0
    ) -> list[str]:
        """Enqueue many jobs in one pipeline (a round trip per 5,000); returns their ids.

        Every job is built and encoded first: if any argument cannot be serialized,
        or a ``before_enqueue`` hook vetoes any job, nothing at all is written.
        Requests with ``job_id``/``idempotency_key`` are guarded as in :meth:`enqueue`.
        ``retries`` needs every request guarded: only then is resending the batch safe.
        Jobs are written in the app's ``payload_form`` (``""`` is the id of a Ruby-form job).

        Raises:
            ConfigurationError: an unusable ``job_id``/``idempotency_key``/``retries``, or
                one of them (or ``track_status``) with the app's Ruby form.
        """
        plans = enqueueing.plan_many(self, requests, retries=retries)
        items: list[PushItem] = []
        for plan in plans:
            if self.hooks.needs("pyresque_before_enqueue", self, plan.job, "before_enqueue"):
                self.hooks.before_enqueue(self, plan.job)
            items.append(enqueueing.push_item(self, plan))

        def attempt() -> list[str | None]:
            with self.connection_guard():
                if self.durable:
                    return enqueueing.push_durable(self.backend, items, self.durable, self.durable_timeout)
                return self.backend.broker.push_many(items)

        markers = retry_on((BackendConnectionError,), retries, attempt)
        return [self._pushed(plan, marker) for plan, marker in zip(plans, markers, strict=True)]

    # reading -----------------------------------------------------------------------
    def decode(self, data: bytes, queue: str) -> Job:
        """A payload read from ``queue`` as a :class:`Job` (either serializer's format).

        Raises:
            DecodeError: the bytes are not a payload (``raw`` keeps them).
            InvalidJobError: the payload is not a job (no class, args not a list ...).
        """
        return Job.from_payload(load_any(data, self.serializer), queue)

    def queues(self) -> list[str]:
        """Every known queue, sorted. One round trip."""
        with self.connection_guard():
            return self.backend.broker.queues()

    def size(self, queue: str) -> int:
        """Jobs waiting in ``queue``. One round trip."""
        with self.connection_guard():
            return self.backend.broker.size(queue)

    def peek(self, queue: str, start: int = 0, count: int = 1) -> list[Job]:
        """Jobs at positions ``start`` .. ``start+count-1`` of ``queue`` (0 = next), kept queued.

        Undecodable payloads are skipped here; ``backend.broker.peek`` returns raw bytes.
        """
        with self.connection_guard():
            raws = self.backend.broker.peek(queue, start, count)
        jobs = []
        for raw in raws:
            try:
                jobs.append(self.decode(raw, queue))
            except (InvalidJobError, ValueError):
                continue
        return jobs

    def remove_queue(self, queue: str) -> int:
        """Forget ``queue`` and drop its jobs; returns how many were dropped."""
        with self.connection_guard():
            return self.backend.broker.remove_queue(queue)

    def info(self) -> Info:
        """Resque's overview: pending, processed, failed, queues, workers, working."""
        with self.connection_guard():
            return overview(self.backend)

    # dequeue -----------------------------------------------------------------------
    def dequeue(self, queue: str, job: Any = None, *args: Any, id: str | None = None) -> int:
        """Remove jobs from ``queue``; returns how many were removed.

        ``dequeue(q)`` empties the queue; ``dequeue(q, Job)`` removes every job of that
        class; ``dequeue(q, Job, 1, 2)`` those with exactly these args;
        ``dequeue(q, Job, id=...)`` the one with that id. Safe against workers popping
        at the same time: each removal is one atomic LREM of an exact payload.

        The args are compared as stored: they go through the serializer and back as
        :meth:`enqueue` sends them, so ``dequeue(q, Job, (1, 2), {1: "a"})`` removes what
        ``enqueue(q, Job, (1, 2), {1: "a"})`` wrote (stored as ``[1, 2]`` and
        ``{"1": "a"}``, as a worker reads them).

        Raises:
            EncodeError: an argument cannot be serialized (nothing is removed).
        """
        if job is None:
            with self.connection_guard():
                return self.backend.broker.clear(queue)
        wanted = stored_args(self, queue, job, args) if args else None
        match = JobMatch(self.registry.name_for(job), args=wanted, id=id)
        return dequeue_matching(self, queue, [match])

    # delayed jobs and dynamic schedules: functions of the app (pyresque.core.delayed) --
    delayed_item = delayed.delayed_item
    enqueue_at = delayed.enqueue_at
    enqueue_in = delayed.enqueue_in
    remove_delayed = delayed.remove_delayed
    remove_delayed_by_id = delayed.remove_delayed_by_id
    find_delayed = delayed.find_delayed
    remove_delayed_where = delayed.remove_delayed_where
    enqueue_delayed_where = delayed.enqueue_delayed_where
    scheduled_at = delayed.scheduled_at
    delayed_count = delayed.delayed_count
    delayed_timestamps = delayed.delayed_timestamps
    delayed_size_at = delayed.delayed_size_at
    delayed_at = delayed.delayed_at
    delayed_peek = delayed.delayed_peek
    clear_delayed = delayed.clear_delayed
    set_schedule = delayed.set_schedule
    remove_schedule = delayed.remove_schedule
    dynamic_schedules = delayed.dynamic_schedules

    # statuses and failures ---------------------------------------------------------
    def tracked(self, job_id: str | None = None) -> TrackedJob:
        """A tracked job's status: ``get()``, ``wait(timeout)``, ``set_progress(...)``,
        ``stop()``; without ``job_id``, the running job's own (see :func:`tracked`)."""
        return tracked(self.backend.statuses, job_id, self.connection_guard)

    @property
    def failures(self) -> FailureStore:
        """The failure store (Ruby semantics: count, all, requeue, remove, clear ...)."""
        return self.backend.failures

    @property
    def workers_control(self) -> WorkersControl:
        """Quiet/stop pyresque workers and pause queues for them through Redis."""
        return WorkersControl(self.backend)

    # lifecycle ---------------------------------------------------------------------
    @contextmanager
    def connection_guard(self) -> Iterator[None]:
        """Connection errors -> :class:`BackendConnectionError` (or a plain, permanent one)."""
        try:
            yield
        except BackendConnectionError:
            raise
        except self.backend.connection_errors as exc:
            raise self._connection_error(exc) from exc
        except Exception as exc:  # e.g. a missing database: an error reply on connecting
            permanent = self.backend.permanent_error(exc)
            if permanent is None:
                raise
            raise permanent from exc

    def _connection_error(self, exc: BaseException) -> BackendError:
        if isinstance(exc, BackendConnectionError):
            return exc
        permanent = self.backend.permanent_error(exc)  # a refused password is not "unreachable"
        if permanent is not None:
            return permanent
        return BackendConnectionError(f"cannot reach the backend at {self.backend.describe()}: {exc}")

    def close(self) -> None:
        """Release the backend's connections."""
        self.backend.close()

    def __enter__(self) -> Resque:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Resque({self.backend!r}, serializer={self.serializer.name!r})"
