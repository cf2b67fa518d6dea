"""``pyresque peek QUEUE`` (the jobs waiting, decoded) and ``pyresque status JOB_ID``
(a tracked job's status and, for a failed job, its failure records).

Both only read. Payloads and statuses are attacker-controlled: an undecodable payload
is shown as escaped, truncated bytes (:func:`~pyresque.cli.ops_common.raw_text`) and an
unreadable status record is one line, never a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
from typing import Any

import click

from pyresque.backends.base import FIND_LIMIT
from pyresque.cli.ops_common import (
    emit_json,
    json_option,
    known_queue,
    operator_app,
    ops_backend_options,
    plural,
    print_table,
    raw_text,
    safe_text,
    shorten,
)
from pyresque.core import timefmt
from pyresque.core.app import Resque
from pyresque.core.failure import FailureRecord
from pyresque.core.status import JobStatus, StatusInfo

__all__ = ["MAX_PEEK", "peek", "peek_rows", "status", "status_fields"]

#: The most jobs ``peek`` shows at once (page with ``--start``).
MAX_PEEK = 1000
#: Characters of an undecodable payload shown (JSON output; tables show fewer).
RAW_LIMIT = 1000


def peek_rows(app: Resque, queue: str, raws: list[bytes], first: int) -> list[dict[str, Any]]:
    """The payloads at positions ``first``, ``first + 1`` ... as JSON-ready rows:
    ``position, class, args, id, queue_time, extra`` for a job; ``position, error,
    raw, size`` for bytes that are not one (never raises: any payload is shown)."""
    rows: list[dict[str, Any]] = []
    for offset, raw in enumerate(raws):
        position = first + offset
        try:
            job = app.decode(raw, queue)
        except Exception as exc:  # display only: whatever the bytes, show them
            why = " ".join(str(exc).split())[:200] or type(exc).__name__
            shown = raw_text(raw, RAW_LIMIT)
            rows.append({"position": position, "error": why, "raw": shown, "size": len(raw)})
            continue
        extra = dict(job.extra)
        queued = extra.pop("queue_time", None)
        rows.append(
            {
                "position": position,
                "class": job.class_name,
                "args": list(job.args),
                "id": job.id,
                "queue_time": queued,
                "extra": extra,
            }
        )
    return rows


def _when_text(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return timefmt.utc_iso_z(float(value))
        except (ValueError, OverflowError, OSError):
            return str(value)
    return "" if value is None else str(value)


@click.command()
@click.argument("queue")
@click.option(
    "-n",
    "--count",
    type=click.IntRange(min=0, max=MAX_PEEK),
    default=10,
    show_default=True,
    help=f"How many jobs (at most {MAX_PEEK}; page with --start).",
)
@click.option(
    "--start",
    type=int,
    default=0,
    show_default=True,
    help="First position: 0 is the next job to run; negative counts from the end (-1: the last).",
)
@ops_backend_options
@json_option
def peek(
    queue: str,
    count: int,
    start: int,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Show the jobs waiting in QUEUE (left in place): position, id, class, args, queue time.

    Example: pyresque peek mail -n 20 --start 100
    """
    with operator_app(redis, redis_db, prefix, app_include) as app:
        size = known_queue(app, queue)
        first = max(0, size + start) if start < 0 else start
        with app.connection_guard():
            raws = app.backend.broker.peek(queue, first, count) if count and first < size else []
        rows = peek_rows(app, queue, raws, first)
    if as_json:
        emit_json({"queue": queue, "size": size, "start": first, "jobs": rows})
        return
    if not rows:
        where = "" if not size or not count else f" at position {first} and after"
        click.echo(f"{safe_text(queue)}: {plural(size, 'job')}, none shown{where}")
        return
    last = rows[-1]["position"]
    click.echo(f"{safe_text(queue)}: {plural(size, 'job')}, positions {first}-{last} (0 = next to run)")
    print_table(["POS", "ID", "CLASS", "ARGS", "QUEUED AT"], [_peek_cells(r) for r in rows])


def _peek_cells(row: dict[str, Any]) -> list[Any]:
    if "class" not in row:
        text = row["raw"] if len(row["raw"]) <= 60 else row["raw"][:59] + "…"
        return [row["position"], "", f"(unreadable: {shorten(row['error'], 40)})", text, ""]
    return [
        row["position"],
        row["id"] or "",
        shorten(row["class"], 40),
        shorten(row["args"], 50),
        _when_text(row["queue_time"]),
    ]


def _json_value(value: Any) -> Any:
    """A status field as JSON: times as epoch numbers (as on the wire), states by name."""
    if isinstance(value, dt.datetime):
        stamp = value.timestamp()
        return int(stamp) if stamp == int(stamp) else stamp
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _json_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def status_fields(info: StatusInfo) -> dict[str, Any]:
    """Every field of the status record, JSON-ready, whatever fields it has (progress
    fields included): ``state`` (``waiting``/``running``/``failed``/``complete``) and
    ``status`` (php-resque's number) first, then the others in their order, then
    ``percent`` when the record has a progress ``num`` of ``total``."""
    data: dict[str, Any] = {"state": info.status.name.lower(), "status": int(info.status)}
    for field in dataclasses.fields(info):
        if field.name != "status":
            data[field.name] = _json_value(getattr(info, field.name))
    percent = getattr(info, "percent", None)  # derived from num and total, when known
    if isinstance(percent, int | float) and "percent" not in data:
        data["percent"] = round(percent, 2)
    return data


def _failure_json(index: int, record: FailureRecord) -> dict[str, Any]:
    return {"index": index, **record.to_dict()}


@click.command()
@click.argument("job_id")
@click.option(
    "--scan",
    type=click.IntRange(min=0),
    default=FIND_LIMIT,
    show_default=True,
    help="How many of the most recent failures to search for the job (0: all).",
)
@ops_backend_options
@json_option
def status(
    job_id: str,
    scan: int,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """A job's tracked status (state, times, result, progress) and, if it failed, its
    failure records. Exit status 1 when nothing is known of JOB_ID.

    Example: pyresque status 3f2b...  (the id enqueue printed; track it with --track)
    """
    found: list[tuple[int, FailureRecord]] = []
    with operator_app(redis, redis_db, prefix, app_include) as app, app.connection_guard():
        try:
            info = app.tracked(job_id).get()
            unreadable = ""
        except (ValueError, TypeError, KeyError, OverflowError) as exc:  # a record another writer mangled
            info, unreadable = None, " ".join(str(exc).split())[:200]
        if info is None or info.status is JobStatus.FAILED:
            found = app.failures.find(job_id, limit=scan or None)
    if unreadable and not found:
        raise click.ClickException(f"the status record of job {job_id} is unreadable: {unreadable}")
    if info is None and not found:
        raise click.ClickException(
            f"no status and no failure for job {job_id} (not tracked, finished over 24 h ago, or unknown)"
        )
    fields = status_fields(info) if info is not None else None
    if as_json:
        emit_json({"id": job_id, "tracked": fields, "failures": [_failure_json(i, r) for i, r in found]})
        return
    click.echo(f"{'job:':<12}{safe_text(job_id)}")
    if fields is None:
        click.echo(f"{'status:':<12}(not tracked{', unreadable' if unreadable else ''})")
    else:
        _echo_status(fields)
    for index, record in found:
        click.echo()
        click.echo(f"failure #{index} (pyresque failed show {index}):")
        for key in ("failed_at", "queue", "worker", "exception", "error"):
            value = getattr(record, key)
            if value:
                click.echo(f"  {key + ':':<12}{shorten(value, 200)}")
        for line in (record.backtrace or [])[:5]:
            click.echo(f"    {shorten(line, 200)}")


def _echo_status(fields: dict[str, Any]) -> None:
    click.echo(f"{'status:':<12}{fields['state']} ({fields['status']})")
    for key, value in fields.items():
        if key in ("state", "status") or value is None:
            continue
        if key in ("updated", "started") or key.endswith("_at"):
            shown = f"{_when_text(value)} ({value})" if isinstance(value, int | float) else str(value)
        else:
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=repr)
        click.echo(f"{key + ':':<12}{shorten(shown, 200)}")
