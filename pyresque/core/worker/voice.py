"""What a worker says in its log: a start line, a line per failed job, a stop line.

Two loggers:

- ``pyresque.worker``: the start line (backend with the password masked, namespace,
  queues, mode, jobs registered), signals, dirty exits, and the stop line (processed
  and failed in this run, and why it stopped);
- ``pyresque.worker.jobs`` (:data:`JOBS_LOGGER`): one line per job, INFO when it is
  done or skipped, WARNING when it failed, ERROR when its process died.

``pyresque worker`` shows ``pyresque.worker`` at INFO and ``pyresque.worker.jobs`` at
WARNING by default (so: start, stop and failures); ``-v`` shows every job.

Everything that comes from a payload (class, id, queue, an exception's message) is
attacker-controlled: :func:`clean` escapes control characters (newlines included),
lone surrogates and bidirectional overrides, and truncates, before any of it reaches
a log line.
"""

from __future__ import annotations

import logging
import re
import time
from typing import TYPE_CHECKING

from pyresque.backends.url import redact_url

if TYPE_CHECKING:
    from pyresque.core.job import Job
    from pyresque.core.worker.perform import Outcome
    from pyresque.core.worker.worker import Worker

__all__ = [
    "JOBS_LOGGER",
    "clean",
    "exception_text",
    "log_dirty_exit",
    "log_job",
    "log_requeued",
    "start_line",
    "stop_line",
]

log = logging.getLogger("pyresque.worker")

#: The logger of the per-job lines.
JOBS_LOGGER = "pyresque.worker.jobs"
jobs_log = logging.getLogger(JOBS_LOGGER)

#: Longest exception message shown in a log line (characters, after escaping).
MESSAGE_LIMIT = 200
#: Longest class name, queue or job id shown in a log line.
NAME_LIMIT = 100

# C0 and C1 controls, DEL, line/paragraph separators, bidi embeddings, overrides and
# isolates, zero-width marks and the BOM, and lone surrogates (which cannot be encoded)
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(value: object, limit: int = NAME_LIMIT) -> str:
    """``value`` as text safe for one log line: control characters escaped (``\\n``,
    ``\\x1b``, ``\\u202e`` ...), cut to ``limit`` characters (an ellipsis says so)."""
    try:
        text = value if isinstance(value, str) else str(value)
    except Exception:  # a hostile __str__
        text = f"<unprintable {type(value).__name__}>"
    cut = len(text) > limit
    text = _UNSAFE.sub(_escape, text[: limit + 1])
    if cut or len(text) > limit:
        text = text[: limit - 1] + "\u2026"
    return text


def exception_text(exc: BaseException | None) -> str:
    """``Type: first line of the message`` (escaped, truncated): one log line's worth."""
    if exc is None:
        return "unknown error"
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable message>"
    first, newline, _ = message.strip().partition("\n")
    shown = clean(first.rstrip("\r"), MESSAGE_LIMIT)
    if newline and not shown.endswith("\u2026"):
        shown += " \u2026"
    name = type(exc).__name__
    return f"{name}: {shown}" if shown else name


def log_job(job: Job | None, outcome: Outcome, started: float, *, queue: str | None = None) -> None:
    """The line for one finished job: INFO when done or skipped (shown with ``-v``),
    WARNING when it failed. ``job`` is ``None`` for a payload that was not a job."""
    level = logging.INFO if outcome.ok else logging.WARNING
    if not jobs_log.isEnabledFor(level):
        return
    if outcome.skipped:
        what = "skipped"
    elif outcome.ok:
        what = "done"
    else:
        what = f"failed: {exception_text(outcome.exception)}"
        if outcome.record is None:
            what += " (handled by an on_failure plugin: retried, or recorded its own way)"
    jobs_log.log(
        level,
        "%s %s id=%s %.1fms %s",
        clean(job.queue if job is not None else queue or "?"),
        clean(job.class_name) if job is not None else "(not a job)",
        clean(job.id or "-") if job is not None else "-",
        (time.monotonic() - started) * 1000,
        what,
    )


def log_dirty_exit(job: Job | None, pid: int, exc: BaseException, started: float) -> None:
    """One ERROR line for a job whose process died (a signal, an exit, a timeout kill)."""
    jobs_log.error(
        "%s %s id=%s %.1fms failed: its process %d %s; recorded as failed (%s)",
        clean(job.queue) if job is not None else "?",
        clean(job.class_name) if job is not None else "(a job of a fork-every child)",
        clean(job.id or "-") if job is not None else "-",
        (time.monotonic() - started) * 1000,
        pid,
        _death(exc),
        type(exc).__name__,
    )


def log_requeued(job: Job | None, pid: int, started: float) -> None:
    """One WARNING line for a job stopped at the ``--graceful-term`` deadline and requeued."""
    jobs_log.warning(
        "%s %s id=%s %.1fms stopped: still running at the --graceful-term deadline; its process "
        "%d was killed and the job requeued at the front of its queue",
        clean(job.queue) if job is not None else "?",
        clean(job.class_name) if job is not None else "(a job of a fork-every child)",
        clean(job.id or "-") if job is not None else "-",
        (time.monotonic() - started) * 1000,
        pid,
    )


def _death(exc: BaseException) -> str:
    text = str(exc)
    if text.startswith("Child process received unhandled signal "):
        return "was killed by " + text.rsplit(" ", 1)[-1]
    if text.startswith("Child process exited with status "):
        return "exited with status " + text.rsplit(" ", 1)[-1]
    if text.startswith("the job ran past its timeout"):
        return "ran past the job's timeout and was killed"
    return clean(text, MESSAGE_LIMIT)


def start_line(worker: Worker, extras: list[str] | None = None) -> str:
    """``worker <id> started: <backend>, namespace <ns>, queues <q>, <mode> mode, <n> jobs
    registered`` (with the password masked)."""
    app = worker.app
    keys = getattr(app.backend, "keys", None)
    namespace = getattr(keys, "namespace", None)
    try:
        where = redact_url(app.backend.describe())
    except Exception:
        where = type(app.backend).__name__
    names = app.registry.names()
    jobs = f"{len(names)} job{'s' if len(names) != 1 else ''} registered"
    allowed = app.registry.allow_modules
    if allowed:
        jobs += f" (and the jobs defined in {', '.join(allowed)})"
    parts = [where]
    if namespace is not None:
        parts.append(f"namespace {namespace}")
    parts += [f"queues {worker.selector}", f"{worker.options.mode} mode", jobs, *(extras or [])]
    return f"worker {worker.id} started: {', '.join(parts)}"


def stop_line(worker: Worker, reason: str) -> str:
    """``worker <id> stopped (<reason>): N processed, M failed in this run``."""
    unheld = f", {worker.unheld} outcomes not written (job no longer held)" if worker.unheld else ""
    return (
        f"worker {worker.id} stopped ({reason}): {worker.processed} processed, "
        f"{worker.failed} failed in this run{unheld}"
    )
