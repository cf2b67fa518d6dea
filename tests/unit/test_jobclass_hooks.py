"""Per-job class hooks, Ruby's way: prefixes, name order, around nesting, vetoes."""

from __future__ import annotations

import contextlib
from collections.abc import Generator, Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from pyresque import DontEnqueue, DontPerform, Resque
from pyresque.core.errors import ConfigurationError
from pyresque.core.job import Job
from pyresque.core.worker.perform import perform_job

EVENTS: list[str] = []


class Hooked:
    """Every hook family, two of each, defined out of name order."""

    @classmethod
    def before_perform_b(cls, *args: Any) -> None:
        EVENTS.append(f"before_b{args}")

    @classmethod
    def before_perform(cls, *args: Any) -> None:
        EVENTS.append("before")

    @classmethod
    def before_perform_a(cls, *args: Any) -> None:
        EVENTS.append("before_a")

    @classmethod
    def around_perform_2(cls, *args: Any) -> Generator[None, Any, None]:
        EVENTS.append("around2_in")
        result = yield
        EVENTS.append(f"around2_out:{result}")

    @classmethod
    def around_perform_1(cls, *args: Any) -> Generator[None, Any, None]:
        EVENTS.append("around1_in")
        yield
        EVENTS.append("around1_out")

    @staticmethod
    def after_perform_x(*args: Any) -> None:
        EVENTS.append(f"after_x{args}")

    @staticmethod
    def on_failure_z(exc: BaseException, *args: Any) -> None:
        EVENTS.append(f"fail_z:{exc}")

    @staticmethod
    def on_failure_a(exc: BaseException, *args: Any) -> None:
        EVENTS.append(f"fail_a:{type(exc).__name__}{args}")
        raise RuntimeError("failure hook broke")

    @classmethod
    def before_enqueue_check(cls, *args: Any) -> bool:
        EVENTS.append(f"before_enqueue{args}")
        return args != ("veto",)

    @classmethod
    def after_enqueue_note(cls, *args: Any) -> None:
        EVENTS.append(f"after_enqueue{args}")

    @classmethod
    def before_dequeue_check(cls, *args: Any) -> bool | None:
        return False if args == ("keep",) else None

    @classmethod
    def after_dequeue_note(cls, *args: Any) -> None:
        EVENTS.append(f"after_dequeue{args}")

    def set_up(self) -> None:
        EVENTS.append("set_up")

    def perform(self, *args: Any) -> str:
        EVENTS.append(f"perform{args}")
        if args and args[0] == "fail":
            raise ValueError("job failed")
        return "ok"

    def tear_down(self) -> None:
        EVENTS.append("tear_down")


class NoYield:
    """An around hook that does not yield skips the job."""

    @classmethod
    def around_perform_gate(cls, *args: Any) -> Generator[None, Any, None]:
        EVENTS.append("gate")
        if False:  # pragma: no cover - makes this a generator that never yields
            yield

    def perform(self) -> None:
        EVENTS.append("perform")


class Rescuer:
    """An around hook may swallow the job's exception, as a Ruby rescue would."""

    @classmethod
    def around_perform_rescue(cls, *args: Any) -> Generator[None, Any, None]:
        try:
            yield
        except ValueError:
            EVENTS.append("rescued")

    def perform(self) -> None:
        raise ValueError("swallowed")


class Skipper:
    """A before_perform hook raising DontPerform."""

    @classmethod
    def before_perform_skip(cls, *args: Any) -> None:
        raise DontPerform("not today")

    def perform(self) -> None:
        EVENTS.append("perform")


class InstanceHook:
    """A hook defined as an instance method: refused with a clear error."""

    def before_perform_oops(self) -> None: ...

    def perform(self) -> None: ...


@pytest.fixture
def app() -> Resque:
    """A fakeredis app with the test classes registered."""
    EVENTS.clear()
    resque = Resque("fakeredis://")
    for cls in (Hooked, NoYield, Rescuer, Skipper, InstanceHook):
        resque.job(cls, name=cls.__name__)
    return resque


def _worker(app: Resque) -> Any:
    return SimpleNamespace(app=app, id="host:1:q")


def test_perform_hooks_run_in_name_order_around_set_up_perform_tear_down(app: Resque) -> None:
    """before_perform* by name, around_perform* nested (first outermost), after_perform*."""
    outcome = perform_job(_worker(app), Job.new("q", "Hooked", [1, "x"]))
    assert outcome.ok and outcome.result == "ok"
    assert EVENTS == [
        "before",
        "before_a",
        "before_b(1, 'x')",
        "around1_in",
        "around2_in",
        "set_up",
        "perform(1, 'x')",
        "tear_down",
        "around2_out:ok",
        "around1_out",
        "after_x(1, 'x')",
    ]


def test_failure_hooks_get_the_exception_and_args_and_a_broken_one_does_not_stop_the_rest(
    app: Resque,
) -> None:
    """on_failure* run in name order with (exc, *args); after_perform is not run."""
    outcome = perform_job(_worker(app), Job.new("q", "Hooked", ["fail"]))
    assert not outcome.ok and isinstance(outcome.exception, ValueError)
    assert outcome.record is not None and outcome.record.error == "job failed"
    assert EVENTS[-2:] == ["fail_a:ValueError('fail',)", "fail_z:job failed"]
    assert not any(e.startswith("after_x") for e in EVENTS)
    assert "around2_out:ok" not in EVENTS and "tear_down" in EVENTS


def test_around_hook_that_does_not_yield_skips_the_job(app: Resque) -> None:
    """A non-yielding around hook means the job is not performed and not failed."""
    outcome = perform_job(_worker(app), Job.new("q", "NoYield"))
    assert outcome.ok and outcome.skipped
    assert EVENTS == ["gate"]


def test_around_hook_can_swallow_the_job_exception(app: Resque) -> None:
    """An around hook that catches the exception turns the run into a success (result None)."""
    outcome = perform_job(_worker(app), Job.new("q", "Rescuer"))
    assert outcome.ok and outcome.result is None
    assert EVENTS == ["rescued"]


def test_before_perform_dont_perform_skips_without_failure(app: Resque) -> None:
    """DontPerform from a class hook: skipped, not performed, no failure record."""
    outcome = perform_job(_worker(app), Job.new("q", "Skipper"))
    assert outcome.ok and outcome.skipped and outcome.record is None
    assert EVENTS == []


def test_instance_method_hook_is_refused_with_a_clear_error(app: Resque) -> None:
    """A hook that is a plain instance method fails the job, naming the fix."""
    outcome = perform_job(_worker(app), Job.new("q", "InstanceHook"))
    assert not outcome.ok and isinstance(outcome.exception, ConfigurationError)
    assert "classmethod" in str(outcome.exception)


def test_before_enqueue_returning_false_vetoes_and_after_enqueue_runs(app: Resque) -> None:
    """before_enqueue* returning False: DontEnqueue, nothing written; else after_enqueue* runs."""
    with pytest.raises(DontEnqueue, match="before_enqueue_check"):
        app.enqueue("q", Hooked, "veto")
    assert app.size("q") == 0
    app.enqueue("q", Hooked, "fine")
    assert app.size("q") == 1
    assert EVENTS == ["before_enqueue('veto',)", "before_enqueue('fine',)", "after_enqueue('fine',)"]


def test_before_dequeue_returning_false_keeps_the_job(app: Resque) -> None:
    """dequeue skips jobs a before_dequeue* hook keeps; after_dequeue* runs for removed ones."""
    app.enqueue("q", Hooked, "keep")
    app.enqueue("q", Hooked, "drop")
    EVENTS.clear()
    assert app.dequeue("q", Hooked) == 1
    assert [j.args for j in app.peek("q", 0, 10)] == [("keep",)]
    assert EVENTS == ["after_dequeue('drop',)"]


def test_jobs_of_unknown_classes_have_no_class_hooks(app: Resque) -> None:
    """A foreign class name (not registered) enqueues without hooks or errors."""
    app.enqueue("q", "Ruby::Job", 1)
    assert app.size("q") == 1 and EVENTS == []


class Scheduled:
    """resque-scheduler's per-class hooks."""

    @classmethod
    def after_schedule_note(cls, *args: Any) -> None:
        EVENTS.append(f"after_schedule{args}")

    @classmethod
    def before_delayed_enqueue_note(cls, *args: Any) -> None:
        EVENTS.append(f"before_delayed_enqueue{args}")

    @classmethod
    def before_delayed_enqueue_zbroken(cls, *args: Any) -> None:
        raise RuntimeError("hook failure must not lose the job")

    def perform(self, *args: Any) -> None: ...


def test_scheduler_class_hooks_fire_and_never_lose_the_job(app: Resque) -> None:
    """after_schedule* on enqueue_at; before_delayed_enqueue* on promotion (errors logged)."""
    from pyresque.core.scheduling.promotion import Promoter

    app.job(Scheduled, name="Scheduled")
    app.enqueue_at(4_000_000_000, "q", Scheduled, 1)
    assert EVENTS == ["after_schedule(1,)"]
    result = Promoter(app).promote_due(4_000_000_000)
    assert result.promoted == 1 and app.size("q") == 1
    assert EVENTS == ["after_schedule(1,)", "before_delayed_enqueue(1,)"]


class LateFailure:
    """The inner around hook fails after the job; the outer one sees that exception."""

    @classmethod
    def around_perform_a_outer(cls, *args: Any) -> Generator[None, Any, None]:
        try:
            yield
        except RuntimeError as exc:
            EVENTS.append(f"outer saw {exc}")
            raise

    @classmethod
    def around_perform_b_inner(cls, *args: Any) -> Generator[None, Any, None]:
        yield
        raise RuntimeError("inner cleanup failed")

    def perform(self) -> str:
        EVENTS.append("perform")
        return "ok"


def test_an_around_hook_failing_after_the_job_fails_it_through_the_outer_hooks(app: Resque) -> None:
    """An exception raised by an inner around hook after the yield propagates through outer ones."""
    app.job(LateFailure, name="LateFailure")
    outcome = perform_job(_worker(app), Job.new("q", "LateFailure"))
    assert not outcome.ok and str(outcome.exception) == "inner cleanup failed"
    assert EVENTS == ["perform", "outer saw inner cleanup failed"]


class ContextAround:
    """around_perform hooks written as context managers."""

    @classmethod
    @contextlib.contextmanager
    def around_perform_cm(cls, *args: Any) -> Iterator[None]:
        EVENTS.append("cm_enter")
        try:
            yield
        finally:
            EVENTS.append("cm_exit")

    @classmethod
    def around_perform_suppress(cls, *args: Any) -> contextlib.AbstractContextManager[None]:
        return contextlib.suppress(KeyError)

    def perform(self, mode: str) -> str:
        EVENTS.append(f"perform {mode}")
        if mode == "key":
            raise KeyError("suppressed")
        if mode == "value":
            raise ValueError("not suppressed")
        return "ok"


@pytest.mark.parametrize(
    ("mode", "ok", "result"), [("fine", True, "ok"), ("key", True, None), ("value", False, None)]
)
def test_around_hooks_may_be_context_managers(app: Resque, mode: str, ok: bool, result: Any) -> None:
    """@contextmanager and plain context managers wrap the job; __exit__ may suppress."""
    app.job(ContextAround, name="ContextAround")
    outcome = perform_job(_worker(app), Job.new("q", "ContextAround", [mode]))
    assert outcome.ok is ok and outcome.result == result
    assert list(EVENTS) == ["cm_enter", f"perform {mode}", "cm_exit"]
