"""Several Resque instances in one dashboard (``pyresque web --redis A --redis B``):
each at its own path with its own namespace, the header linking them."""

from __future__ import annotations

import click
import httpx
import pytest
from click.testing import CliRunner

from pyresque import Resque
from pyresque.cli import main
from pyresque.cli.web import pairs
from tests.e2e.seed import client

pytestmark = pytest.mark.redis


@pytest.mark.asyncio
async def test_each_instance_at_its_path_with_its_namespace(redis_url: str) -> None:
    from pyresque.web import create_multi_app

    shop, mail = Resque(redis_url, namespace="shop"), Resque(redis_url, namespace="mail")
    shop.enqueue("orders", "Ship", 1)
    for i in range(3):
        mail.enqueue("outbox", "Send", i)
    web = create_multi_app([(redis_url, "shop"), (redis_url, "mail")])
    async with web.router.lifespan_context(web):
        transport = httpx.ASGITransport(app=web)
        headers = {"sec-fetch-site": "same-origin"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as http:
            home = await http.get("/")
            assert home.status_code == 307 and home.headers["location"] == "/0/"
            assert (await http.get("/0/api/overview")).json()["pending"] == 1
            assert (await http.get("/1/api/overview")).json()["pending"] == 3
            page = (await http.get("/1/queues")).text
            assert 'href="/0/"' in page and 'href="/1/" class="active"' in page and "(mail)" in page
            assert 'href="/1/queue?name=outbox"' in page
            done = await http.post("/1/api/queues/remove", data={"name": "outbox"})
            assert done.json()["ok"]
    assert client(mail).llen("mail:queue:outbox") == 0 and client(shop).llen("shop:queue:orders") == 1
    shop.close()
    mail.close()


def test_redis_and_namespace_options_pair_by_position() -> None:
    assert pairs((), ()) == [("redis://localhost:6379/0", None)]
    assert pairs(("a", "b"), ("x",)) == [("a", "x"), ("b", "x")]
    assert pairs(("a", "b"), ("x", "y")) == [("a", "x"), ("b", "y")]
    assert pairs(("a", "b", "c"), ("x", "y")) == [("a", "x"), ("b", "y"), ("c", None)]
    with pytest.raises(click.UsageError):
        pairs(("a",), ("x", "y"))


def test_the_command_serves_several_instances(monkeypatch: pytest.MonkeyPatch, redis_url: str) -> None:
    import uvicorn

    served: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options, app=app))
    result = CliRunner().invoke(
        main,
        ["web", "--redis", redis_url, "--namespace", "shop", "--redis", redis_url, "--namespace", "mail"],
    )
    assert result.exit_code == 0, result.output
    apps = served["app"].state.apps  # type: ignore[attr-defined]
    assert [a.state.config.namespace for a in apps] == ["shop", "mail"]
    assert "(shop)" in result.output and "(mail)" in result.output
    one = CliRunner().invoke(main, ["--redis", redis_url, "web"])  # the group's --redis
    assert one.exit_code == 0, one.output
    assert served["app"].state.config.namespace == "resque"  # type: ignore[attr-defined]
