"""A typed facade over ``pluggy.PluginManager``: one per app, so apps never share hooks."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

from pyresque.hooks import PROJECT, specs

if TYPE_CHECKING:
    from pyresque.core.app import Resque
    from pyresque.core.job import Job

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
