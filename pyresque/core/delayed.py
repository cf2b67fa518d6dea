"""Delayed jobs on the app (``enqueue_at``, ``enqueue_in`` ...): built by the scheduler issue."""

from __future__ import annotations


class DelayedMixin:
    """Methods the :class:`~pyresque.Resque` app gains for delayed jobs."""
