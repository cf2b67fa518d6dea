"""Interop fixtures: node-resque installed from npm, run against the test's own redis-server.

Without node/npm the interop tests are skipped locally; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from pyresque import Resque
from tests.interop.node import NodeResque, NodeUnavailable, install_node_resque
from tests.redis_server import in_ci


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """node-resque installed (once) in a throwaway folder."""
    try:
        return install_node_resque()
    except NodeUnavailable as exc:
        if in_ci():
            pytest.fail(f"CI must run the node-resque interop tests: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def node(node_modules: Path, redis_url: str) -> Iterator[NodeResque]:
    """node-resque scripts pointed at this test's (emptied) redis-server, namespace ``resque``."""
    helper = NodeResque(node_modules, redis_url)
    yield helper
    helper.close()


@pytest.fixture
def py(redis_url: str) -> Iterator[Resque]:
    """A pyresque app on the same redis-server and namespace as ``node``."""
    app = Resque(redis_url)
    yield app
    app.close()
