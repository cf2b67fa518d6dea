"""A typed facade over ``pluggy.PluginManager``: one per app, so apps never share hooks.

Every app gets its own :class:`HookManager` with the built-in plugins registered
(the default perform, per-job class hooks, retries), then the app's own plugins,
then, on request, the plugins of the ``pyresque`` entry-point group.

Exception policy, enforced here: hooks documented as "logged and ignored"
(``on_failure``, ``after_recover``, ``queue_empty``, ``before_pause``, ``after_pause``,
``shutdown``, ``worker_exit``, ``before_delayed_enqueue``) call each implementation on its own: one
raising is logged and the others still run, and the caller never sees the exception.
``job_started`` calls its implementations directly (it runs for every job); the
finishers they return are logged and ignored when they raise.
Every other hook propagates the first exception to its caller, as pluggy does.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from pyresque.core.errors import ConfigurationError
from pyresque.hooks import PROJECT, specs
from pyresque.hooks.builtin import JOBCLASS_NAME, PERFORM_NAME, RETRY_NAME
from pyresque.hooks.builtin.jobclass import JobClassHooks
from pyresque.hooks.builtin.perform import DefaultPerform
from pyresque.hooks.builtin.retry import RetryPlugin

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker

__all__ = ["DISABLE_ENV", "HookManager"]

logger = logging.getLogger(__name__)

#: Environment variable naming plugins not to load (comma-separated entry-point names;
#: ``pyresque.jobclass`` and ``pyresque.retry`` block the built-in ones).
DISABLE_ENV = "PYRESQUE_DISABLE_PLUGINS"


class HookManager:
    """Registers plugins and calls hooks with checked arguments.

    Args:
        plugins: plugin objects (modules or instances with ``@hookimpl`` methods).
            Registering a :class:`~pyresque.hooks.builtin.retry.RetryPlugin` replaces
            the built-in one (so a configured one never doubles retries).
        load_entry_points: also load plugins of the ``pyresque`` entry-point group.
        blocked: plugin names not to register (entry-point names, or the built-in
            ``pyresque.jobclass`` / ``pyresque.retry``).
        builtins: register the built-in plugins (default perform, job class hooks,
            retries). Without them a ``perform`` call still runs the job.

    Raises:
        ConfigurationError: an entry-point plugin cannot be imported.
        pluggy.PluginValidationError: a plugin implements a hook pyresque does not
            have, or takes an argument its spec does not give.
    """

    def __init__(
        self,
        plugins: Iterable[object] = (),
        *,
        load_entry_points: bool = False,
        blocked: Iterable[str] = (),
        builtins: bool = True,
    ) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(specs)
        self._h = self.pm.hook
        # The default perform is registered before blocking: it cannot be blocked.
        self.pm.register(DefaultPerform(), PERFORM_NAME)
        self._block(blocked)
        if builtins:
            self._register_builtin(JobClassHooks(), JOBCLASS_NAME)
            self._register_builtin(RetryPlugin(), RETRY_NAME)
        for plugin in plugins:
            self.register(plugin)
        if load_entry_points:
            self.load_entry_points()

    def _block(self, names: Iterable[str]) -> None:
        for name in names:
            if name != PERFORM_NAME:
                self.pm.set_blocked(name)

    def _register_builtin(self, plugin: object, name: str) -> None:
        if not self.pm.is_blocked(name):
            self.pm.register(plugin, name)

    def load_entry_points(self, blocked: Iterable[str] = ()) -> list[str]:
        """Register the plugins of the ``pyresque`` entry-point group; returns their names.

        An entry point may name a module, an object, or a class (instantiated with no
        arguments). Names in ``blocked`` (and names blocked before) are skipped, as
        are names already registered.

        Raises:
            ConfigurationError: an entry point cannot be imported or instantiated.
        """
        self._block(blocked)
        loaded: list[str] = []
        for ep in importlib.metadata.entry_points(group=PROJECT):
            if self.pm.is_blocked(ep.name) or self.pm.has_plugin(ep.name):
                continue
            try:
                plugin: Any = ep.load()
                if inspect.isclass(plugin):
                    plugin = plugin()
            except Exception as exc:
                raise ConfigurationError(f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}") from exc
            self.register(plugin, name=ep.name)
            loaded.append(ep.name)
        return loaded

    @staticmethod
    def blocked_from_env(environ: dict[str, str] | None = None) -> list[str]:
        """Names listed in ``PYRESQUE_DISABLE_PLUGINS`` (the CLI passes them in)."""
        value = (environ if environ is not None else dict(os.environ)).get(DISABLE_ENV, "")
        return [n.strip() for n in value.split(",") if n.strip()]

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register a plugin; unknown hook names raise at once.

        Returns the registration name, or ``None`` when ``name`` is blocked. A
        :class:`~pyresque.hooks.builtin.retry.RetryPlugin` replaces the built-in one.
        """
        if isinstance(plugin, RetryPlugin) and self.pm.has_plugin(RETRY_NAME):
            builtin = self.pm.get_plugin(RETRY_NAME)
            if builtin is not plugin:
                self.pm.unregister(builtin)
        try:
            registered = self.pm.register(plugin, name)
            self.pm.check_pending()
            if any(i.wrapper or i.hookwrapper for i in self._h.pyresque_job_started.get_hookimpls()):
                raise ConfigurationError("pyresque_job_started cannot be a wrapper (return a finisher)")
        except Exception:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            raise
        return registered

    @property
    def retry(self) -> RetryPlugin | None:
        """The retry plugin registered on this app (built-in or yours), if any."""
        for plugin in self.pm.get_plugins():
            if isinstance(plugin, RetryPlugin):
                return plugin
        return None

    def names(self) -> list[str]:
        """The names of every registered plugin, sorted."""
        return sorted(n for n, p in self.pm.list_name_plugin() if n is not None and p is not None)

    def _isolated(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call each implementation of ``hook`` alone; log and skip the ones that raise."""
        caller: Any = getattr(self._h, hook)
        impls = caller.get_hookimpls()
        if any(impl.wrapper or impl.hookwrapper for impl in impls):
            try:
                return list(caller(**kwargs))
            except Exception:
                logger.exception("a %s hook raised; ignored", hook)
                return []
        results: list[Any] = []
        for impl in reversed(impls):
            try:
                result = impl.function(*[kwargs[arg] for arg in impl.argnames])
            except Exception:
                logger.exception("plugin %s raised in %s; ignored", impl.plugin_name, hook)
                continue
            if result is not None:
                results.append(result)
        return results

    def unregister(self, plugin: object) -> None:
        """Remove a plugin."""
        self.pm.unregister(plugin)

    def has(self, hook: str) -> bool:
        """Whether any plugin implements ``hook`` (lets hot paths skip empty calls)."""
        caller: Any = getattr(self._h, hook)
        return bool(caller.get_hookimpls())

    def needs(self, hook: str, app: Resque, job: Job, prefix: str) -> bool:
        """Whether calling ``hook`` for ``job`` can do anything at all.

        ``False`` when no plugin implements it, or when the only implementations are
        built-ins with nothing to do for this job: the default perform, the job-class
        plugin for a class without ``prefix*`` hooks, the retry plugin for a job no
        policy covers. Lets hot paths skip pluggy's call overhead (a few microseconds
        per call) without changing what runs.
        """
        caller: Any = getattr(self._h, hook)
        for impl in caller.get_hookimpls():
            plugin = impl.plugin
            if isinstance(plugin, DefaultPerform):
                continue
            if isinstance(plugin, JobClassHooks):
                if plugin.hooks_for(app, job, prefix):
                    return True
                continue
            if isinstance(plugin, RetryPlugin) and prefix in ("before_perform", "after_perform"):
                try:
                    if plugin.policy_for(app, job) is None:
                        continue
                except ConfigurationError:
                    pass  # let the real call raise it where the worker reports it
            return True
        return False

    # enqueue / dequeue -------------------------------------------------------------
    def before_enqueue(self, app: Resque, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_enqueue`."""
        self._h.pyresque_before_enqueue(app=app, job=job)

    def after_enqueue(self, app: Resque, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_enqueue`."""
        self._h.pyresque_after_enqueue(app=app, job=job)

    def before_dequeue(self, app: Resque, queue: str, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_dequeue`."""
        self._h.pyresque_before_dequeue(app=app, queue=queue, job=job)

    def after_dequeue(self, app: Resque, queue: str, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_dequeue`."""
        self._h.pyresque_after_dequeue(app=app, queue=queue, job=job)

    # worker --------------------------------------------------------------------------
    def before_first_fork(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_first_fork`."""
        self._h.pyresque_before_first_fork(worker=worker)

    def before_fork(self, worker: Worker, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_fork`."""
        self._h.pyresque_before_fork(worker=worker, job=job)

    def after_fork(self, worker: Worker, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_fork`."""
        self._h.pyresque_after_fork(worker=worker, job=job)

    def job_started(self, worker: Worker, job: Job) -> list[Callable[[BaseException | None], None]]:
        """See :func:`pyresque.hooks.specs.pyresque_job_started`: the finishers, in the
        order to call them (:meth:`finish_job`); empty when no plugin observes jobs.

        Calls the implementations directly (pluggy's order: LIFO, ``tryfirst`` first),
        not through pluggy's call loop: it runs for every job. One raising finishes the
        ones already started with its exception, then propagates.
        """
        impls = self._h.pyresque_job_started.get_hookimpls()
        if not impls:
            return []
        given = {"worker": worker, "job": job}
        finishers: list[Callable[[BaseException | None], None]] = []
        for impl in reversed(impls):
            try:
                finish: Any = impl.function(*[given[arg] for arg in impl.argnames])
            except BaseException as exc:
                finishers.reverse()
                self.finish_job(finishers, exc)
                raise
            if finish is not None:
                finishers.append(finish)
        finishers.reverse()
        return finishers

    @staticmethod
    def finish_job(
        finishers: list[Callable[[BaseException | None], None]], exception: BaseException | None
    ) -> None:
        """Call the finishers :meth:`job_started` returned, each once, in order.

        One raising an ``Exception`` is logged and the others still run; an interrupt
        (a ``BaseException``: a shutdown signal landing in one) lets the others run
        too, then propagates."""
        interrupt: BaseException | None = None
        for finish in finishers:
            try:
                finish(exception)
            except Exception:
                logger.exception("a pyresque_job_started finisher raised; ignored")
            except BaseException as exc:
                interrupt = interrupt or exc
        if interrupt is not None:
            raise interrupt

    def before_perform(self, worker: Worker, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_perform`."""
        self._h.pyresque_before_perform(worker=worker, job=job)

    def perform(self, worker: Worker, job: Job, runner: Callable[[], Any]) -> Any:
        """Run ``runner`` through the ``pyresque_perform`` wrappers (around_perform).

        The built-in default perform (``trylast``) calls ``runner()`` exactly once;
        when nothing else wraps this job, ``runner()`` is called directly.
        """
        if not self.needs("pyresque_perform", worker.app, job, "around_perform"):
            return runner()
        return self._h.pyresque_perform(worker=worker, job=job, runner=runner)

    def after_perform(self, worker: Worker, job: Job, result: Any) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_perform`."""
        self._h.pyresque_after_perform(worker=worker, job=job, result=result)

    def on_failure(self, worker: Worker, job: Job, exception: BaseException) -> bool:
        """See :func:`pyresque.hooks.specs.pyresque_on_failure`.

        Returns whether the failure was handled: an implementation returned ``True``,
        or the app uses another failure store than the plain ``failed`` list and the
        record was saved there (the worker's atomic bookkeeping writes only that list).
        Never raises.
        """
        results = self._isolated("pyresque_on_failure", worker=worker, job=job, exception=exception)
        if any(r is True for r in results):
            return True
        return _route_failure(worker, job, exception)

    def after_recover(
        self, worker: Worker, job: Job | None, queue: str, requeued: bool, exception: BaseException
    ) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_recover`."""
        self._isolated(
            "pyresque_after_recover",
            worker=worker,
            job=job,
            queue=queue,
            requeued=requeued,
            exception=exception,
        )

    def queue_empty(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_queue_empty`."""
        self._isolated("pyresque_queue_empty", worker=worker)

    def before_pause(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_pause`."""
        self._isolated("pyresque_before_pause", worker=worker)

    def after_pause(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_pause`."""
        self._isolated("pyresque_after_pause", worker=worker)

    def shutdown(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_shutdown`."""
        self._isolated("pyresque_shutdown", worker=worker)

    def worker_exit(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_worker_exit`."""
        self._isolated("pyresque_worker_exit", worker=worker)

    # scheduler -----------------------------------------------------------------------
    def before_schedule(self, app: Resque, timestamp: int, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_schedule`."""
        self._h.pyresque_before_schedule(app=app, timestamp=timestamp, job=job)

    def after_schedule(self, app: Resque, timestamp: int, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_schedule`."""
        self._h.pyresque_after_schedule(app=app, timestamp=timestamp, job=job)

    def before_delayed_enqueue(self, app: Resque, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_delayed_enqueue`."""
        self._isolated("pyresque_before_delayed_enqueue", app=app, job=job)


def _route_failure(worker: Worker, job: Job, exception: BaseException) -> bool:
    """Save the record in the app's chosen failure store when it is not the ``failed`` list.

    Returns whether it did; on any error it logs and returns ``False`` so the worker
    writes the record to ``failed`` itself (nothing is lost).
    """
    from pyresque.backends.failure import writes_failed_list
    from pyresque.core.failure import FailureRecord

    app = getattr(worker, "app", None)
    if app is None or writes_failed_list(app.backend):
        return False
    try:
        record = FailureRecord.from_exception(
            exception, payload=job.to_payload(), queue=job.queue, worker=str(worker.id)
        )
        app.backend.failures.save(record)
    except Exception:
        logger.exception(
            "the failure store could not save a failure of %s; using the failed list", job.class_name
        )
        return False
    return True
