"""``pyresque workers quiet|stop ID...|--all`` and ``pyresque queues pause|resume QUEUE``:
control of pyresque workers through Redis (:mod:`pyresque.core.control`).

The ``workers`` and ``queues`` groups (:mod:`pyresque.cli.ops_queues`,
:mod:`pyresque.cli.ops_queue_admin`) list these as their sub-commands. Ruby, PHP and
node-resque workers read none of these keys: they take signals, and ``pause-all-workers``.
"""

from __future__ import annotations

from typing import Any

import click

from pyresque.cli.ops_common import (
    emit_json,
    json_option,
    operator_app,
    ops_backend_options,
    plural,
    safe_text,
)
from pyresque.cli.shards import shard_of_queue, shard_views
from pyresque.core.app import Resque

__all__ = ["pause", "quiet", "resume", "stop"]

_WHAT = {
    "quiet": "finish the current job, then exit",
    "stop": "stop the current job now (it is recorded failed), then exit",
}


def _send(app: Resque, command: str, ids: tuple[str, ...], every: bool) -> dict[str, Any]:
    if every == bool(ids):
        raise click.UsageError("give worker ids or --all (not both)")
    views = shard_views(app)
    if len(views) == 1:
        return _send_one(views[0][1], command, ids, every)
    out: dict[str, Any] = {"command": command, "sent": [], "skipped": []}
    left = set(ids)
    for _, view in views:  # each worker registers on one shard: its commands go there
        with view.connection_guard():
            mine = tuple(w for w in ids if w in left and w in set(view.backend.workers.all()))
        if every or mine:
            done = _send_one(view, command, mine, every)
            out["sent"] += done["sent"]
            out["skipped"] += done["skipped"]
            left -= set(mine)
    if left:
        raise click.ClickException(f"no shard has a registered worker {sorted(left)[0]!r}")
    return out


def _send_one(app: Resque, command: str, ids: tuple[str, ...], every: bool) -> dict[str, Any]:
    control = app.workers_control
    with app.connection_guard():
        if every:
            registered = app.backend.workers.all()
            sent = control.send_all(command)
            return {"command": command, "sent": sent, "skipped": [w for w in registered if w not in sent]}
        for wid in ids:
            control.send(wid, command)
    return {"command": command, "sent": list(ids), "skipped": []}


def _report(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(data)
        return
    command = data["command"]
    for wid in data["sent"]:
        click.echo(f"asked {safe_text(wid)} to {command}: {_WHAT[command]}")
    if data["skipped"]:
        click.echo(
            f"skipped {plural(len(data['skipped']), 'worker')}: not live pyresque workers "
            "(Ruby, PHP and node workers take signals only)"
        )
    if not data["sent"]:
        click.echo("no live pyresque worker to ask")


def _command(name: str, help_text: str) -> click.Command:
    @click.argument("worker_ids", nargs=-1, metavar="[ID]...")
    @click.option("--all", "every", is_flag=True, help="Every live pyresque worker.")
    @ops_backend_options
    @json_option
    def run(
        worker_ids: tuple[str, ...],
        every: bool,
        redis: str | None,
        redis_db: int | None,
        prefix: str | None,
        app_include: str | None,
        as_json: bool,
    ) -> None:
        with operator_app(redis, redis_db, prefix, app_include) as app:
            data = _send(app, name, worker_ids, every)
        _report(data, as_json)

    run.__doc__ = help_text
    return click.command(name)(run)


quiet = _command(
    "quiet",
    """Ask pyresque workers to finish their job, then exit (QUIT, through Redis).

    Each worker reads it within a few seconds (at its next lease refresh); a command
    not read within 5 minutes expires. Idempotent: asking twice is asking once.
    """,
)
stop = _command(
    "stop",
    """Ask pyresque workers to stop their job now (recorded failed), then exit (TERM,
    through Redis). A stop overrides a quiet; a quiet does not soften a stop.
    """,
)


def _queue_command(name: str, help_text: str) -> click.Command:
    @click.argument("queue")
    @ops_backend_options
    @json_option
    def run(
        queue: str,
        redis: str | None,
        redis_db: int | None,
        prefix: str | None,
        app_include: str | None,
        as_json: bool,
    ) -> None:
        with operator_app(redis, redis_db, prefix, app_include) as app:
            views = dict(shard_views(app))
            app = views.get(shard_of_queue(app, queue), app)  # the queue's shard
            control = app.workers_control
            with app.connection_guard():
                changed = control.pause_queue(queue) if name == "pause" else control.resume_queue(queue)
                paused = control.paused_queues()
        if as_json:
            emit_json({"queue": queue, "changed": changed, "paused": paused})
            return
        done = "paused" if name == "pause" else "resumed"
        if not changed:
            click.echo(f"queue {safe_text(queue)} was {'already' if name == 'pause' else 'not'} paused")
        else:
            click.echo(f"{done} queue {safe_text(queue)} for pyresque workers")
        if name == "pause":
            click.echo("(Ruby, PHP and node workers still take its jobs)")

    run.__doc__ = help_text
    return click.command(name)(run)


pause = _queue_command(
    "pause",
    """Pause QUEUE for pyresque workers: they take none of its jobs until `queues resume`
    (within a second). Ruby, PHP and node workers ignore it (`pause-all-workers`, set by
    the dashboard's Pause all, is the key every Resque honours).
    """,
)
resume = _queue_command("resume", """Undo `queues pause QUEUE`: pyresque workers take its jobs again.""")
