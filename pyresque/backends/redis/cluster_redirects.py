"""The rules a Redis Cluster connection follows when a reply says "not here": shared by
the sync connection (``cluster.py``, read its docstring first) and the asyncio one
(``aio/cluster.py``).

Inside: which commands are scripts (sent inside a guard transaction,
:func:`wrapped_script`, read back by :func:`script_reply`), which are never redone
(:data:`NOT_REDONE`), :class:`RedirectPlan` (where and after what back-off a redirected
command goes next, and when to give up with :class:`SlotMovedError`),
:class:`PendingCommands` (the commands a connection sent and has not read the replies
of, noted by its command packer, :class:`TrackingPacker`).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence
from typing import Any

import redis
import redis.crc
from redis.exceptions import AskError, ClusterDownError, MasterDownError, MovedError, TryAgainError

__all__ = [
    "HELD",
    "NOT_REDONE",
    "PLAIN",
    "REDIRECTS",
    "REDIRECT_DEADLINE",
    "SCRIPT",
    "PendingCommands",
    "RedirectPlan",
    "SlotMovedError",
    "TrackingPacker",
    "guard_keys",
    "owner_in",
    "script_reply",
    "side_options",
    "wrapped_script",
]

SSL_OPTIONS = ("ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname")

#: Seconds a redirected command is tried again (migration, fail-over) before the caller
#: gets :class:`SlotMovedError`.
REDIRECT_DEADLINE = 10.0
#: First and longest back-off between tries after ``TRYAGAIN``/``CLUSTERDOWN`` (s).
BACKOFF_FIRST, BACKOFF_MAX = 0.005, 0.2

#: Replies saying the command did not run on this node.
REDIRECTS = (AskError, TryAgainError, ClusterDownError, MasterDownError)  # MovedError is an AskError
SCRIPT_COMMANDS = frozenset({b"EVAL", b"EVALSHA", b"EVAL_RO", b"EVALSHA_RO", b"FCALL", b"FCALL_RO"})
#: Never redone on a side connection (they block, or belong to the caller's transaction).
NOT_REDONE = frozenset(
    {b"BLPOP", b"BRPOP", b"BLMOVE", b"BRPOPLPUSH", b"BLMPOP", b"BZPOPMIN", b"BZPOPMAX", b"BZMPOP",
     b"WAIT", b"WAITAOF", b"MULTI", b"EXEC", b"DISCARD", b"SUBSCRIBE", b"PSUBSCRIBE", b"XREAD"}
)  # fmt: skip

#: Replies (and errors) after which the owner is looked up again.
OWNER_LOST = (ClusterDownError, MasterDownError, redis.ConnectionError)

PLAIN, SCRIPT, HELD = 0, 1, 2  # a pending command: redo-able, wrapped script, not redone


class SlotMovedError(redis.ConnectionError):
    """The node reached does not serve the namespace's slot (now); the command did not
    run. Reconnect (the owner is looked up again) and try again."""


def command_name(first: Any) -> bytes:
    """A command's name, upper-case bytes."""
    return (first if isinstance(first, bytes) else str(first).encode()).upper()


def guard_keys(slot: int, tag: str | None) -> tuple[str, str]:
    """Two keys in ``slot`` that nothing writes (see the module docstring)."""
    prefix = "{" + tag + "}" if tag is not None else ""
    keys = (f"{prefix}:pyresque:cluster-guard:1", f"{prefix}:pyresque:cluster-guard:2")
    if any(redis.crc.key_slot(k.encode()) != slot for k in keys):
        raise ValueError(f"the namespace's hash tag {tag!r} does not give slot {slot}")
    return keys


def wrapped_script(args: Sequence[Any], guards: tuple[str, str]) -> list[tuple[Any, ...]]:
    """The transaction a script is sent as: refused whole while the slot migrates."""
    return [("MULTI",), tuple(args), ("EXISTS", *guards), ("EXEC",)]


def script_reply(replies: Sequence[Any]) -> Any:
    """The script's reply out of the four replies to :func:`wrapped_script` (error
    replies given as exception objects): a redirect is raised first (nothing ran), then
    a queueing error, then the script's own error or value."""
    for reply in replies[1:]:
        if isinstance(reply, REDIRECTS):
            raise reply
    for reply in replies:
        if isinstance(reply, redis.ResponseError):
            raise reply
    executed = replies[3]
    if not isinstance(executed, list) or len(executed) != 2:
        raise redis.ResponseError(f"unexpected EXEC reply around a script: {executed!r}")
    if isinstance(executed[0], redis.ResponseError):
        raise executed[0]
    return executed[0]


class RedirectPlan:
    """Where and when to send a command again after a redirect: one plan per command."""

    def __init__(self, script: bool, deadline: float = REDIRECT_DEADLINE) -> None:
        self.script = script
        self.deadline = time.monotonic() + deadline
        self.delay = BACKOFF_FIRST
        self.moves = 0

    def after(self, error: BaseException) -> tuple[float, tuple[str, int] | None, tuple[str, int] | None]:
        """(seconds to wait, ``ASK`` target or None: the owner, ``MOVED`` target or None)
        for the next try after ``error``.

        Raises:
            SlotMovedError: past the deadline (the command did not run).
        """
        wait, ask, moved = 0.0, None, None
        if isinstance(error, MovedError):
            moved = (str(error.host), int(error.port))
            self.moves += 1
            wait = 0.0 if self.moves == 1 else self.delay
        elif isinstance(error, AskError) and not self.script:
            ask = (str(error.host), int(error.port))
        else:  # TRYAGAIN, CLUSTERDOWN, MASTERDOWN, a script's ASK, a refused side connection
            wait = self.delay
        if wait:
            if time.monotonic() + wait > self.deadline:
                raise SlotMovedError(f"the slot is still not served ({error})") from error
            self.delay = min(self.delay * 2, BACKOFF_MAX)
        return wait, ask, moved


def owner_in(slots: list[Any], slot: int, asked: str) -> tuple[str, int] | None:
    """The master of ``slot`` in a ``CLUSTER SLOTS`` reply, else None."""
    for low, high, master, *_replicas in slots:
        if low <= slot <= high:
            owner_host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
            return (owner_host or asked, int(master[1]))
    return None


def no_owner(slot: int, errors: list[str]) -> redis.ConnectionError:
    return redis.ConnectionError(f"no cluster node named the master of slot {slot} ({'; '.join(errors)})")


def side_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """A connection's options for a side connection of its own to another node."""
    return {
        k: v
        for k, v in kwargs.items()
        if k not in ("host", "port", "locator") and not k.startswith(("maint_notifications", "orig_"))
    }


class TrackingPacker:
    """The connection's command packer, noting each command it packs (in send order) and
    packing a script as :func:`wrapped_script`."""

    def __init__(self, packer: Any, owner: Any) -> None:
        self._packer = packer
        self._owner = owner

    def pack(self, *args: Any) -> list[bytes]:
        owner = self._owner
        kind = owner.note(args)
        if kind != SCRIPT:
            return list(self._packer.pack(*args))
        out: list[bytes] = []
        for command in wrapped_script(args, owner.locator.guards):
            out.extend(self._packer.pack(*command))
        return out


class PendingCommands:
    """What a connection sent and has not read the reply of yet (shared by the sync and
    the asyncio connections)."""

    locator: Any

    def init_pending(self) -> None:
        self._pending: collections.deque[tuple[int, tuple[Any, ...]]] = collections.deque()
        self._in_multi = False
        self._stale = False
        self._handshake = False

    def note(self, args: tuple[Any, ...]) -> int:
        """Record a command being packed; its kind (``PLAIN``, ``SCRIPT``, ``HELD``)."""
        if self._handshake or not args:
            return HELD  # AUTH, HELLO ... of a connect: read before anything pending
        name = command_name(args[0])
        if name == b"MULTI":
            self._in_multi = True
            kind = HELD
        elif name in (b"EXEC", b"DISCARD"):
            self._in_multi = False
            kind = HELD
        elif self._in_multi or name in NOT_REDONE:
            kind = HELD
        else:
            kind = SCRIPT if name in SCRIPT_COMMANDS else PLAIN
        self._pending.append((kind, args))
        return kind

    def next_pending(self) -> tuple[int, tuple[Any, ...]] | None:
        """The command whose reply comes next (None: a handshake's or a push)."""
        if self._handshake or not self._pending:
            return None
        return self._pending.popleft()

    def clear_pending(self) -> None:
        self._pending.clear()
        self._in_multi = False
        self._stale = False


def read_replies(conn: Any, count: int) -> list[Any]:
    """``count`` replies read with redis-py's own reader; error replies as objects."""
    out: list[Any] = []
    for _ in range(count):
        try:
            out.append(redis.Connection.read_response(conn))
        except redis.ResponseError as exc:
            out.append(exc)
    return out
