"""Hooks through the real worker: each fires once, in the right process and order.

In-process mode runs on fakeredis; fork mode needs a real redis-server (the child is a
fork of this test process, so it shares the app and its plugins).
"""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from pyresque import JobStatus, Resque, hookimpl
from pyresque.core.job import Job
from pyresque.core.worker import Worker

#: redis-py >= 5.3 deprecates ``get_connection(command_name)``, which the worker's hot path
#: (``backends/redis/workers.py``) still calls; unrelated to what these tests check.
REDIS_PY_DEPRECATION = pytest.mark.filterwarnings("ignore:Call to 'get_connection':DeprecationWarning")
pytestmark = REDIS_PY_DEPRECATION


def _log(path: str, event: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {event}\n")


class Traced:
    """Logs set_up / perform / tear_down to the file named by its first argument."""

    def set_up(self) -> None:
        _log(self.args[0], "set_up")  # type: ignore[attr-defined]

    def perform(self, path: str, mode: str) -> str:
        _log(path, f"perform {mode}")
        if mode == "fail":
            raise ValueError("traced failure")
        return f"result-{mode}"

    def tear_down(self) -> None:
        _log(self.args[0], "tear_down")  # type: ignore[attr-defined]


class Recorder:
    """Logs every worker hook with its process id and what the app shows at that moment."""

    def __init__(self, app: Resque, path: str) -> None:
        self.app = app
        self.path = path

    def _state(self, job: Job) -> str:
        status = self.app.tracked(job.id).status if job.id else None
        return (
            f"processed={self.app.backend.stats.get('processed')} "
            f"failed={self.app.backend.stats.get('failed')} "
            f"records={self.app.failures.count()} status={status.name if status else None}"
        )

    @hookimpl
    def pyresque_before_first_fork(self, worker: Any) -> None:
        _log(self.path, f"before_first_fork {worker.id == self.worker_id(worker)}")

    @staticmethod
    def worker_id(worker: Any) -> str:
        return f"{worker.hostname}:{os.getpid()}:q"

    @hookimpl
    def pyresque_before_fork(self, job: Job) -> None:
        _log(self.path, f"before_fork {job.args[1]}")

    @hookimpl
    def pyresque_after_fork(self, job: Job) -> None:
        _log(self.path, f"after_fork {job.args[1]}")

    @hookimpl
    def pyresque_before_perform(self, worker: Any, job: Job) -> None:
        _log(self.path, f"before_perform {job.args[1]} {self._state(job)}")

    @hookimpl(wrapper=True)
    def pyresque_perform(self, job: Job) -> Generator[None, Any, Any]:
        _log(self.path, "around_enter")
        try:
            result = yield
        except BaseException as exc:
            _log(self.path, f"around_raise {type(exc).__name__}")
            raise
        _log(self.path, f"around_exit {result}")
        return result

    @hookimpl
    def pyresque_after_perform(self, job: Job, result: Any) -> None:
        _log(self.path, f"after_perform {result} {self._state(job)}")

    @hookimpl
    def pyresque_on_failure(self, job: Job, exception: BaseException) -> None:
        _log(self.path, f"on_failure {type(exception).__name__}:{exception} {self._state(job)}")

    @hookimpl
    def pyresque_worker_exit(self, worker: Any) -> None:
        _log(self.path, "worker_exit")


def _events(path: Path) -> list[tuple[int, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        pid, event = line.split(" ", 1)
        out.append((int(pid), event))
    return out


def _run(app: Resque, mode: str, tmp_path: Path) -> tuple[list[tuple[int, str]], list[str]]:
    trace = tmp_path / "trace"
    app.plugins.register(Recorder(app, str(trace)))
    app.job(Traced, name="Traced")
    ids = [
        app.enqueue("q", "Traced", str(trace), "ok", track_status=True),
        app.enqueue("q", "Traced", str(trace), "fail", track_status=True),
    ]
    Worker(app, "q", mode=mode, burst=True, heartbeat_interval=0).work()
    return _events(trace), ids


def _check(app: Resque, events: list[tuple[int, str]], ids: list[str], forked: bool) -> None:
    me = os.getpid()
    parent = [e for pid, e in events if pid == me]
    others = {pid for pid, _ in events if pid != me}
    child = [e for pid, e in events if pid != me]
    job_events = child if forked else [e for e in parent if not e.startswith(("before_first", "worker_exit"))]
    assert len(others) == (2 if forked else 0)
    assert parent[0] == "before_first_fork True" and parent[-1] == "worker_exit"
    expected_parent = ["before_first_fork True", "before_fork ok", "before_fork fail", "worker_exit"]
    if forked:
        assert parent == expected_parent
    running = "processed=0 failed=0 records=0 status=RUNNING"
    assert job_events == [
        *([] if forked else ["before_fork ok"]),
        *(["after_fork ok"] if forked else []),
        f"before_perform ok {running}",
        "around_enter",
        "set_up",
        "perform ok",
        "tear_down",
        "around_exit result-ok",
        f"after_perform result-ok {running}",
        *([] if forked else ["before_fork fail"]),
        *(["after_fork fail"] if forked else []),
        "before_perform fail processed=1 failed=0 records=0 status=RUNNING",
        "around_enter",
        "set_up",
        "perform fail",
        "tear_down",
        "around_raise ValueError",
        "on_failure ValueError:traced failure processed=1 failed=0 records=0 status=RUNNING",
    ]
    stats = app.backend.stats
    assert stats.get("processed") == 2 and stats.get("failed") == 1 and app.failures.count() == 1
    assert app.tracked(ids[0]).status == JobStatus.COMPLETE
    assert app.tracked(ids[1]).status == JobStatus.FAILED


def test_hooks_fire_once_in_order_in_process(tmp_path: Path) -> None:
    """In-process: every hook once, around set_up/perform/tear_down, before status/stat writes."""
    app = Resque("fakeredis://")
    events, ids = _run(app, "inprocess", tmp_path)
    _check(app, events, ids, forked=False)


@pytest.mark.redis
def test_hooks_fire_in_the_right_process_when_forking(redis_url: str, tmp_path: Path) -> None:
    """Fork mode: before_fork in the parent, after_fork and the job's hooks in each child."""
    app = Resque(redis_url)
    try:
        events, ids = _run(app, "fork", tmp_path)
        _check(app, events, ids, forked=True)
    finally:
        app.close()


def test_a_raising_lifecycle_hook_never_stops_the_worker(tmp_path: Path) -> None:
    """worker_exit / on_failure plugins raising: jobs still run and are recorded."""

    class Broken:
        @hookimpl
        def pyresque_on_failure(self) -> None:
            raise RuntimeError("broken failure hook")

        @hookimpl
        def pyresque_worker_exit(self) -> None:
            raise RuntimeError("broken exit hook")

    app = Resque("fakeredis://", plugins=[Broken()])
    app.job(Traced, name="Traced")
    trace = tmp_path / "t"
    app.enqueue("q", "Traced", str(trace), "fail")
    app.enqueue("q", "Traced", str(trace), "ok")
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    assert app.failures.count() == 1 and app.backend.stats.get("processed") == 2
    assert "perform ok" in trace.read_text()


def _raising_plugin(hook: str, fail_on: str) -> object:
    """A plugin whose ``hook`` raises for the job whose mode is ``fail_on``."""

    def impl(self: object, job: Job) -> None:
        if job.args[1] == fail_on:
            raise RuntimeError(f"{hook} broke")

    return type("Raising", (), {f"pyresque_{hook}": hookimpl(impl)})()


@pytest.mark.parametrize("hook", ["before_fork", "before_perform", "after_perform"])
def test_a_raising_job_hook_fails_only_that_job(hook: str, tmp_path: Path) -> None:
    """before_fork / before_perform / after_perform raising: that job fails, the next runs."""
    app = Resque("fakeredis://", plugins=[_raising_plugin(hook, "ok")])
    app.job(Traced, name="Traced")
    trace = tmp_path / "t"
    app.enqueue("q", "Traced", str(trace), "ok")
    app.enqueue("q", "Traced", str(trace), "second")
    Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    (record,) = app.failures.all(0, 10)
    assert record.exception == "RuntimeError" and record.error == f"{hook} broke"
    assert record.payload["args"][1] == "ok"
    assert "perform second" in trace.read_text()
    assert app.backend.stats.get("processed") == 2 and app.backend.stats.get("failed") == 1


@pytest.mark.redis
def test_a_raising_after_fork_hook_fails_the_job_in_the_child(redis_url: str, tmp_path: Path) -> None:
    """after_fork raising in the child fails that job; the worker goes on."""
    app = Resque(redis_url, plugins=[_raising_plugin("after_fork", "ok")])
    try:
        app.job(Traced, name="Traced")
        trace = tmp_path / "t"
        app.enqueue("q", "Traced", str(trace), "ok")
        app.enqueue("q", "Traced", str(trace), "second")
        Worker(app, "q", mode="fork", burst=True, heartbeat_interval=0).work()
        (record,) = app.failures.all(0, 10)
        assert record.error == "after_fork broke" and "perform second" in trace.read_text()
    finally:
        app.close()


def test_a_raising_before_first_fork_stops_the_worker_cleanly() -> None:
    """before_first_fork raising propagates: no job is taken and the worker unregisters."""

    class Refuse:
        @hookimpl
        def pyresque_before_first_fork(self) -> None:
            raise RuntimeError("not ready")

    app = Resque("fakeredis://", plugins=[Refuse()])
    app.job(Traced, name="Traced")
    app.enqueue("q", "Traced", "/dev/null", "ok")
    with pytest.raises(RuntimeError, match="not ready"):
        Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    assert app.size("q") == 1 and app.backend.workers.all() == []


def test_lifecycle_hooks_fire_once_each_in_the_worker_process() -> None:
    """queue_empty, before/after_pause, shutdown and worker_exit, in order, in this process."""
    events: list[tuple[int, str]] = []

    class Lifecycle:
        @hookimpl
        def pyresque_queue_empty(self, worker: Any) -> None:
            events.append((os.getpid(), "queue_empty"))
            if len([e for _, e in events if e == "queue_empty"]) == 1:
                worker.paused = True  # what USR2 does
            else:
                worker.request_shutdown()  # what QUIT does

        @hookimpl
        def pyresque_before_pause(self, worker: Any) -> None:
            events.append((os.getpid(), "before_pause"))
            worker.paused = False  # what CONT does

        @hookimpl
        def pyresque_after_pause(self) -> None:
            events.append((os.getpid(), "after_pause"))

        @hookimpl
        def pyresque_shutdown(self) -> None:
            events.append((os.getpid(), "shutdown"))

        @hookimpl
        def pyresque_worker_exit(self) -> None:
            events.append((os.getpid(), "worker_exit"))

    app = Resque("fakeredis://", plugins=[Lifecycle()])
    Worker(app, "q", mode="inprocess", interval=0.05, heartbeat_interval=0).work()
    assert events == [
        (os.getpid(), e)
        for e in ["queue_empty", "before_pause", "after_pause", "queue_empty", "shutdown", "worker_exit"]
    ]
