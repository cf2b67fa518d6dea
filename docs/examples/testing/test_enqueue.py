"""Asserting what the code under test enqueued."""

from __future__ import annotations

import pytest
import shop

from pyresque import Resque
from pyresque.testing import assert_enqueued, assert_not_enqueued, enqueued


def test_place_order_enqueues_a_charge(app: Resque) -> None:
    """place_order puts exactly one ChargeCard job on the payments queue."""
    shop.place_order(7, "ann@example.com", 1250)
    assert_enqueued(app, shop.ChargeCard, args=[7, "ann@example.com", 1250], queue="payments", count=1)
    assert_not_enqueued(app, shop.SendReceipt)


def test_jobs_are_listed_in_queue_order(app: Resque) -> None:
    """enqueued() returns the waiting jobs, oldest first, with their arguments."""
    shop.place_order(1, "a@example.com", 100)
    shop.place_order(2, "b@example.com", 200)
    assert [job.args[0] for job in enqueued(app, "payments")] == [1, 2]


def test_arguments_must_survive_json(app: Resque) -> None:
    """What JSON cannot carry is refused at enqueue, exactly as in production."""
    with pytest.raises(TypeError):
        app.enqueue("mail", shop.SendReceipt, 1, "x@example.com", {"when": object()})
    assert_not_enqueued(app)


def test_a_fresh_app_from_the_plugin(pyresque_app: Resque) -> None:
    """The plugin's pyresque_app fixture is an empty app on its own fakeredis."""
    pyresque_app.enqueue("default", "Some::RubyJob", 1)
    assert_enqueued(pyresque_app, "Some::RubyJob", args=[1])
    assert pyresque_app.backend is not shop.app.backend
