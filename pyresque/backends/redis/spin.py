"""Waiting for a Redis reply by spinning briefly instead of sleeping in ``recv``, when
that pays.

On virtual machines an idle vCPU that blocks in ``recv`` pays a wake-up of tens of
microseconds when the reply lands: on the 2-core machine this project is measured on,
the worker's script round trip costs ~80 us blocking and ~31 us when the caller spins,
and the spin costs *less* CPU than the blocking read's syscalls. With Redis on another
host (0.2-1 ms round trips), or on a host so busy that replies come late, a spin burns
CPU on every job for nothing and takes it from Redis and from other workers.

So the hot path (one script per job: :func:`call_spinning` and
``LuaScript.run_on`` through :func:`read_reply`) spins per connection by a
:class:`SpinState`, in one of three modes (:data:`SpinMode`, set per client with
:func:`set_mode`; ``RedisBackend(..., spin=...)`` does it):

- ``"auto"`` (the default): keep a moving average of how long replies take (spun or
  blocked for, measured from send to reply); spin, for at most :data:`AUTO_WINDOW`,
  only while that average is below the window. Remote or slow replies turn the spin
  off within a few calls; when they come fast again (a blocking read measures them
  too), it comes back on.
- ``"on"``: always spin for up to :data:`SPIN_SECONDS` (the behaviour before the modes).
- ``"off"``: never spin; block in ``recv`` as any client does.

What the figures say (``bench/bench_spin.py``, worker CPU per job, in-process drain):
with Redis 1 ms away ``on`` burns 609 us a job, ``auto`` 181 us and ``off`` 147 us
(``auto`` stops spinning within a few calls); with a local Redis on a quiet host the
spin took the worker from ~6,300 to ~10,000 jobs/s (docs/performance.md), and ``auto``
keeps it. On a host whose cores are busy with other work, a local Redis measured 82 us
with ``auto`` against 69.5 us with ``off``: there ``spin="off"`` is the better choice.

Idle waits for new jobs never go through here: they block as usual and burn no CPU.
``bench/bench_spin.py`` measures worker CPU per job with added round-trip delay in each
mode.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from typing import Any, Literal

import redis

from pyresque.core.errors import ConfigurationError

__all__ = [
    "AUTO_WINDOW",
    "SPIN_SECONDS",
    "SpinMode",
    "SpinState",
    "call_spinning",
    "pool_connection",
    "read_reply",
    "set_mode",
    "wait_readable",
]

#: Longest time a hot-path call spins for its reply before blocking in mode ``"on"`` (s).
SPIN_SECONDS = 0.0005
#: Mode ``"auto"``: spin for at most this long, and only while replies have been taking
#: less than this on average (seconds). Past it, blocking costs less CPU than spinning
#: and the wake-up it saves is a small part of the wait.
AUTO_WINDOW = 0.00015
#: Weight of the newest reply time in the moving average (1/8: a run of slow replies
#: turns the spin off in a handful of calls; after one slow script it is back on
#: within some 20 calls).
AVERAGE_WEIGHT = 0.125

SpinMode = Literal["auto", "on", "off"]
_MODES = ("auto", "on", "off")
_ATTR = "_pyresque_spin"


class SpinState:
    """How one connection waits for its hot-path replies (see the module docstring)."""

    __slots__ = ("average", "mode")

    def __init__(self, mode: SpinMode = "auto") -> None:
        self.mode: SpinMode = mode
        #: Moving average of send-to-reply times on this connection (seconds).
        self.average = 0.0

    def window(self) -> float:
        """How long the next call may spin (0: block at once)."""
        if self.mode == "auto":
            return AUTO_WINDOW if self.average < AUTO_WINDOW else 0.0
        return SPIN_SECONDS if self.mode == "on" else 0.0

    def observe(self, elapsed: float) -> None:
        """Fold one send-to-reply time into the average."""
        self.average += (elapsed - self.average) * AVERAGE_WEIGHT

    def __repr__(self) -> str:
        return f"SpinState(mode={self.mode!r}, average={self.average * 1e6:.0f}us)"


def set_mode(client: redis.Redis, mode: SpinMode) -> None:
    """Make hot-path calls on ``client``'s connections wait for replies in ``mode``.

    Raises:
        ConfigurationError: ``mode`` is not ``"auto"``, ``"on"`` or ``"off"``.
    """
    if mode not in _MODES:
        raise ConfigurationError(f"spin mode must be one of auto, on, off (not {mode!r})")
    setattr(client.connection_pool, _ATTR, mode)


def _state_of(conn: Any) -> SpinState:
    state: SpinState | None = getattr(conn, _ATTR, None)
    if state is None:
        state = SpinState()
        with contextlib.suppress(AttributeError):
            setattr(conn, _ATTR, state)
    return state


def read_reply(conn: Any, sent_at: float) -> Any:
    """Read the reply to the command just sent on ``conn`` at ``sent_at``
    (``time.perf_counter()``), spinning first as its :class:`SpinState` says."""
    state = _state_of(conn)
    window = state.window()
    if window > 0:
        wait_readable(conn, window, sent_at)
    reply = conn.read_response()
    state.observe(time.perf_counter() - sent_at)
    return reply


def wait_readable(conn: Any, spin: float = SPIN_SECONDS, since: float | None = None) -> None:
    """Spin until ``conn`` (a redis-py connection just sent a command) has reply bytes
    to read, for at most ``spin`` seconds (counted from ``since``, a
    ``time.perf_counter()`` reading, or from now). Never reads them; never raises for
    the socket's sake (the normal read that follows reports any error)."""
    sock = getattr(conn, "_sock", None)
    if type(sock) is not socket.socket or spin <= 0:  # TLS: a readable socket may hold no full record
        return
    # A zero-timeout select: a recv on redis-py's socket (it has a timeout) would
    # first sleep in poll(), which is exactly the wake-up this avoids.
    deadline = (time.perf_counter() if since is None else since) + spin
    ready = select.select
    fd = [sock]
    try:
        while not ready(fd, (), (), 0)[0]:
            if time.perf_counter() >= deadline:
                return
    except (OSError, ValueError):
        return


def pool_connection(client: redis.Redis) -> Any:
    """A connection from the client's pool (redis-py 5 needs a command name, 8 warns on one)."""
    pool = client.connection_pool
    try:
        conn = pool.get_connection()
    except TypeError:  # redis-py < 5.3
        conn = pool.get_connection("EVALSHA")
    mode: SpinMode = getattr(pool, _ATTR, "auto")
    state = getattr(conn, _ATTR, None)
    if state is None or state.mode != mode:
        with contextlib.suppress(AttributeError):
            setattr(conn, _ATTR, SpinState(mode))
    return conn


def call_spinning(client: redis.Redis, *command: Any) -> Any:
    """Send one command on a pooled connection and read its reply, spinning first.

    Thread-safe (the pool hands each caller its own connection). A failure while
    *sending* (a connection gone stale while idle in the pool) is retried once on a
    fresh connection: the server cannot have run a command it never received. A
    failure while *reading* is never retried: the command may have run, and running
    an enqueue twice would duplicate the job. Redis error replies are raised as
    redis-py raises them.
    """
    pool = client.connection_pool
    for attempt in (0, 1):
        conn = pool_connection(client)
        sent = False
        try:
            conn.send_command(*command)
            sent = True
            return read_reply(conn, time.perf_counter())
        except redis.ResponseError:
            raise  # an error reply: the connection itself is fine
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            if sent or attempt:
                raise
        except BaseException:
            conn.disconnect()  # unknown state (a signal mid-reply ...): start afresh
            raise
        finally:
            pool.release(conn)
    raise AssertionError("unreachable")  # pragma: no cover
