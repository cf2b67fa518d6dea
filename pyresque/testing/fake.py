"""Apps on fakeredis: a fresh one, or your own app pointed at fakeredis for a while."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pyresque.backends.fake import FakeBackend
from pyresque.core.app import Resque
from pyresque.core.errors import ConfigurationError

__all__ = ["fake_app", "fake_backend", "reset"]


def fake_app(**options: Any) -> Resque:
    """A new :class:`~pyresque.Resque` app on a fresh in-process fakeredis server.

    ``options`` are passed to ``Resque`` (``namespace``, ``registry``, ``allow_modules``,
    ``plugins`` ...). Close it with ``app.close()`` or use it as a context manager.
    """
    namespace = options.pop("namespace", "resque")
    return Resque(FakeBackend(namespace), **options)


@contextmanager
def fake_backend(app: Resque, *, namespace: str | None = None) -> Iterator[Resque]:
    """Point ``app`` (your project's own app, jobs registered) at a fresh fakeredis for a block.

    The app's registry, serializer and plugins are kept; only its backend is swapped and
    restored afterwards. ``namespace`` defaults to the app's own.

    Example::

        @pytest.fixture
        def app():
            with fake_backend(myproject.app) as app:
                yield app
    """
    original = app.backend
    keys = getattr(original, "keys", None)
    ns = namespace or str(getattr(keys, "namespace", "resque"))
    fake = FakeBackend(ns)
    app.backend = fake
    try:
        yield app
    finally:
        app.backend = original
        fake.close()


def reset(app: Resque) -> None:
    """Empty the app's fakeredis server: queues, failures, stats, workers, delayed jobs.

    Raises:
        ConfigurationError: the app is not on fakeredis (a real Redis is never flushed).
    """
    backend = app.backend
    if not isinstance(backend, FakeBackend):
        raise ConfigurationError(f"reset() only empties fakeredis backends, not {backend.describe()}")
    backend.client.flushall()
