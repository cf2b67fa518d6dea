"""The project's fixtures: its own app, pointed at a fresh fakeredis for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import shop

from pyresque import Resque
from pyresque.testing import fake_backend


@pytest.fixture
def app() -> Iterator[Resque]:
    """shop.app on a fresh fakeredis (jobs stay registered), and an empty outbox."""
    shop.OUTBOX.clear()
    with fake_backend(shop.app) as app:
        yield app
