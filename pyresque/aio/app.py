"""The asyncio client: :class:`AsyncResque`, the sync app's client API in ``await`` form.

Same configuration as :class:`~pyresque.Resque` (a URL or a backend, namespace,
serializer, registry, plugins), same payloads: every enqueue is planned by
:mod:`pyresque.core.enqueueing` (the code the sync app runs) and written by the async
Redis backend with the sync backend's scripts and commands, so both clients put the
same bytes in Redis. ``AsyncResque.from_app(app)`` builds the async twin of a sync app
(its registry, serializer, plugins and server), so one module of jobs serves both.

Start at :class:`AsyncResque`; delayed jobs are in :mod:`pyresque.aio.delayed`,
removal by match in :mod:`pyresque.aio.dequeue`, status handles in
:mod:`pyresque.aio.tracking`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from pyresque.aio import delayed
from pyresque.aio.dequeue import dequeue_matching
from pyresque.aio.guard import Guard, retry_on
from pyresque.aio.tracking import AsyncTrackedJob, running_job_id
from pyresque.backends.aio import AsyncBackend, AsyncFailureStore
from pyresque.backends.aio.factory import create_async_backend
from pyresque.core import delayed_plan, enqueueing
from pyresque.core.dequeue import JobMatch, stored_args
from pyresque.core.enqueueing import EnqueueRequest
from pyresque.core.errors import BackendConnectionError, BackendError, ConfigurationError, InvalidJobError
from pyresque.core.idempotency import DEFAULT_IDEMPOTENCY_TTL, validate_ttl
from pyresque.core.job import Job, PayloadForm, validate_payload_form
from pyresque.core.overview import Info
from pyresque.core.registry import JobRegistry
from pyresque.hooks.manager import HookManager
from pyresque.serializers import Serializer, get_serializer, load_any

if TYPE_CHECKING:
    from pyresque.backends.base import Backend
    from pyresque.core.app import Resque

__all__ = ["AsyncResque"]

T = TypeVar("T")


class AsyncResque:
    """A pyresque app for asyncio code (``redis.asyncio``; no thread pool).

    Args:
        backend: a URL (every form :class:`~pyresque.Resque` takes, ``fakeredis://``
            included), an :class:`~pyresque.backends.aio.AsyncBackend`, or a sync
            :class:`~pyresque.backends.Backend` (its async twin: the same server and
            namespace). ``None`` means ``redis://localhost:6379/0``.
        namespace: key prefix for URL backends.
        serializer, registry, allow_modules, plugins, load_entry_points,
        blocked_plugins, idempotency_ttl, payload_form: as in :class:`~pyresque.Resque`.
        failure_backend: ``None`` or ``"redis"`` (the ``failed`` list): the async
            failure API reads Ruby's default store only.

    Use it as ``async with AsyncResque(...) as app:`` or call :meth:`aclose`.
    Client hooks (``before_enqueue`` ...) run as in the sync app, with this app as
    ``app``; :meth:`from_app` shares the sync app's plugins.
    """

    def __init__(
        self,
        backend: str | AsyncBackend | Backend | None = None,
        *,
        namespace: str = "resque",
        serializer: str | Serializer = "json",
        registry: JobRegistry | None = None,
        allow_modules: Iterable[str] = (),
        plugins: Iterable[object] = (),
        load_entry_points: bool = False,
        blocked_plugins: Iterable[str] = (),
        failure_backend: str | None = None,
        idempotency_ttl: int = DEFAULT_IDEMPOTENCY_TTL,
        payload_form: PayloadForm = "full",
    ) -> None:
        if failure_backend not in (None, "redis"):
            raise ConfigurationError(
                f"AsyncResque reads the 'redis' failure store (the failed list) only, not {failure_backend!r}"
            )
        self.backend = create_async_backend(backend, namespace)
        self.serializer = get_serializer(serializer)
        self.registry = registry if registry is not None else JobRegistry(allow_modules)
        self.hooks = HookManager(plugins, load_entry_points=load_entry_points, blocked=blocked_plugins)
        self.idempotency_ttl = validate_ttl(idempotency_ttl)
        self.payload_form: PayloadForm = validate_payload_form(payload_form)
        #: the WARNING that a delayed job was written while no scheduler leads (once a minute)
        self.scheduler_warning = delayed_plan.SchedulerWarning()

    @classmethod
    def from_app(cls, app: Resque) -> AsyncResque:
        """The async twin of a sync app: the same registry (jobs registered on either
        are seen by both), serializer, plugins, payload form and idempotency TTL, and an
        async client to the same server and namespace (a ``fakeredis://`` app: the same
        in-process server).

        Raises:
            ConfigurationError: the app's backend is not a Redis one.
        """
        twin = cls(
            app.backend,
            serializer=app.serializer,
            registry=app.registry,
            idempotency_ttl=app.idempotency_ttl,
            payload_form=app.payload_form,
        )
        twin.hooks = app.hooks
        twin.scheduler_warning = app.scheduler_warning
        return twin

    # registration ------------------------------------------------------------------
    @overload
    def job(self, obj: T, *, name: str | None = None) -> T: ...

    @overload
    def job(self, obj: None = None, *, name: str | None = None) -> Callable[[T], T]: ...

    def job(self, obj: Any = None, *, name: str | None = None) -> Any:
        """Register a job class or function (``@app.job``), as :meth:`Resque.job`."""
        return self.registry.register(obj, name=name)

    @property
    def plugins(self) -> HookManager:
        """This app's plugins: ``app.plugins.register(plugin)``."""
        return self.hooks

    def _as_app(self) -> Resque:
        # Hooks and core helpers read registry/serializer/payload_form/encode/decode/
        # build_job only; this app has all of them.
        return cast("Resque", self)

    # enqueue -----------------------------------------------------------------------
    def build_job(
        self,
        queue: str,
        job: Any,
        args: Sequence[Any],
        *,
        job_id: str | None = None,
        payload_form: PayloadForm | None = None,
    ) -> Job:
        """The :class:`Job` that ``enqueue`` would write, without writing it."""
        return enqueueing.build_job(self, queue, job, args, job_id=job_id, payload_form=payload_form)

    def encode(self, job: Job) -> bytes:
        """The job's payload as bytes in this app's serializer."""
        return enqueueing.encode_job(self, job)

    async def enqueue(
        self,
        queue: str,
        job: Any,
        *args: Any,
        track_status: bool = False,
        job_id: str | None = None,
        idempotency_key: str | None = None,
        retries: int = 0,
        payload_form: PayloadForm | None = None,
    ) -> str:
        """Put a job on ``queue``; its id. One round trip. Arguments, idempotency,
        hooks and errors as :meth:`Resque.enqueue` (same exceptions).

        A task cancelled while it waits for Redis's reply may or may not have pushed
        the job (as after a lost reply); only a guarded enqueue is safe to repeat.
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
        hooks, app = self.hooks, self._as_app()
        if hooks.needs("pyresque_before_enqueue", app, built, "before_enqueue"):
            hooks.before_enqueue(app, built)
        data = enqueueing.encode_job(self, built)
        broker = self.backend.broker
        guard = plan.guard
        if guard is None:
            try:
                await broker.push(queue, data, track_id=plan.track_id)
            except Exception as exc:
                translated = self.backend_error(exc)
                if translated is None:
                    raise
                raise translated from exc
            marker = None
        else:

            async def attempt() -> str:
                async with Guard(self):
                    return await broker.push_once(queue, data, guard, track_id=plan.track_id)

            marker = await retry_on((BackendConnectionError,), plan.retries, attempt)
        return self._pushed(plan, marker)

    def _pushed(self, plan: enqueueing.EnqueuePlan, marker: str | None) -> str:
        job_id, pushed = enqueueing.pushed_id(plan, marker)
        hooks, app = self.hooks, self._as_app()
        if pushed and hooks.needs("pyresque_after_enqueue", app, plan.job, "after_enqueue"):
            hooks.after_enqueue(app, plan.job)
        return job_id

    async def enqueue_many(
        self, requests: Iterable[EnqueueRequest | tuple[str, Any, Sequence[Any]]], *, retries: int = 0
    ) -> list[str]:
        """Enqueue many jobs in one pipeline (a round trip per 5,000); their ids.
        All or nothing before Redis is asked, as :meth:`Resque.enqueue_many`."""
        plans = enqueueing.plan_many(self, requests, retries=retries)
        hooks, app = self.hooks, self._as_app()
        items = []
        for plan in plans:
            if hooks.needs("pyresque_before_enqueue", app, plan.job, "before_enqueue"):
                hooks.before_enqueue(app, plan.job)
            items.append(enqueueing.push_item(self, plan))

        async def attempt() -> list[str | None]:
            async with Guard(self):
                return await self.backend.broker.push_many(items)

        markers = await retry_on((BackendConnectionError,), retries, attempt)
        return [self._pushed(plan, marker) for plan, marker in zip(plans, markers, strict=True)]

    # delayed jobs: functions of the app (pyresque.aio.delayed) -----------------------
    enqueue_at = delayed.enqueue_at
    enqueue_in = delayed.enqueue_in
    delayed_item = delayed.delayed_item
    remove_delayed = delayed.remove_delayed
    remove_delayed_by_id = delayed.remove_delayed_by_id
    scheduled_at = delayed.scheduled_at
    delayed_count = delayed.delayed_count
    delayed_timestamps = delayed.delayed_timestamps
    delayed_size_at = delayed.delayed_size_at
    clear_delayed = delayed.clear_delayed

    # reading -----------------------------------------------------------------------
    def decode(self, data: bytes, queue: str) -> Job:
        """A payload read from ``queue`` as a :class:`Job` (as :meth:`Resque.decode`)."""
        return Job.from_payload(load_any(data, self.serializer), queue)

    async def queues(self) -> list[str]:
        """Every known queue, sorted. One round trip."""
        async with Guard(self):
            return await self.backend.broker.queues()

    async def size(self, queue: str) -> int:
        """Jobs waiting in ``queue``. One round trip."""
        async with Guard(self):
            return await self.backend.broker.size(queue)

    async def peek(self, queue: str, start: int = 0, count: int = 1) -> list[Job]:
        """Jobs at positions ``start`` .. ``start+count-1`` of ``queue``, kept queued
        (undecodable payloads skipped). One round trip."""
        async with Guard(self):
            raws = await self.backend.broker.peek(queue, start, count)
        jobs = []
        for raw in raws:
            try:
                jobs.append(self.decode(raw, queue))
            except (InvalidJobError, ValueError):
                continue
        return jobs

    async def remove_queue(self, queue: str) -> int:
        """Forget ``queue`` and drop its jobs; how many were dropped."""
        async with Guard(self):
            return await self.backend.broker.remove_queue(queue)

    async def info(self) -> Info:
        """Resque's overview (:class:`~pyresque.Info`): pending, processed, failed ..."""
        backend = self.backend
        async with Guard(self):
            names = await backend.broker.queues()
            sizes = await backend.broker.sizes(names) if names else {}
            workers = await backend.workers.all()
            working = await backend.workers.working() if workers else {}
            return Info(
                pending=sum(sizes.values()),
                processed=await backend.stats.get("processed"),
                failed=await backend.failures.count(),
                queues=len(names),
                workers=len(workers),
                working=len(working),
                servers=[backend.describe()],
            )

    async def dequeue(self, queue: str, job: Any = None, *args: Any, id: str | None = None) -> int:
        """Remove jobs from ``queue``; how many were removed (as :meth:`Resque.dequeue`:
        all, a class, exact args, or one id; each removal one atomic LREM)."""
        if job is None:
            async with Guard(self):
                return await self.backend.broker.clear(queue)
        wanted = stored_args(self._as_app(), queue, job, args) if args else None
        match = JobMatch(self.registry.name_for(job), args=wanted, id=id)
        return await dequeue_matching(self, queue, [match])

    # statuses and failures ---------------------------------------------------------
    def tracked(self, job_id: str | None = None) -> AsyncTrackedJob:
        """A handle on a tracked job's status: ``await get()``, ``await wait(timeout)``,
        ``await set_progress(...)``, ``await stop()``; without ``job_id``, the running
        job's own (as :meth:`Resque.tracked`).

        Raises:
            ConfigurationError: no ``job_id`` outside a running job that has an id.
        """
        return AsyncTrackedJob(self.backend.statuses, running_job_id(job_id), Guard(self))

    @property
    def failures(self) -> AsyncFailureStore:
        """The failure store, awaited (count, all, find, requeue, remove, clear ...).

        Raises:
            ConfigurationError: the app was made from a sync app whose failures go
                elsewhere than the ``failed`` list.
        """
        elsewhere = self.backend.failures_elsewhere
        if elsewhere is not None:
            raise ConfigurationError(
                f"the async failure API reads the 'failed' list; this app's failures go to {elsewhere}"
            )
        return self.backend.failures

    # lifecycle ---------------------------------------------------------------------
    def connection_guard(self) -> Guard:
        """``async with app.connection_guard():`` connection errors as pyresque's."""
        return Guard(self)

    def backend_error(self, exc: BaseException) -> BackendError | None:
        """``exc`` as pyresque's error: a permanent one (:meth:`AsyncBackend.permanent_error`,
        e.g. ``DB index is out of range`` while connecting) as a one-line
        :class:`BackendError`, a connection error as :class:`BackendConnectionError`;
        ``None`` for anything else (raised as it is)."""
        if isinstance(exc, BackendError):
            return exc
        permanent = self.backend.permanent_error(exc)
        if permanent is not None:
            return permanent
        if isinstance(exc, self.backend.connection_errors):
            return self.connection_error(exc)
        return None

    def connection_error(self, exc: BaseException) -> BackendError:
        """``exc`` (a connection error) as :class:`BackendConnectionError`, or as the
        backend's plain :class:`BackendError` for one retrying cannot mend."""
        if isinstance(exc, BackendConnectionError):
            return exc
        permanent = self.backend.permanent_error(exc)
        if permanent is not None:
            return permanent
        return BackendConnectionError(f"cannot reach the backend at {self.backend.describe()}: {exc}")

    async def ping(self) -> None:
        """Check Redis answers (one round trip); raises as :meth:`AsyncBackend.ping`."""
        await self.backend.ping()

    async def aclose(self) -> None:
        """Release the backend's connections."""
        await self.backend.aclose()

    async def __aenter__(self) -> AsyncResque:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"AsyncResque({self.backend!r}, serializer={self.serializer.name!r})"
