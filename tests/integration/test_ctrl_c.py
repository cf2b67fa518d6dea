"""Ctrl-C said plainly (issue 11): on a terminal, the first Ctrl-C says what became of
the running job (class, id, recorded as failed, the exact requeue command) and names
QUIT; not on a terminal, nothing of it. Resque's INT semantics stay.

The terminal is a pseudo-terminal (``os.openpty``) holding the worker's stdin, stdout
and stderr; Ctrl-C is SIGINT to the worker's process group, as a terminal sends it.
"""

from __future__ import annotations

import os
import select
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from pyresque import Resque
from tests.worker_proc import ROOT, wait_for

pytestmark = pytest.mark.redis


class Terminal:
    """A worker whose stdin/stdout/stderr are a pty (or pipes, with ``tty=False``)."""

    def __init__(self, url: str, mode: str, *, tty: bool = True) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("VERBOSE", "LOGGING", "VVERBOSE")}
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        cmd = [sys.executable, "-m", "pyresque", "worker", "-q", "q", "--mode", mode, "--redis", url,
               "--app-include", "tests.worker_jobs"]  # fmt: skip
        self.output = b""
        if tty:
            self.master, slave = os.openpty()
            self.proc = subprocess.Popen(
                cmd, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, start_new_session=True
            )
            os.close(slave)
        else:
            r, w = os.pipe()
            self.master = r
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=w, stderr=w, env=env, cwd=ROOT, start_new_session=True
            )
            os.close(w)

    def read(self, seconds: float = 0.1) -> str:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the pty's other side is closed
                    break
                if not chunk:
                    break
                self.output += chunk
        return self.output.decode("utf-8", "replace").replace("\r\n", "\n")

    def ctrl_c(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def finish(self) -> int:
        code = self.proc.wait(30)
        self.read(0.3)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        os.close(self.master)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    made: list[Terminal] = []
    yield made
    for term in made:
        term.close()


def _running(app: Resque) -> bool:
    client = app.backend.client  # type: ignore[attr-defined]
    return any(client.get(key) for key in client.keys("resque:worker:*:q"))


@pytest.mark.parametrize("mode", ["fork", "inprocess"])
def test_first_ctrl_c_on_a_terminal_says_what_became_of_the_job(
    redis_url: str, mode: str, terminals: list[Terminal]
) -> None:
    app = Resque(redis_url)
    job_id = app.enqueue("q", "sleeper", 60)
    term = Terminal(redis_url, mode)
    terminals.append(term)
    wait_for(lambda: " started: " in term.read(), 30, "the start line")
    wait_for(lambda: _running(app), 30, "the job to start")
    term.ctrl_c()
    term.finish()
    out = term.output.decode("utf-8", "replace").replace("\r\n", "\n")
    assert f"Ctrl-C: the running job sleeper (id {job_id}) was stopped and recorded as failed." in out
    assert f"kill -QUIT {term.proc.pid}" in out and "QUIT" in out
    (index,) = [i for i, record in app.failures.find(job_id)]
    (command,) = [
        line.split("To run it again: ", 1)[1] for line in out.splitlines() if "To run it again: " in line
    ]
    assert command.startswith(f"pyresque failed requeue {index} ")
    assert out.count("Ctrl-C:") == 1
    # the command is exact: run it, and the job is back in its queue
    argv = shlex.split(command)
    done = subprocess.run(
        [sys.executable, "-m", "pyresque", *argv[1:]], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert [job.id for job in app.peek("q", 0, 10)] == [job_id]


def test_ctrl_c_while_idle_says_no_job_was_interrupted(redis_url: str, terminals: list[Terminal]) -> None:
    term = Terminal(redis_url, "fork")
    terminals.append(term)
    wait_for(lambda: " started: " in term.read(), 30, "the start line")
    term.ctrl_c()
    term.finish()
    out = term.output.decode("utf-8", "replace")
    assert "Ctrl-C: no job was interrupted" in out
    assert f"kill -QUIT {term.proc.pid}" in out


def test_not_on_a_terminal_nothing_is_printed(redis_url: str, terminals: list[Terminal]) -> None:
    """Pipes (a service, a container): INT stops and fails the job, Resque's way, silently."""
    app = Resque(redis_url)
    job_id = app.enqueue("q", "sleeper", 60)
    term = Terminal(redis_url, "fork", tty=False)
    terminals.append(term)
    wait_for(lambda: " started: " in term.read(), 30, "the start line")
    wait_for(lambda: _running(app), 30, "the job to start")
    term.ctrl_c()
    term.finish()
    out = term.output.decode("utf-8", "replace")
    assert "Ctrl-C" not in out and "requeue" not in out
    assert [i for i, _ in app.failures.find(job_id)], out  # still recorded as failed
