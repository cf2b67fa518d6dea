"""pyresque web on a real redis-server: every page and its JSON twin render, paging
is in Redis with prev/next + jump (never a link per page), the failed search caps its
cost and says so, the key browser uses SCAN, the live stream sends ticks, and the app
mounts inside FastAPI."""

from __future__ import annotations

import re

import httpx
import pytest
import redis

from pyresque import Resque
from tests.e2e.seed import add_failures, client, seed, web_client

pytestmark = [pytest.mark.redis, pytest.mark.asyncio]

PAGES = [
    "/",
    "/queues",
    "/queue?name=mail",
    "/queue?name=raw",
    "/workers",
    "/failed",
    "/failed?q=timeout",
    "/failed?queue=reports&class=BuildReport",
    "/delayed",
    "/schedule",
    "/stats",
    "/stats/keys",
    "/stats/key?key=resque:queues",
    "/stats/key?key=resque:failed",
    "/stats/key?key=resque:workers:heartbeat",
]


@pytest.fixture
def seeded(app: Resque) -> Resque:
    seed(app)
    return app


async def test_every_page_and_its_json_twin_render(seeded: Resque, redis_url: str) -> None:
    ts = int(client(seeded).zrange("resque:delayed_queue_schedule", 0, 0)[0])
    async with web_client(redis_url) as http:
        for path in [*PAGES, f"/delayed/at?ts={ts}"]:
            page = await http.get(path)
            assert page.status_code == 200, (path, page.text[:300])
            assert page.headers["content-type"].startswith("text/html")
            assert "</html>" in page.text
            api_path = "/api/overview" if path == "/" else "/api" + path
            api = await http.get(api_path)
            assert api.status_code == 200, (api_path, api.text[:300])
            assert isinstance(api.json(), dict)


async def test_the_numbers_are_the_redis_numbers(seeded: Resque, redis_url: str) -> None:
    async with web_client(redis_url) as http:
        data = (await http.get("/api/overview")).json()
        assert data["pending"] == 31 + 5 + 2
        assert data["failed_entries"] == 44
        assert (data["workers"], data["working"]) == (3, 1)
        assert data["processed"] == 12345
        queues = {q["name"]: q for q in (await http.get("/api/queues")).json()["queues"]}
        assert queues["mail"]["size"] == 31 and queues["mail"]["latency"] is not None
        assert queues["raw"]["latency"] is None  # not JSON: no queue_time
        workers = {w["id"]: w for w in (await http.get("/api/workers")).json()["workers"]}
        assert workers["web-2:777:reports"]["stale"] and not workers["web-1:4243:mail"]["stale"]
        busy = workers["web-1:4242:mail,reports"]
        assert busy["job"]["class"] == "SendMail" and busy["job"]["for"] >= 40
        assert busy["queues"] == ["mail", "reports"] and busy["pid"] == "4242"
        busy_only = (await http.get("/api/workers", params={"working": 1})).json()
        assert [w["id"] for w in busy_only["workers"]] == ["web-1:4242:mail,reports"] and busy_only[
            "total"
        ] == 1
        assert "working only</strong>" in (await http.get("/workers?working=1")).text
        sched = (await http.get("/api/schedule")).json()["schedules"]
        assert [s["name"] for s in sched] == ["nightly_report"] and sched[0]["next"] is not None
        delayed = (await http.get("/api/delayed")).json()
        assert delayed["total"] == 12 and delayed["timestamps"][0]["size"] == 2


async def test_paging_is_prev_next_and_jump_never_a_link_per_page(app: Resque, redis_url: str) -> None:
    add_failures(app, 30 * 25)
    async with web_client(redis_url) as http:
        page = (await http.get("/failed?start=50")).text
        starts = set(re.findall(r"href=\"/failed\?start=(\d+)\"", page))
        assert starts == {"0", "25", "75", str(29 * 25)}  # first, prev, next, last
        assert 'name="page"' in page and "page 3 of 30" in page
        jumped = (await http.get("/api/failed?page=30")).json()
        assert jumped["start"] == 29 * 25 and len(jumped["failures"]) == 25
        assert jumped["failures"][0]["index"] == 725


async def test_search_caps_its_cost_and_says_the_results_are_partial(
    app: Resque, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyresque.web.data.failed as failed_data

    add_failures(app, 300)
    add_failures(app, 1, queue="rare", cls="Rare", error="needle in the haystack")
    monkeypatch.setattr(failed_data, "SEARCH_CAP", 100)
    async with web_client(redis_url) as http:
        first = (await http.get("/api/failed", params={"q": "HAYSTACK"})).json()
        assert first["failures"] == [] and first["partial"] and first["examined"] == 100
        assert first["next_from"] == 100
        html = (await http.get("/failed", params={"q": "HAYSTACK"})).text
        assert "Partial results" in html and "from=100" in html
        last = (await http.get("/api/failed", params={"q": "haystack", "from": 300})).json()
        assert [f["queue"] for f in last["failures"]] == ["rare"] and last["next_from"] is None
        by_class = (await http.get("/api/failed", params={"class": "Rare", "from": 250})).json()
        assert [f["index"] for f in by_class["failures"]] == [300]


async def test_the_key_browser_scans_and_never_runs_keys(seeded: Resque, redis_url: str) -> None:
    admin = redis.Redis.from_url(redis_url)
    admin.config_resetstat()
    async with web_client(redis_url) as http:
        data = (await http.get("/api/stats/keys", params={"match": "queue:*"})).json()
        names = {k["key"] for k in data["keys"]}
        assert {"resque:queue:mail", "resque:queue:reports", "resque:queue:raw"} <= names
        assert all(k["type"] == "list" for k in data["keys"])
        outside = await http.get("/api/stats/key", params={"key": "other:thing"})
        assert outside.status_code == 400
    stats = admin.info("commandstats")
    assert "cmdstat_scan" in stats and "cmdstat_keys" not in stats


async def test_the_live_stream_sends_ticks_with_the_counters(seeded: Resque, redis_url: str) -> None:
    async with web_client(redis_url) as http:
        reply = await http.get("/api/live", params={"page": "failed", "interval": 1, "limit": 2})
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = [block for block in reply.text.split("\n\n") if block.startswith("event: tick")]
        assert len(events) == 2
        assert '"failed_entries": 44' in events[0] and '"fingerprint": "44"' in events[0]
        poll = (await http.get("/api/poll", params={"page": "queue", "name": "reports"})).json()
        assert poll["fingerprint"] == "5"


async def test_the_dashboard_mounts_inside_fastapi(seeded: Resque, redis_url: str) -> None:
    from fastapi import FastAPI

    from pyresque.web import aclose, create_app

    api = FastAPI()
    dashboard = create_app(redis_url)
    api.mount("/jobs", dashboard)
    transport = httpx.ASGITransport(app=api)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        page = await http.get("/jobs/failed")
        assert page.status_code == 200
        assert 'href="/jobs/static/app.css"' in page.text and 'href="/jobs/queues"' in page.text
        assert (await http.get("/jobs/static/app.js")).status_code == 200
        later = (await http.get("/jobs/failed?start=25")).text
        assert 'name="next" value="/failed?start=25"' in later and 'href="/jobs/failed?start=0"' in later
        assert (await http.get("/jobs/api/failed")).json()["total"] == 44
        form = await http.post(
            "/jobs/queues/pause",
            data={"paused": "1", "next": "/queues"},
            headers={"sec-fetch-site": "same-origin"},
        )
        assert form.status_code == 303 and form.headers["location"] == "/jobs/queues"
        assert client(seeded).get("resque:pause-all-workers") == b"true"
    await aclose(dashboard)  # a mounted app's lifespan is the host's


async def test_the_overview_draws_the_daily_history(app: Resque, redis_url: str) -> None:
    import datetime as dt

    r = client(app)
    today = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    r.set(f"resque:stat:processed:{today}", 120)
    r.set(f"resque:stat:failed:{today}", 30)
    async with web_client(redis_url) as http:
        history = (await http.get("/api/overview")).json()["history"]
        assert len(history["days"]) == 30 and history["days"][-1] == {
            "date": today,
            "processed": 120,
            "failed": 30,
        }
        assert history["top"] == 120 and history["any"]
        page = (await http.get("/")).text
        assert f"<title>{today}: 120 processed, 30 failed</title>" in page
        assert 'class="bar-ok"' in page and " style=" not in page


async def test_metrics_are_served_behind_the_same_auth(app: Resque, redis_url: str) -> None:
    app.enqueue("mail", "SendMail", 1)
    async with web_client(redis_url) as http:
        text = (await http.get("/metrics")).text
        assert 'resque_queue_size{queue="mail"} 1.0' in text
    async with web_client(redis_url, auth=("admin", "pw")) as http:
        assert (await http.get("/metrics")).status_code == 401
    async with web_client(redis_url, metrics=False) as http:
        assert (await http.get("/metrics")).status_code == 404


async def test_an_unreachable_redis_is_one_plain_line(redis_url: str) -> None:
    from tests.redis_server import free_port

    async with web_client(f"redis://127.0.0.1:{free_port()}/0") as http:
        page = await http.get("/failed")
        assert page.status_code == 503 and page.text.startswith("Redis: ") and page.text.count("\n") == 1
        assert "Traceback" not in page.text
        api = await http.get("/api/queues")
        assert api.status_code == 503 and api.json()["error"].startswith("Redis: ")
        stream = await http.get("/api/live", params={"limit": 1})
        assert "event: trouble" in stream.text


async def test_the_dashboard_reads_through_a_given_async_client(redis_url: str) -> None:
    import redis.asyncio

    from pyresque import AsyncResque
    from pyresque.web import aclose, create_app

    raw = redis.asyncio.Redis.from_url(redis_url)
    async with AsyncResque(redis_url, namespace="shop") as queue:
        await queue.enqueue("orders", "Ship", 1)
        pending = []
        for given, ns in ((queue, None), (queue.backend, None), (raw, "shop")):
            web = create_app(given, ns)
            transport = httpx.ASGITransport(app=web)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                pending.append((await http.get("/api/overview")).json()["pending"])
            await aclose(web)  # leaves a client it was given open
        assert pending == [1, 1, 1]
        assert await queue.size("orders") == 1
    await raw.aclose()
    with pytest.raises(TypeError, match="redis must be"):
        create_app(42)
