"""Ctrl-C said plainly.

Resque's INT stays what it is: stop the running job now, record it failed, exit. A
worker whose stdin and stderr are a terminal also says, on the first Ctrl-C, what
became of the running job (its class and id, "recorded as failed", the exact
``pyresque failed requeue ...`` command that runs it again) and names QUIT
(``kill -QUIT <pid>``) as the way to let a job finish. Nothing of this is printed when
the worker is not on a terminal (a service, a container, a pipe).

The notice is armed by the signal handler and printed by the loop once the job's
failure is written (a signal handler never writes to a stream), so it costs nothing
on the hot path: one flag test per failed job.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from typing import TYPE_CHECKING

from pyresque.backends.url import redact_url
from pyresque.core.worker.voice import clean

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["CtrlCNotice", "on_terminal"]


def on_terminal() -> bool:
    """Whether stdin and stderr are both a terminal (a person pressed Ctrl-C)."""
    try:
        return os.isatty(sys.stdin.fileno()) and os.isatty(sys.stderr.fileno())
    except (AttributeError, ValueError, OSError):  # closed, replaced, or no fd at all
        return False


class CtrlCNotice:
    """What the first Ctrl-C prints on a terminal (see the module docstring).

    Args:
        worker: the worker it speaks for.
        enabled: print at all (default: :func:`on_terminal`, read when created).
    """

    def __init__(self, worker: Worker, enabled: bool | None = None) -> None:
        self.worker = worker
        self.enabled = on_terminal() if enabled is None else enabled
        #: a Ctrl-C came and its notice is not printed yet
        self.pending = False
        self._spent = False

    def arm(self) -> None:
        """The INT handler: the first Ctrl-C arms the notice (safe in a signal handler)."""
        if self.enabled and not self._spent:
            self._spent = True
            self.pending = True

    def job_stopped(self, class_name: str | None, job_id: str | None, *, recorded: bool) -> None:
        """The interrupted job's failure is written (``recorded``: in the failed list;
        else an ``on_failure`` plugin handled it): print what became of it."""
        if not self.pending:
            return
        self.pending = False
        what = f"the running job {clean(class_name)}" if class_name else "the running job"
        if job_id:
            what += f" (id {clean(job_id)})"
        index = self._index_of(job_id, class_name)
        if index is None and not recorded:
            lines = [
                f"Ctrl-C: {what} was stopped; an on_failure plugin handled its failure "
                "(a retry, for instance): it is not in the failed list."
            ]
        else:
            lines = [f"Ctrl-C: {what} was stopped and recorded as failed."]
            if index is not None:
                lines.append(f"  To run it again: {self._command('failed', 'requeue', str(index))}")
            else:
                listing = self._command("failed", "list")
                lines.append(f"  Find it with: {listing} (then: pyresque failed requeue INDEX)")
        lines.append(self._quit_hint())
        self._write(lines)

    def finish(self) -> None:
        """The worker stops: a Ctrl-C that stopped no job still gets its answer."""
        if not self.pending:
            return
        self.pending = False
        self._write(["Ctrl-C: no job was interrupted; the worker stopped.", self._quit_hint()])

    # -- text -------------------------------------------------------------------------
    def _quit_hint(self) -> str:
        pid = self.worker.control_pid or os.getpid()
        return f"  To let a running job finish instead, stop the worker with QUIT: kill -QUIT {pid}"

    def _command(self, *words: str) -> str:
        """``pyresque <words>`` with the backend options this worker uses (password masked)."""
        backend = self.worker.app.backend
        args = ["pyresque", *words]
        try:
            where = redact_url(backend.describe())
        except Exception:
            where = ""
        if where and where not in ("redis://localhost:6379/0", "redis://127.0.0.1:6379/0"):
            args += ["--redis", where]
        namespace = getattr(getattr(backend, "keys", None), "namespace", "resque")
        if namespace != "resque":
            args += ["--prefix", str(namespace)]
        text = " ".join(shlex.quote(arg) for arg in args)
        if "***" in where:
            text += "   (with the password in place of ***)"
        return text

    def _index_of(self, job_id: str | None, class_name: str | None) -> int | None:
        """The failed-list index of the record just written (2 round trips at most;
        only after a Ctrl-C). ``None`` when it cannot be told for sure."""
        failures = self.worker.app.failures
        mine = self.worker.id
        try:
            if job_id:
                found = [i for i, r in failures.find(job_id, limit=100) if r.worker == mine]
                return max(found) if found else None
            last = failures.count() - 1
            if last < 0:
                return None
            records = failures.all(last, 1)
            if records and records[0].worker == mine and records[0].payload.get("class") == class_name:
                return last
        except Exception:  # a store that cannot tell (or Redis went away): no index then
            return None
        return None

    @staticmethod
    def _write(lines: list[str]) -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("\n".join(lines) + "\n")
            sys.stderr.flush()
