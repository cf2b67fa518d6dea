"""Performing jobs in the test: drain() and inline mode."""

from __future__ import annotations

import time

import pytest
import shop

from pyresque import Resque
from pyresque.testing import assert_not_enqueued, assert_scheduled, drain, inline


def test_drain_runs_the_whole_chain(app: Resque) -> None:
    """drain() performs the charge, then the receipt the charge enqueued."""
    shop.place_order(7, "ann@example.com", 1250)
    log = drain(app)
    assert log.class_names() == ["Shop::ChargeCard", "Shop::SendReceipt"]
    assert shop.OUTBOX == [{"order": 7, "to": "ann@example.com", "lang": "fr"}]
    assert_not_enqueued(app)


def test_inline_mode_performs_at_enqueue(app: Resque) -> None:
    """In inline mode the code under test runs its jobs at once."""
    with inline(app):
        shop.place_order(8, "bob@example.com", 990)
    assert shop.OUTBOX == [{"order": 8, "to": "bob@example.com", "lang": "fr"}]


def test_a_failing_job_fails_the_test_and_is_recorded(app: Resque) -> None:
    """A job's exception reaches the test; the failure is recorded as a worker would."""
    shop.place_order(9, "cy@example.com", 0)
    with pytest.raises(ValueError, match="cannot charge 0 cents"):
        drain(app)
    (failure,) = app.failures.all(0, -1)
    assert failure.queue == "payments" and failure.exception == "ValueError"


def test_failures_can_be_collected_instead(app: Resque) -> None:
    """raise_errors=False performs everything and reports failures in the log."""
    shop.place_order(10, "dee@example.com", 0)
    shop.place_order(11, "eve@example.com", 500)
    log = drain(app, raise_errors=False)
    assert len(log.failed) == 1 and len(log.succeeded) == 2


def test_delayed_jobs_run_when_due(app: Resque) -> None:
    """A job scheduled for tomorrow runs when drain() is told it is tomorrow."""
    tomorrow = time.time() + 86400
    app.enqueue_at(tomorrow, "mail", shop.SendReceipt, 12, "fay@example.com", {})
    assert_scheduled(app, shop.SendReceipt, args=[12, "fay@example.com", {}], at=tomorrow)
    assert len(drain(app)) == 0
    drain(app, now=tomorrow)
    assert shop.OUTBOX == [{"order": 12, "to": "fay@example.com", "lang": "en"}]


def test_the_inline_fixture(pyresque_inline_app: Resque) -> None:
    """The plugin's pyresque_inline_app performs jobs registered on it at enqueue."""
    done: list[int] = []

    @pyresque_inline_app.job(name="Double")
    def double(n: int) -> None:
        done.append(n * 2)

    pyresque_inline_app.enqueue("default", double, 21)
    assert done == [42]
