"""Running node-resque next to pyresque: install it once, run the scripts in ``node/``.

node-resque is installed with npm into a throwaway folder (``tests/interop/.node`` by
default, git-ignored; ``PYRESQUE_NODE_DIR`` overrides it) the first time a test needs it,
and reused afterwards. ``PYRESQUE_NODE_RESQUE`` overrides the npm spec
(``node-resque@9.7.1``, the version the wire-format spec was verified against).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "node"
DEFAULT_DIR = HERE / ".node"
DEFAULT_SPEC = "node-resque@9.7.1"
#: The Redis list the node jobs append to (outside any Resque namespace).
PERFORMED = "interop:performed"


class NodeUnavailable(RuntimeError):
    """node, npm or the node-resque package cannot be had on this machine."""


def install_node_resque(target: Path | None = None, spec: str | None = None) -> Path:
    """Install node-resque into ``target`` (once; a file lock guards concurrent runs).

    Returns the ``node_modules`` folder. Raises :class:`NodeUnavailable` when node or
    npm is missing or npm fails.
    """
    folder = Path(target or os.environ.get("PYRESQUE_NODE_DIR") or DEFAULT_DIR)
    package = spec or os.environ.get("PYRESQUE_NODE_RESQUE") or DEFAULT_SPEC
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise NodeUnavailable("node and npm are needed for the interop tests")
    folder.mkdir(parents=True, exist_ok=True)
    modules = folder / "node_modules"
    marker = folder / ".installed"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists() and marker.read_text() == package and (modules / "node-resque").is_dir():
            return modules
        if _satisfies(modules, package):  # installed beforehand (e.g. by the CI script)
            marker.write_text(package)
            return modules
        try:
            proc = subprocess.run(
                [
                    npm,
                    "install",
                    "--prefix",
                    str(folder),
                    "--no-audit",
                    "--no-fund",
                    "--loglevel=error",
                    package,
                ],
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        except (subprocess.TimeoutExpired, OSError) as exc:
            raise NodeUnavailable(f"npm install {package} did not complete: {exc}") from exc
        if proc.returncode != 0 or not (modules / "node-resque").is_dir():
            raise NodeUnavailable(f"npm install {package} failed: {proc.stderr.strip()[-2000:]}")
        marker.write_text(package)
    return modules


def _satisfies(modules: Path, package: str) -> bool:
    """Whether ``modules`` already holds the node-resque version ``package`` asks for
    (``node-resque@9.7.1`` exactly, ``node-resque@9`` any 9.x)."""
    manifest = modules / "node-resque" / "package.json"
    if not manifest.is_file() or "@" not in package:
        return False
    wanted = package.rsplit("@", 1)[1]
    installed = str(json.loads(manifest.read_text()).get("version", ""))
    return installed == wanted or installed.startswith(wanted + ".")


class NodeResque:
    """Runs the interop node scripts against one Redis URL and namespace."""

    def __init__(self, modules: Path, redis_url: str, namespace: str = "resque") -> None:
        self.modules = modules
        self.redis_url = redis_url
        self.namespace = namespace
        self.client = redis.Redis.from_url(redis_url)

    def version(self) -> str:
        """The installed node-resque version."""
        data = json.loads((self.modules / "node-resque" / "package.json").read_text())
        return str(data["version"])

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["NODE_PATH"] = str(self.modules)
        env["REDIS_URL"] = self.redis_url
        env["RESQUE_NAMESPACE"] = self.namespace
        return env

    def queue(self, *ops: dict[str, Any]) -> list[Any]:
        """Run node-resque ``Queue`` operations (see ``node/queue.js``); their results.

        An operation that threw in node gives ``{"error": message}``.
        """
        proc = subprocess.run(
            ["node", str(SCRIPTS / "queue.js"), json.dumps(list(ops))],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"node queue.js failed ({proc.returncode}): {proc.stderr}")
        result: list[Any] = json.loads(proc.stdout)
        return result

    def queue1(self, **op: Any) -> Any:
        """One ``Queue`` operation's result."""
        return self.queue(op)[0]

    def work(
        self, queues: list[str], expect: int, timeout: float = 30.0, **options: Any
    ) -> list[dict[str, Any]]:
        """Run a node-resque worker until ``expect`` jobs ended; its events (JSON lines).

        Raises AssertionError if the worker timed out or crashed.
        """
        proc = self.start_worker(queues, expect, timeout, **options)
        out, err = proc.communicate(timeout=timeout + 10)
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        if proc.returncode != 0:
            raise AssertionError(f"node worker exited {proc.returncode}: events={events} stderr={err}")
        return events

    def start_worker(
        self, queues: list[str], expect: int, timeout: float = 30.0, **options: Any
    ) -> subprocess.Popen[str]:
        """Start a node-resque worker process (see ``node/worker.js``) and return it."""
        config = {"queues": queues, "expect": expect, "timeout_ms": int(timeout * 1000), **options}
        return subprocess.Popen(
            ["node", str(SCRIPTS / "worker.js"), json.dumps(config)],
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def schedule(self, timeout: float = 30.0, **options: Any) -> list[dict[str, Any]]:
        """Run a node-resque Scheduler until the delayed queue is empty; its events.

        Raises AssertionError if it timed out or crashed.
        """
        proc = self.start_scheduler(timeout, **options)
        out, err = proc.communicate(timeout=timeout + 10)
        events = [json.loads(line) for line in out.splitlines() if line.strip()]
        if proc.returncode != 0:
            raise AssertionError(f"node scheduler exited {proc.returncode}: events={events} stderr={err}")
        return events

    def start_scheduler(self, timeout: float = 30.0, **options: Any) -> subprocess.Popen[str]:
        """Start a node-resque Scheduler process (see ``node/scheduler.js``) and return it."""
        config = {"timeout_ms": int(timeout * 1000), **options}
        return subprocess.Popen(
            ["node", str(SCRIPTS / "scheduler.js"), json.dumps(config)],
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def performed(self) -> list[dict[str, Any]]:
        """What the node jobs recorded, in order."""
        raws: list[bytes] = self.client.lrange(PERFORMED, 0, -1)  # type: ignore[assignment]
        return [json.loads(raw) for raw in raws]

    def release(self, key: str) -> None:
        """Let a running ``Block`` job finish."""
        self.client.set(f"interop:release:{key}", "1")

    def close(self) -> None:
        """Close the helper's Redis connection."""
        self.client.close()


def start_py_worker(
    redis_url: str, queues: str, *args: str, namespace: str = "resque"
) -> subprocess.Popen[str]:
    """Start ``pyresque worker`` on ``queues`` with the interop jobs (``tests/interop/py_jobs.py``)."""
    env = dict(os.environ)
    root = str(HERE.parent.parent)
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    env["INTEROP_REDIS_URL"] = redis_url
    for name in ("QUEUE", "QUEUES", "REDIS_BACKEND", "REDIS_URL", "PREFIX", "APP_INCLUDE"):
        env.pop(name, None)
    cmd = [
        sys.executable,
        "-m",
        "pyresque",
        "worker",
        "--queue",
        queues,
        "--redis",
        redis_url,
        "--prefix",
        namespace,
        "--app-include",
        "tests.interop.py_jobs",
        "--interval",
        "0.1",
        *args,
    ]
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_py_worker(
    redis_url: str, queues: str, *args: str, timeout: float = 30.0, namespace: str = "resque"
) -> str:
    """Run a pyresque worker in burst mode (until its queues are empty); its stderr.

    Raises AssertionError if it fails or does not finish in time.
    """
    proc = start_py_worker(redis_url, queues, "--burst", *args, namespace=namespace)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"pyresque worker did not finish: {err}") from None
    if proc.returncode != 0:
        raise AssertionError(f"pyresque worker exited {proc.returncode}: {err}")
    return err


def wait_for(predicate: Any, timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Poll ``predicate()`` until it returns a truthy value; that value (or AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate!r}")
        time.sleep(interval)


@contextlib.contextmanager
def running(proc: subprocess.Popen[str], timeout: float = 30.0) -> Iterator[subprocess.Popen[str]]:
    """Make sure a started node process is reaped (killed if still running) after the block."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
