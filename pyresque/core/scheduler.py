"""Moved to :mod:`pyresque.core.scheduling.scheduler`; kept so that old imports still work."""

from __future__ import annotations

from pyresque.core.scheduling.scheduler import DEFAULT_INTERVAL, PollResult, Scheduler

__all__ = ["DEFAULT_INTERVAL", "PollResult", "Scheduler"]
