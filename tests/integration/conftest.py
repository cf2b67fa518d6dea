"""Fixtures of the integration tests: apps on the real redis-server the session starts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyresque import Resque
from tests.endpoints import auth_server, http_port  # noqa: F401  (fixtures)


@pytest.fixture
def app(redis_url: str) -> Iterator[Resque]:
    """An app on the test redis-server (emptied)."""
    resque = Resque(redis_url)
    yield resque
    resque.close()
