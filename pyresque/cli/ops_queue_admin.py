"""``pyresque queues`` (list, ``--prune-empty``) and ``pyresque queues remove QUEUE``
(``queues pause|resume`` are in :mod:`pyresque.cli.ops_control`).

Pruning unregisters the queues that hold no job, each with one atomic check-and-SREM
(:meth:`~pyresque.backends.base.Broker.unregister_empty`), so a job pushed at the same
instant keeps its queue registered. After ``--grace`` seconds the pruned queues that
hold jobs again are registered again: that covers writers whose register and push are
two commands (php-resque, Ruby's pipelined push, ``enqueue_many``'s pipeline), which
could otherwise leave a job in an unregistered queue. Running it twice (or again after
a lost reply) is harmless: a queue already unregistered is left alone, a queue holding
a job is never pruned.
"""

from __future__ import annotations

import time
from typing import Any

import click

from pyresque.cli.ops_common import (
    emit_json,
    json_option,
    known_queue,
    operator_app,
    ops_backend_options,
    plural,
    print_table,
    safe_text,
    yes_option,
)
from pyresque.cli.ops_control import pause, resume
from pyresque.cli.shards import is_sharded, shard_of_queue
from pyresque.core.app import Resque

__all__ = ["queue_sizes", "queues"]


def queue_sizes(app: Resque) -> dict[str, int]:
    """Every registered queue and its size. Round trips: 2."""
    with app.connection_guard():
        names = app.backend.broker.queues()
        return app.backend.broker.sizes(names) if names else {}


@click.group(invoke_without_command=True, commands=[pause, resume])
@click.option("--prune-empty", is_flag=True, help="Unregister every queue that holds no job.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0, max=60),
    default=1.0,
    show_default=True,
    help="With --prune-empty: seconds after which pruned queues that got jobs are registered again.",
)
@ops_backend_options
@json_option
@click.pass_context
def queues(
    ctx: click.Context,
    prune_empty: bool,
    grace: float,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Every known queue with the number of jobs waiting in it.

    With --prune-empty: unregister the queues that hold no job (atomically per queue;
    a push registers a queue again). `queues remove QUEUE` drops a queue and its jobs;
    `queues pause QUEUE` / `queues resume QUEUE` pause it for pyresque workers.
    """
    if ctx.invoked_subcommand is not None:
        if prune_empty:
            raise click.UsageError("--prune-empty takes no sub-command")
        return
    with operator_app(redis, redis_db, prefix, app_include) as app:
        if prune_empty:
            _prune(app, grace, as_json)
            return
        sizes = queue_sizes(app)
        shards = {q: shard_of_queue(app, q) for q in sizes} if is_sharded(app) else None
    if as_json:
        tagged = [{"name": q, "size": n, **({"shard": shards[q]} if shards else {})} 
                  for q, n in sizes.items()]
        emit_json(tagged)
        return
    if shards:
        rows = [[q, n, shards[q]] for q, n in sizes.items()]
        print_table(["QUEUE", "SIZE", "SHARD"], rows, empty="no queues")
        return
    print_table(["QUEUE", "SIZE"], [[q, n] for q, n in sizes.items()], empty="no queues")


def _prune(app: Resque, grace: float, as_json: bool) -> None:
    broker = app.backend.broker
    with app.connection_guard():
        pruned = broker.unregister_empty(broker.queues())
    again: list[str] = []
    if pruned and grace:
        time.sleep(grace)  # a writer's SADD ... RPUSH gap (php-resque) closes meanwhile
        with app.connection_guard():
            again = broker.register_nonempty(pruned)
    gone = [q for q in pruned if q not in again]
    if as_json:
        data: dict[str, Any] = {"pruned": gone, "registered_again": again}
        emit_json(data)
        return
    for name in gone:
        click.echo(f"unregistered {safe_text(name)}")
    for name in again:
        click.echo(f"kept {safe_text(name)} (a job arrived while pruning)")
    click.echo(f"unregistered {plural(len(gone), 'empty queue')}")


@queues.command("remove")
@click.argument("queue")
@yes_option
@ops_backend_options
@json_option
def remove(
    queue: str,
    yes: bool,
    redis: str | None,
    redis_db: int | None,
    prefix: str | None,
    app_include: str | None,
    as_json: bool,
) -> None:
    """Drop QUEUE: its jobs and its registration (asks first unless -y).

    One MULTI (LLEN, DEL, SREM), as Ruby's Resque.remove_queue. A job pushed afterwards
    registers the queue again.
    """
    with operator_app(redis, redis_db, prefix, app_include) as app:
        size = known_queue(app, queue)
        if not yes and not click.confirm(f"Remove queue {safe_text(queue)!r} and its {plural(size, 'job')}?"):
            raise click.Abort()
        dropped = app.remove_queue(queue)
    if as_json:
        emit_json({"queue": queue, "removed": dropped})
    else:
        click.echo(f"removed queue {safe_text(queue)} and {plural(dropped, 'job')}")
