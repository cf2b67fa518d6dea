"""pyresque web's actions on a real redis-server: each acts on the entry it showed
(found again by its bytes when the list moved, refused when it is gone or changed),
through the form (303 back with a notice) and the JSON API."""

from __future__ import annotations

import json
import time

import pytest

from pyresque import Resque
from tests.e2e.seed import add_failures, add_worker, client, seed, web_client

pytestmark = [pytest.mark.redis, pytest.mark.asyncio]


async def _refs(http, path: str, key: str, **params: object) -> list[str]:  # type: ignore[no-untyped-def]
    data = (await http.get(path, params=params)).json()
    return [row["ref"] for row in data[key]]


async def test_delete_job_removes_the_job_shown_even_after_the_queue_moved(
    app: Resque, redis_url: str
) -> None:
    for i in range(5):
        app.enqueue("mail", "SendMail", i)
    r = client(app)
    async with web_client(redis_url) as http:
        refs = await _refs(http, "/api/queue", "jobs", name="mail")
        shown = r.lindex("resque:queue:mail", 3)
        r.lpop("resque:queue:mail")  # a worker took the head: the job is now at 2
        reply = await http.post("/api/queues/delete-job", data={"name": "mail", "ref": refs[3]})
        assert reply.json()["ok"]
        left = r.lrange("resque:queue:mail", 0, -1)
        assert shown not in left and len(left) == 3
        again = await http.post("/api/queues/delete-job", data={"name": "mail", "ref": refs[3]})
        assert again.status_code == 409 and not again.json()["ok"]
        assert r.llen("resque:queue:mail") == 3


async def test_remove_queue_and_pause_resume(app: Resque, redis_url: str) -> None:
    app.enqueue("mail", "SendMail", 1)
    r = client(app)
    async with web_client(redis_url) as http:
        form = await http.post("/queues/remove", data={"name": "mail", "next": "/queues"})
        assert form.status_code == 303 and form.headers["location"] == "/queues"
        assert "removed" in form.cookies.get("pyresque_flash", "")
        assert not r.exists("resque:queue:mail") and not r.sismember("resque:queues", "mail")
        await http.post("/api/queues/pause", data={"paused": "1"})
        assert r.get("resque:pause-all-workers") == b"true"
        assert "Every worker is paused" in (await http.get("/queues")).text
        await http.post("/api/queues/pause", data={"paused": "0"})
        assert not r.exists("resque:pause-all-workers")
        assert (await http.post("/api/queues/pause", json={"paused": True})).json()["paused"]  # the JSON API
        assert r.get("resque:pause-all-workers") == b"true"


async def test_bulk_retry_and_remove_act_on_the_entries_shown(app: Resque, redis_url: str) -> None:
    add_failures(app, 6)
    r = client(app)
    async with web_client(redis_url) as http:
        refs = await _refs(http, "/api/failed", "failures")
        wanted = [json.loads(r.lindex("resque:failed", i))["payload"]["args"][0] for i in (3, 4)]
        r.lrem("resque:failed", 1, r.lindex("resque:failed", 0))  # the list shifted by one
        reply = (await http.post("/api/failed/retry", data={"ref": [refs[3], refs[4]]})).json()
        assert (reply["done"], reply["missed"]) == (2, 0)
        requeued = [json.loads(raw)["args"][0] for raw in r.lrange("resque:queue:mail", 0, -1)]
        assert requeued == wanted
        entries = [json.loads(raw) for raw in r.lrange("resque:failed", 0, -1)]
        assert [e["payload"]["args"][0] for e in entries if e.get("retried_at")] == wanted
        # retried entries changed (retried_at): their old refs no longer name anything
        stale = (await http.post("/api/failed/remove", data={"ref": [refs[3]]})).json()
        assert (stale["done"], stale["missed"]) == (0, 1)
        fresh = await _refs(http, "/api/failed", "failures")
        gone = [json.loads(r.lindex("resque:failed", i))["payload"]["args"][0] for i in (0, 1)]
        reply = (await http.post("/api/failed/remove", data={"ref": fresh[:2]})).json()
        assert reply["done"] == 2
        left = [json.loads(raw)["payload"]["args"][0] for raw in r.lrange("resque:failed", 0, -1)]
        assert len(left) == 3 and not set(gone) & set(left)
        form = await http.post("/failed/remove", data={"ref": "12:nothex", "next": "/failed"})
        assert form.status_code == 400


async def test_retry_all_and_clear(app: Resque, redis_url: str) -> None:
    add_failures(app, 4)
    r = client(app)
    async with web_client(redis_url) as http:
        assert (await http.post("/api/failed/retry-all")).json()["done"] == 4
        assert r.llen("resque:queue:mail") == 4 and r.llen("resque:failed") == 4
        assert (await http.post("/api/failed/clear")).json()["done"] == 4
        assert not r.exists("resque:failed")


async def test_delayed_enqueue_now_and_cancel(app: Resque, redis_url: str) -> None:
    ts = 4_000_000_000
    app.enqueue_at(ts, "mail", "SendMail", "a")
    app.enqueue_at(ts, "mail", "SendMail", "b")
    r = client(app)
    async with web_client(redis_url) as http:
        refs = await _refs(http, "/api/delayed/at", "items", ts=ts)
        first, second = r.lrange(f"resque:delayed:{ts}", 0, -1)
        assert (await http.post("/api/delayed/enqueue-now", data={"ts": ts, "ref": refs[0]})).json()["ok"]
        assert r.lrange("resque:queue:mail", 0, -1) == [first]
        assert not r.sismember(b"resque:timestamps:" + first, f"delayed:{ts}")
        assert not (await http.post("/api/delayed/enqueue-now", data={"ts": ts, "ref": refs[0]})).json()["ok"]
        assert (await http.post("/api/delayed/cancel", data={"ts": ts, "ref": refs[1]})).json()["ok"]
        assert r.llen("resque:queue:mail") == 1 and not r.exists(f"resque:delayed:{ts}")
        assert r.zcard("resque:delayed_queue_schedule") == 0 and second not in r.lrange(
            "resque:queue:mail", 0, -1
        )


async def test_schedule_run_now_and_delete(app: Resque, redis_url: str) -> None:
    seed(app)
    r = client(app)
    async with web_client(redis_url) as http:
        before = r.llen("resque:queue:reports")
        assert (await http.post("/api/schedule/run", data={"name": "nightly_report"})).json()["ok"]
        assert r.llen("resque:queue:reports") == before + 1
        job = json.loads(r.lindex("resque:queue:reports", -1))
        assert job == {"class": "BuildReport", "args": [{"account": 0}]}
        assert (await http.post("/api/schedule/delete", data={"name": "nightly_report"})).json()["ok"]
        assert not r.hexists("resque:persistent_schedules", "nightly_report")
        assert r.sismember("resque:schedules_changed", "nightly_report")
        assert not (await http.post("/api/schedule/run", data={"name": "nightly_report"})).json()["ok"]


async def test_prune_removes_stale_workers_and_fails_their_jobs(app: Resque, redis_url: str) -> None:
    add_worker(app, "old:1:mail", heartbeat_age=3600, job={"class": "SendMail", "args": [1], "queue": "mail"})
    add_worker(app, "leased:2:mail", heartbeat_age=3600)
    add_worker(app, "fresh:3:mail")
    add_worker(app, "node:4:mail", heartbeat_age=3600)
    add_worker(app, "php:5:mail")
    r = client(app)
    r.set("resque:worker:leased:2:mail:lease", "x", ex=60)
    r.hdel("resque:workers:heartbeat", "node:4:mail", "php:5:mail")  # node pings; php writes none
    r.set(
        "resque:worker:ping:node:4",
        json.dumps({"time": int(time.time()), "name": "node:4", "queues": "mail"}),
    )
    async with web_client(redis_url) as http:
        workers = {w["id"]: w for w in (await http.get("/api/workers")).json()["workers"]}
        assert workers["node:4:mail"]["heartbeat_age"] < 60 and not workers["node:4:mail"]["stale"]
        assert workers["php:5:mail"]["heartbeat_age"] is None and not workers["php:5:mail"]["stale"]
        assert "no heartbeat" in (await http.get("/workers")).text
        reply = (await http.post("/api/workers/prune")).json()
        assert reply["pruned"] == ["old:1:mail"]
        r.set("resque:worker:ping:node:4", json.dumps({"time": int(time.time()) - 3600}))
        assert (await http.post("/api/workers/prune")).json()["pruned"] == ["node:4:mail"]
        assert not r.exists("resque:worker:ping:node:4")
    assert r.smembers("resque:workers") == {b"leased:2:mail", b"fresh:3:mail", b"php:5:mail"}
    assert not r.exists("resque:worker:old:1:mail", "resque:worker:old:1:mail:started")
    assert not r.hexists("resque:workers:heartbeat", "old:1:mail")
    [failure] = [json.loads(raw) for raw in r.lrange("resque:failed", 0, -1)]
    assert failure["exception"] == "Resque::PruneDeadWorkerDirtyExit"
    assert failure["payload"] == {"class": "SendMail", "args": [1], "queue": "mail"}
    assert r.get("resque:stat:failed") == b"1"


async def test_clear_retried_and_groups(app: Resque, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyresque.web.data.failed as failed_data

    monkeypatch.setattr(failed_data, "CHUNK", 3)  # several chunks, removals across them
    add_failures(app, 5)
    add_failures(app, 2, queue="reports", cls="BuildReport")
    r = client(app)
    async with web_client(redis_url) as http:
        refs = await _refs(http, "/api/failed", "failures")
        assert (
            await http.post("/api/failed/retry", data={"ref": [refs[1], refs[2], refs[3], refs[6]]})
        ).json()["done"] == 4
        grouped = (await http.get("/api/failed/groups", params={"by": "class"})).json()
        assert [(g["value"], g["count"]) for g in grouped["groups"]] == [("SendMail", 5), ("BuildReport", 2)]
        assert not grouped["partial"]
        monkeypatch.setattr(failed_data, "SEARCH_CAP", 4)
        capped = (await http.get("/api/failed/groups", params={"by": "queue"})).json()
        assert capped["partial"] and sum(g["count"] for g in capped["groups"]) == 4
        assert "Partial results" in (await http.get("/failed/groups", params={"by": "queue"})).text
        assert (await http.get("/api/failed/groups", params={"by": "args"})).status_code == 400
        assert (await http.post("/api/failed/clear-retried")).json()["done"] == 4
        left = [json.loads(raw) for raw in r.lrange("resque:failed", 0, -1)]
        assert [e["payload"]["args"][0] for e in left] == [0, 4, 0] and not any(
            "retried_at" in e for e in left
        )


async def test_clear_delayed(app: Resque, redis_url: str) -> None:
    for i in range(3):
        app.enqueue_at(4_000_000_000 + i, "mail", "SendMail", i)
    r = client(app)
    async with web_client(redis_url) as http:
        assert (await http.post("/api/delayed/clear")).json()["done"] == 3
    assert r.zcard("resque:delayed_queue_schedule") == 0 and not r.keys("resque:timestamps:*")


async def test_a_form_goes_back_only_to_a_page_of_the_dashboard(app: Resque, redis_url: str) -> None:
    async with web_client(redis_url) as http:
        for target, landing in (
            ("/failed?start=25", "/failed?start=25"),
            ("//evil.example/x", "/queues"),
            ("https://evil.example/", "/queues"),
            ("/\\evil.example", "/queues"),
        ):
            reply = await http.post("/queues/pause", data={"paused": "0", "next": target})
            assert reply.status_code == 303 and reply.headers["location"] == landing, target


async def test_the_multi_queue_failure_lists(app: Resque, redis_url: str) -> None:
    add_failures(app, 2)
    r = client(app)
    entries = r.lrange("resque:failed", 0, -1)
    r.delete("resque:failed")
    r.rpush("resque:mail_failed", *entries)  # Ruby's RedisMultiQueue: <queue>_failed lists
    r.sadd("resque:failed_queues", "mail_failed", "empty_failed")
    async with web_client(redis_url) as http:
        page = (await http.get("/failed")).text
        assert 'href="/failed?list=mail_failed"' in page and "empty_failed" not in page
        data = (await http.get("/api/failed", params={"list": "mail_failed"})).json()
        assert data["total"] == 2 and data["list"] == "mail_failed"
        html = (await http.get("/failed", params={"list": "mail_failed", "q": "timeout"})).text
        assert "2 match(es)" in html and '<input type="hidden" name="list" value="mail_failed">' in html
        reply = await http.post(
            "/api/failed/retry", data={"list": "mail_failed", "ref": data["failures"][0]["ref"]}
        )
        assert reply.json()["done"] == 1 and r.llen("resque:queue:mail") == 1
        assert (await http.get("/api/failed", params={"list": "queue:mail"})).status_code == 400
        assert (await http.post("/api/failed/clear", data={"list": "nope_failed"})).status_code == 400
        assert (await http.post("/api/failed/clear", data={"list": "mail_failed"})).json()["done"] == 2
    assert not r.exists("resque:mail_failed")


async def test_delayed_search_with_a_cost_cap(
    app: Resque, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyresque.web.data.delayed as delayed_data

    ts = 4_000_000_000
    for i in range(150):
        app.enqueue_at(ts + i, "mail", "SendMail", f"user{i}")
    app.enqueue_at(ts + 149, "mail", "SendMail", "needle@example.com")
    client(app).zadd("resque:delayed_queue_schedule", {f"junk{i}": ts + 120 + i / 10 for i in range(5)})
    async with web_client(redis_url) as http:
        found = (await http.get("/api/delayed", params={"q": "NEEDLE"})).json()
        assert [(i["timestamp"], i["class"]) for i in found["items"]] == [(ts + 149, "SendMail")]
        assert found["next_from"] is None and not found["partial"] and found["examined"] == 155
        monkeypatch.setattr(delayed_data, "SEARCH_TIMESTAMPS", 100)
        capped = (await http.get("/api/delayed", params={"q": "needle"})).json()
        assert capped["items"] == [] and capped["partial"] and capped["next_from"] == 100
        assert "Partial results" in (await http.get("/delayed", params={"q": "needle"})).text
        rest = (await http.get("/api/delayed", params={"q": "needle", "from": 100})).json()
        [item] = rest["items"]
        form = {"ts": item["timestamp"], "ref": item["ref"], "next": "/delayed?q=needle"}
        reply = await http.post("/delayed/enqueue-now", data=form)
        assert reply.status_code == 303 and reply.headers["location"] == "/delayed?q=needle"
    [job] = [json.loads(raw) for raw in client(app).lrange("resque:queue:mail", 0, -1)]
    assert job["args"] == ["needle@example.com"]


def _leased(app: Resque, worker_id: str, nonce: str = "n0nce") -> None:
    """A live pyresque worker: registered as Ruby does, plus the lease it refreshes."""
    add_worker(app, worker_id)
    client(app).set(f"resque:worker:{worker_id}:lease", f"{nonce}:1:pid:[1]", ex=60)


async def test_quiet_and_stop_are_offered_and_sent_to_pyresque_workers_only(
    app: Resque, redis_url: str
) -> None:
    add_worker(app, "ruby:1:mail")
    _leased(app, "py:2:mail")
    r = client(app)
    async with web_client(redis_url) as http:
        page = (await http.get("/workers")).text
        assert page.count('action="/workers/quiet"') == 1 and page.count('action="/workers/stop"') == 1
        assert 'name="id" value="py:2:mail"' in page and 'name="id" value="ruby:1:mail"' not in page
        reply = await http.post("/api/workers/quiet", data={"id": "py:2:mail"})
        assert reply.json()["ok"] and reply.json()["command"] == "quiet"
        assert r.get("resque:worker:py:2:mail:control") == b"quiet n0nce"
        assert 0 < r.ttl("resque:worker:py:2:mail:control") <= 300
        assert "quiet asked" in (await http.get("/workers")).text
        refused = await http.post("/api/workers/stop", data={"id": "ruby:1:mail"})
        assert refused.status_code == 409 and "not a live pyresque worker" in refused.json()["message"]
        assert not r.exists("resque:worker:ruby:1:mail:control")
        form = await http.post("/workers/stop", data={"id": "py:2:mail", "next": "/workers"})
        assert form.status_code == 303 and "stop" in form.cookies.get("pyresque_flash", "")
        assert r.get("resque:worker:py:2:mail:control") == b"stop n0nce"
        await http.post("/api/workers/quiet", data={"id": "py:2:mail"})  # does not soften the stop
        assert r.get("resque:worker:py:2:mail:control") == b"stop n0nce"
        assert (await http.post("/api/workers/quiet", data={})).status_code == 400


async def test_pause_and_resume_one_queue_for_pyresque_workers(app: Resque, redis_url: str) -> None:
    app.enqueue("mail", "SendMail", 1)
    app.enqueue("reports", "BuildReport", 1)
    r = client(app)
    async with web_client(redis_url) as http:
        page = (await http.get("/queues")).text
        assert page.count('action="/queues/pause-queue"') == 2 and "pyresque workers only" in page
        reply = await http.post("/api/queues/pause-queue", data={"name": "mail", "paused": "1"})
        assert reply.json()["ok"] and reply.json()["changed"]
        assert r.smembers("resque:paused-queues") == {b"mail"}
        assert not r.exists("resque:pause-all-workers")  # Ruby's key is not touched
        rows = {q["name"]: q["paused_pyresque"] for q in (await http.get("/api/queues")).json()["queues"]}
        assert rows == {"mail": True, "reports": False}
        assert "paused (pyresque workers)" in (await http.get("/queues")).text
        r.sadd("resque:paused-queues", "ghost")  # paused but not registered: still resumable
        assert 'name="name" value="ghost"' in (await http.get("/queues")).text
        form = await http.post("/queues/pause-queue", data={"name": "mail", "paused": "0", "next": "/queues"})
        assert form.status_code == 303 and "resumed" in form.cookies.get("pyresque_flash", "")
        assert r.smembers("resque:paused-queues") == {b"ghost"}
