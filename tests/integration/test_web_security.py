"""pyresque web is safe by default: strict CSP whose nonce the page's scripts carry,
no inline style, the protective headers, cross-site changes refused (Sec-Fetch-Site,
Origin, the token fallback), Basic auth, read-only, hostile Redis values escaped, and
``pyresque web`` refusing to listen beyond loopback without auth."""

from __future__ import annotations

import base64
import re

import pytest
from click.testing import CliRunner

from pyresque import Resque
from pyresque.cli import main
from pyresque.cli.web import is_loopback
from tests.e2e.seed import HOSTILE, add_failures, add_worker, client, seed, web_client

pytestmark = pytest.mark.redis

PAGES = [
    "/",
    "/queues",
    "/queue?name=mail",
    "/queue?name=raw",
    "/workers",
    "/failed",
    "/delayed",
    "/schedule",
]


@pytest.mark.asyncio
async def test_csp_nonce_is_fresh_and_every_script_carries_it(app: Resque, redis_url: str) -> None:
    seed(app)
    async with web_client(redis_url) as http:
        nonces = set()
        for path in [*PAGES, "/stats", "/stats/keys"]:
            page = await http.get(path)
            csp = page.headers["content-security-policy"]
            (nonce,) = re.findall(r"script-src 'nonce-([A-Za-z0-9_-]+)'", csp)
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
            assert "style-src 'self'" in csp and "unsafe-inline" not in csp
            scripts = re.findall(r"<script\b[^>]*>", page.text)
            assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts), path
            assert " style=" not in page.text and "<style" not in page.text
            assert not re.search(r"\son[a-z]+=", page.text)  # no inline handlers
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["referrer-policy"] == "same-origin"
            nonces.add(nonce)
        assert len(nonces) == len(PAGES) + 2


@pytest.mark.asyncio
async def test_hostile_values_are_escaped_everywhere(app: Resque, redis_url: str) -> None:
    seed(app)
    r = client(app)
    r.hset("resque:workers:heartbeat", HOSTILE, "<b>")
    r.sadd("resque:workers", HOSTILE)
    r.sadd("resque:queues", HOSTILE)
    r.zadd("resque:delayed_queue_schedule", {HOSTILE: 1, b"\xff": 2})  # not timestamps
    r.set("resque:queue:broken", "not a list")  # WRONGTYPE for LLEN/LRANGE
    r.sadd("resque:queues", "broken")
    async with web_client(redis_url) as http:
        for path in [
            *PAGES,
            "/stats/keys",
            "/failed?q=pwned",
            "/stats/key?key=resque:queue:raw",
            "/queue?name=broken",
        ]:
            reply = await http.get(path)
            assert reply.status_code == 200, path
            text = reply.text
            assert "<script>alert" not in text, path
        failed = (await http.get("/failed?start=25")).text
        assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in failed
        raw = (await http.get("/queue?name=raw")).text
        assert "\\xff\\xfe not json &lt;script&gt;" in raw  # invalid UTF-8 shown as escapes
        assert "x" * 2000 + "… (48,000 more characters)" in raw  # a huge value is cut
        assert len(raw) < 20_000
        api = (await http.get("/api/queue", params={"name": "raw"})).json()
        assert api["jobs"][0]["args"].startswith("\\xff\\xfe")


@pytest.mark.asyncio
async def test_cross_site_changes_are_refused(app: Resque, redis_url: str) -> None:
    app.enqueue("mail", "SendMail", 1)
    r = client(app)
    async with web_client(redis_url) as http:
        for headers in (
            {"sec-fetch-site": "cross-site"},
            {"sec-fetch-site": "same-site"},
            {"sec-fetch-site": None, "origin": "https://evil.example"},
            {"sec-fetch-site": None, "origin": "null"},
            {"sec-fetch-site": None},  # no header at all and no token
            {"sec-fetch-site": None, "x-csrf-token": "A" * 43},  # a wrong token
        ):
            sent = {k: v for k, v in headers.items() if v is not None}
            request = http.build_request("POST", "/queues/remove", data={"name": "mail"}, headers=sent)
            if headers.get("sec-fetch-site", "x") is None:
                del request.headers["sec-fetch-site"]
            reply = await http.send(request)
            assert reply.status_code == 403, headers
        assert r.exists("resque:queue:mail")
        r.set("resque:worker:py:2:mail:lease", "n0nce:1:", ex=60)
        evil = {"sec-fetch-site": "cross-site"}
        fields = {"id": "py:2:mail", "name": "mail", "paused": "1"}
        for path in ("/workers/quiet", "/workers/stop", "/queues/pause-queue"):
            reply = await http.post(path, data=fields, headers=evil)
            assert reply.status_code == 403, path
        assert not r.exists("resque:worker:py:2:mail:control", "resque:paused-queues")
        assert (await http.get("/queues/remove")).status_code == 405  # never a GET
        page = await http.get("/queues")
        token = re.search(r'name="_token" value="([^"]+)"', page.text)[1]  # type: ignore[index]
        assert http.cookies.get("pyresque_csrf") == token
        request = http.build_request("POST", "/queues/remove", data={"name": "mail", "_token": token})
        del request.headers["sec-fetch-site"]
        assert (await http.send(request)).status_code == 303  # the token fallback
        assert not r.exists("resque:queue:mail")
        app.enqueue("mail", "SendMail", 1)
        reply = await http.post(
            "/api/queues/remove",
            data={"name": "mail"},
            headers={"origin": "http://testserver", "sec-fetch-site": ""},
        )
        assert reply.status_code == 403  # an empty Sec-Fetch-Site is not same-origin


@pytest.mark.asyncio
async def test_origin_of_this_host_passes_without_sec_fetch_site(app: Resque, redis_url: str) -> None:
    app.enqueue("mail", "SendMail", 1)
    async with web_client(redis_url) as http:
        request = http.build_request(
            "POST", "/api/queues/remove", data={"name": "mail"}, headers={"origin": "http://testserver"}
        )
        del request.headers["sec-fetch-site"]
        assert (await http.send(request)).json()["ok"]


@pytest.mark.asyncio
async def test_basic_auth(app: Resque, redis_url: str) -> None:
    def basic(user: str, password: str) -> dict[str, str]:
        return {"authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    async with web_client(redis_url, auth=("admin", "s3cret:pass")) as http:
        refused = await http.get("/")
        assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Basic")
        assert "s3cret" not in refused.text
        for wrong in (basic("admin", "nope"), basic("root", "s3cret:pass"), {"authorization": "Basic !!"}):
            assert (await http.get("/api/overview", headers=wrong)).status_code == 401
        assert (await http.get("/", headers=basic("admin", "s3cret:pass"))).status_code == 200
        assert (await http.post("/api/queues/pause", data={"paused": "1"})).status_code == 401
        assert not client(app).exists("resque:pause-all-workers")


@pytest.mark.asyncio
async def test_read_only_refuses_changes_and_hides_the_buttons(app: Resque, redis_url: str) -> None:
    add_failures(app, 2)
    app.enqueue("mail", "SendMail", 1)
    async with web_client(redis_url, read_only=True) as http:
        page = (await http.get("/failed")).text
        assert (
            "Read-only" in page and 'method="post"' not in page and 'type="checkbox" name="ref"' not in page
        )
        assert 'method="post"' not in (await http.get("/queue?name=mail")).text
        add_worker(app, "py:2:mail")
        client(app).set("resque:worker:py:2:mail:lease", "n0nce:1:", ex=60)
        for page_path in ("/workers", "/queues"):
            page = (await http.get(page_path)).text
            assert 'method="post"' not in page and ">Quiet<" not in page and ">Pause<" not in page
        paths = ["/api/failed/clear", "/api/queues/remove", "/api/queues/pause", "/api/workers/prune"]
        paths += ["/api/workers/quiet", "/api/workers/stop", "/api/queues/pause-queue"]
        for path in paths:
            reply = await http.post(path, data={"name": "mail", "paused": "1", "id": "py:2:mail"})
            assert reply.status_code == 403 and reply.json()["error"] == "this dashboard is read-only"
    assert client(app).llen("resque:failed") == 2 and client(app).exists("resque:queue:mail")
    assert not client(app).exists("resque:worker:py:2:mail:control", "resque:paused-queues")


def test_the_server_refuses_to_listen_beyond_loopback_without_auth(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("PYRESQUE_WEB_PASSWORD", raising=False)
    runner = CliRunner()
    refused = runner.invoke(main, ["web", "--host", "0.0.0.0", "--redis", "redis://127.0.0.1:1/0"])
    assert refused.exit_code == 1 and "refusing to listen on 0.0.0.0 without auth" in refused.output
    assert "Traceback" not in refused.output
    empty = tmp_path / "pw"
    empty.write_text("\n")
    result = runner.invoke(main, ["web", "--host", "0.0.0.0", "--password-file", str(empty)])
    assert result.exit_code == 1 and "is empty" in result.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.com")


def test_the_server_listens_with_auth_and_never_prints_the_password(tmp_path, monkeypatch, redis_url) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    served: dict[str, object] = {}

    def fake_run(app: object, **options: object) -> None:
        served.update(options, app=app)

    monkeypatch.setattr(uvicorn, "run", fake_run)
    secret = tmp_path / "pw"
    secret.write_text("hunter2-very-secret\n")
    result = CliRunner().invoke(
        main,
        ["web", "--host", "0.0.0.0", "--port", "0", "--password-file", str(secret), "--redis", redis_url],
    )
    assert result.exit_code == 0, result.output
    assert (
        served["host"] == "0.0.0.0"
        and "hunter2" not in result.output
        and "basic auth as admin" in result.output
    )
    config = served["app"].state.config  # type: ignore[attr-defined]
    assert config.auth == ("admin", "hunter2-very-secret") and "hunter2" not in repr(config)
    insecure = CliRunner().invoke(main, ["web", "--host", "0.0.0.0", "--insecure", "--redis", redis_url])
    assert insecure.exit_code == 0 and "no auth" in insecure.output


@pytest.mark.asyncio
async def test_static_assets_are_served_from_the_package(redis_url: str) -> None:
    async with web_client(redis_url) as http:
        css = await http.get("/static/app.css")
        js = await http.get("/static/app.js")
        assert css.headers["content-type"].startswith("text/css") and "EventSource" in js.text
        assert js.headers["x-content-type-options"] == "nosniff"
        assert (await http.get("/static/../app.py")).status_code == 404


def test_import_pyresque_does_not_load_starlette() -> None:
    import subprocess
    import sys

    code = "import sys, pyresque, pyresque.cli; print('starlette' in sys.modules, 'jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
