"""A throwaway redis-server on a free port, which tests may stop, restart or kill."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A redis-server process of the test session's own (never the machine's)."""

    def __init__(
        self, port: int | None = None, *, appendonly: bool = False, requirepass: str | None = None
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self.binary = binary
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="pyresque-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        #: AOF on, fsynced on every write (``appendfsync always``): a ``kill -9`` loses nothing
        self.appendonly = appendonly
        #: a password the server demands (``requirepass``); ``None``: none
        self.requirepass = requirepass

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        """A client of this server for the test's own reads and writes: one per server,
        kept until the server stops (so the many ``server.client().info()`` calls of
        the tests neither leak a socket each nor open a connection each)."""
        cached: redis.Redis | None = getattr(self, "_client", None)
        if cached is None:
            cached = self._client = redis.Redis(host="127.0.0.1", port=self.port, password=self.requirepass)
        return cached

    def _drop_client(self) -> None:
        cached: redis.Redis | None = getattr(self, "_client", None)
        self._client: redis.Redis | None = None
        if cached is not None:
            cached.close()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                *self._persistence(),
                "--dir",
                self.dir,
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if self.client().ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def _persistence(self) -> tuple[str, ...]:
        auth = ("--requirepass", self.requirepass) if self.requirepass is not None else ()
        if self.appendonly:
            return ("--appendonly", "yes", "--appendfsync", "always", *auth)
        return ("--appendonly", "no", *auth)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self._drop_client()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
        self.proc = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def pid(self) -> int:
        """The running server's pid."""
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {self.port} is not running")
        return self.proc.pid

    def sigstop(self) -> None:
        """Freeze the server (``SIGSTOP``): sockets stay open, nothing is answered."""
        os.kill(self.pid, signal.SIGSTOP)

    def sigcont(self) -> None:
        """Let a frozen server go on (``SIGCONT``)."""
        os.kill(self.pid, signal.SIGCONT)

    def crash_restart(self, timeout: float = 30.0) -> None:
        """``kill -9`` the server, then start it again on the same port and directory
        (with ``appendonly`` it reloads its AOF); returns once it answers PING."""
        self.kill()
        self.start()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Wait until the server answers PING (not LOADING) on a client that never retries."""
        client = redis.Redis(
            host="127.0.0.1",
            port=self.port,
            password=self.requirepass,
            retry=Retry(NoBackoff(), 0),
            socket_timeout=2,
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"redis-server on port {self.port} is not ready") from None
                    time.sleep(0.02)
        finally:
            client.close()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")
