"""``pyresque stats``: the history pyresque workers keep (``HistoryPlugin``), from Redis.

Daily processed/failed counters for the last ``--days`` days (UTC dates) and, per job
class, runs, failures and mean duration over the last ``--minutes`` minutes. See
:mod:`pyresque.observability.history` for the keys and their bounds.
"""

from __future__ import annotations

import click

from pyresque.cli.ops_common import emit_json, json_option, operator_app, ops_backend_options, print_table


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
    from pyresque.observability import history

    with operator_app(redis, redis_db, prefix, app_include) as app:
        day_rows = history.daily(app, days)
        class_rows = history.minutes(app, minutes) if minutes else []
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


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f}ms" if value < 1 else f"{value:.2f}s"
