"""``pyresque enqueue QUEUE CLASS [ARGS-JSON]``: push a job now, or delayed with
``--at``/``--in``; and :func:`parse_time`, the times every command reads (epoch
seconds or ISO-8601, UTC without a zone)."""

from __future__ import annotations

import datetime as dt
import math
import time

import click

from pyresque.cli.ops_common import (
    emit_json,
    json_option,
    operator_app,
    ops_backend_options,
    parse_json_args,
)
from pyresque.core import timefmt
from pyresque.core.delayed import MAX_TIMESTAMP

__all__ = ["enqueue", "parse_time"]


@click.command()
@click.argument("queue")
@click.argument("job_class", metavar="CLASS")
@click.argument("args_json", metavar="[ARGS-JSON]", required=False)
@click.option("--track", is_flag=True, help="Track the job's status (job:<id>:status).")
@click.option(
    "--at",
    "at",
    default=None,
    metavar="TIME",
    help="Run at TIME: epoch seconds or ISO-8601 (UTC if no zone).",
)
@click.option(
    "--in", "delay", type=click.FloatRange(min=0), default=None, metavar="SECONDS", help="Run in SECONDS."
)
@click.option(
    "--job-id",
    "job_id",
    default=None,
    metavar="ID",
    help="The job's id instead of a random one (1-64 of A-Z a-z 0-9 _ . -); a repeat is a no-op.",
)
@click.option(
    "--idempotency-key",
    "idempotency_key",
    default=None,
    metavar="KEY",
    help="Enqueue once per KEY: a repeat while the key is taken (24 h) writes nothing.",
)
@ops_backend_options
@json_option
def enqueue(
    queue: str,
    job_class: str,
    args_json: str | None,
    track: bool,
    at: str | None,
    delay: float | None,
    job_id: str | None,
    idempotency_key: str | None,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Put a job on QUEUE: CLASS is the Resque class name, ARGS-JSON a JSON array.

    Example: pyresque enqueue mail 'Mailer::Welcome' '[42, "fr"]'

    With --at or --in the job is delayed (resque-scheduler's keys; --track gives it a
    WAITING status with scheduled_at); a time not in the future enqueues at once.
    With --job-id or --idempotency-key the enqueue is idempotent: a repeat prints the
    id of the job that took the key and writes nothing.
    """
    args = parse_json_args(args_json)
    when = _when(at, delay)
    if when is not None and (job_id is not None or idempotency_key is not None):
        raise click.UsageError("--job-id and --idempotency-key work without --at/--in only")
    with operator_app(redis, redis_db, prefix, app_include) as app:
        if when is not None and math.floor(when) > int(time.time()):
            timestamp = math.floor(when)
            delayed_id = app.enqueue_at(timestamp, queue, job_class, *args, track_status=track)
            if as_json:
                data = {"scheduled_at": timestamp, "id": delayed_id or None, "queue": queue}
                emit_json({**data, "class": job_class, "args": args})
            else:
                job = f", job {delayed_id}" if delayed_id else ""
                click.echo(f"scheduled at {timestamp} ({timefmt.utc_iso_z(timestamp)}){job}")
            return
        pushed = app.enqueue(
            queue, job_class, *args, track_status=track, job_id=job_id, idempotency_key=idempotency_key
        )
    if as_json:
        emit_json({"id": pushed, "queue": queue, "class": job_class, "args": args})
    else:
        click.echo(pushed)


def parse_time(text: str, option: str) -> float:
    """Epoch seconds from ``text``: a number, or ISO-8601 (UTC when it has no zone),
    finite and not after 9999-12-31T23:59:59Z.

    Raises:
        click.BadParameter: anything else (a usage error, exit status 2).
    """
    try:
        return _in_range(float(text), option, text)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not epoch seconds nor ISO-8601: {text!r}", param_hint=option) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return _in_range(parsed.timestamp(), option, text)


def _when(at: str | None, delay: float | None) -> float | None:
    """The epoch time given by ``--at``/``--in`` (``None``: now), checked before anything
    is written: finite and not after 9999-12-31T23:59:59Z."""
    if at is not None and delay is not None:
        raise click.UsageError("give --at or --in, not both")
    if delay is not None:
        return _in_range(time.time() + delay, "--in", repr(delay))
    if at is None:
        return None
    return parse_time(at, "--at")


def _in_range(when: float, option: str, given: str) -> float:
    if not math.isfinite(when) or when > MAX_TIMESTAMP:
        raise click.BadParameter(
            f"{given} is not a time a job can be delayed to "
            f"(finite, and not after {MAX_TIMESTAMP} = 9999-12-31T23:59:59Z)",
            param_hint=option,
        )
    return when
