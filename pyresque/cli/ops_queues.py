"""``pyresque info``, ``queues``, ``workers``, ``enqueue`` and ``dequeue``."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

import click

from pyresque.cli.ops_common import (
    emit_json,
    json_option,
    operator_app,
    ops_backend_options,
    parse_json_args,
    print_table,
    shorten,
    split_worker_id,
    yes_option,
)
from pyresque.core import timefmt
from pyresque.core.app import Resque
from pyresque.core.delayed import MAX_TIMESTAMP
from pyresque.core.dequeue import JobMatch, dequeue_matching

__all__ = ["dequeue", "enqueue", "info", "prune", "queues", "worker_rows", "workers"]


def _queue_sizes(app: Resque) -> dict[str, int]:
    with app.connection_guard():
        names = app.backend.broker.queues()
        return app.backend.broker.sizes(names) if names else {}


def worker_rows(app: Resque) -> list[dict[str, Any]]:
    """Every registered worker, with what it works on (any Resque implementation's record).

    Round trips: 3 (SMEMBERS, MGET of the records, HGETALL of the heartbeats).
    """
    with app.connection_guard():
        ids = app.backend.workers.all()
        working = app.backend.workers.working() if ids else {}
        beats = app.backend.workers.heartbeats() if ids else {}
    rows = []
    for worker_id in ids:
        host, pid, queues_part = split_worker_id(worker_id)
        record = working.get(worker_id)
        payload = record.get("payload") if record else None
        payload = payload if isinstance(payload, dict) else {}
        rows.append(
            {
                "id": worker_id,
                "host": host,
                "pid": pid,
                "queues": queues_part.split(",") if queues_part else [],
                "state": "working" if record else "idle",
                "queue": record.get("queue") if record else None,
                "class": payload.get("class"),
                "args": payload.get("args"),
                "run_at": record.get("run_at") if record else None,
                "heartbeat": beats.get(worker_id),
            }
        )
    return rows


@click.command()
@ops_backend_options
@json_option
def info(
    redis: str | None, redis_db: int | None, prefix: str | None, app_include: str | None, as_json: bool
) -> None:
    """Overview: queues with sizes, workers and their jobs, processed and failed counts."""
    with operator_app(redis, redis_db, prefix, app_include) as app:
        overview = app.info()
        sizes = _queue_sizes(app)
        rows = worker_rows(app)
        delayed = app.delayed_count()
    if as_json:
        emit_json(
            {
                "pending": overview.pending,
                "processed": overview.processed,
                "failed": overview.failed,
                "delayed": delayed,
                "queues": sizes,
                "workers": len(rows),
                "working": sum(1 for r in rows if r["state"] == "working"),
                "worker_list": rows,
                "servers": overview.servers,
            }
        )
        return
    click.echo(f"server     {', '.join(overview.servers)}")
    click.echo(f"pending    {overview.pending}")
    click.echo(f"processed  {overview.processed}")
    click.echo(f"failed     {overview.failed}")
    click.echo(f"delayed    {delayed}")
    click.echo(f"workers    {len(rows)} ({sum(1 for r in rows if r['state'] == 'working')} working)")
    click.echo("")
    print_table(["QUEUE", "SIZE"], [[q, n] for q, n in sizes.items()], empty="no queues")
    click.echo("")
    _print_workers(rows)


def _print_workers(rows: list[dict[str, Any]]) -> None:
    print_table(
        ["WORKER", "STATE", "QUEUE", "JOB", "SINCE"],
        [
            [
                r["id"],
                r["state"],
                r["queue"] or "",
                f"{r['class']}{shorten(r['args'], 40) if r['args'] is not None else ''}"
                if r["class"]
                else "",
                r["run_at"] or "",
            ]
            for r in rows
        ],
        empty="no workers",
    )


@click.command()
@ops_backend_options
@json_option
def queues(
    redis: str | None, redis_db: int | None, prefix: str | None, app_include: str | None, as_json: bool
) -> None:
    """Every known queue with the number of jobs waiting in it."""
    with operator_app(redis, redis_db, prefix, app_include) as app:
        sizes = _queue_sizes(app)
    if as_json:
        emit_json([{"name": q, "size": n} for q, n in sizes.items()])
        return
    print_table(["QUEUE", "SIZE"], [[q, n] for q, n in sizes.items()], empty="no queues")


@click.command()
@ops_backend_options
@json_option
def workers(
    redis: str | None, redis_db: int | None, prefix: str | None, app_include: str | None, as_json: bool
) -> None:
    """Registered workers (pyresque, Ruby, PHP or node) and the job each is working on."""
    with operator_app(redis, redis_db, prefix, app_include) as app:
        rows = worker_rows(app)
    if as_json:
        emit_json(rows)
        return
    _print_workers(rows)


@click.command()
@click.argument("queue")
@click.argument("job_class", metavar="CLASS")
@click.argument("args_json", metavar="[ARGS-JSON]", required=False)
@click.option("--track", is_flag=True, help="Track the job's status (php-resque job:<id>:status).")
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
@ops_backend_options
@json_option
def enqueue(
    queue: str,
    job_class: str,
    args_json: str | None,
    track: bool,
    at: str | None,
    delay: float | None,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Put a job on QUEUE: CLASS is the Resque class name, ARGS-JSON a JSON array.

    Example: pyresque enqueue mail 'Mailer::Welcome' '[42, "fr"]'

    With --at or --in the job is delayed (resque-scheduler's keys); a time not in the
    future enqueues at once.
    """
    args = parse_json_args(args_json)
    when = _when(at, delay)
    if when is not None and track:
        raise click.UsageError("--track cannot be combined with --at/--in (delayed jobs get no id)")
    with operator_app(redis, redis_db, prefix, app_include) as app:
        if when is not None and when > time.time():
            app.enqueue_at(when, queue, job_class, *args)
            timestamp = int(when)
            if as_json:
                emit_json({"scheduled_at": timestamp, "queue": queue, "class": job_class, "args": args})
            else:
                click.echo(f"scheduled at {timestamp} ({timefmt.utc_iso_z(timestamp)})")
            return
        job_id = app.enqueue(queue, job_class, *args, track_status=track)
    if as_json:
        emit_json({"id": job_id, "queue": queue, "class": job_class, "args": args})
    else:
        click.echo(job_id)


def _when(at: str | None, delay: float | None) -> float | None:
    """The epoch time given by ``--at``/``--in`` (``None``: now), checked before anything
    is written: finite and not after 9999-12-31T23:59:59Z."""
    if at is not None and delay is not None:
        raise click.UsageError("give --at or --in, not both")
    if delay is not None:
        return _in_range(time.time() + delay, "--in", repr(delay))
    if at is None:
        return None
    try:
        return _in_range(float(at), "--at", at)
    except ValueError:
        pass
    try:
        parsed = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(f"not epoch seconds nor ISO-8601: {at!r}", param_hint="--at") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return _in_range(parsed.timestamp(), "--at", at)


def _in_range(when: float, option: str, given: str) -> float:
    if not math.isfinite(when) or when > MAX_TIMESTAMP:
        raise click.BadParameter(
            f"{given} is not a time a job can be delayed to "
            f"(finite, and not after {MAX_TIMESTAMP} = 9999-12-31T23:59:59Z)",
            param_hint=option,
        )
    return when


@click.command()
@click.argument("queue")
@click.argument("job_class", metavar="[CLASS]", required=False)
@click.argument("args_json", metavar="[ARGS-JSON]", required=False)
@click.option("--id", "job_id", default=None, help="Remove only the job with this id (needs CLASS).")
@yes_option
@ops_backend_options
@json_option
def dequeue(
    queue: str,
    job_class: str | None,
    args_json: str | None,
    job_id: str | None,
    yes: bool,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Remove jobs from QUEUE: all of them, those of CLASS, or of CLASS with exactly ARGS-JSON.

    Safe while workers run: each job is removed by one atomic LREM of its exact payload.
    """
    if job_class is None:
        if job_id is not None:
            raise click.UsageError("--id needs CLASS")
        if not yes and not click.confirm(f"Remove every job from queue {queue!r}?"):
            raise click.Abort()
    args = parse_json_args(args_json) if args_json is not None else None
    with operator_app(redis, redis_db, prefix, app_include) as app:
        if job_class is None:
            removed = app.dequeue(queue)
        else:
            removed = dequeue_matching(app, queue, [JobMatch(job_class, args=args, id=job_id)])
    if as_json:
        emit_json({"queue": queue, "removed": removed})
    else:
        click.echo(f"removed {removed} job{'s' if removed != 1 else ''} from {queue}")


@click.command()
@click.option(
    "--prune-interval",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="A heartbeat older than this many seconds marks a worker dead (any host).",
)
@click.option(
    "--recover",
    type=click.Choice(["fail", "requeue"]),
    default="fail",
    show_default=True,
    help="What happens to a dead worker's job: recorded failed (Resque) or requeued.",
)
@ops_backend_options
@json_option
def prune(
    prune_interval: float,
    recover: str,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Unregister dead workers and release the jobs they held (the worker's own pruning).

    Dead means: a heartbeat older than --prune-interval (workers on any host that write
    heartbeats: pyresque, Ruby), or a worker on this host whose process is gone.
    Workers elsewhere without heartbeats (node, PHP) are left alone.
    """
    from pyresque.core.worker import Worker
    from pyresque.core.worker.pruning import prune_dead_workers

    with operator_app(redis, redis_db, prefix, app_include) as app:
        # an unregistered identity for the pruning lock (held 1 s, not a worker's 60 s)
        pruner = Worker(
            app, ["*"], mode="inprocess", heartbeat_interval=1, prune_interval=prune_interval, recover=recover
        )
        with app.connection_guard():
            pruned = prune_dead_workers(pruner)
    if as_json:
        emit_json({"pruned": pruned})
        return
    for worker_id in pruned:
        click.echo(f"pruned {worker_id}")
    click.echo(f"pruned {len(pruned)} dead worker{'s' if len(pruned) != 1 else ''}")
