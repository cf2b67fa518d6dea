"""The ``pyresque`` command: parsing and wiring only (the one place that reads env vars).

The group takes the backend options and ``--json`` before the sub-command too
(``pyresque --redis URL info``, ``pyresque --namespace shop --json queues``); an
option given after the sub-command wins (see :func:`pyresque.cli.common.inherited`).
``--redis`` may be a shard spec (``redis+shards://...``, ``shards:FILE``) and ``--shard
NAME`` narrows it to one shard (:mod:`pyresque.cli.shards`).
"""

from __future__ import annotations

import click

from pyresque._version import __version__
from pyresque.cli.shards import shard_option


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pyresque")
@click.option("-r", "--redis", "--backend", "redis", default=None, metavar="URL", help="Backend URL.")
@click.option("--redis-db", "redis_db", type=int, default=None, metavar="N", help="Database number.")
@click.option("--prefix", "--namespace", "prefix", default=None, metavar="NS", help="Key namespace.")
@click.option("--app-include", "app_include", default=None, metavar="MODULE", help="Module defining the app.")
@click.option("--json", "as_json", is_flag=True, default=False, help="JSON output (operator commands).")
@shard_option
def main(
    redis: str | None, redis_db: int | None, prefix: str | None, app_include: str | None, as_json: bool
) -> None:
    """pyresque: Resque for Python.

    The backend options may come before the command (for every command) or after it
    (that one wins); their environment variables are listed in each command's help.
    """


def _register() -> None:
    from pyresque.cli import metrics, ops, scheduler, stats, web, worker

    main.add_command(metrics.metrics)
    main.add_command(stats.stats)
    main.add_command(worker.worker)
    main.add_command(web.web)
    main.add_command(scheduler.scheduler)
    for command in ops.COMMANDS:
        main.add_command(command)


_register()
