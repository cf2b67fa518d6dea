"""A typed facade over ``pluggy.PluginManager``: one per app, so apps never share hooks."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from pyresque.hooks import PROJECT, specs

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job
    from pyresque.core.worker import Worker

__all__ = ["DISABLE_ENV", "HookManager"]

#: Environment variable naming entry-point plugins not to load (comma-separated).
DISABLE_ENV = "PYRESQUE_DISABLE_PLUGINS"


class HookManager:
    """Registers plugins and calls hooks with checked arguments.

    Args:
        plugins: plugin objects (modules or instances with ``@hookimpl`` methods).
        load_entry_points: also load plugins of the ``pyresque`` entry-point group.
        blocked: entry-point plugin names not to load.
    """

    def __init__(
        self,
        plugins: Iterable[object] = (),
        *,
        load_entry_points: bool = False,
        blocked: Iterable[str] = (),
    ) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(specs)
        for name in blocked:
            self.pm.set_blocked(name)
        if load_entry_points:
            self.pm.load_setuptools_entrypoints(PROJECT)
        for plugin in plugins:
            self.register(plugin)
        self._h = self.pm.hook

    @staticmethod
    def blocked_from_env(environ: dict[str, str] | None = None) -> list[str]:
        """Names listed in ``PYRESQUE_DISABLE_PLUGINS`` (the CLI passes them in)."""
        value = (environ if environ is not None else dict(os.environ)).get(DISABLE_ENV, "")
        return [n.strip() for n in value.split(",") if n.strip()]

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register a plugin; unknown hook names raise at once."""
        registered = self.pm.register(plugin, name)
        self.pm.check_pending()
        return registered

    def unregister(self, plugin: object) -> None:
        """Remove a plugin."""
        self.pm.unregister(plugin)

    def has(self, hook: str) -> bool:
        """Whether any plugin implements ``hook`` (lets hot paths skip empty calls)."""
        caller: Any = getattr(self._h, hook)
        return bool(caller.get_hookimpls())

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

    def before_perform(self, worker: Worker, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_perform`."""
        self._h.pyresque_before_perform(worker=worker, job=job)

    def perform(self, worker: Worker, job: Job, runner: Callable[[], Any]) -> Any:
        """Run ``runner`` through the ``pyresque_perform`` wrappers (around_perform).

        Without any implementation, calls ``runner()`` directly.
        """
        if not self.has("pyresque_perform"):
            return runner()
        return self._h.pyresque_perform(worker=worker, job=job, runner=runner)

    def after_perform(self, worker: Worker, job: Job, result: Any) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_perform`."""
        self._h.pyresque_after_perform(worker=worker, job=job, result=result)

    def on_failure(self, worker: Worker, job: Job, exception: BaseException) -> bool:
        """See :func:`pyresque.hooks.specs.pyresque_on_failure`.

        Returns whether any implementation handled the failure (returned ``True``).
        """
        results = self._h.pyresque_on_failure(worker=worker, job=job, exception=exception)
        return any(r is True for r in results)

    def queue_empty(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_queue_empty`."""
        self._h.pyresque_queue_empty(worker=worker)

    def before_pause(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_pause`."""
        self._h.pyresque_before_pause(worker=worker)

    def after_pause(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_pause`."""
        self._h.pyresque_after_pause(worker=worker)

    def shutdown(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_shutdown`."""
        self._h.pyresque_shutdown(worker=worker)

    def worker_exit(self, worker: Worker) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_worker_exit`."""
        self._h.pyresque_worker_exit(worker=worker)

    # scheduler -----------------------------------------------------------------------
    def after_schedule(self, app: Resque, timestamp: int, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_after_schedule`."""
        self._h.pyresque_after_schedule(app=app, timestamp=timestamp, job=job)

    def before_delayed_enqueue(self, app: Resque, job: Job) -> None:
        """See :func:`pyresque.hooks.specs.pyresque_before_delayed_enqueue`."""
        self._h.pyresque_before_delayed_enqueue(app=app, job=job)
