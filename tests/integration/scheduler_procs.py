"""Run ``pyresque scheduler`` processes against the test redis-server."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

LOCK_KEY = "resque:resque:resque_scheduler_master_lock"


class SchedulerProc:
    """One scheduler process; its stderr goes to a file (read with :meth:`log`)."""

    def __init__(self, url: str, *args: str) -> None:
        self._log = tempfile.NamedTemporaryFile(prefix="pyresque-sched-", suffix=".log", delete=False)  # noqa: SIM115
        env = dict(os.environ)
        env.pop("REDIS_URL", None)
        env.pop("REDIS_BACKEND", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyresque", "scheduler", "--redis", url, "--logging", *args],
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env=env,
            cwd=str(Path(__file__).resolve().parents[2]),
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        return Path(self._log.name).read_text(encoding="utf-8", errors="replace")

    def promoted(self) -> int:
        """Items this process reported promoting."""
        return sum(int(n) for n in re.findall(r"promoted (\d+) delayed item", self.log()))

    def wait_started(self, timeout: float = 20.0) -> None:
        until(lambda: "starting" in self.log() or self.proc.poll() is not None, timeout, "scheduler start")
        assert self.proc.poll() is None, self.log()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def close(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


def until(check: Callable[[], bool], timeout: float, what: str, step: float = 0.02) -> float:
    """Wait for ``check()``; return the seconds waited. Raises AssertionError on timeout."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)
    return time.monotonic() - start


def lock_holder(r: redis.Redis) -> str | None:
    value = r.get(LOCK_KEY)
    return value.decode() if value is not None else None
