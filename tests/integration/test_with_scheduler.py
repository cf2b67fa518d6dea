"""``pyresque worker --with-scheduler`` (issue 11): delayed jobs promoted without a
second process, under the leader lock ``pyresque scheduler`` takes, so many workers
can pass the flag and one promotes at a time; fail-over when that worker dies; QUIT
stops it with the worker; a lost Redis does not kill it.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyresque import Resque
from tests.integration.scheduler_procs import LOCK_KEY, SchedulerProc
from tests.redis_server import RedisServer, in_ci
from tests.worker_proc import start_worker, stop, trace_lines, wait_for

pytestmark = pytest.mark.redis

HOST = socket.gethostname()
ARGS = ("--mode", "inprocess", "--with-scheduler", "--scheduler-interval", "0.2")


class Worker:
    """A ``pyresque worker --with-scheduler`` process and its log."""

    def __init__(self, url: str, log: Path, trace: Path, *extra: str) -> None:
        self.log = log
        self.proc: subprocess.Popen[bytes] = start_worker(url, "q", *ARGS, *extra, trace=trace, log=log)

    @property
    def lock_value(self) -> str:
        return f"{HOST}:{self.proc.pid}"

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def companion(self, after: int = 0) -> int:
        """The pid of the scheduler process it runs (the ``after``-th start: 0 first)."""
        found = wait_for(
            lambda: (
                len(pids := re.findall(r"scheduler running in process (\d+)", self.text())) > after and pids
            ),
            30,
            "the scheduler process",
        )
        assert isinstance(found, list)
        return int(found[after])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive: ask /proc
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _lock(app: Resque) -> str | None:
    value = app.backend.client.get(LOCK_KEY)  # type: ignore[attr-defined]
    return value.decode() if value is not None else None


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    made: list[Worker] = []
    yield made
    for w in made:
        w.close()


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    try:
        server = RedisServer()
        server.start()
    except (FileNotFoundError, RuntimeError) as exc:
        if in_ci():
            pytest.fail(f"CI needs a redis-server: {exc}")
        pytest.skip(f"no redis-server: {exc}")
    yield server
    server.close()


def test_many_workers_one_leader_and_fail_over(redis_url: str, tmp_path: Path, workers: list[Worker]) -> None:
    app = Resque(redis_url)
    trace = tmp_path / "trace"
    first = Worker(redis_url, tmp_path / "w1.log", trace)
    workers.append(first)
    wait_for(lambda: _lock(app) == first.lock_value, 30, "the first worker's scheduler to lead")
    second = Worker(redis_url, tmp_path / "w2.log", trace)
    workers.append(second)
    second_companion = second.companion()
    app.enqueue_in(0, "q", "record", "one")
    wait_for(lambda: trace_lines(trace) == ["one"], 30, "the delayed job to run")
    assert _lock(app) == first.lock_value  # still one leader
    assert _alive(second_companion)

    companion = first.companion()
    first.proc.send_signal(signal.SIGKILL)  # the leader dies without a word
    first.proc.wait(10)
    wait_for(lambda: not _alive(companion), 30, "the dead worker's scheduler to stop with it")
    wait_for(lambda: _lock(app) == second.lock_value, 30, "the other worker's scheduler to take over")
    app.enqueue_in(0, "q", "record", "two")
    wait_for(lambda: trace_lines(trace) == ["one", "two"], 30, "a delayed job after the fail-over")


def test_quit_stops_the_scheduler_with_the_worker(
    redis_url: str, tmp_path: Path, workers: list[Worker]
) -> None:
    app = Resque(redis_url)
    w = Worker(redis_url, tmp_path / "w.log", tmp_path / "trace")
    workers.append(w)
    companion = w.companion()
    wait_for(lambda: _lock(app) == w.lock_value, 30, "its scheduler to lead")
    assert "with the scheduler (process" in w.text()
    w.proc.send_signal(signal.SIGQUIT)
    assert stop(w.proc, 30) == 0, w.text()
    assert not _alive(companion)
    assert _lock(app) is None  # released on the way out: another takes over at once


def test_a_scheduler_process_that_dies_is_started_again(
    redis_url: str, tmp_path: Path, workers: list[Worker]
) -> None:
    app = Resque(redis_url)
    trace = tmp_path / "trace"
    w = Worker(redis_url, tmp_path / "w.log", trace)
    workers.append(w)
    old = w.companion()
    wait_for(lambda: _lock(app) == w.lock_value, 30, "its scheduler to lead")
    os.kill(old, signal.SIGKILL)
    new = w.companion(after=1)
    assert new != old and _alive(new)
    assert "was killed by SIGKILL; starting it again" in w.text()
    app.enqueue_in(0, "q", "record", "again")
    wait_for(lambda: trace_lines(trace) == ["again"], 30, "the restarted scheduler to promote")


def test_a_lost_redis_does_not_kill_it(
    own_server: RedisServer, tmp_path: Path, workers: list[Worker]
) -> None:
    trace = tmp_path / "trace"
    w = Worker(own_server.url, tmp_path / "w.log", trace)
    workers.append(w)
    companion = w.companion()
    app = Resque(own_server.url)
    wait_for(lambda: _lock(app) == w.lock_value, 30, "its scheduler to lead")
    app.close()
    own_server.stop()
    wait_for(lambda: "unreachable" in w.text(), 30, "the worker to notice")
    own_server.start()  # no persistence: an empty Redis
    app = Resque(own_server.url)
    app.enqueue_in(0, "q", "record", "back")
    wait_for(lambda: trace_lines(trace) == ["back"], 60, "a delayed job after Redis came back")
    assert _alive(companion) and w.companion() == companion  # never restarted
    assert "starting it again" not in w.text()
    app.close()


def test_it_shares_the_lock_with_pyresque_scheduler(
    redis_url: str, tmp_path: Path, workers: list[Worker]
) -> None:
    app = Resque(redis_url)
    standalone = SchedulerProc(redis_url, "--interval", "0.2")
    try:
        standalone.wait_started()
        wait_for(lambda: _lock(app) == f"{HOST}:{standalone.pid}", 30, "the standalone scheduler to lead")
        w = Worker(redis_url, tmp_path / "w.log", tmp_path / "trace")
        workers.append(w)
        w.companion()
        app.enqueue_in(0, "q", "record", "x")
        wait_for(lambda: trace_lines(tmp_path / "trace") == ["x"], 30, "the delayed job")
        assert _lock(app) == f"{HOST}:{standalone.pid}"  # the worker's scheduler follows
        assert standalone.terminate() == 0
        wait_for(lambda: _lock(app) == w.lock_value, 30, "the worker's scheduler to take over")
    finally:
        standalone.close()


def test_a_fakeredis_app_is_refused_in_one_line() -> None:
    """fakeredis lives in one process: a scheduler process beside the worker cannot share it."""
    proc = subprocess.run(
        [sys.executable, "-m", "pyresque", "worker", "-q", "q", "--burst",
         "--mode", "inprocess", "--with-scheduler", "--redis", "fakeredis://with-scheduler"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot share it" in proc.stderr
