"""``pyresque scheduler`` on a bad endpoint: one plain line and exit status 1, as the
worker (issue 11, item 6; tests/integration/test_bad_endpoints.py for the worker)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.endpoints import PASSWORD
from tests.redis_server import RedisServer

pytestmark = pytest.mark.redis

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
FAST = 30.0




def _scheduler(url: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_BACKEND", "REDIS_URL", "APP_INCLUDE")}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "pyresque", "scheduler", "--redis", url],
            capture_output=True, text=True, timeout=FAST, env=env,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"the scheduler kept retrying {url}")
    return proc.returncode, proc.stderr


def _one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip() and not LOG_LINE.match(line)]
    assert len(lines) == 1 and lines[0].startswith("Error: "), stderr
    return lines[0]


@pytest.mark.parametrize("credentials", [":wrong@", ""], ids=["wrong-password", "no-password"])
def test_a_refused_password(auth_server: RedisServer, credentials: str) -> None:
    code, stderr = _scheduler(f"redis://{credentials}127.0.0.1:{auth_server.port}/0")
    assert code == 1, stderr
    line = _one_line(stderr)
    assert "authentication failed" in line and "wrong" not in line


def test_a_database_the_server_lacks(redis_server: RedisServer) -> None:
    code, stderr = _scheduler(f"redis://127.0.0.1:{redis_server.port}/99")
    assert code == 1, stderr
    assert "no such database" in _one_line(stderr)


def test_a_server_that_is_not_redis(http_port: int) -> None:
    code, stderr = _scheduler(f"redis://127.0.0.1:{http_port}/0")
    assert code == 1, stderr
    assert "does not speak the Redis protocol" in _one_line(stderr)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost:notaport/0", "port 'notaport' is not a number"),
        ("redis://localhost:6379/abc", "database 'abc' is not a number"),
    ],
)
def test_an_unreadable_url(url: str, message: str) -> None:
    code, stderr = _scheduler(url)
    assert code == 1, stderr
    assert message in _one_line(stderr)


def test_with_the_right_password_it_runs(auth_server: RedisServer) -> None:
    """The probe does not refuse a good endpoint: the scheduler runs until TERM."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_BACKEND", "REDIS_URL")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyresque", "scheduler", "--logging", "--redis",
         f"redis://:{PASSWORD}@127.0.0.1:{auth_server.port}/0"],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "became the scheduler leader" in line:
                break
        else:
            pytest.fail("the scheduler exited")
        proc.terminate()
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stderr is not None:
            proc.stderr.close()
