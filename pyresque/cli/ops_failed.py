"""``pyresque failed list|show|requeue|remove|clear``: Ruby Resque's failure management.

Indexes are positions in the ``failed`` list (0 = oldest), as resque-web shows them;
``failed show`` also takes negative ones (-1: the latest). Index-based operations
check the entry did not change under them (another operator or a worker appending is
fine; a concurrent removal makes the operation fail loudly). ``requeue --not-retried``
skips the entries Resque marked ``retried_at``, so running it again (after an
interruption or a lost reply) never requeues a job twice.
"""

from __future__ import annotations

import json
from typing import Any

import click

from pyresque.backends.base import FIND_LIMIT, FailureStore
from pyresque.backends.redis.shards.stores import ShardedFailures
from pyresque.cli.ops_common import (
    emit_json,
    json_option,
    operator_app,
    ops_backend_options,
    print_table,
    shorten,
    yes_option,
)
from pyresque.core.app import Resque
from pyresque.core.errors import FailureNotFound
from pyresque.core.failure import FailureRecord

__all__ = ["failed"]


@click.group()
def failed() -> None:
    """List, requeue and remove failed jobs."""


def _record_json(index: int, record: FailureRecord) -> dict[str, Any]:
    return {"index": index, **record.to_dict()}


@failed.command("list")
@click.option("--queue", "-q", default=None, help="Only failures of jobs from this queue.")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="First index.")
@click.option("--count", "-n", type=int, default=-1, help="How many (default: all).")
@ops_backend_options
@json_option
def list_failed(
    queue: str | None,
    start: int,
    count: int,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Failed jobs with their index, class, queue, exception and message."""
    with operator_app(redis, redis_db, prefix, app_include) as app:
        records = _all(app, start, count)
    rows = [(start + i, r) for i, r in enumerate(records) if queue is None or r.queue == queue]
    if as_json:
        emit_json([_record_json(i, r) for i, r in rows])
        return
    print_table(
        ["#", "FAILED AT", "QUEUE", "CLASS", "EXCEPTION", "ERROR", "RETRIED"],
        [
            [
                i,
                r.failed_at,
                r.queue,
                r.payload.get("class") or "(unreadable)",
                r.exception,
                shorten(r.error, 50),
                "yes" if r.retried_at else "",
            ]
            for i, r in rows
        ],
        empty="no failed jobs",
    )


@failed.command("show", context_settings={"ignore_unknown_options": True})  # INDEX may be -1
@click.argument("index", required=False, type=int)
@click.option("--id", "job_id", default=None, help="The failures of the job with this id instead.")
@click.option(
    "--scan",
    type=click.IntRange(min=0),
    default=FIND_LIMIT,
    show_default=True,
    help="With --id: how many of the most recent failures to search (0: all).",
)
@ops_backend_options
@json_option
def show(
    index: int | None,
    job_id: str | None,
    scan: int,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """One failed job in full: payload, error and backtrace.

    By INDEX (0 = the oldest; negative counts from the end: -1 is the latest), or by
    job id with --id (every recorded failure of that job, oldest first; --json then
    prints a list).
    """
    if (index is None) == (job_id is None):
        raise click.UsageError("give INDEX or --id JOB_ID (exactly one of them)")
    total = 0
    with operator_app(redis, redis_db, prefix, app_include) as app:
        if job_id is not None:
            found = app.failures.find(job_id, limit=scan or None)
        else:
            assert index is not None
            total = app.failures.count()
            at = total + index if index < 0 else index
            found = [(at, r) for r in app.failures.all(at, 1)] if 0 <= at < total else []
    if not found:
        if job_id is None:
            raise click.ClickException(f"no failure at index {index} (there are {total})")
        where = "the failed list" if not scan else f"the {scan} most recent failures"
        raise click.ClickException(f"no failure of job {job_id} in {where}")
    if as_json:
        if job_id is None:
            emit_json(_record_json(*found[0]))
        else:
            emit_json([_record_json(i, r) for i, r in found])
        return
    for n, (at, record) in enumerate(found):
        if n:
            click.echo()
        if job_id is not None:
            click.echo(f"{'index:':<12}{at}")
        _echo_record(record)


def _echo_record(record: FailureRecord) -> None:
    data = record.to_dict()
    for key in ("failed_at", "retried_at", "queue", "worker", "exception", "error"):
        if data.get(key) is not None:
            click.echo(f"{key + ':':<12}{data[key]}")
    click.echo(f"{'payload:':<12}{json.dumps(record.payload, ensure_ascii=False)}")
    for key, value in record.extra.items():
        click.echo(f"{key + ':':<12}{json.dumps(value, ensure_ascii=False)}")
    click.echo("backtrace:")
    for line in record.backtrace or ["(none)"]:
        click.echo(f"  {line}")


def _all(app: Resque, start: int, count: int) -> list[FailureRecord]:
    """``failures.all(start, count)``; over shards, "all" (-1) is the count of every list."""
    store = app.failures
    if count < 0 and isinstance(store, ShardedFailures):
        count = max(0, store.count() - start)
    return store.all(start, count)


def _selection(indexes: tuple[int, ...], queue: str | None, every: bool) -> None:
    chosen = sum([bool(indexes), queue is not None, every])
    if chosen != 1:
        raise click.UsageError("give INDEX..., or --queue QUEUE, or --all (exactly one of them)")


@failed.command("requeue")
@click.argument("indexes", metavar="[INDEX]...", nargs=-1, type=click.IntRange(min=0))
@click.option("--queue", "-q", default=None, help="Requeue every failure of jobs from this queue.")
@click.option("--all", "every", is_flag=True, help="Requeue every failure.")
@click.option("--to", "target", default=None, help="Push to this queue instead of the job's own.")
@click.option(
    "--not-retried",
    "not_retried",
    is_flag=True,
    help="With --all or --queue: only the failures not requeued yet (no retried_at).",
)
@ops_backend_options
@json_option
def requeue(
    indexes: tuple[int, ...],
    queue: str | None,
    every: bool,
    target: str | None,
    not_retried: bool,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Push failed jobs back to their queue; entries stay, marked retried (Ruby semantics)."""
    _selection(indexes, queue, every)
    if target is not None and not indexes:
        raise click.UsageError("--to works with INDEX... only")
    if not_retried and indexes:
        raise click.UsageError("--not-retried works with --all or --queue only")
    with operator_app(redis, redis_db, prefix, app_include) as app:
        store = app.failures
        if not_retried:
            done = _requeue_not_retried(store, queue)
        elif indexes:
            for index in indexes:
                try:
                    store.requeue(index, target)
                except FailureNotFound as exc:
                    raise click.ClickException(f"failure {index}: {exc}") from exc
            done = len(indexes)
        elif queue is not None:
            done = store.requeue_queue(queue)
        else:
            done = store.requeue_all()
    if as_json:
        emit_json({"requeued": done})
    else:
        click.echo(f"requeued {done} failed job{'s' if done != 1 else ''}")


def _requeue_not_retried(store: FailureStore, queue: str | None) -> int:
    """Requeue each failure without ``retried_at`` (of ``queue``'s jobs, when given).

    Round trips: 1 to read the list, then 3 per entry (a check that the entry at the
    index is still the one read, then the store's read-and-requeue). An entry that
    changed (another operator removed entries meanwhile) stops the run with an error;
    running it again is safe: what was requeued carries ``retried_at`` now.
    """
    done = 0
    everything = store.all(0, store.count()) if isinstance(store, ShardedFailures) else store.all(0, -1)
    for index, record in enumerate(everything):
        if record.retried_at is not None or (queue is not None and record.queue != queue):
            continue
        if not record.queue or not isinstance(record.payload.get("class"), str):
            continue  # an unreadable entry: nothing to push (failed show INDEX says why)
        current = store.all(index, 1)
        if not current or current[0] != record:
            raise click.ClickException(
                f"the failed list changed while requeueing (at index {index}; {done} requeued): "
                "run the command again, it skips what was requeued"
            )
        try:
            store.requeue(index)
        except FailureNotFound as exc:
            raise click.ClickException(f"failure {index}: {exc} ({done} requeued; run again)") from exc
        done += 1
    return done


@failed.command("remove")
@click.argument("indexes", metavar="[INDEX]...", nargs=-1, type=click.IntRange(min=0))
@click.option("--queue", "-q", default=None, help="Remove every failure of jobs from this queue.")
@click.option("--all", "every", is_flag=True, help="Remove every failure (same as clear).")
@yes_option
@ops_backend_options
@json_option
def remove(
    indexes: tuple[int, ...],
    queue: str | None,
    every: bool,
    yes: bool,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Delete failed jobs by index (several at once is fine), by queue, or all."""
    _selection(indexes, queue, every)
    if every and not yes and not click.confirm("Delete every failed job?"):
        raise click.Abort()
    with operator_app(redis, redis_db, prefix, app_include) as app:
        store = app.failures
        if indexes:
            # highest first, so each removal leaves the lower indexes where they were
            for index in sorted(set(indexes), reverse=True):
                try:
                    store.remove(index)
                except FailureNotFound as exc:
                    raise click.ClickException(f"failure {index}: {exc}") from exc
            done = len(set(indexes))
        elif queue is not None:
            done = store.remove_queue(queue)
        else:
            done = store.clear()
    if as_json:
        emit_json({"removed": done})
    else:
        click.echo(f"removed {done} failed job{'s' if done != 1 else ''}")


@failed.command("clear")
@click.option("--retried", is_flag=True, help="Only the failures already requeued.")
@yes_option
@ops_backend_options
@json_option
def clear(
    retried: bool,
    yes: bool,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Delete every failed job (or, with --retried, those already requeued)."""
    what = "every requeued failed job" if retried else "every failed job"
    if not yes and not click.confirm(f"Delete {what}?"):
        raise click.Abort()
    with operator_app(redis, redis_db, prefix, app_include) as app:
        done = app.failures.clear_retried() if retried else app.failures.clear()
    if as_json:
        emit_json({"removed": done})
    else:
        click.echo(f"removed {done} failed job{'s' if done != 1 else ''}")
