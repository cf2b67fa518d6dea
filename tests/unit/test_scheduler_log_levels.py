"""Scheduler log levels: a schedule's first tick out of grace is INFO, a real miss a WARNING."""

from __future__ import annotations

import logging

import pytest

from pyresque import Resque
from pyresque.core.scheduling.recurring import Recurring
from pyresque.core.scheduling.schedule import Schedule

HOURLY = Schedule("h", "A", queue="q", every=3600)


def _records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "pyresque.scheduler"]


def test_first_start_of_a_schedule_logs_info_not_error(
    fake_app: Resque, caplog: pytest.LogCaptureFixture
) -> None:
    """Never ran before: its latest tick (5733 s ago) was not missed; INFO says when it starts."""
    rec = Recurring(fake_app, [HOURLY], grace=60)
    with caplog.at_level(logging.DEBUG, logger="pyresque.scheduler"):
        assert rec.enqueue_due(3600 * 5 + 2133) == 0
    records = _records(caplog)
    assert records, "the first run is logged"
    assert all(level == logging.INFO for level, _ in records), records
    assert "first run" in records[0][1] and "'h'" in records[0][1]
    assert "1970-01-01T06:00:00Z" in records[0][1]  # the tick it starts with


def test_a_tick_missed_after_a_previous_run_is_a_warning(
    fake_app: Resque, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recurring(fake_app, [HOURLY], grace=60)
    assert rec.enqueue_due(3600 * 5 + 1) == 1  # ran at tick 18000
    with caplog.at_level(logging.DEBUG, logger="pyresque.scheduler"):
        assert rec.enqueue_due(3600 * 7 + 120) == 0  # tick 25200 is 120 s late
    levels = [level for level, message in _records(caplog) if "late" in message]
    assert levels == [logging.WARNING]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
