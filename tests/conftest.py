"""Fixtures: a real redis-server of the session's own, fakeredis, and apps on both."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import pytest

# hypothesis's pytest plugin imports hypothesis at the terminal summary of a run that never
# did (a run of tests that use no hypothesis); hypothesis then loads trio's plugin (trio is
# in the venv for selenium), whose register_random() warns, and filterwarnings=error turns
# that into a crash of the whole run. Importing it here, with that one warning ignored,
# avoids it for every run.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=".*register_random.*")
    import hypothesis  # noqa: F401

from pyresque import Resque
from pyresque.backends.fake import FakeBackend
from pyresque.backends.redis import RedisBackend
from tests.redis_server import RedisServer, in_ci


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server started for this test session (skipped locally if impossible;
    in CI an impossible start fails the run)."""
    try:
        server = RedisServer()
        server.start()
    except (FileNotFoundError, RuntimeError) as exc:
        if in_ci():
            pytest.fail(f"CI needs a redis-server: {exc}")
        pytest.skip(f"no redis-server: {exc}")
    yield server
    server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session server's URL, emptied before each test (it is our own server)."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    with redis_server.client() as client:
        client.flushall()
    yield redis_server.url


@pytest.fixture(params=["fake", "redis"])
def backend_kind(request: pytest.FixtureRequest) -> str:
    """Each contract test runs once on fakeredis and once on a real redis-server."""
    return str(request.param)


@pytest.fixture
def backend(backend_kind: str, request: pytest.FixtureRequest) -> Iterator[RedisBackend]:
    """A backend of the current kind, empty."""
    if backend_kind == "fake":
        fake = FakeBackend()
        yield fake
        fake.close()
        return
    url = request.getfixturevalue("redis_url")
    real = RedisBackend.from_url(url)
    yield real
    real.close()


@pytest.fixture
def app(backend: RedisBackend) -> Iterator[Resque]:
    """An app over the current backend, with the test jobs registered."""
    from tests import jobs

    resque = Resque(backend)
    jobs.register_all(resque)
    yield resque


@pytest.fixture
def fake_app() -> Iterator[Resque]:
    """An app on a fresh fakeredis, with the test jobs registered."""
    from tests import jobs

    resque = Resque("fakeredis://")
    jobs.register_all(resque)
    yield resque
    resque.close()


@pytest.fixture(autouse=True)
def _collect_garbage_after_each_test() -> Iterator[None]:
    """Collect garbage as each test ends, so an object a test leaks unclosed (a socket,
    an async Redis connection whose loop is gone) warns in *that* test's teardown
    (warnings are errors), not in whichever later test the collector happens to run."""
    yield
    import gc

    gc.collect()
