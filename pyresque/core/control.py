"""Control of pyresque workers through Redis: quiet/stop one worker, pause a queue.

Start with :class:`WorkersControl` (``app.workers_control``): ``quiet(worker_id)``,
``stop(worker_id)``, ``pause_queue(q)``, ``resume_queue(q)``. The worker's side reads
with :class:`ControlReader` (sync: the fork/in-process worker's heartbeat thread,
:mod:`pyresque.core.worker.remote`); :func:`parse_command`, :func:`strongest_command`
and the key functions are the wire format, for any client: the dashboard writes with
its async one, and the async worker's heartbeat thread can read its slots' commands
with one MGET of :func:`control_key` per beat and :func:`strongest_command`, and the
paused queues with an SMEMBERS of :func:`paused_key` beside its ``pause-all-workers``
read.

Keys (under the namespace; Ruby, PHP and node-resque workers read none of them):

- ``worker:<id>:control``: ``quiet <nonce>`` (finish the running job, then exit: QUIT)
  or ``stop <nonce>`` (stop the running job now, it is recorded failed, then exit:
  TERM), with a TTL of :data:`COMMAND_TTL` seconds. ``<nonce>`` is the instance the
  command is for, read from the worker's lease (``worker:<id>:lease`` =
  ``<nonce>:<seq>:<pid ns>``): a later process that gets the same id (same host and
  pid, a container's pid 1) ignores a command left for the one before it, and the TTL
  removes it anyway. Only a worker holding a lease (a live pyresque worker whose
  heartbeat thread runs) reads commands, so only such a worker can be sent one.
- ``paused-queues``: a set of queue names pyresque workers skip when they reserve.
  Ruby's ``pause-all-workers`` key is not touched and works as before.

Repeats after a lost reply: writing a command is a ``SET ... EX`` (the same value
again, its TTL renewed); a ``stop`` overwrites a ``quiet`` (a ``quiet`` never
overwrites a ``stop``: the script below). Pausing and resuming are ``SADD``/``SREM``.
The worker never deletes a command when it reads it: it acts on it (a flag, a signal
to itself), and a worker that died between reading and acting did not need it any
more; the key expires by its TTL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyresque.core.errors import ConfigurationError

__all__ = [
    "COMMANDS",
    "COMMAND_TTL",
    "SEND_SCRIPT",
    "ControlReader",
    "WorkersControl",
    "control_key",
    "lease_key",
    "lease_nonce",
    "parse_command",
    "paused_key",
    "strongest_command",
]

#: The commands a worker obeys, mildest first.
COMMANDS = ("quiet", "stop")
#: Seconds a command stays in Redis (a worker reads them every few seconds).
COMMAND_TTL = 300

#: KEYS[1] ``worker:<id>:control``, KEYS[2] ``worker:<id>:lease``. ARGV[1] command,
#: ARGV[2] ttl. No lease (not a live pyresque worker): nothing, returns false. Else sets
#: ``<command> <the lease's nonce>`` with the TTL, unless a ``stop`` for that nonce is
#: there already (a quiet does not soften a stop: its TTL is renewed); returns the value
#: now there. A repeat after a lost reply sets the same value again (idempotent).
SEND_SCRIPT = """
local lease = redis.call('GET', KEYS[2])
if not lease then return false end
local nonce = string.match(lease, '^[^:]*')
local want = ARGV[1] .. ' ' .. nonce
local old = redis.call('GET', KEYS[1])
if ARGV[1] == 'quiet' and old == ('stop ' .. nonce) then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[2]))
  return old
end
redis.call('SET', KEYS[1], want, 'EX', tonumber(ARGV[2]))
return want
"""


def control_key(prefix: str, worker_id: str) -> str:
    """``<ns>:worker:<id>:control`` (``prefix`` is ``"<ns>:"``)."""
    return f"{prefix}worker:{worker_id}:control"


def lease_key(prefix: str, worker_id: str) -> str:
    """``<ns>:worker:<id>:lease`` (held by a live pyresque worker)."""
    return f"{prefix}worker:{worker_id}:lease"


def paused_key(prefix: str) -> str:
    """``<ns>:paused-queues``."""
    return f"{prefix}paused-queues"


def lease_nonce(lease: bytes | str | None) -> str | None:
    """The nonce at the head of a lease value (``None``: no lease)."""
    if lease is None:
        return None
    text = lease.decode("utf-8", "replace") if isinstance(lease, bytes) else lease
    nonce = text.split(":", 1)[0]
    return nonce or None


def parse_command(raw: bytes | str | None, nonce: str) -> str | None:
    """The command in a control key's value, if it is for the instance ``nonce``:
    ``"quiet"``, ``"stop"`` or ``None`` (none, unknown, or another instance's)."""
    if raw is None:
        return None
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    command, _, target = text.strip().partition(" ")
    if command not in COMMANDS or (target and target != nonce):
        return None
    return command


def strongest_command(raws: Sequence[bytes | str | None], nonce: str) -> str | None:
    """The command a process holding several ids obeys (the async worker's slots, one
    nonce): ``"stop"`` if any slot's control value says stop for ``nonce``, else
    ``"quiet"`` if any says quiet, else ``None``. ``raws``: the control keys' values
    (one MGET of :func:`control_key` for every id, with the heartbeat's lease refresh)."""
    found = {parse_command(raw, nonce) for raw in raws}
    return "stop" if "stop" in found else "quiet" if "quiet" in found else None


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _client_and_prefix(backend: Any) -> tuple[Any, str] | None:
    client = getattr(backend, "client", None)
    prefix = getattr(getattr(backend, "keys", None), "prefix", None)
    if client is None or not isinstance(prefix, str) or not hasattr(client, "pipeline"):
        return None
    return client, prefix


class ControlReader:
    """The worker's side: reads its command and the paused queues (sync client).

    ``ControlReader(app.backend)``; :attr:`available` is ``False`` for a backend that is
    no single Redis (then there is nothing to read). Any thread may call it, e.g. a
    heartbeat thread; each method is one round trip, and safe to repeat (reads only).
    """

    def __init__(self, backend: Any) -> None:
        found = _client_and_prefix(backend)
        self.available = found is not None
        self._client: Any = found[0] if found is not None else None
        self._prefix = found[1] if found is not None else ""

    def command(self, worker_id: str, nonce: str) -> str | None:
        """``"quiet"``, ``"stop"`` or ``None`` for this worker instance. Round trips: 1."""
        if not self.available:
            return None
        return parse_command(self._client.get(control_key(self._prefix, worker_id)), nonce)

    def strongest(self, worker_ids: Sequence[str], nonce: str) -> str | None:
        """The command several ids held by one process obey (:func:`strongest_command`
        over their control keys, the async worker's slots). Round trips: 1 (an MGET)."""
        if not self.available or not worker_ids:
            return None
        raws = self._client.mget([control_key(self._prefix, w) for w in worker_ids])
        return strongest_command(raws, nonce)

    def pause_state(self) -> tuple[bool, frozenset[str]]:
        """``pause-all-workers`` says ``true``, and the paused queues. Round trips: 1
        (GET and SMEMBERS in one pipeline)."""
        if not self.available:
            return False, frozenset()
        pipe = self._client.pipeline(transaction=False)
        pipe.get(self._prefix + "pause-all-workers")
        pipe.smembers(paused_key(self._prefix))
        flag, members = pipe.execute()
        paused_all = flag is not None and _text(flag).strip().lower() == "true"
        return paused_all, frozenset(_text(m) for m in members or ())


class WorkersControl:
    """The operator's side (``app.workers_control``): commands to pyresque workers and
    per-queue pause. Errors a user can make raise :class:`ConfigurationError` with one
    plain line."""

    def __init__(self, backend: Any, *, ttl: int = COMMAND_TTL) -> None:
        found = _client_and_prefix(backend)
        if found is None:
            raise ConfigurationError("worker control needs a Redis backend (one server, not shards)")
        self._client, self._prefix = found
        self.ttl = ttl
        self._send = self._client.register_script(SEND_SCRIPT)

    def controllable(self, worker_ids: Sequence[str]) -> list[str | None]:
        """Each worker's nonce if it is a live pyresque worker (holds a lease), else
        ``None`` (a Ruby, PHP or node worker, or a dead one). Round trips: 1."""
        if not worker_ids:
            return []
        leases = self._client.mget([lease_key(self._prefix, w) for w in worker_ids])
        return [lease_nonce(v) for v in leases]

    def _try(self, worker_id: str, command: str) -> str | None:
        if command not in COMMANDS:
            raise ConfigurationError(f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
        keys = [control_key(self._prefix, worker_id), lease_key(self._prefix, worker_id)]
        written = self._send(keys=keys, args=[command, self.ttl])
        return None if written is None else _text(written)

    def send(self, worker_id: str, command: str) -> str:
        """Send ``command`` (``quiet`` or ``stop``) to one live pyresque worker; the value
        now in its control key. Round trips: 1 (a script); safe to repeat."""
        written = self._try(worker_id, command)
        if written is None:
            raise ConfigurationError(
                f"worker {worker_id} is not a live pyresque worker (no lease): Ruby, PHP and "
                "node workers take signals only"
            )
        return written

    def quiet(self, worker_id: str) -> str:
        """Ask a pyresque worker to finish its job, then exit (QUIT through Redis)."""
        return self.send(worker_id, "quiet")

    def stop(self, worker_id: str) -> str:
        """Ask a pyresque worker to stop its job now (recorded failed), then exit (TERM)."""
        return self.send(worker_id, "stop")

    def send_all(self, command: str) -> list[str]:
        """Send ``command`` to every registered worker that is a live pyresque worker;
        their ids (the others are skipped). Round trips: 1 + one per worker; safe to
        repeat."""
        members = self._client.smembers(self._prefix + "workers")
        ids = sorted(_text(m) for m in members or ())
        return [wid for wid in ids if self._try(wid, command) is not None]

    def pending(self, worker_id: str) -> str | None:
        """The command waiting for ``worker_id`` (whatever instance), or ``None``."""
        raw = self._client.get(control_key(self._prefix, worker_id))
        return None if raw is None else _text(raw).partition(" ")[0] or None

    def pause_queue(self, queue: str) -> bool:
        """pyresque workers stop taking jobs from ``queue`` (within a second); ``False``
        if it was paused already. Ruby, PHP and node workers ignore it. Round trips: 1."""
        if not queue or queue != queue.strip():
            raise ConfigurationError("a queue name cannot be empty or start or end with spaces")
        return bool(self._client.sadd(paused_key(self._prefix), queue))

    def resume_queue(self, queue: str) -> bool:
        """Undo :meth:`pause_queue`; ``False`` if it was not paused. Round trips: 1."""
        return bool(self._client.srem(paused_key(self._prefix), queue))

    def paused_queues(self) -> list[str]:
        """The queues paused for pyresque workers, sorted. Round trips: 1."""
        return sorted(_text(m) for m in self._client.smembers(paused_key(self._prefix)) or ())
