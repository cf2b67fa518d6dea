"""The Redis backend over fakeredis (with Lua): for unit tests, yours and ours.

``fakeredis://`` gives a fresh in-process server; ``fakeredis://name`` shares one
server between every app that uses the same name in this process. Install with
``pip install pyresque[fakeredis]``.
"""

from __future__ import annotations

import threading
from typing import Any

from pyresque.backends.redis import RedisBackend
from pyresque.backends.redis.spin import SpinMode
from pyresque.core.errors import ConfigurationError

__all__ = ["FakeBackend"]

_servers: dict[str, Any] = {}
_servers_lock = threading.Lock()


def _fakeredis() -> Any:
    try:
        import fakeredis
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ConfigurationError(
            "the fakeredis backend needs fakeredis: pip install pyresque[fakeredis]"
        ) from exc
    return fakeredis


class FakeBackend(RedisBackend):
    """The same Redis code, talking to an in-process fakeredis server."""

    process_local = True

    def __init__(self, namespace: str = "resque", *, server: Any = None, name: str = "") -> None:
        fakeredis = _fakeredis()
        self.server = server if server is not None else fakeredis.FakeServer()
        client = fakeredis.FakeRedis(server=self.server, decode_responses=False)
        super().__init__(client, namespace, f"fakeredis://{name}")

    @classmethod
    def from_url(
        cls, url: str, namespace: str = "resque", *, db: int | None = None, spin: SpinMode = "auto"
    ) -> FakeBackend:
        """``fakeredis://`` (fresh server) or ``fakeredis://name`` (shared by name).
        ``spin`` has no effect: fakeredis replies in-process."""
        name = url.split("://", 1)[1].strip("/")
        if not name:
            return cls(namespace)
        fakeredis = _fakeredis()
        with _servers_lock:
            server = _servers.get(name)
            if server is None:
                server = _servers[name] = fakeredis.FakeServer()
        return cls(namespace, server=server, name=name)
