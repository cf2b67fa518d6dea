"""A TCP proxy that delays every reply by a fixed time: Redis "on another host".

    python -m bench._delay_proxy LISTEN_PORT UPSTREAM_PORT DELAY_SECONDS

Runs as its own process (its CPU is not the worker's). Each client connection gets one
upstream connection to ``127.0.0.1:UPSTREAM_PORT`` and three threads: requests are
forwarded at once; reply chunks are stamped on arrival and written ``DELAY_SECONDS``
later, in order, so every round trip grows by the delay (``time.sleep`` is accurate to
tens of microseconds here; the event loops' millisecond timers are not). Prints
``ready`` on stdout once it listens.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import sys
import threading
import time

CHUNK = 65536


def _forward(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(CHUNK):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def _delayed(src: socket.socket, dst: socket.socket, delay: float) -> None:
    pending: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = threading.Condition()
    done = False

    def writer() -> None:
        try:
            while True:
                with ready:
                    while not pending and not done:
                        ready.wait()
                    if not pending:
                        return
                    due, data = pending.popleft()
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                dst.sendall(data)
        except OSError:
            pass

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        while data := src.recv(CHUNK):
            with ready:
                pending.append((time.perf_counter() + delay, data))
                ready.notify()
    except OSError:
        pass
    with ready:
        done = True
        ready.notify()
    thread.join()
    for sock in (src, dst):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def serve(listen_port: int, upstream_port: int, delay: float) -> None:
    """Accept forever, one upstream connection per client."""
    server = socket.create_server(("127.0.0.1", listen_port))
    print("ready", flush=True)
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", upstream_port))
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_forward, args=(client, upstream), daemon=True).start()
        threading.Thread(target=_delayed, args=(upstream, client, delay), daemon=True).start()


if __name__ == "__main__":
    serve(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
