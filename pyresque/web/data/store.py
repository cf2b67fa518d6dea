"""The dashboard's handle on Redis: :class:`Store`, and the helpers every page shares.

Reads go through :meth:`Store.one` (one command) and :meth:`Store.many` (a pipeline, one
round trip); writes through :meth:`Store.write` / :meth:`Store.script`, which send
exactly once (:mod:`pyresque.backends.redis.aio.calls`): a lost reply is never resent.

Every entry an action may touch is named by a :class:`Ref`: the position it was shown
at and the SHA-1 of its exact bytes. :meth:`Store.locate` finds those bytes again
(at that position, or earlier: Resque lists only lose entries before a position or grow
at the tail), so an action acts on the entry the user saw, never on whatever sits at
that index now.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio

from pyresque.backends.redis.aio.calls import call_once, run_script, send_once
from pyresque.backends.redis.keys import Keys
from pyresque.backends.redis.scripts import ArgT, KeyT, LuaScript
from pyresque.web.config import SHOW_LIMIT

__all__ = ["LOCATE_WINDOW", "Ref", "Store", "digest", "show"]

#: How far before its shown position an entry is looked for (one LRANGE).
LOCATE_WINDOW = 1_000


def digest(raw: bytes) -> str:
    """The SHA-1 (hex) of an entry's exact bytes: its name in forms and the JSON API."""
    return hashlib.sha1(raw).hexdigest()


def show(raw: bytes | str | None, limit: int = SHOW_LIMIT) -> str:
    """A Redis value as text for display: invalid UTF-8 as ``\\xNN``, cut at ``limit``
    characters with a note of what was cut. Templates escape the result."""
    if raw is None:
        return ""
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "backslashreplace")
    if limit and len(text) > limit:
        return f"{text[:limit]}… ({len(text) - limit:,} more characters)"
    return text


@dataclasses.dataclass(frozen=True, slots=True)
class Ref:
    """An entry as shown: its list position and the digest of its bytes (``"12:ab12..."``)."""

    index: int
    sha: str

    @classmethod
    def parse(cls, text: str) -> Ref:
        """Read ``"<index>:<sha1 hex>"``; a malformed one raises ValueError."""
        index, _, sha = text.partition(":")
        if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"not an entry reference: {text[:60]!r}")
        value = int(index)
        if value < 0:
            raise ValueError(f"not an entry reference: {text[:60]!r}")
        return cls(value, sha)

    @classmethod
    def of(cls, index: int, raw: bytes) -> Ref:
        """The reference of ``raw`` shown at ``index``."""
        return cls(index, digest(raw))

    def __str__(self) -> str:
        return f"{self.index}:{self.sha}"


class Store:
    """One async Redis client and the keys of one namespace.

    Args:
        client: a ``redis.asyncio.Redis`` answering bytes.
        keys: the namespace's key names.
    """

    def __init__(self, client: redis.asyncio.Redis, keys: Keys) -> None:
        self.r = client
        self.k = keys

    async def one(self, *command: Any) -> Any:
        """One read command, its raw reply."""
        return await self.r.execute_command(*command)  # type: ignore[no-untyped-call]

    async def many(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        """Read commands pipelined (no transaction), one round trip; their replies, with
        ``None`` for a command Redis refused (a key of another type than Resque writes:
        WRONGTYPE), so one odd key does not take the page down."""
        if not commands:
            return []
        pipe = self.r.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies = await pipe.execute(raise_on_error=False)
        return [None if isinstance(reply, redis.ResponseError) else reply for reply in replies]

    async def write(self, *command: Any) -> Any:
        """One write, sent exactly once (never resent after a lost reply)."""
        return await call_once(self.r, *command)

    async def writes(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Writes pipelined in one round trip, sent exactly once."""
        return await send_once(self.r, commands)

    async def script(self, script: LuaScript, keys: Sequence[KeyT], args: Sequence[ArgT]) -> Any:
        """One of pyresque's Lua scripts (EVALSHA, EVAL on NOSCRIPT), exactly once."""
        return await run_script(self.r, script, keys, args)

    async def locate(self, key: str, ref: Ref) -> tuple[int, bytes] | None:
        """Where the entry ``ref`` names is now in the list ``key``, and its bytes.

        Round trips: 1 (LINDEX at the shown index), 2 when it moved (one LRANGE over
        the :data:`LOCATE_WINDOW` entries before it). ``None``: it is gone.
        """
        raw = await self.one("LINDEX", key, ref.index)
        if isinstance(raw, bytes) and digest(raw) == ref.sha:
            return ref.index, raw
        start = max(0, ref.index - LOCATE_WINDOW)
        window: list[bytes] = await self.one("LRANGE", key, start, ref.index)
        for offset in range(len(window) - 1, -1, -1):
            if digest(window[offset]) == ref.sha:
                return start + offset, window[offset]
        return None
