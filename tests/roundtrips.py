"""Counting Redis round trips from the client side (a pipeline or a script is one)."""

from __future__ import annotations

from typing import Any

import redis


class CountingConnection(redis.Connection):
    """A connection that counts the times it sends a request."""

    sent = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        type(self).sent += 1
        super().send_packed_command(command, check_health)


def counting_client(url: str) -> tuple[redis.Redis, type[CountingConnection]]:
    """A redis-py client on ``url`` whose class attribute ``sent`` counts round trips."""
    counter = type("Counter", (CountingConnection,), {"sent": 0})
    pool = redis.ConnectionPool.from_url(url, connection_class=counter)
    return redis.Redis(connection_pool=pool), counter
