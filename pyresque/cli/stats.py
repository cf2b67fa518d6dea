"""``pyresque stats``: the history pyresque workers keep (``HistoryPlugin``), from Redis.

Daily processed/failed counters for the last ``--days`` days (UTC dates) and, per job
class, runs, failures and mean duration over the last ``--minutes`` minutes. See
:mod:`pyresque.observability.history` for the keys and their bounds.
"""

from __future__ import annotations

import click

from pyresque.cli.ops_common import emit_json, json_option, operator_app, ops_backend_options, print_table
from pyresque.cli.shards import shard_views
from pyresque.observability import history


@click.command("stats")
@click.option("--days", type=click.IntRange(1, 3660), default=7, show_default=True, help="Days to show.")
@click.option(
    "--minutes", type=click.IntRange(0, 10080), default=60, show_default=True,
    help="Per-class numbers over this many last minutes (0: none).",
)
@json_option
@ops_backend_options
def stats(
    days: int,
    minutes: int,
    as_json: bool,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
) -> None:
    """Daily processed/failed counts and per-class numbers of the last minutes."""
    with operator_app(redis, redis_db, prefix, app_include) as app:
        views = [view for _, view in shard_views(app)]  # over shards: added up
        day_rows = _sum_days([history.daily(view, days) for view in views])
        class_rows = _sum_classes([history.minutes(view, minutes) for view in views]) if minutes else []
    if as_json:
        emit_json(
            {
                "days": [{"date": d.date, "processed": d.processed, "failed": d.failed} for d in day_rows],
                "classes": [
                    {
                        "class": c.class_name,
                        "processed": c.processed,
                        "failed": c.failed,
                        "mean_seconds": c.mean_seconds,
                    }
                    for c in class_rows
                ],
                "minutes": minutes,
            }
        )
        return
    print_table(["DATE", "PROCESSED", "FAILED"], [[d.date, d.processed, d.failed] for d in day_rows])
    if minutes:
        click.echo()
        print_table(
            ["CLASS", "PROCESSED", "FAILED", "MEAN"],
            [
                [c.class_name, c.processed, c.failed, _seconds(c.mean_seconds)]
                for c in class_rows
            ],
            empty=f"no job history in the last {minutes} minutes",
        )


def _sum_days(per_shard: list[list[history.Day]]) -> list[history.Day]:
    """Each day's counters added up over the shards (each list has the same days)."""
    return [
        history.Day(days[0].date, sum(d.processed for d in days), sum(d.failed for d in days))
        for days in zip(*per_shard, strict=True)
    ]


def _sum_classes(per_shard: list[list[history.ClassMinute]]) -> list[history.ClassMinute]:
    """Each class's numbers added up over the shards, most runs first."""
    totals: dict[str, list[float]] = {}
    for rows in per_shard:
        for row in rows:
            slot = totals.setdefault(row.class_name, [0, 0, 0.0])
            slot[0] += row.processed
            slot[1] += row.failed
            slot[2] += row.seconds
    out = [history.ClassMinute(name, int(p), int(f), s) for name, (p, f, s) in totals.items()]
    return sorted(out, key=lambda r: (-r.processed, r.class_name))


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f}ms" if value < 1 else f"{value:.2f}s"
