"""The same kit from plain unittest (no pytest fixtures): run with pytest or `python -m unittest`."""

from __future__ import annotations

import contextlib
import unittest

import shop

from pyresque.testing import assert_enqueued, drain, fake_backend


class PlaceOrderTest(unittest.TestCase):
    """place_order, tested with unittest."""

    def setUp(self) -> None:
        shop.OUTBOX.clear()
        stack = contextlib.ExitStack()
        self.app = stack.enter_context(fake_backend(shop.app))
        self.addCleanup(stack.close)

    def test_charge_is_enqueued_then_performed(self) -> None:
        """The charge waits in its queue until drained; then the receipt is sent."""
        shop.place_order(1, "gus@example.com", 700)
        assert_enqueued(self.app, shop.ChargeCard, args=[1, "gus@example.com", 700])
        drain(self.app)
        self.assertEqual(shop.OUTBOX, [{"order": 1, "to": "gus@example.com", "lang": "fr"}])
