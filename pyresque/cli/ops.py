"""Operator commands: ``info``, ``queues``, ``workers``, ``peek``, ``status``,
``failed ...``, ``delayed ...``, ``enqueue``, ``dequeue``, ``prune``.

Each command takes the backend options (``-r/--redis/--backend``, ``--redis-db``,
``--prefix/--namespace``, ``--app-include`` and their Resque environment variables)
and ``--json`` for scripts, after the command or before it (``pyresque --json
queues``); by default it prints readable tables. Where each lives: ``ops_queues``
(info, workers, dequeue, prune), ``ops_queue_admin`` (queues), ``ops_enqueue``,
``ops_inspect`` (peek, status), ``ops_failed``, ``ops_delayed``; ``ops_common``
holds what they share.
"""

from __future__ import annotations

import click

from pyresque.cli.ops_delayed import delayed
from pyresque.cli.ops_enqueue import enqueue
from pyresque.cli.ops_failed import failed
from pyresque.cli.ops_inspect import peek, status
from pyresque.cli.ops_queue_admin import queues
from pyresque.cli.ops_queues import dequeue, info, prune, workers

__all__ = ["COMMANDS"]

#: The commands ``pyresque.cli`` adds to the ``pyresque`` group.
COMMANDS: list[click.Command] = [
    info,
    queues,
    workers,
    peek,
    status,
    failed,
    delayed,
    enqueue,
    dequeue,
    prune,
]
