"""The rules a Redis Cluster connection follows when a reply says "not here": shared by
the sync connection (``cluster.py``, read its docstring first) and the asyncio one
(``aio/cluster.py``).

Inside: how a script is guarded against running half-way during a slot migration
(:func:`guarded_script`: its guarded variant, from :data:`GUARDED`, with two guard keys
declared after its own; :func:`wrapped_script` and :func:`script_reply`: the
``MULTI``/``EXEC`` fallback for a script known only by SHA1), which commands are never
redone (:data:`NOT_REDONE`), :class:`RedirectPlan` (where and after what back-off a
redirected command goes next, and when to give up with :class:`SlotMovedError`), and
:class:`PendingCommands` (the commands a connection sent and has not read the replies
of, noted by its command packer, :class:`TrackingPacker`).
"""

from __future__ import annotations

import collections
import hashlib
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
import redis.crc
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MasterDownError,
    MovedError,
    NoScriptError,
    TryAgainError,
)

__all__ = [
    "HELD",
    "KEYED",
    "NOT_REDONE",
    "PLAIN",
    "REDIRECTS",
    "REDIRECT_DEADLINE",
    "SCRIPT",
    "PendingCommands",
    "RedirectPlan",
    "SlotMovedError",
    "TrackingPacker",
    "as_eval",
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
#: Never redone on a side connection (they block, watch, subscribe, or belong to the
#: caller's transaction: their state is on the connection they were sent on).
NOT_REDONE = frozenset(
    {b"BLPOP", b"BRPOP", b"BLMOVE", b"BRPOPLPUSH", b"BLMPOP", b"BZPOPMIN", b"BZPOPMAX", b"BZMPOP",
     b"WAIT", b"WAITAOF", b"MULTI", b"EXEC", b"DISCARD", b"WATCH", b"UNWATCH", b"SUBSCRIBE",
     b"PSUBSCRIBE", b"SSUBSCRIBE", b"XREAD", b"XREADGROUP"}
)  # fmt: skip

#: Replies (and errors) after which the owner is looked up again.
OWNER_LOST = (ClusterDownError, MasterDownError, redis.ConnectionError)

#: A pending command: redo-able; a script given its guard keys; a script sent inside the
#: guard transaction; never redone.
PLAIN, KEYED, SCRIPT, HELD = 0, 1, 2, 3


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
        if isinstance(error, NoScriptError):  # a guarded script's first run on this server
            return wait, ask, moved
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


#: The first line of a guarded script: its code sees the keys it was given, without the
#: two guard keys the client adds at the end.
GUARD_LINE = "local KEYS = {unpack(KEYS, 1, #KEYS - 2)}\n"


class GuardedScripts:
    """Each script's guarded variant (``GUARD_LINE`` + its source), by the original's
    SHA1: from an ``EVAL`` seen, or from pyresque's own scripts (every ``LuaScript`` of a
    loaded ``pyresque`` module), so that an ``EVALSHA`` can be sent as the variant's."""

    def __init__(self) -> None:
        self._by_sha: dict[str, tuple[str, str]] = {}
        self._sources: dict[str, str] = {}  # the variant's SHA1 -> its source
        self._scanned = -1
        self._lock = threading.Lock()

    def of_source(self, source: str) -> tuple[str, str]:
        """(the variant's SHA1, its source)."""
        sha = hashlib.sha1(source.encode()).hexdigest()
        found = self._by_sha.get(sha)
        if found is None:
            found = self._by_sha[sha] = self._add(source)
        return found

    def source_of(self, variant_sha: str) -> str | None:
        """The source of a variant, by its SHA1."""
        return self._sources.get(variant_sha)

    def _add(self, source: str) -> tuple[str, str]:
        variant = _variant(source)
        self._sources[variant[0]] = variant[1]
        return variant

    def of_sha(self, sha: str) -> tuple[str, str] | None:
        """The variant of the script with SHA1 ``sha``, if its source is known."""
        found = self._by_sha.get(sha)
        if found is None and len(sys.modules) != self._scanned:
            with self._lock:
                self._scan()
            found = self._by_sha.get(sha)
        return found

    def _scan(self) -> None:
        from pyresque.backends.redis.scripts import LuaScript

        self._scanned = len(sys.modules)
        for name, module in list(sys.modules.items()):
            if name.startswith("pyresque") and module is not None:
                for value in list(vars(module).values()):
                    if isinstance(value, LuaScript) and value.sha not in self._by_sha:
                        self._by_sha[value.sha] = self._add(value.source)


def _variant(source: str) -> tuple[str, str]:
    if source.startswith("#!"):  # a shebang (flags) stays the first line
        head, _, body = source.partition("\n")
        guarded = head + "\n" + GUARD_LINE + body
    else:
        guarded = GUARD_LINE + source
    return hashlib.sha1(guarded.encode()).hexdigest(), guarded


GUARDED = GuardedScripts()


def as_eval(command: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """A guarded ``EVALSHA`` the server lacks the variant of, as the ``EVAL`` of its
    source (None: not a guarded ``EVALSHA``)."""
    name = command_name(command[0])
    source = GUARDED.source_of(_text(command[1])) if name.startswith(b"EVALSHA") else None
    if source is None:
        return None
    return ("EVAL_RO" if name == b"EVALSHA_RO" else "EVAL", source, *command[2:])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def guarded_script(args: tuple[Any, ...], guards: tuple[str, str]) -> tuple[Any, ...] | None:
    """``EVAL``/``EVALSHA`` (``_RO`` too) as its guarded variant with the two guard keys
    added after its own; None when that cannot be done (a function, a script whose
    source is unknown): send it as :func:`wrapped_script` then."""
    name = command_name(args[0])
    if name.startswith(b"FCALL") or len(args) < 3:
        return None
    try:
        count = int(args[2])
    except (TypeError, ValueError):
        return None
    if name in (b"EVAL", b"EVAL_RO"):
        body = GUARDED.of_source(_text(args[1]))[1]
    else:
        found = GUARDED.of_sha(_text(args[1]).lower())
        if found is None:
            return None
        body = found[0]
    keys, rest = args[3 : 3 + count], args[3 + count :]
    return (args[0], body, count + 2, *keys, *guards, *rest)


class TrackingPacker:
    """The connection's command packer, noting each command it packs (in send order) and
    packing a script as :func:`wrapped_script`."""

    def __init__(self, packer: Any, owner: Any) -> None:
        self._packer = packer
        self._owner = owner

    def pack(self, *args: Any) -> list[bytes]:
        owner = self._owner
        kind, sent = owner.note(args)
        if kind != SCRIPT:
            return list(self._packer.pack(*sent))
        out: list[bytes] = []
        for command in wrapped_script(sent, owner.locator.guards):
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

    def note(self, args: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
        """Record a command being packed: its kind (``PLAIN``, ``KEYED``, ``SCRIPT``,
        ``HELD``) and the command to send in its place (a script with its guard keys)."""
        if self._handshake or not args:
            return HELD, args  # AUTH, HELLO ... of a connect: read before anything pending
        name = command_name(args[0])
        kind = HELD
        if name == b"MULTI":
            self._in_multi = True
        elif name in (b"EXEC", b"DISCARD"):
            self._in_multi = False
        elif self._in_multi or name in NOT_REDONE:
            if self._in_multi and name in SCRIPT_COMMANDS:  # queued: guarded all the same
                args = guarded_script(args, self.locator.guards) or args
        elif name in SCRIPT_COMMANDS:
            guarded = guarded_script(args, self.locator.guards)
            kind, args = (SCRIPT, args) if guarded is None else (KEYED, guarded)
        else:
            kind = PLAIN
        self._pending.append((kind, args))
        return kind, args

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
