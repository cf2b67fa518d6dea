"""QUIT while a reserved job is being handed to the worker's spare child (fork modes).

The parent forks a spare child ahead of time and, once it has reserved a job, writes the
job to the spare's pipe. A QUIT that reaches the parent before the spare has read its
job is relayed to the spare: the job was reserved, so it must run, and the worker exits
after it. Under load the spare is often not scheduled in that window; here it is held in
that state deterministically with SIGSTOP (no timing involved): stopped before the job
is sent, resumed only once the relayed QUIT is pending on it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path

import pytest

from pyresque import Resque
from tests.worker_proc import client_of, start_worker, stop, trace_lines, wait_for

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)"),
]


def children_of(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc/<pid>/stat)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return sorted(found)


def pending_signals(pid: int) -> int:
    """The process-wide pending signal mask of ``pid`` (``ShdPnd``) or'ed with its main
    thread's (``SigPnd``)."""
    mask = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("ShdPnd:", "SigPnd:")):
            mask |= int(line.split()[1], 16)
    return mask


def is_stopped(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rpartition(")")[2].split()[0] == "T"


@pytest.mark.parametrize(("mode", "per_child"), [("fork", "1"), ("fork-every", "1"), ("fork-every", "3")])
def test_quit_while_the_job_is_handed_to_the_spare_runs_the_job(
    app: Resque, redis_url: str, mode: str, per_child: str, tmp_path: Path
) -> None:
    """The reserved job runs to completion and is not recorded as a failure."""
    trace = tmp_path / "t"
    proc = start_worker(redis_url, "q", "--mode", mode, "--jobs-per-child", per_child, trace=trace)
    spare: int | None = None
    try:
        wid = f"{socket.gethostname()}:{proc.pid}:q"
        wait_for(lambda: wid in app.backend.workers.all(), what="registration")
        # idle with empty queues: the worker keeps exactly one spare child
        wait_for(lambda: len(children_of(proc.pid)) == 1, what="a spare child")
        spare_pid = children_of(proc.pid)[0]
        spare = spare_pid
        os.kill(spare_pid, signal.SIGSTOP)  # the spare "is not scheduled"
        wait_for(lambda: is_stopped(spare_pid), what="the spare to stop")

        app.enqueue("q", "sleeper", 0.2, "finished")
        # reserved by the parent and written to the (stopped) spare's pipe
        wait_for(lambda: client_of(app).get(f"resque:worker:{wid}") is not None, what="the reservation")
        proc.send_signal(signal.SIGQUIT)
        quit_bit = 1 << (signal.SIGQUIT - 1)
        wait_for(lambda: pending_signals(spare_pid) & quit_bit, what="the QUIT relayed to the spare")
        os.kill(spare_pid, signal.SIGCONT)
        spare = None

        assert stop(proc) == 0
        recs = [json.loads(raw) for raw in client_of(app).lrange("resque:failed", 0, -1)]
        assert [(r["exception"], r["error"]) for r in recs] == []
        assert trace_lines(trace) == ["finished"]
        assert client_of(app).get(f"resque:worker:{wid}") is None
        assert app.backend.workers.all() == []
    finally:
        if spare is not None:
            os.kill(spare, signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
