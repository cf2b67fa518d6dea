"""pyresque for asyncio: :class:`AsyncResque`, the client API in ``await`` form.

``app.py`` holds the app (open it first); ``delayed.py`` its delayed-job functions;
``guard.py`` its error translation and retries;
``dequeue.py`` removal by match; ``tracking.py`` the status handle. The async backend
it runs on is :mod:`pyresque.backends.aio` (interfaces) and
:mod:`pyresque.backends.redis.aio` (``redis.asyncio``). See docs/asyncio.md.
"""

from __future__ import annotations

from pyresque.aio.app import AsyncResque
from pyresque.aio.tracking import AsyncTrackedJob

__all__ = ["AsyncResque", "AsyncTrackedJob"]
