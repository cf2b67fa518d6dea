"""``pyresque delayed list|show|remove|clear``: resque-scheduler's delayed queue.

Items live in resque-scheduler's keys (``delayed_queue_schedule``, ``delayed:<ts>``,
``timestamps:<item>``) whoever wrote them (pyresque, Ruby, node, PHP), and are read
through the app's delayed API (:mod:`pyresque.core.delayed`) and the
:class:`~pyresque.backends.base.DelayedStore`. Listing is paged (``--start``, ``-n``),
soonest first. Every removal is atomic per item, so an item a scheduler moves to its
queue meanwhile is simply not counted; a repeat removes nothing more.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from pyresque.cli.ops_common import (
    emit_json,
    json_option,
    operator_app,
    ops_backend_options,
    parse_json_args,
    plural,
    print_table,
    raw_text,
    safe_text,
    shorten,
    yes_option,
)
from pyresque.cli.ops_enqueue import parse_time
from pyresque.cli.shards import shard_views
from pyresque.core import timefmt
from pyresque.core.delayed_item import decode_item

__all__ = ["MAX_PAGE", "delayed", "item_row"]

F = TypeVar("F", bound=Callable[..., Any])

#: The most timestamps or items shown at once (page with ``--start``).
MAX_PAGE = 1000


def _page_options(default: int) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        func = click.option(
            "-n",
            "--count",
            type=click.IntRange(min=0, max=MAX_PAGE),
            default=default,
            show_default=True,
            help=f"How many (at most {MAX_PAGE}).",
        )(func)
        return click.option(
            "--start", type=click.IntRange(min=0), default=0, show_default=True, help="Skip this many first."
        )(func)

    return decorate


def _timestamp(text: str) -> int:
    return math.floor(parse_time(text, "TIMESTAMP"))


#: (shown from this many seconds, one unit in seconds, its name), largest first
_SPANS = (
    (2 * 365 * 86400, 365 * 86400, "years"),
    (2 * 86400, 86400, "days"),
    (7200, 3600, "h"),
    (120, 60, "min"),
)


def _due(ts: int) -> str:
    """How far away ``ts`` is, roughly: ``in 5 s``, ``in 3 h``, ``12 min ago``."""
    left = ts - int(time.time())
    span = abs(left)
    amount = f"{span} s"
    for start, unit, name in _SPANS:
        if span >= start:
            amount = f"{span // unit} {name}"
            break
    return "now" if not left else f"in {amount}" if left > 0 else f"{amount} ago"


@click.group()
def delayed() -> None:
    """List, show, remove and clear delayed jobs (resque-scheduler's delayed queue)."""


@delayed.command("list")
@_page_options(50)
@ops_backend_options
@json_option
def list_delayed(
    start: int,
    count: int,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """The times that hold delayed jobs, soonest first, with how many jobs each.

    Round trips: 1, then 1 per timestamp shown.
    """
    with operator_app(redis, redis_db, prefix, app_include) as app:
        merged: dict[int, int] = {}
        for _, view in shard_views(app):  # each shard's first start+count: enough to merge
            stamps = view.delayed_timestamps(0, start + count) if count else []
            for ts in stamps:
                merged[ts] = merged.get(ts, 0) + view.delayed_size_at(ts)
    pairs = sorted(merged.items())[start : start + count]
    rows: list[dict[str, Any]] = [
        {"timestamp": ts, "at": timefmt.utc_iso_z(ts), "count": n} for ts, n in pairs
    ]
    if as_json:
        emit_json({"start": start, "timestamps": rows})
        return
    print_table(
        ["TIMESTAMP", "AT", "WHEN", "JOBS"],
        [[r["timestamp"], r["at"], _due(r["timestamp"]), r["count"]] for r in rows],
        empty="no delayed jobs" if not start else f"no timestamps after the first {start}",
    )


def item_row(timestamp: int, raw: bytes) -> dict[str, Any]:
    """A delayed item as a JSON-ready row: ``timestamp, at, queue, class, args, id,
    extra``, or ``timestamp, at, error, raw, size`` for bytes that are not an item."""
    row: dict[str, Any] = {"timestamp": timestamp, "at": timefmt.utc_iso_z(timestamp)}
    try:
        data = decode_item(raw)
    except Exception as exc:  # display only: whatever the bytes, show them
        row.update(error=" ".join(str(exc).split())[:200], raw=raw_text(raw, 1000), size=len(raw))
        return row
    job_id = data.get("id")
    row.update(
        queue=data.get("queue"),
        **{"class": data["class"]},
        args=data.get("args", []),
        id=job_id if isinstance(job_id, str) else None,
        extra={k: v for k, v in data.items() if k not in ("class", "args", "queue", "id")},
    )
    return row


def _item_cells(row: dict[str, Any]) -> list[Any]:
    if "error" in row:
        return [row["timestamp"], row["at"], "", "", f"(unreadable) {row['raw'][:60]}", ""]
    queue = row["queue"] if isinstance(row["queue"], str) else ""
    args = shorten(row["args"], 50)
    return [row["timestamp"], row["at"], queue, row["id"] or "", shorten(row["class"], 40), args]


@delayed.command("show")
@click.argument("timestamp", required=False)
@click.option("--all", "every", is_flag=True, help="Items of every timestamp, soonest first.")
@_page_options(100)
@ops_backend_options
@json_option
def show(
    timestamp: str | None,
    every: bool,
    start: int,
    count: int,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """The delayed jobs due at TIMESTAMP (epoch seconds or ISO-8601), or with --all every
    delayed job, soonest first: queue, id, class, args."""
    if (timestamp is None) == (not every):
        raise click.UsageError("give TIMESTAMP or --all (exactly one of them)")
    with operator_app(redis, redis_db, prefix, app_include) as app:
        rows = []
        for name, view in shard_views(app):  # each shard's first start+count, merged
            if timestamp is not None:
                ts = _timestamp(timestamp)
                with view.connection_guard():
                    raws = view.backend.delayed.items_at(ts, 0, start + count) if count else []
                found = [item_row(ts, raw) for raw in raws]
            else:
                found = [item_row(item.timestamp, item.raw) for item in view.delayed_peek(0, start + count)]
            rows += [{**row, "shard": name} if name else row for row in found]
        rows = sorted(rows, key=lambda row: int(row["timestamp"]))[start : start + count]
    if as_json:
        emit_json({"start": start, "items": rows})
        return
    headers = ["TIMESTAMP", "AT", "QUEUE", "ID", "CLASS", "ARGS"]
    if any("shard" in r for r in rows):
        headers.append("SHARD")
        print_table(headers, [[*_item_cells(r), r["shard"]] for r in rows], empty="no delayed jobs")
        return
    print_table(headers, [_item_cells(r) for r in rows], empty="no delayed jobs")


@delayed.command("remove")
@click.argument("queue", required=False)
@click.argument("job_class", metavar="[CLASS]", required=False)
@click.argument("args_json", metavar="[ARGS-JSON]", required=False)
@click.option("--id", "job_id", default=None, help="The delayed job with this id.")
@click.option("--at", "at", default=None, metavar="TIMESTAMP", help="Every job due at TIMESTAMP.")
@ops_backend_options
@json_option
def remove(
    queue: str | None,
    job_class: str | None,
    args_json: str | None,
    job_id: str | None,
    at: str | None,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Cancel delayed jobs: QUEUE CLASS [ARGS-JSON] (exactly those args, as
    resque-scheduler's remove_delayed), --id ID, or --at TIMESTAMP (all due then).

    Exit status 1 when nothing matched.
    """
    given = sum([queue is not None, job_id is not None, at is not None])
    if given != 1 or (queue is not None and job_class is None):
        raise click.UsageError("give QUEUE CLASS [ARGS-JSON], or --id ID, or --at TIMESTAMP (one of them)")
    args = parse_json_args(args_json)
    with operator_app(redis, redis_db, prefix, app_include) as app:
        removed = 0
        for _, view in shard_views(app):  # a delayed item lives on one shard: ask each
            if job_id is not None:
                removed, what = removed + view.remove_delayed_by_id(job_id), f"with id {job_id}"
            elif at is not None:
                ts = _timestamp(at)
                with view.connection_guard():
                    raws = view.backend.delayed.items_at(ts)
                    removed += view.backend.delayed.remove_items(ts, raws) if raws else 0
                what = f"due at {ts} ({timefmt.utc_iso_z(ts)})"
            else:
                assert queue is not None and job_class is not None
                removed += view.remove_delayed(queue, job_class, *args)
                what = f"{job_class}{shorten(args, 60)} on {queue}"
    if not removed:
        raise click.ClickException(f"no delayed job {safe_text(what)}")
    if as_json:
        emit_json({"removed": removed})
    else:
        click.echo(f"removed {plural(removed, 'delayed job')}")


@delayed.command("clear")
@yes_option
@ops_backend_options
@json_option
def clear(
    yes: bool,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Drop every delayed job (asks first unless -y)."""
    with operator_app(redis, redis_db, prefix, app_include) as app:
        total = app.delayed_count()
        if not yes and not click.confirm(f"Drop every delayed job ({total})?"):
            raise click.Abort()
        removed = sum(view.clear_delayed() for _, view in shard_views(app))
    if as_json:
        emit_json({"removed": removed})
    else:
        click.echo(f"removed {plural(removed, 'delayed job')}")
