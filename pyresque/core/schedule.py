"""Moved to :mod:`pyresque.core.scheduling.schedule`; kept so that old imports still work."""

from __future__ import annotations

from pyresque.core.scheduling.schedule import Schedule, load_schedule_file, parse_duration, parse_schedules

__all__ = ["Schedule", "load_schedule_file", "parse_duration", "parse_schedules"]
