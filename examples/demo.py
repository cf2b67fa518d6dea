"""The README's demo: enqueue example jobs, run a worker over them, show the result.

    ./dev demo            (or: .venv/bin/python -m examples.demo)

Starts a throwaway redis-server on a free port (the machine's own Redis is not
touched), enqueues a few jobs, runs ``pyresque worker --burst`` on them, then prints
Resque's overview and the failure record of the job that failed on purpose.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import redis

from examples.jobs import register
from pyresque import Resque


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    binary = shutil.which("redis-server")
    if binary is None:
        print("redis-server is not installed (apt-get install redis-server)", file=sys.stderr)
        return 1
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="pyresque-demo-")
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        for _ in range(200):
            try:
                redis.Redis(port=port).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        app = Resque(url)
        register(app)
        app.enqueue("high", "Greet", "world")
        tracked = app.enqueue("default", "Image::Resize", "cat.png", 640, track_status=True)
        app.enqueue("default", "add", 2, 3)
        app.enqueue("low", "Flaky", "on purpose")
        print(f"enqueued 4 jobs on {url}: {app.info()}")

        env = dict(os.environ, QUEUE="high,default,low", REDIS_BACKEND=url, APP_INCLUDE="examples.jobs")
        print("running: QUEUE=high,default,low pyresque worker --burst -v")
        subprocess.run([sys.executable, "-m", "pyresque", "worker", "--burst", "-v"], env=env, check=True)

        info = app.info()
        print(f"after the worker: {info}")
        print(f"tracked job {tracked}: {app.tracked(tracked).get()}")
        for record in app.failures.all(0, -1):
            print(f"failure: {record.exception}: {record.error} (queue {record.queue}, {record.failed_at})")
        ok = info.pending == 0 and info.processed == 4 and info.failed == 1
        print("demo OK" if ok else "demo: unexpected result")
        return 0 if ok else 1
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
