"""The FastAPI example of docs/asyncio.md, run as written against the real redis-server:
its ``tasks.py`` and ``web.py`` blocks are written out (the URL pointed at the test
server), imported, and driven with httpx through the app's lifespan."""

from __future__ import annotations

import asyncio
import importlib
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
import redis

from pyresque.testing import drain

pytestmark = pytest.mark.redis

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncio.md"
_BLOCK = re.compile(r"```python\n# (?P<name>\w+)\.py\n(?P<body>.*?)```", re.S)


@pytest.fixture
def example(redis_url: str, tmp_path: Path) -> Iterator[tuple[ModuleType, ModuleType]]:
    """The page's ``tasks`` and ``web`` modules, on the test server."""
    blocks = {m["name"]: m["body"] for m in _BLOCK.finditer(DOC.read_text())}
    assert {"tasks", "web"} <= set(blocks), "docs/asyncio.md lost its tasks.py / web.py blocks"
    for name in ("tasks", "web"):
        (tmp_path / f"{name}.py").write_text(blocks[name].replace("redis://localhost:6379/0", redis_url))
    sys.path.insert(0, str(tmp_path))
    try:
        tasks, web = importlib.import_module("tasks"), importlib.import_module("web")
        yield tasks, web
        tasks.app.close()
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("tasks", "web"):
            sys.modules.pop(name, None)


@pytest.mark.asyncio
async def test_the_documented_lifespan_app_enqueues_and_reports(
    example: tuple[ModuleType, ModuleType], redis_url: str
) -> None:
    tasks, web = example
    admin = redis.Redis.from_url(redis_url)
    before = len(admin.client_list())
    async with web.api.router.lifespan_context(web.api):
        transport = httpx.ASGITransport(app=web.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            reply = await http.post("/accounts/3/reports/2026-07")
            assert reply.status_code == 200
            job_id = reply.json()["job_id"]
            assert (await http.get(f"/jobs/{job_id}")).json() == {"status": "waiting"}
            [job] = tasks.app.peek("reports")  # the sync app (the worker's) sees the job
            assert (job.class_name, job.args, job.id) == ("Reports::Build", (3, "2026-07"), job_id)
            await asyncio.to_thread(drain, tasks.app)  # the worker's part, off the loop
            assert (await http.get(f"/jobs/{job_id}")).json() == {"status": "complete"}
            assert (await http.get("/jobs/no-such-job")).json() == {"status": None}
            assert len(admin.client_list()) > before  # the async client's connection
    tasks.app.close()  # the sync app's connections (peek, drain)
    assert len(admin.client_list()) == before  # the async client's: closed with the lifespan
    admin.close()


@pytest.mark.asyncio
async def test_more_concurrent_requests_than_pool_connections(example: tuple[ModuleType, ModuleType]) -> None:
    tasks, web = example
    async with web.api.router.lifespan_context(web.api):
        transport = httpx.ASGITransport(app=web.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            replies = await asyncio.gather(*(http.post(f"/accounts/{n}/reports/2026-01") for n in range(300)))
    assert [r.status_code for r in replies] == [200] * 300
    assert tasks.app.size("reports") == 300
