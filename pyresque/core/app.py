"""The app object: one backend, one serializer, one job registry, one set of hooks.

Configured per app, Celery-style; two apps with different backends and namespaces
work side by side in one process, and nothing connects until first use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, overload

from pyresque.backends import Backend, FailureStore, PushItem, create_backend
from pyresque.core.delayed import DelayedMixin
from pyresque.core.errors import BackendConnectionError, InvalidJobError
from pyresque.core.failure_backends import FailureBackendSpec, make_failure_store
from pyresque.core.job import Job, validate_queue_name
from pyresque.core.registry import JobRegistry
from pyresque.core.tracking import TrackedJob
from pyresque.hooks.manager import HookManager
from pyresque.serializers import Serializer, get_serializer, load_any

__all__ = ["EnqueueRequest", "Info", "Resque"]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True, slots=True)
class EnqueueRequest:
    """One job for :meth:`Resque.enqueue_many`."""

    queue: str
    job: Any
    args: Sequence[Any] = ()
    track_status: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Info:
    """Resque's overview numbers (``Resque.info``), as resque-web shows them.

    Attributes:
        pending: jobs waiting in all queues.
        processed: jobs finished (``stat:processed``).
        failed: entries in the failure store (Ruby counts ``LLEN failed``).
        queues: number of known queues.
        workers: registered workers.
        working: workers busy with a job.
        servers: where the backend points (no password).
    """

    pending: int
    processed: int
    failed: int
    queues: int
    workers: int
    working: int
    servers: list[str]


class Resque(DelayedMixin):
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
    ) -> None:
        self.backend = create_backend(backend, namespace)
        if failure_backend is not None:
            self.backend.failures = make_failure_store(failure_backend, self.backend)
        self.serializer = get_serializer(serializer)
        self.registry = registry if registry is not None else JobRegistry(allow_modules)
        self.hooks = HookManager(plugins, load_entry_points=load_entry_points, blocked=blocked_plugins)
        self._valid_queues: set[str] = set()

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

    # enqueue -----------------------------------------------------------------------
    def _queue(self, queue: str) -> str:
        if queue not in self._valid_queues:
            self._valid_queues.add(validate_queue_name(queue))
        return queue

    def build_job(self, queue: str, job: Any, args: Sequence[Any]) -> Job:
        """The :class:`Job` that ``enqueue`` would write, without writing it."""
        return Job.new(self._queue(queue), self.registry.name_for(job), tuple(args))

    def encode(self, job: Job) -> bytes:
        """The job's payload as bytes in this app's serializer."""
        return self.serializer.dumps(job.to_payload())

    def enqueue(self, queue: str, job: Any, *args: Any, track_status: bool = False) -> str:
        """Put a job on ``queue`` and return its id (32 hex characters).

        ``job`` is a registered class or function, or a class-name string for a job
        another language performs (``"Foo::Bar"``, ``"My_Job"``). One round trip.

        Raises:
            InvalidQueueName: the queue name is empty or unusable.
            JobNotRegistered: ``job`` is a callable no registry or allow-list names.
            EncodeError: an argument cannot be serialized (nothing is written).
            DontEnqueue: a ``before_enqueue`` hook vetoed the job (nothing is written).
            BackendConnectionError: the backend cannot be reached.
        """
        built = self.build_job(queue, job, args)
        hooks = self.hooks
        if hooks.needs("pyresque_before_enqueue", self, built, "before_enqueue"):
            hooks.before_enqueue(self, built)
        data = self.encode(built)
        backend = self.backend
        try:
            backend.broker.push(queue, data, track_id=built.id if track_status else None)
        except backend.connection_errors as exc:
            raise self._connection_error(exc) from exc
        if hooks.needs("pyresque_after_enqueue", self, built, "after_enqueue"):
            hooks.after_enqueue(self, built)
        assert built.id is not None
        return built.id

    def enqueue_many(self, requests: Iterable[EnqueueRequest | tuple[str, Any, Sequence[Any]]]) -> list[str]:
        """Enqueue many jobs in one pipeline (a round trip per 5,000); returns their ids.

        Every job is built and encoded first: if any argument cannot be serialized,
        or a ``before_enqueue`` hook vetoes any job, nothing at all is written.
        """
        items: list[PushItem] = []
        jobs: list[Job] = []
        for request in requests:
            req = request if isinstance(request, EnqueueRequest) else EnqueueRequest(*request)
            built = self.build_job(req.queue, req.job, req.args)
            if self.hooks.needs("pyresque_before_enqueue", self, built, "before_enqueue"):
                self.hooks.before_enqueue(self, built)
            items.append(PushItem(req.queue, self.encode(built), built.id if req.track_status else None))
            jobs.append(built)
        with self.connection_guard():
            self.backend.broker.push_many(items)
        for built in jobs:
            if self.hooks.needs("pyresque_after_enqueue", self, built, "after_enqueue"):
                self.hooks.after_enqueue(self, built)
        return [j.id for j in jobs if j.id is not None]

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
            backend = self.backend
            names = backend.broker.queues()
            sizes = backend.broker.sizes(names) if names else {}
            workers = backend.workers.all()
            working = backend.workers.working() if workers else {}
            return Info(
                pending=sum(sizes.values()),
                processed=backend.stats.get("processed"),
                failed=backend.failures.count(),
                queues=len(names),
                workers=len(workers),
                working=len(working),
                servers=[backend.describe()],
            )

    # dequeue -----------------------------------------------------------------------
    def dequeue(self, queue: str, job: Any = None, *args: Any, id: str | None = None) -> int:
        """Remove jobs from ``queue``; returns how many were removed.

        ``dequeue(q)`` empties the queue; ``dequeue(q, Job)`` removes every job of that
        class; ``dequeue(q, Job, 1, 2)`` those with exactly these args;
        ``dequeue(q, Job, id=...)`` the one with that id. Safe against workers popping
        at the same time: each removal is one atomic LREM of an exact payload.
        """
        from pyresque.core.dequeue import JobMatch, dequeue_matching

        if job is None:
            with self.connection_guard():
                return self.backend.broker.clear(queue)
        match = JobMatch(self.registry.name_for(job), args=list(args) if args else None, id=id)
        return dequeue_matching(self, queue, [match])

    # statuses and failures ---------------------------------------------------------
    def tracked(self, job_id: str) -> TrackedJob:
        """A handle on a tracked job's status: ``get()``, ``status``, ``stop()``."""
        return TrackedJob(self.backend.statuses, job_id)

    @property
    def failures(self) -> FailureStore:
        """The failure store (Ruby semantics: count, all, requeue, remove, clear ...)."""
        return self.backend.failures

    # lifecycle ---------------------------------------------------------------------
    @contextmanager
    def connection_guard(self) -> Iterator[None]:
        """Turn the backend's connection errors into :class:`BackendConnectionError`."""
        try:
            yield
        except BackendConnectionError:
            raise
        except self.backend.connection_errors as exc:
            raise self._connection_error(exc) from exc

    def _connection_error(self, exc: BaseException) -> BackendConnectionError:
        if isinstance(exc, BackendConnectionError):
            return exc
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
