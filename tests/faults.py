"""Fault injection for tests: a TCP proxy in front of a real redis-server, and storms.

:class:`FaultProxy` listens on a free ``127.0.0.1`` port and forwards every connection to
the redis-server behind it, one upstream connection per client connection, on one
thread (``select``). While traffic flows it can:

- drop replies: each chunk of bytes Redis sends back is, with probability
  ``drop_reply_rate``, swallowed, and that client connection and its upstream are
  closed. The command *ran* on the server; the client only sees its connection go
  away while reading the reply, which is exactly the fault an at-most-once step and a
  blind retry get wrong;
- :meth:`~FaultProxy.cut` every current connection at once;
- :meth:`~FaultProxy.pause` / :meth:`~FaultProxy.resume` / :meth:`~FaultProxy.stall`:
  stop forwarding in both directions while the sockets stay open.

Its random draws come from ``random.Random(seed)`` (``proxy.seed`` says which), and it
counts what it did (:meth:`~FaultProxy.counters`). :meth:`~FaultProxy.close` stops the
thread and closes every socket; the proxy is also a context manager.

:class:`ClientKillStorm` runs ``CLIENT KILL TYPE normal SKIPME yes`` against a real
server every 10-40 ms for a bounded time, on a thread of its own. Every normal client of
that server loses its connection, the test's own ones too: a test reading Redis during
a storm must use a client that reconnects (redis-py's default retry does, for reads).
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import select
import socket
import threading
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["ClientKillStorm", "FaultProxy", "ProxyCounters", "no_retry_client"]

#: Bytes read at once from a socket.
CHUNK = 65536
#: Stop reading a side while this many bytes wait to be written to the other side.
HIGH_WATER = 4 * 1024 * 1024


def no_retry_client(port: int, host: str = "127.0.0.1", **kwargs: Any) -> redis.Redis:
    """A redis-py client that never repeats a command (a lost reply raises at once)."""
    return redis.Redis(host=host, port=port, retry=Retry(NoBackoff(), 0), **kwargs)


@dataclasses.dataclass(frozen=True)
class ProxyCounters:
    """What a :class:`FaultProxy` did so far.

    Attributes:
        accepted: client connections accepted.
        replies_forwarded: chunks of reply bytes passed on to clients.
        replies_dropped: reply chunks swallowed (each closed one connection pair).
        connections_cut: connection pairs closed by :meth:`FaultProxy.cut`.
        upstream_failures: client connections closed because Redis could not be reached.
    """

    accepted: int = 0
    replies_forwarded: int = 0
    replies_dropped: int = 0
    connections_cut: int = 0
    upstream_failures: int = 0


class _Pair:
    """One client connection and its upstream connection, with what each side still owes."""

    __slots__ = ("client", "closed", "to_client", "to_upstream", "upstream")

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.to_client = bytearray()
        self.to_upstream = bytearray()
        self.closed = False

    def close(self) -> None:
        self.closed = True
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.close()


class FaultProxy:
    """A fault-injecting TCP proxy in front of ``upstream_host:upstream_port``.

    Args:
        upstream_port: the real redis-server's port.
        upstream_host: its address.
        seed: seed of the random draws (``None``: a random seed, kept in ``seed``).
        drop_reply_rate: initial probability of dropping a reply chunk (0 to 1).

    Every control is thread-safe and may be used while traffic flows. ``cut``,
    ``pause`` and ``stall`` return once the proxy's thread has acted on them.
    """

    def __init__(
        self,
        upstream_port: int,
        upstream_host: str = "127.0.0.1",
        *,
        seed: int | None = None,
        drop_reply_rate: float = 0.0,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.seed = seed if seed is not None else random.randrange(2**32)
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._counts: dict[str, int] = dict.fromkeys((f.name for f in dataclasses.fields(ProxyCounters)), 0)
        self._drop_rate = 0.0
        self.drop_reply_rate = drop_reply_rate
        self._paused = False
        self._stall_until = 0.0
        self._requests: list[tuple[str, threading.Event, list[int]]] = []
        self._stopping = False
        self._pairs: dict[socket.socket, _Pair] = {}
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name=f"fault-proxy-{self.port}", daemon=True)
        self._thread.start()

    # -- controls ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<proxy port>/0``: what a client should connect to."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def drop_reply_rate(self) -> float:
        """Probability that a reply chunk from Redis is swallowed (and its connection closed)."""
        with self._lock:
            return self._drop_rate

    @drop_reply_rate.setter
    def drop_reply_rate(self, rate: float) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"drop_reply_rate must be between 0 and 1, not {rate!r}")
        with self._lock:
            self._drop_rate = float(rate)

    def counters(self) -> ProxyCounters:
        """A snapshot of the counters."""
        with self._lock:
            return ProxyCounters(**self._counts)

    @property
    def open_connections(self) -> int:
        """Client connections open now."""
        return self._ask("count")

    def cut(self) -> int:
        """Close every current connection (client and upstream); returns how many pairs."""
        return self._ask("cut")

    def pause(self) -> None:
        """Stop forwarding in both directions until :meth:`resume` (sockets stay open;
        new connections are still accepted, and wait too)."""
        with self._lock:
            self._paused = True
        self._ask("sync")

    def resume(self) -> None:
        """Forward again (ends a :meth:`pause` and any :meth:`stall`)."""
        with self._lock:
            self._paused = False
            self._stall_until = 0.0
        self._ask("sync")

    def stall(self, seconds: float) -> None:
        """Stop forwarding for ``seconds`` from now, then go on by itself (returns at once)."""
        with self._lock:
            self._stall_until = max(self._stall_until, time.monotonic() + seconds)
        self._ask("sync")

    @property
    def paused(self) -> bool:
        """Whether forwarding is stopped right now (paused or stalled)."""
        with self._lock:
            return self._paused or time.monotonic() < self._stall_until

    def close(self) -> None:
        """Stop the thread and close every socket. Idempotent."""
        self._stopping = True
        self._wake()
        self._thread.join(10)
        if self._thread.is_alive():  # pragma: no cover - a bug in the loop
            raise RuntimeError("the fault proxy's thread did not stop")
        for pair in list(self._pairs.values()):
            pair.close()
        self._pairs.clear()
        for sock in (self._listener, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FaultProxy(:{self.port} -> {self.upstream[0]}:{self.upstream[1]}, seed={self.seed})"

    # -- the thread ----------------------------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def _ask(self, kind: str) -> int:
        """Have the proxy's thread do ``kind`` at the top of its loop; wait for it."""
        done = threading.Event()
        out: list[int] = [0]
        with self._lock:
            if self._stopping or not self._thread.is_alive():
                return 0
            self._requests.append((kind, done, out))
        self._wake()
        if not done.wait(10):
            raise RuntimeError(f"the fault proxy did not answer {kind!r}")
        return out[0]

    def _count(self, name: str, by: int = 1) -> None:
        with self._lock:
            self._counts[name] += by

    def _serve_requests(self) -> None:
        with self._lock:
            requests, self._requests = self._requests, []
        for kind, done, out in requests:
            pairs = {id(p): p for p in self._pairs.values()}
            if kind == "cut":
                for pair in pairs.values():
                    self._close_pair(pair)
                out[0] = len(pairs)
                self._count("connections_cut", len(pairs))
            elif kind == "count":
                out[0] = len(pairs)
            done.set()

    def _run(self) -> None:
        try:
            while not self._stopping:
                self._serve_requests()
                self._step()
        except Exception as exc:  # pragma: no cover - never let a thread die with a traceback
            print(f"fault proxy on port {self.port} stopped: {exc!r}")
        finally:
            with self._lock:
                requests, self._requests = self._requests, []
                self._stopping = True
            for _, done, _ in requests:
                done.set()

    def _step(self) -> None:
        with self._lock:
            now = time.monotonic()
            paused = self._paused or now < self._stall_until
            timeout = min(0.05, max(0.0, self._stall_until - now)) if paused else 0.5
        readers: list[socket.socket] = [self._listener, self._wake_r]
        writers: list[socket.socket] = []
        if not paused:
            for pair in {id(p): p for p in self._pairs.values()}.values():
                if len(pair.to_upstream) < HIGH_WATER:
                    readers.append(pair.client)
                if len(pair.to_client) < HIGH_WATER:
                    readers.append(pair.upstream)
                if pair.to_client:
                    writers.append(pair.client)
                if pair.to_upstream:
                    writers.append(pair.upstream)
        try:
            readable, writable, _ = select.select(readers, writers, [], timeout)
        except (OSError, ValueError):
            self._drop_closed()
            return
        for sock in readable:
            if sock is self._wake_r:
                with contextlib.suppress(OSError):
                    while self._wake_r.recv(4096):
                        pass
            elif sock is self._listener:
                self._accept()
            else:
                self._read(sock)
        for sock in writable:
            writer = self._pairs.get(sock)
            if writer is not None and not writer.closed:
                self._flush(writer, sock)

    def _drop_closed(self) -> None:
        for sock, pair in list(self._pairs.items()):
            if pair.closed or sock.fileno() < 0:
                self._close_pair(pair)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            self._count("accepted")
            try:
                upstream = socket.create_connection(self.upstream, timeout=2)
            except OSError:
                self._count("upstream_failures")
                client.close()
                continue
            for sock in (client, upstream):
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = _Pair(client, upstream)
            self._pairs[client] = pair
            self._pairs[upstream] = pair

    def _close_pair(self, pair: _Pair) -> None:
        self._pairs.pop(pair.client, None)
        self._pairs.pop(pair.upstream, None)
        pair.close()

    def _read(self, sock: socket.socket) -> None:
        pair = self._pairs.get(sock)
        if pair is None or pair.closed:
            return
        try:
            data = sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._close_pair(pair)
            return
        if sock is pair.client:
            pair.to_upstream += data
            self._flush(pair, pair.upstream)
            return
        with self._lock:
            drop = self._drop_rate > 0 and self._rng.random() < self._drop_rate
            self._counts["replies_dropped" if drop else "replies_forwarded"] += 1
        if drop:
            self._close_pair(pair)
            return
        pair.to_client += data
        self._flush(pair, pair.client)

    def _flush(self, pair: _Pair, sock: socket.socket) -> None:
        buffer = pair.to_client if sock is pair.client else pair.to_upstream
        try:
            while buffer:
                sent = sock.send(buffer)
                del buffer[:sent]
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_pair(pair)


class ClientKillStorm:
    """``CLIENT KILL TYPE normal SKIPME yes`` against ``host:port`` every ``gap`` seconds
    (drawn uniformly from ``gap``) for at most ``duration`` seconds, on a thread.

    Attributes:
        commands: ``CLIENT KILL`` commands that were answered.
        killed: connections they closed, in all.
        errors: commands that failed (Redis away, frozen ...).
        seed: the seed of the gaps.
    """

    def __init__(
        self,
        port: int,
        *,
        duration: float,
        gap: tuple[float, float] = (0.010, 0.040),
        seed: int | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.seed = seed if seed is not None else random.randrange(2**32)
        self._rng = random.Random(self.seed)
        self._duration = duration
        self._gap = gap
        self._stop = threading.Event()
        self._client = no_retry_client(port, host, socket_timeout=2, socket_connect_timeout=2)
        self.commands = 0
        self.killed = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=f"client-kill-{port}", daemon=True)

    def start(self) -> ClientKillStorm:
        """Start the storm (returns self)."""
        self._thread.start()
        return self

    def _run(self) -> None:
        deadline = time.monotonic() + self._duration
        while not self._stop.wait(self._rng.uniform(*self._gap)) and time.monotonic() < deadline:
            try:
                # CLIENT KILL TYPE normal SKIPME yes
                killed = self._client.client_kill_filter(_type="normal", skipme=True)
                self.commands += 1
                self.killed += int(killed)
            except Exception:
                self.errors += 1
                time.sleep(0.05)

    @property
    def running(self) -> bool:
        """Whether the storm still goes on."""
        return self._thread.is_alive()

    def stop(self) -> None:
        """End the storm now (waits for its thread). Idempotent."""
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(10)
        self._client.close()

    def __enter__(self) -> ClientKillStorm:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ClientKillStorm(commands={self.commands}, killed={self.killed}, seed={self.seed})"
