"""The hook manager: built-in plugins, per-app registration, blocking, exception policy."""

from __future__ import annotations

import logging
from collections.abc import Generator
from types import SimpleNamespace
from typing import Any

import pluggy
import pytest

from pyresque import DontEnqueue, Resque, hookimpl
from pyresque.core.errors import ConfigurationError
from pyresque.core.job import Job
from pyresque.hooks import specs
from pyresque.hooks.builtin import JOBCLASS_NAME, PERFORM_NAME, RETRY_NAME
from pyresque.hooks.builtin.retry import RetryPlugin
from pyresque.hooks.builtin.retry_policy import RetryPolicy
from pyresque.hooks.manager import HookManager


def _worker(app: Resque) -> Any:
    """A stand-in worker: what hooks may use of it (``app`` and ``id``)."""
    return SimpleNamespace(app=app, id="host:1:q")


def _job(class_name: str = "Echo", *args: Any) -> Job:
    return Job.new("q", class_name, list(args))


def test_every_spec_has_a_typed_facade_method_and_a_docstring() -> None:
    """Each hookspec is documented and reachable through a HookManager method."""
    names = [n for n in dir(specs) if n.startswith("pyresque_")]
    expected = [
        "before_first_fork",
        "before_fork",
        "after_fork",
        "before_perform",
        "perform",
        "after_perform",
        "on_failure",
        "job_started",
        "after_recover",
        "before_enqueue",
        "after_enqueue",
        "before_dequeue",
        "after_dequeue",
        "before_schedule",
        "after_schedule",
        "before_delayed_enqueue",
        "queue_empty",
        "worker_exit",
        "before_pause",
        "after_pause",
        "shutdown",
    ]
    assert sorted(names) == sorted(f"pyresque_{n}" for n in expected)
    for name in names:
        assert (getattr(specs, name).__doc__ or "").strip(), name
        assert callable(getattr(HookManager, name.removeprefix("pyresque_"))), name


def test_builtin_plugins_are_registered_on_every_app() -> None:
    """A new app has the default perform, the job-class hooks and the retry plugin."""
    app = Resque("fakeredis://")
    assert app.plugins.names() == sorted([PERFORM_NAME, JOBCLASS_NAME, RETRY_NAME])
    assert isinstance(app.plugins.retry, RetryPlugin)


def test_blocked_names_skip_builtins_but_never_the_default_perform() -> None:
    """Blocking the job-class and retry plugins leaves a manager that still runs jobs."""
    hooks = HookManager(blocked=[JOBCLASS_NAME, RETRY_NAME, PERFORM_NAME])
    assert hooks.names() == [PERFORM_NAME]
    assert hooks.retry is None
    calls: list[int] = []
    app = Resque("fakeredis://")
    assert hooks.perform(_worker(app), _job(), lambda: calls.append(1) or "done") == "done"
    assert calls == [1]


def test_two_apps_do_not_share_hooks() -> None:
    """A plugin registered on one app never fires for another."""
    seen: list[str] = []

    class Spy:
        @hookimpl
        def pyresque_after_enqueue(self, job: Job) -> None:
            seen.append(job.class_name)

    one, two = Resque("fakeredis://"), Resque("fakeredis://")
    one.plugins.register(Spy())
    one.enqueue("q", "A")
    two.enqueue("q", "B")
    assert seen == ["A"]


def test_register_refuses_a_hook_name_that_is_not_a_spec() -> None:
    """A misspelled hook is an error at registration, and nothing stays registered."""

    class Typo:
        @hookimpl
        def pyresque_before_perfrom(self) -> None: ...

    hooks = HookManager()
    plugin = Typo()
    with pytest.raises(pluggy.PluginValidationError):
        hooks.register(plugin)
    assert not hooks.pm.is_registered(plugin)


def test_registering_a_retry_plugin_replaces_the_builtin_one() -> None:
    """Only one retry plugin is active, so a configured one never doubles retries."""
    mine = RetryPlugin(default=RetryPolicy(limit=2))
    app = Resque("fakeredis://", plugins=[mine])
    retries = [p for p in app.plugins.pm.get_plugins() if isinstance(p, RetryPlugin)]
    assert retries == [mine] and app.plugins.retry is mine


def test_perform_with_wrappers_runs_the_job_once_inside_them() -> None:
    """Around-perform wrappers enclose runner(), which the default perform calls once."""
    order: list[str] = []

    class Around:
        @hookimpl(wrapper=True)
        def pyresque_perform(self, job: Job) -> Generator[None, Any, Any]:
            order.append("enter")
            result = yield
            order.append(f"exit:{result}")
            return result * 2

    app = Resque("fakeredis://", plugins=[Around()])
    result = app.hooks.perform(_worker(app), _job(), lambda: order.append("run") or 21)
    assert result == 42
    assert order == ["enter", "run", "exit:21"]


def test_on_failure_hooks_are_isolated_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    """One on_failure plugin raising is logged; the others still run and may handle it."""
    ran: list[str] = []

    class Broken:
        @hookimpl
        def pyresque_on_failure(self, exception: BaseException) -> None:
            ran.append("broken")
            raise RuntimeError("tracker down")

    class Handler:
        @hookimpl
        def pyresque_on_failure(self, job: Job) -> bool:
            ran.append("handler")
            return True

    app = Resque("fakeredis://", plugins=[Handler(), Broken()])
    with caplog.at_level(logging.ERROR, logger="pyresque.hooks.manager"):
        handled = app.hooks.on_failure(_worker(app), _job(), ValueError("x"))
    assert handled is True
    assert ran == ["broken", "handler"]
    assert "tracker down" in caplog.text


def test_on_failure_not_handled_when_no_plugin_says_true() -> None:
    """Returning None or False from on_failure leaves the failure to be recorded."""

    class Quiet:
        @hookimpl
        def pyresque_on_failure(self) -> bool:
            return False

    app = Resque("fakeredis://", plugins=[Quiet()])
    assert app.hooks.on_failure(_worker(app), _job(), ValueError("x")) is False


@pytest.mark.parametrize("hook", ["queue_empty", "before_pause", "after_pause", "shutdown", "worker_exit"])
def test_worker_lifecycle_hook_exceptions_never_reach_the_worker(hook: str) -> None:
    """Lifecycle hooks raising are logged; the next plugin still runs, nothing propagates."""
    ran: list[str] = []

    def raising(self: object, worker: Any) -> None:
        ran.append("raising")
        raise RuntimeError("boom")

    def fine(self: object, worker: Any) -> None:
        ran.append(f"fine:{worker.id}")

    spec_name = f"pyresque_{hook}"
    Raising = type("Raising", (), {spec_name: hookimpl(raising)})
    Fine = type("Fine", (), {spec_name: hookimpl(fine)})
    app = Resque("fakeredis://", plugins=[Fine(), Raising()])
    getattr(app.hooks, hook)(_worker(app))
    assert ran == ["raising", "fine:host:1:q"]


def test_before_enqueue_exceptions_propagate_and_write_nothing() -> None:
    """Not in the log-and-ignore set: a before_enqueue error reaches the caller."""

    class Refuse:
        @hookimpl
        def pyresque_before_enqueue(self, job: Job) -> None:
            raise DontEnqueue("no")

    app = Resque("fakeredis://", plugins=[Refuse()])
    with pytest.raises(DontEnqueue):
        app.enqueue("q", "Echo", 1)
    assert app.size("q") == 0


def test_blocked_from_env_parses_comma_separated_names() -> None:
    """PYRESQUE_DISABLE_PLUGINS is split on commas, blanks dropped."""
    env = {"PYRESQUE_DISABLE_PLUGINS": " slowlog , ,pyresque.retry"}
    assert HookManager.blocked_from_env(env) == ["slowlog", "pyresque.retry"]
    assert HookManager.blocked_from_env({}) == []


def test_load_entry_points_reports_a_broken_plugin_clearly(monkeypatch: pytest.MonkeyPatch) -> None:
    """An entry point that cannot import raises ConfigurationError naming it."""
    import importlib.metadata as md

    broken = md.EntryPoint(name="broken", value="no_such_module_xyz:plugin", group="pyresque")
    monkeypatch.setattr(md, "entry_points", lambda group: [broken] if group == "pyresque" else [])
    with pytest.raises(ConfigurationError, match="broken"):
        HookManager(load_entry_points=True)
    hooks = HookManager(load_entry_points=True, blocked=["broken"])
    assert "broken" not in hooks.names()


def test_load_entry_points_instantiates_classes_and_registers_under_the_entry_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An entry point naming a class is instantiated and registered as its entry name."""
    import importlib.metadata as md

    ep = md.EntryPoint(name="spy", value="tests.unit.test_hooks:EntrySpy", group="pyresque")
    monkeypatch.setattr(md, "entry_points", lambda group: [ep] if group == "pyresque" else [])
    hooks = HookManager()
    assert hooks.load_entry_points() == ["spy"]
    assert isinstance(hooks.pm.get_plugin("spy"), EntrySpy)
    assert hooks.load_entry_points() == []  # already registered: not twice


class EntrySpy:
    """A plugin class loaded through a (monkeypatched) entry point."""

    @hookimpl
    def pyresque_queue_empty(self) -> None:
        """Nothing to do."""
