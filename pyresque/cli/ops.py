"""Operator commands: ``info``, ``queues``, ``workers``, ``failed ...``, ``enqueue``, ``dequeue``,
``prune``.

Each command takes the backend options (``-r/--redis/--backend``, ``--redis-db``,
``--prefix/--namespace``, ``--app-include`` and their Resque environment variables)
and ``--json`` for scripts; by default it prints readable tables.
"""

from __future__ import annotations

import click

from pyresque.cli.ops_failed import failed
from pyresque.cli.ops_queues import dequeue, enqueue, info, prune, queues, workers

__all__ = ["COMMANDS"]

#: The commands ``pyresque.cli`` adds to the ``pyresque`` group.
COMMANDS: list[click.Command] = [info, queues, workers, failed, enqueue, dequeue, prune]
