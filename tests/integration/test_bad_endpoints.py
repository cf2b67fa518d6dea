"""A bad endpoint is one plain line and exit status 1, never a traceback; a refused
password is permanent, not retried (issue 11, item 6).

Real servers started here: a redis-server with ``requirepass``, the session's server
(for a database it lacks), and a TCP listener that answers like an HTTP server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from tests.endpoints import PASSWORD
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
#: far below "forever", far above any honest start-up under load
FAST = 30.0




def _run(*args: str, timeout: float = 120.0) -> tuple[int, str, float]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("REDIS_BACKEND", "REDIS_URL", "QUEUE", "APP_INCLUDE")
    }
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", "from pyresque.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    return proc.returncode, proc.stderr, time.monotonic() - started


def _one_line(stderr: str) -> str:
    """The single non-log line on stderr (log lines carry a timestamp), no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert len(lines) == 1, stderr
    assert lines[0].startswith("Error: "), stderr
    return lines[0]


def _worker(url: str) -> tuple[int, str, float]:
    return _run("worker", "-q", "q", "--burst", "--mode", "inprocess", "--redis", url, timeout=FAST + 30)


@pytest.mark.parametrize("credentials", [":wrong@", ""], ids=["wrong-password", "no-password"])
def test_worker_stops_at_once_on_a_refused_password(auth_server: RedisServer, credentials: str) -> None:
    """A wrong or missing password: one line, exit 1, quickly (not retried forever)."""
    try:
        code, stderr, took = _worker(f"redis://{credentials}127.0.0.1:{auth_server.port}/0")
    except subprocess.TimeoutExpired:
        pytest.fail("the worker kept retrying a refused password")
    assert code == 1, stderr
    line = _one_line(stderr)
    assert "authentication failed" in line
    assert "wrong" not in line  # the password is never shown
    assert "unreachable" not in stderr
    assert took < FAST


def test_worker_with_the_right_password_works(auth_server: RedisServer) -> None:
    code, stderr, _ = _worker(f"redis://:{PASSWORD}@127.0.0.1:{auth_server.port}/0")
    assert code == 0, stderr


def test_worker_count_refuses_a_wrong_password_before_forking(auth_server: RedisServer) -> None:
    try:
        code, stderr, _ = _run(
            "worker", "-q", "q", "--burst", "-c", "2", "--redis",
            f"redis://:wrong@127.0.0.1:{auth_server.port}/0", timeout=FAST + 30,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("the supervisor kept retrying a refused password")
    assert code == 1, stderr
    assert "authentication failed" in _one_line(stderr)


def test_worker_on_a_database_the_server_lacks(redis_server: RedisServer, redis_url: str) -> None:
    code, stderr, _ = _worker(f"redis://127.0.0.1:{redis_server.port}/99")
    assert code == 1, stderr
    assert "no such database" in _one_line(stderr)


def test_worker_on_a_server_that_is_not_redis(http_port: int) -> None:
    try:
        code, stderr, _ = _worker(f"redis://127.0.0.1:{http_port}/0")
    except subprocess.TimeoutExpired:
        pytest.fail("the worker kept retrying a server that is not Redis")
    assert code == 1, stderr
    assert "does not speak the Redis protocol" in _one_line(stderr)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost:notaport/0", "port 'notaport' is not a number"),
        ("redis://localhost:99999/0", "port '99999' is not a number"),
        ("redis://localhost:6379/abc", "database 'abc' is not a number"),
    ],
)
def test_worker_on_an_unreadable_url(url: str, message: str) -> None:
    code, stderr, _ = _worker(url)
    assert code == 1, stderr
    assert message in _one_line(stderr)


def test_operator_commands_say_the_same(
    auth_server: RedisServer, redis_server: RedisServer, http_port: int
) -> None:
    """`pyresque queues` on each bad endpoint: one line, exit 1."""
    cases = {
        f"redis://:wrong@127.0.0.1:{auth_server.port}/0": "authentication failed",
        f"redis://127.0.0.1:{auth_server.port}/0": "authentication failed",
        f"redis://127.0.0.1:{redis_server.port}/99": "no such database",
        f"redis://127.0.0.1:{http_port}/0": "does not speak the Redis protocol",
        "redis://localhost:notaport/0": "is not a number",
        "redis://localhost:6379/abc": "is not a number",
    }
    for url, message in cases.items():
        code, stderr, _ = _run("queues", "--redis", url)
        assert code == 1, (url, stderr)
        assert message in _one_line(stderr), url


def test_library_enqueue_names_a_refused_password(auth_server: RedisServer) -> None:
    """The library says what is wrong too: not "cannot reach the backend", which reads
    as a network fault to retry, but the refused password (never the password itself)."""
    from pyresque import BackendConnectionError, BackendError, Resque

    app = Resque(f"redis://:wrong-secret@127.0.0.1:{auth_server.port}/0")
    try:
        with pytest.raises(BackendError) as caught:
            app.enqueue("q", "Job")
        assert not isinstance(caught.value, BackendConnectionError)
        assert "password" in str(caught.value).lower() and "wrong-secret" not in str(caught.value)
    finally:
        app.close()


def test_library_calls_name_a_missing_database(redis_server: RedisServer) -> None:
    """enqueue, size and queues on a database the server lacks raise the one-line
    BackendError ("no such database"), not redis-py's raw ResponseError."""
    import redis

    from pyresque import BackendConnectionError, BackendError, Resque

    app = Resque(f"redis://127.0.0.1:{redis_server.port}/99")
    try:
        for call in (lambda: app.enqueue("q", "Job"), lambda: app.size("q"), app.queues):
            with pytest.raises(BackendError, match="no such database") as caught:
                call()
            assert not isinstance(caught.value, BackendConnectionError | redis.ResponseError)
    finally:
        app.close()
