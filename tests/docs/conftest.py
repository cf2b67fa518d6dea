"""Fixtures of the docs harness: one :class:`PageRun` per page, on the session's redis-server,
and the list of exempted blocks at the end of the run."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.docs.blocks import Page, pages, parse_page
from tests.docs.page import DatabasePool, PageRun
from tests.redis_server import RedisServer


@pytest.fixture(scope="session")
def _doc_pages(redis_server: RedisServer) -> Iterator[dict[str, PageRun]]:
    runs: dict[str, PageRun] = {}
    yield runs
    for run in runs.values():
        run.close()


@pytest.fixture
def doc_page(_doc_pages: dict[str, PageRun], redis_server: RedisServer) -> Callable[[str], PageRun]:
    """The run of a page (made on first use; the page's last block closes it)."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    pool = _pool(redis_server)

    def get(page: Page) -> PageRun:
        if page.path not in _doc_pages or _doc_pages[page.path].closed:
            _doc_pages[page.path] = PageRun(page, pool)
        return _doc_pages[page.path]

    return get


@pytest.fixture
def doc_pool(redis_server: RedisServer) -> DatabasePool:
    """The databases of the session's redis-server that pages take in turn."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    return _pool(redis_server)


_POOLS: dict[int, DatabasePool] = {}


def _pool(server: RedisServer) -> DatabasePool:
    if server.port not in _POOLS:
        _POOLS[server.port] = DatabasePool(server.port)
    return _POOLS[server.port]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List the exempted doc blocks whenever the docs harness ran."""
    if not any("tests/docs/" in r.nodeid for r in terminalreporter.stats.get("passed", [])):
        return
    from tests.docs.harness import exemptions

    exempt = exemptions([parse_page(path) for path in pages()])
    terminalreporter.section(f"doc blocks exempted: {len(exempt)}")
    for block_id, reason in exempt:
        terminalreporter.line(f"{block_id}: {reason}")
