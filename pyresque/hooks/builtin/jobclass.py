"""Per-job hooks on the job class, Ruby Resque's way (``lib/resque/plugin.rb``).

A job class may define class-level hooks whose names start with a hook prefix; each
family runs in name order (``sorted``), with the job's arguments:

============================  ==============================================================
``before_perform*(*args)``     before the job; raise ``DontPerform`` to skip it
``around_perform*(*args)``     a generator that ``yield``s once (or a function returning a
                               context manager, e.g. ``@contextmanager``); the job runs at
                               the yield (the first in name order is the outermost); the
                               yield returns the job's result and raises its exception
``after_perform*(*args)``      after the job succeeded
``on_failure*(exc, *args)``    after the job failed (exceptions are logged and ignored)
``before_enqueue*(*args)``     before the job is written; returning ``False`` vetoes it
``after_enqueue*(*args)``      after the job was written
``before_dequeue*(*args)``     before ``dequeue`` removes it; returning ``False`` keeps it
``after_dequeue*(*args)``      after ``dequeue`` removed it
``after_schedule*(*args)``     after ``enqueue_at``/``enqueue_in`` wrote a delayed item
``before_delayed_enqueue*``    in the scheduler, before a due item is pushed (``*args``;
                               exceptions are logged, the job is enqueued regardless)
============================  ==============================================================

Hooks run on the class, as in Ruby (``def self.before_perform_x``): define them with
``@classmethod`` or ``@staticmethod``. A plain instance method is refused with a
:class:`~pyresque.ConfigurationError` (the instance only exists inside the job's run,
where ``set_up``/``tear_down`` belong). An ``around_perform*`` hook that returns
without yielding skips the job, as a Ruby around hook that does not yield: here it
raises ``DontPerform``. Hooks are sync, also around an ``async def`` job (they run
outside its event loop, or in a thread beside it in the async worker): an ``async def``
hook is refused with a :class:`~pyresque.ConfigurationError` (when the class is
registered, and when the hook is looked up). The class is found with ``app.registry.resolve(job.class_name)``;
a job whose class does not resolve (another language's job) has no class hooks.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from pyresque.core.errors import ConfigurationError, DontEnqueue, DontPerform, UnknownJobClass
from pyresque.core.registry import JOB_HOOK_PREFIXES
from pyresque.hooks import hookimpl

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker

__all__ = ["PREFIXES", "JobClassHooks", "job_hooks"]

logger = logging.getLogger(__name__)

#: Every hook-name prefix a job class may use.
PREFIXES = JOB_HOOK_PREFIXES


def job_hooks(target: Any, prefix: str) -> list[tuple[str, Callable[..., Any]]]:
    """The hooks of ``target`` (a job class or function) whose name starts with ``prefix``.

    Sorted by name, as Ruby's ``Plugin.before_hooks`` and friends.

    Raises:
        ConfigurationError: a hook on a class is a plain instance method.
    """
    found: list[tuple[str, Callable[..., Any]]] = []
    for name in sorted(dir(target)):
        if not name.startswith(prefix):
            continue
        value = getattr(target, name)
        if not callable(value):
            continue
        if inspect.isclass(target):
            raw = inspect.getattr_static(target, name)
            if inspect.isfunction(raw):
                raise ConfigurationError(
                    f"{target.__qualname__}.{name} is a per-job hook and runs on the class: "
                    "make it a @classmethod or @staticmethod"
                )
        if inspect.iscoroutinefunction(value) or inspect.isasyncgenfunction(value):
            raise ConfigurationError(
                f"{getattr(target, '__qualname__', target)}.{name} is async, but per-job hooks run "
                "synchronously around the job: make it a plain function (the job itself may be async)"
            )
        found.append((name, value))
    return found


class JobClassHooks:
    """The plugin that runs per-job class hooks (one instance per app).

    Hook lists are looked up once per class and cached.
    """

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, str], list[tuple[str, Callable[..., Any]]]] = {}
        self._lock = threading.Lock()

    def hooks_for(self, app: Resque, job: Job, prefix: str) -> list[tuple[str, Callable[..., Any]]]:
        """The ``prefix`` hooks of ``job``'s class under ``app`` (empty if it does not resolve)."""
        try:
            target = app.registry.resolve(job.class_name)
        except UnknownJobClass:
            return []
        key = (target, prefix)
        cached = self._cache.get(key)
        if cached is None:
            cached = job_hooks(target, prefix)
            with self._lock:
                self._cache[key] = cached
        return cached

    # enqueue / dequeue -------------------------------------------------------------
    @hookimpl
    def pyresque_before_enqueue(self, app: Resque, job: Job) -> None:
        """Run ``before_enqueue*``; any returning ``False`` vetoes the job (``DontEnqueue``)."""
        vetoes = [
            name for name, hook in self.hooks_for(app, job, "before_enqueue") if hook(*job.args) is False
        ]
        if vetoes:
            raise DontEnqueue(f"{job.class_name}.{vetoes[0]} returned False: job not enqueued")

    @hookimpl
    def pyresque_after_enqueue(self, app: Resque, job: Job) -> None:
        """Run ``after_enqueue*``."""
        for _, hook in self.hooks_for(app, job, "after_enqueue"):
            hook(*job.args)

    @hookimpl
    def pyresque_before_dequeue(self, app: Resque, job: Job) -> None:
        """Run ``before_dequeue*``; any returning ``False`` keeps the job queued."""
        vetoes = [
            name for name, hook in self.hooks_for(app, job, "before_dequeue") if hook(*job.args) is False
        ]
        if vetoes:
            raise DontEnqueue(f"{job.class_name}.{vetoes[0]} returned False: job not dequeued")

    @hookimpl
    def pyresque_after_dequeue(self, app: Resque, job: Job) -> None:
        """Run ``after_dequeue*``."""
        for _, hook in self.hooks_for(app, job, "after_dequeue"):
            hook(*job.args)

    # scheduler ---------------------------------------------------------------------
    @hookimpl
    def pyresque_after_schedule(self, app: Resque, job: Job) -> None:
        """Run ``after_schedule*`` (resque-scheduler's per-class hook)."""
        for _, hook in self.hooks_for(app, job, "after_schedule"):
            hook(*job.args)

    @hookimpl
    def pyresque_before_delayed_enqueue(self, app: Resque, job: Job) -> None:
        """Run ``before_delayed_enqueue*`` (resque-scheduler's per-class hook)."""
        for _, hook in self.hooks_for(app, job, "before_delayed_enqueue"):
            hook(*job.args)

    # perform -----------------------------------------------------------------------
    @hookimpl
    def pyresque_before_perform(self, worker: Worker, job: Job) -> None:
        """Run ``before_perform*`` (``DontPerform`` skips the job)."""
        for _, hook in self.hooks_for(worker.app, job, "before_perform"):
            hook(*job.args)

    @hookimpl(wrapper=True)
    def pyresque_perform(self, worker: Worker, job: Job) -> Generator[None, Any, Any]:
        """Nest the ``around_perform*`` generators around the job, first name outermost."""
        hooks = self.hooks_for(worker.app, job, "around_perform")
        if not hooks:
            return (yield)
        entered: list[Generator[Any, Any, Any]] = []
        for name, hook in hooks:
            gen = hook(*job.args)
            if _is_context_manager(gen):
                gen = _context_generator(gen)
            if not inspect.isgenerator(gen):
                _unwind(entered, DontPerform("around hook misconfigured"))
                raise ConfigurationError(
                    f"{job.class_name}.{name} must be a generator that yields once, or return a "
                    "context manager (around_perform)"
                )
            try:
                next(gen)
            except StopIteration:
                _unwind(entered, DontPerform(f"{name} did not yield"))
                raise DontPerform(f"{job.class_name}.{name} did not yield: job not performed") from None
            entered.append(gen)
        try:
            result = yield
        except BaseException as exc:
            suppressed = _unwind(entered, exc)
            if suppressed:
                return None
            raise
        for index in range(len(entered) - 1, -1, -1):
            try:
                _finish(entered[index], result)
            except BaseException as exc:  # an around hook failed after the job: outer ones see it
                if _unwind(entered[:index], exc):
                    return None
                raise
        return result

    @hookimpl
    def pyresque_after_perform(self, worker: Worker, job: Job) -> None:
        """Run ``after_perform*`` (only after a success)."""
        for _, hook in self.hooks_for(worker.app, job, "after_perform"):
            hook(*job.args)

    @hookimpl
    def pyresque_on_failure(self, worker: Worker, job: Job, exception: BaseException) -> None:
        """Run every ``on_failure*`` with ``(exception, *args)``; one raising does not stop the rest."""
        for name, hook in self.hooks_for(worker.app, job, "on_failure"):
            try:
                hook(exception, *job.args)
            except Exception:
                logger.exception("on_failure hook %s.%s raised; ignored", job.class_name, name)


def _is_context_manager(value: object) -> bool:
    return hasattr(value, "__enter__") and hasattr(value, "__exit__") and not inspect.isgenerator(value)


def _context_generator(cm: Any) -> Generator[None, Any, None]:
    """An around hook returning a context manager (``@contextmanager``), as a generator."""
    cm.__enter__()
    try:
        yield
    except BaseException as exc:
        if not cm.__exit__(type(exc), exc, exc.__traceback__):
            raise
        return
    cm.__exit__(None, None, None)


def _finish(gen: Generator[Any, Any, Any], result: Any) -> None:
    """Resume an around generator after a success; it must end there."""
    try:
        gen.send(result)
    except StopIteration:
        return
    gen.close()
    raise ConfigurationError(
        f"around_perform hook {getattr(gen, '__qualname__', gen)} yielded more than once"
    )


def _unwind(entered: list[Generator[Any, Any, Any]], exc: BaseException) -> bool:
    """Throw ``exc`` into the entered generators, innermost first.

    Returns ``True`` when one of them swallowed it (returned normally), as
    ``contextlib.contextmanager`` does; a new exception replaces the old one.
    """
    current: BaseException = exc
    for index in range(len(entered) - 1, -1, -1):
        gen = entered[index]
        try:
            gen.throw(current)
        except StopIteration:
            for outer in reversed(entered[:index]):
                _finish(outer, None)
            return True
        except BaseException as raised:
            current = raised
            continue
        gen.close()
        current = ConfigurationError(
            f"around_perform hook {getattr(gen, '__qualname__', gen)} yielded more than once"
        )
    if current is not exc:
        raise current
    return False
