"""Asyncio backends: the interfaces (``base.py``), mirroring :mod:`pyresque.backends.base`.

The Redis implementation is :mod:`pyresque.backends.redis.aio`;
:func:`~pyresque.backends.aio.factory.create_async_backend` (``factory.py``, not
imported here: the implementation imports these interfaces) picks it from a URL,
importing it inside the function, so importing the interfaces loads neither redis-py
nor ``redis.asyncio``.
"""

from __future__ import annotations

from pyresque.backends.aio.base import (
    AsyncBackend,
    AsyncBroker,
    AsyncDelayedStore,
    AsyncFailureStore,
    AsyncStats,
    AsyncStatusStore,
    AsyncWorkerView,
)

__all__ = [
    "AsyncBackend",
    "AsyncBroker",
    "AsyncDelayedStore",
    "AsyncFailureStore",
    "AsyncStats",
    "AsyncStatusStore",
    "AsyncWorkerView",
]
