"""TLS end to end: ``rediss://``, ``rediss+sentinel://`` and ``rediss+cluster://``
against redis-server processes that listen on TLS only (``--port 0 --tls-port``), with
a throwaway CA and certificate made by ``openssl`` (tests/tls_certs.py
:func:`make_tls`). The CA goes in the URL: ``?ssl_ca_certs=<file>&ssl_cert_reqs=required``
(and ``&ssl_certfile=...&ssl_keyfile=...`` for a server that wants client
certificates); for Sentinel the same settings reach the sentinels and the master.

Each: enqueue, a burst worker drains; Sentinel adds a ``SENTINEL FAILOVER`` between two
drains, Cluster the async client too. Skipped only if this redis-server has no TLS
(never under ``CI=true``).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
import redis

from pyresque import Resque
from pyresque.aio import AsyncResque
from pyresque.core.errors import BackendConnectionError
from tests.redis_server import in_ci
from tests.sentinel_cluster import Cluster, Node, SentinelGroup
from tests.tls_certs import Tls, make_tls, tls_support_error
from tests.worker_proc import start_worker, stop

QUEUE = "tls"
J = "tests.worker_jobs."


@pytest.fixture(scope="module")
def tls() -> Iterator[Tls]:
    reason = tls_support_error()
    if reason is not None:
        if in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    directory = tempfile.mkdtemp(prefix="pyresque-tls-")
    try:
        files = make_tls(directory)
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        shutil.rmtree(directory, ignore_errors=True)
        if in_ci():
            raise
        pytest.skip(f"cannot make test certificates: {exc}")
    yield files
    shutil.rmtree(directory, ignore_errors=True)


def _drain(url: str, jobs: int, check: redis.Redis, processed_before: int = 0) -> None:
    app = Resque(url)
    for i in range(jobs):
        app.enqueue(QUEUE, J + "noop", i)
    assert app.size(QUEUE) == jobs
    proc = start_worker(url, QUEUE, "--burst")
    assert stop(proc, 60) == 0
    assert app.size(QUEUE) == 0
    assert app.info().processed == processed_before + jobs
    app.close()


@pytest.fixture(scope="module")
def server(tls: Tls) -> Iterator[Node]:
    node = Node([], tls=tls)
    node.start()
    yield node
    node.close()


def test_rediss_url(server: Node, tls: Tls) -> None:
    url = f"rediss://127.0.0.1:{server.port}/0?{tls.query()}"
    _drain(url, 20, server.client())
    assert server.client().get("resque:stat:processed") == b"20"


def test_rediss_without_the_ca_is_refused(server: Node, tls: Tls) -> None:
    app = Resque(f"rediss://127.0.0.1:{server.port}/0?ssl_cert_reqs=required")
    with pytest.raises(BackendConnectionError, match=r"(?i)certificate verify failed"):
        app.enqueue(QUEUE, J + "noop", 1)
    app.close()


def test_rediss_with_a_client_certificate(tls: Tls) -> None:
    node = Node(["--tls-auth-clients", "yes"], tls=tls)
    node.start()
    try:
        with_cert = f"rediss://127.0.0.1:{node.port}/0?{tls.query(client_cert=True)}"
        _drain(with_cert, 5, node.client())
        without = Resque(f"rediss://127.0.0.1:{node.port}/0?{tls.query()}")
        with pytest.raises(BackendConnectionError):  # the server wants a client certificate
            without.enqueue(QUEUE, J + "noop", 1)
        without.close()
    finally:
        node.close()


def test_rediss_sentinel_with_a_failover(tls: Tls) -> None:
    group = SentinelGroup(replicas=1, sentinels=2, tls=tls)
    try:
        group.start()
        url = group.url(scheme="rediss+sentinel")
        _drain(url, 15, group.node_on(group.master_port()).client())
        new_port = group.failover()
        _drain(url, 15, group.node_on(new_port).client(), processed_before=15)
        assert group.node_on(new_port).client().get("resque:stat:processed") == b"30"

        async def twin() -> int:
            async with AsyncResque(url) as app:
                await app.enqueue(QUEUE, J + "noop", 1)
                return await app.size(QUEUE)

        assert asyncio.run(twin()) == 1
        assert group.node_on(new_port).client().llen(f"resque:queue:{QUEUE}") == 1
    finally:
        group.close()


def test_rediss_cluster(tls: Tls) -> None:
    cluster = Cluster(3, tls=tls)
    try:
        cluster.start()
        url = cluster.url(scheme="rediss+cluster")
        _drain(url, 20, cluster.owner_of("{resque}").client())
        owner = cluster.owner_of("{resque}")
        assert owner.client().get("{resque}:stat:processed") == b"20"

        async def twin() -> int:
            async with AsyncResque(url) as app:
                await app.enqueue(QUEUE, J + "noop", 1)
                return await app.size(QUEUE)

        assert asyncio.run(twin()) == 1
        assert owner.client().llen(f"{{resque}}:queue:{QUEUE}") == 1
        assert all(n.client().dbsize() == 0 for n in cluster.nodes if n is not owner)
    finally:
        cluster.close()
