"""A worker that says what it does (issue 11, "missing that users reach for at once").

By default: one start line (backend with the password masked, namespace, queues, mode,
jobs registered), one WARNING line per failed job (escaped, truncated: payload text
never makes a line of its own), one stop line (counts, and why it stopped). ``-v``
adds a line per job. A dirty exit is logged once, in plain words.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyresque import Resque
from tests.redis_server import RedisServer, in_ci
from tests.worker_proc import ROOT, start_worker, stop, wait_for

pytestmark = pytest.mark.redis

PASSWORD = "voice-s3cret"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \[\d+\] ")
HOSTILE = "Evil\n2026-01-01 00:00:00,000 ERROR [1] fake: \x1b[31mowned\u202e"


def _server(**kwargs: str) -> RedisServer:
    try:
        server = RedisServer(**kwargs)  # type: ignore[arg-type]
        server.start()
    except (FileNotFoundError, RuntimeError) as exc:
        if in_ci():
            pytest.fail(f"CI needs a redis-server: {exc}")
        pytest.skip(f"no redis-server: {exc}")
    return server


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A redis-server of this test alone (it may be stopped)."""
    server = _server()
    yield server
    server.close()


def _burst(url: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    full = {k: v for k, v in os.environ.items() if k not in ("VERBOSE", "LOGGING", "VVERBOSE", "QUEUE")}
    full["PYTHONPATH"] = str(ROOT) + os.pathsep + full.get("PYTHONPATH", "")
    full.update(env or {})
    proc = subprocess.run(
        [sys.executable, "-m", "pyresque", "worker", "-q", "q", "--burst", "--redis", url,
         "--app-include", "tests.worker_jobs", *args],
        capture_output=True, text=True, timeout=60, env=full, cwd=ROOT,
    )  # fmt: skip
    return proc.returncode, proc.stderr


def _lines(stderr: str, needle: str) -> list[str]:
    return [line for line in stderr.splitlines() if needle in line]


def test_default_lines_start_failures_stop() -> None:
    """No -v: the start line (password masked), a WARNING per failed job, the stop
    line; no line for a job that succeeded; hostile payload text stays inside its line."""
    server = _server(requirepass=PASSWORD)
    try:
        url = f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0"
        app = Resque(url)
        ok_id = app.enqueue("q", "noop")
        boom_id = app.enqueue("q", "boom", 1)
        app.backend.client.rpush(  # type: ignore[attr-defined]
            "resque:queue:q", ('{"class":' + _json(HOSTILE) + ',"args":[],"id":"x\\u001b[2J"}').encode()
        )
        app.close()
        code, stderr = _burst(url, "--mode", "inprocess")
    finally:
        server.close()
    assert code == 0, stderr
    assert PASSWORD not in stderr
    assert "\x1b" not in stderr and "\u202e" not in stderr
    for line in stderr.splitlines():  # every line is a log line: nothing was injected
        assert LOG_LINE.match(line), line
        assert not line.startswith("2026-01-01 00:00:00,000"), line
    (start,) = _lines(stderr, " started: ")
    assert " INFO " in start
    assert f"redis://:***@127.0.0.1:{server.port}/0" in start
    assert "namespace resque" in start and "queues q" in start and "inprocess mode" in start
    assert re.search(r"\d+ jobs registered", start)
    (boom,) = _lines(stderr, f"id={boom_id}")
    assert " WARNING " in boom and "boom" in boom and "failed: RuntimeError: boom" in boom
    (evil,) = _lines(stderr, "Evil")
    assert " WARNING " in evil and "Evil\\n2026" in evil and "\\x1b[31mowned\\u202e" in evil
    assert "id=x\\x1b[2J" in evil
    assert not _lines(stderr, f"id={ok_id}")  # done jobs are -v only
    (end,) = _lines(stderr, " stopped (")
    assert "stopped (burst: the queues are empty): 3 processed, 2 failed in this run" in end


def test_verbose_adds_a_line_per_job(redis_url: str) -> None:
    app = Resque(redis_url)
    ok_id = app.enqueue("q", "noop")
    code, stderr = _burst(redis_url, "--mode", "inprocess", "-v")
    assert code == 0, stderr
    (done,) = _lines(stderr, f"id={ok_id}")
    assert " INFO " in done and done.endswith(" done")


def test_fork_every_counts_every_job_of_a_child(redis_url: str) -> None:
    app = Resque(redis_url)
    for name in ("noop", "boom", "noop", "noop"):
        app.enqueue("q", name)
    code, stderr = _burst(redis_url, "--mode", "fork-every")
    assert code == 0, stderr
    assert "4 processed, 1 failed in this run" in stderr, stderr
    assert len(_lines(stderr, "failed: RuntimeError: boom")) == 1


def test_a_child_killed_by_a_signal_is_one_plain_line(redis_url: str) -> None:
    app = Resque(redis_url)
    job_id = app.enqueue("q", "kill_self")
    code, stderr = _burst(redis_url, "--mode", "fork")
    assert code == 0, stderr
    assert "Traceback" not in stderr
    (line,) = _lines(stderr, f"id={job_id}")
    assert " ERROR " in line
    assert "was killed by SIGKILL; recorded as failed (DirtyExit)" in line
    assert "1 processed, 1 failed in this run" in stderr


def test_losing_the_backend_while_stopping_is_logged_once(own_server: RedisServer, tmp_path: Path) -> None:
    """Told to stop while Redis is gone: one ERROR stop line in plain words, exit 1,
    no traceback, no second message."""
    log = tmp_path / "worker.log"
    proc = start_worker(own_server.url, "q", "--mode", "inprocess", log=log)
    try:
        wait_for(lambda: " started: " in log.read_text(), 20, "the start line")
        own_server.stop()
        wait_for(lambda: "unreachable" in log.read_text(), 20, "the worker noticing")
        proc.send_signal(signal.SIGQUIT)
        code = stop(proc, 30)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = log.read_text()
    assert code == 1, text
    assert "Traceback" not in text
    (end,) = _lines(text, " stopped (")
    assert " ERROR " in end and "is unreachable" in end and "records stay in Redis" in end
    assert len(_lines(text, "unreachable")) == 2, text  # when it went, and the stop line
    assert not [line for line in text.splitlines() if line.startswith("Error:")]


def test_an_unexpected_error_is_logged_once(redis_url: str, tmp_path: Path) -> None:
    """A crash (here a before_first_fork hook that raises): its traceback once, in the
    stop line, exit 1, and the CLI does not print it again."""
    (tmp_path / "crashing_hook.py").write_text(
        textwrap.dedent(
            """
            from pyresque import hookimpl

            class Crash:
                @hookimpl
                def pyresque_before_first_fork(self, worker):
                    raise RuntimeError("the hook is broken")

            def register(app):
                app.hooks.register(Crash())
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    proc = subprocess.run(
        [sys.executable, "-m", "pyresque", "worker", "-q", "q", "--burst", "--mode", "inprocess",
         "--redis", redis_url, "--app-include", "crashing_hook"],
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("Traceback") == 1, proc.stderr
    (end,) = _lines(proc.stderr, " stopped (")
    assert "stopped (an unexpected error: RuntimeError: the hook is broken)" in end


def _json(text: str) -> str:
    import json

    return json.dumps(text)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain", "plain"),
        ("two\nlines\r\t", "two\\nlines\\r\\t"),
        ("\x1b[31mred\x7f\x85", "\\x1b[31mred\\x7f\\x85"),
        ("rtl\u202eabc\u2028\u2066", "rtl\\u202eabc\\u2028\\u2066"),
        ("lone \ud800 surrogate", "lone \\ud800 surrogate"),
    ],
)
def test_clean_escapes_what_could_forge_or_break_a_line(raw: str, shown: str) -> None:
    from pyresque.core.worker.voice import clean

    assert clean(raw) == shown


def test_clean_and_exception_text_truncate() -> None:
    from pyresque.core.worker.voice import clean, exception_text

    assert clean("x" * 500, 20) == "x" * 19 + "\u2026"
    assert len(clean("\n" * 500, 20)) == 20
    text = exception_text(ValueError("first line\nsecond line"))
    assert text == "ValueError: first line \u2026"
    assert len(exception_text(ValueError("y" * 10_000))) < 250
