"""``pyresque info``, ``workers``, ``dequeue`` and ``prune`` (``queues`` is in
:mod:`pyresque.cli.ops_queue_admin`, ``enqueue`` in :mod:`pyresque.cli.ops_enqueue`)."""

from __future__ import annotations

from typing import Any

import click

from pyresque.cli.ops_common import (
    emit_json,
    json_option,
    known_queue,
    number,
    operator_app,
    ops_backend_options,
    parse_json_args,
    plural,
    print_table,
    safe_text,
    shorten,
    split_worker_id,
    yes_option,
)
from pyresque.cli.ops_control import quiet, stop
from pyresque.cli.ops_queue_admin import queue_sizes
from pyresque.cli.shards import shard_views
from pyresque.core.app import Resque
from pyresque.core.dequeue import JobMatch, dequeue_matching
from pyresque.core.job import Job

__all__ = ["IdMatch", "dequeue", "info", "prune", "worker_rows", "workers"]


def worker_rows(app: Resque) -> list[dict[str, Any]]:
    """Every registered worker, with what it works on (any Resque implementation's record);
    over shards, every shard's, each row with its ``shard``.

    Round trips: 3 (SMEMBERS, MGET of the records, HGETALL of the heartbeats), per shard.
    """
    rows: list[dict[str, Any]] = []
    for name, view in shard_views(app):
        rows += _worker_rows(view, name)
    return rows


def _worker_rows(app: Resque, shard: str) -> list[dict[str, Any]]:
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
                "pid": number(pid),
                "queues": queues_part.split(",") if queues_part else [],
                "state": "working" if record else "idle",
                "queue": record.get("queue") if record else None,
                "class": payload.get("class"),
                "args": payload.get("args"),
                "run_at": record.get("run_at") if record else None,
                "heartbeat": beats.get(worker_id),
                **({"shard": shard} if shard else {}),
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
        sizes = queue_sizes(app)
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
    sharded = any("shard" in r for r in rows)
    print_table(
        ["WORKER", "STATE", "QUEUE", "JOB", "SINCE"] + (["SHARD"] if sharded else []),
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
            + ([r.get("shard", "")] if sharded else [])
            for r in rows
        ],
        empty="no workers",
    )


@click.group(invoke_without_command=True, commands=[quiet, stop])
@ops_backend_options
@json_option
@click.pass_context
def workers(
    ctx: click.Context,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Registered workers (pyresque, Ruby, PHP or node) and the job each is working on.

    `workers quiet ID|--all` and `workers stop ID|--all` ask pyresque workers to exit.
    """
    if ctx.invoked_subcommand is not None:
        return
    with operator_app(redis, redis_db, prefix, app_include) as app:
        rows = worker_rows(app)
    if as_json:
        emit_json(rows)
        return
    _print_workers(rows)


class IdMatch(JobMatch):
    """The job with this id, whatever its class (``class_name`` is not looked at)."""

    def matches(self, job: Job) -> bool:
        """Whether ``job`` carries the id."""
        return job.id == self.id


@click.command()
@click.argument("queue")
@click.argument("job_class", metavar="[CLASS]", required=False)
@click.argument("args_json", metavar="[ARGS-JSON]", required=False)
@click.option("--id", "job_id", default=None, help="Remove the job with this id (CLASS optional).")
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
    """Remove jobs from QUEUE: all of them, those of CLASS, of CLASS with exactly
    ARGS-JSON, or the one with --id ID.

    Safe while workers run: each job is removed by one atomic LREM of its exact payload.
    --id without CLASS removing nothing (a worker took the job, or no such id) is an
    error (exit status 1).
    """
    args = parse_json_args(args_json) if args_json is not None else None
    with operator_app(redis, redis_db, prefix, app_include) as app:
        size = known_queue(app, queue)
        if job_class is None and job_id is None:
            if not yes and not click.confirm(f"Remove every job ({size}) from queue {safe_text(queue)!r}?"):
                raise click.Abort()
            removed = app.dequeue(queue)
        elif job_class is None:
            removed = dequeue_matching(app, queue, [IdMatch("", id=job_id)])
            if not removed:
                raise click.ClickException(f"no job with id {job_id} in queue {queue}")
        else:
            removed = dequeue_matching(app, queue, [JobMatch(job_class, args=args, id=job_id)])
    if as_json:
        emit_json({"queue": queue, "removed": removed})
    else:
        click.echo(f"removed {plural(removed, 'job')} from {safe_text(queue)}")


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
        pruned = []
        for _, view in shard_views(app):  # each shard's workers, by that shard's lock
            # an unregistered identity for the pruning lock (held 1 s, not a worker's 60 s)
            pruner = Worker(
                view, ["*"], mode="inprocess", heartbeat_interval=1,
                prune_interval=prune_interval, recover=recover,
            )
            with view.connection_guard():
                pruned += prune_dead_workers(pruner)
    if as_json:
        emit_json({"pruned": pruned})
        return
    for worker_id in pruned:
        click.echo(f"pruned {safe_text(worker_id)}")
    click.echo(f"pruned {plural(len(pruned), 'dead worker')}")
