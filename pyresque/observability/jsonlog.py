"""One JSON object per log line, for log pipelines: :class:`JsonFormatter`.

``pyresque worker --log-format json`` installs it on the root logger (see
:func:`pyresque.cli.common.setup_logging`); in code::

    handler.setFormatter(JsonFormatter())

Each line has ``time`` (UTC, ISO 8601 with milliseconds), ``level``, ``logger`` and
``message``, and, when known, ``worker``, ``queue``, ``class``, ``job_id``,
``duration`` (seconds), ``outcome`` (``done``, ``skipped``, ``failed``, ``requeued``)
and ``exception`` (``Type: message``, plus ``traceback`` when the record carries one).
The job fields come from the worker's per-job lines (``pyresque.worker.jobs``, read
from the record's arguments, so the text format is untouched) or, for any line logged
inside a job (your job's own logging), from :func:`pyresque.current_job`.
Values are JSON-escaped: a payload's text cannot forge a second line.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from pyresque.core.context import current_job
from pyresque.hooks import hookimpl

if TYPE_CHECKING:
    from pyresque.core.worker import Worker

__all__ = ["JsonFormatter", "WorkerTag"]

#: The id of the worker this process serves (set by :class:`WorkerTag`), for lines
#: logged outside a job.
_worker_id: str | None = None


class WorkerTag:
    """A plugin that gives :class:`JsonFormatter` the worker's id for lines outside a job
    (the worker's own per-job lines, its start and stop lines)."""

    @hookimpl
    def pyresque_before_first_fork(self, worker: Worker) -> None:
        """Remember ``worker.id`` (this process and its forked children)."""
        global _worker_id
        _worker_id = worker.id

#: The worker's per-job line templates (``pyresque.core.worker.voice``) and how to read them.
_JOB_LINE = "%s %s id=%s %.1fms %s"
_DIRTY_LINE_START = "%s %s id=%s %.1fms failed: its process"
_REQUEUED_LINE_START = "%s %s id=%s %.1fms stopped:"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (see the module docstring).

    Args:
        static: fields added to every line (``{"service": "mail-worker"}``).
    """

    def __init__(self, static: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if _worker_id is not None:
            data["worker"] = _worker_id
        data.update(self.static)
        running = current_job()
        if running is not None:
            data.update(worker=running.worker_id, queue=running.queue, job_id=running.id)
            data["class"] = running.class_name
        _job_line(record, data)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            data.setdefault("exception", f"{type(exc).__name__}: {exc}")
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def _job_line(record: logging.LogRecord, data: dict[str, Any]) -> None:
    """Read the worker's per-job line arguments into ``data``."""
    args = record.args
    template = record.msg
    if not isinstance(args, tuple) or len(args) < 5 or not isinstance(template, str):
        return
    if template == _JOB_LINE:
        what = str(args[4])
        if what.startswith("failed: "):
            data["outcome"] = "failed"
            data["exception"] = what.removeprefix("failed: ").split(" (handled by", 1)[0]
        else:
            data["outcome"] = what
    elif template.startswith(_DIRTY_LINE_START) and len(args) >= 7:
        data["outcome"] = "failed"
        data["exception"] = f"{args[6]}: its process {args[4]} {args[5]}"
    elif template.startswith(_REQUEUED_LINE_START):
        data["outcome"] = "requeued"
    else:
        return
    data["queue"], data["class"] = str(args[0]), str(args[1])
    data["job_id"] = None if args[2] == "-" else str(args[2])
    millis = args[3]
    if isinstance(millis, int | float):
        data["duration"] = round(float(millis) / 1000, 6)
