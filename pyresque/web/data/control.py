"""The dashboard's control of pyresque workers through Redis (the keys and script of
:mod:`pyresque.core.control`): quiet/stop one worker, pause/resume one queue.

Ruby, PHP and node-resque workers read none of these keys; the pages show the buttons
only where they work: Quiet/Stop on a worker holding a pyresque lease, the per-queue
Pause marked "pyresque workers only". Every write is sent once (never resent after a
lost reply) and is idempotent anyway: a command is ``SET ... EX`` of the same value
again, a pause ``SADD``, a resume ``SREM``.
"""

from __future__ import annotations

from pyresque.backends.redis.scripts import LuaScript
from pyresque.core.control import COMMAND_TTL, COMMANDS, SEND_SCRIPT, control_key, lease_key, paused_key
from pyresque.web.data.store import Store, show

__all__ = ["SEND", "paused_queues", "send", "set_queue_paused"]

#: :data:`pyresque.core.control.SEND_SCRIPT`: the command for the worker's lease nonce.
SEND = LuaScript(SEND_SCRIPT)


async def send(db: Store, worker_id: str, command: str) -> str | None:
    """Ask a live pyresque worker to ``quiet`` or ``stop``; the value now in its control
    key, ``None`` when it holds no lease (not pyresque's, or gone). Round trips: 1."""
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}")
    prefix = db.k.prefix
    keys = [control_key(prefix, worker_id), lease_key(prefix, worker_id)]
    written = await db.script(SEND, keys, [command, COMMAND_TTL])
    return None if written is None else show(written, 200)


async def set_queue_paused(db: Store, queue: str, paused: bool) -> bool:
    """SADD/SREM ``queue`` to ``paused-queues``; whether that changed it. Round trips: 1."""
    command = "SADD" if paused else "SREM"
    return bool(await db.write(command, paused_key(db.k.prefix), queue))


async def paused_queues(db: Store) -> list[str]:
    """The queues paused for pyresque workers, sorted. Round trips: 1."""
    return sorted(show(m, 0) for m in await db.one("SMEMBERS", paused_key(db.k.prefix)) or ())
