"""Scheduling: delayed jobs promoted when due, recurring schedules ticked, by one leader.

Inside:

- ``scheduler.py``: :class:`Scheduler`, the poll loop (open this first).
- ``leader.py``: the leader lock, shared with Ruby resque-scheduler's master lock.
- ``promotion.py``: moves due ``delayed:<ts>`` items to their queues, exactly once.
- ``schedule.py``: :class:`Schedule` (cron or ``every``), parsed from resque-scheduler's
  YAML/JSON config; ``load_schedule_file``.
- ``recurring.py``: enqueues each tick of a schedule exactly once; dynamic schedules
  stored in Redis (``set_schedule`` ...).

How data flows: ``app.enqueue_at``/``enqueue_in`` (:mod:`pyresque.core.delayed`) write an
item in resque-scheduler's format through ``backend.delayed``. Each poll the
:class:`Scheduler` takes or refreshes the leader lock; as leader it asks the
:class:`~pyresque.core.scheduling.promotion.Promoter` to move due items (one atomic
promote step per batch, an undeliverable item to the failure store) and
:class:`~pyresque.core.scheduling.recurring.Recurring` to enqueue due ticks (one atomic
step per tick). The item format itself lives in :mod:`pyresque.core.delayed_item`,
beside the backends' interfaces that carry it.
"""

from __future__ import annotations

from pyresque.core.scheduling.schedule import Schedule, load_schedule_file
from pyresque.core.scheduling.scheduler import Scheduler

__all__ = ["Schedule", "Scheduler", "load_schedule_file"]
