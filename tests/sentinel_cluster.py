"""Throwaway Redis topologies of the test session's own, on free ports: a master with
replicas watched by ``redis-sentinel`` processes (:class:`SentinelGroup`), and a Redis
Cluster of three masters (:class:`Cluster`), each over TLS too given a
:class:`~tests.tls_certs.Tls` (a throwaway CA and certificate). Never the machine's Redis."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

import redis

from tests.redis_server import free_port
from tests.tls_certs import Tls

SERVICE = "pyresque-test"


def _wait(what: str, check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (redis.RedisError, OSError) as exc:
            last = exc
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what} (last error: {last})")


class Node:
    """One redis-server (or redis-sentinel) process with extra arguments (over TLS only,
    given ``tls``)."""

    def __init__(self, args: list[str], *, sentinel: bool = False, tls: Tls | None = None) -> None:
        server = shutil.which("redis-server")
        binary = shutil.which("redis-sentinel") if sentinel else server
        # redis-sentinel is redis-server itself (a link): ``redis-server <conf> --sentinel``
        # serves where the package left the link out
        self.sentinel_flag = sentinel and binary is None and server is not None
        binary = binary or server
        if binary is None:
            raise FileNotFoundError("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="pyresque-topo-")
        self.args = args
        self.sentinel = sentinel
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None

    def client(self, **kwargs: Any) -> redis.Redis:
        """A client of this node; without options, one per node kept until it stops
        (the tests' many ``node.client().x()`` calls would leak a socket each)."""
        tls = self.tls.client_kwargs() if self.tls is not None else {}
        if kwargs:
            return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, **tls, **kwargs)
        cached: redis.Redis | None = getattr(self, "_client", None)
        if cached is None:
            cached = self._client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5, **tls)
        return cached

    def _drop_client(self) -> None:
        cached: redis.Redis | None = getattr(self, "_client", None)
        self._client: redis.Redis | None = None
        if cached is not None:
            cached.close()

    def start(self) -> None:
        ports = [f"port {self.port}"] if self.tls is None else ["port 0", f"tls-port {self.port}"]
        tls_lines = self.tls.server_lines() if self.tls is not None else []
        if self.sentinel:
            conf = os.path.join(self.dir, "sentinel.conf")
            with open(conf, "w", encoding="utf-8") as out:
                lines = [*ports, "bind 127.0.0.1", f"dir {self.dir}", *tls_lines, *self.args]
                out.write("\n".join(lines) + "\n")
            command = [self.binary, conf, *(["--sentinel"] if self.sentinel_flag else [])]
        else:
            options = [
                f"--{word}" if i == 0 else word
                for line in ports + tls_lines
                for i, word in enumerate(line.split(" "))
            ]
            command = [
                self.binary,
                *options,
                "--bind", "127.0.0.1",
                "--save", "",
                "--appendonly", "no",
                "--dir", self.dir,
                "--daemonize", "no",
                *self.args,
            ]  # fmt: skip
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(f"port {self.port}", lambda: self.client().ping(), 10)

    def kill(self) -> None:
        """``kill -9``."""
        self._drop_client()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        self._drop_client()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelGroup:
    """A master, ``replicas`` replicas and ``sentinels`` sentinels (quorum 2) watching
    them as :data:`SERVICE`; fail-over within about 1-3 s of the master dying."""

    def __init__(
        self, replicas: int = 2, sentinels: int = 3, *, down_after_ms: int = 1000, tls: Tls | None = None
    ) -> None:
        self.tls = tls
        self.master = Node([], tls=tls)
        self.replicas = [Node([], tls=tls) for _ in range(replicas)]
        self.sentinels: list[Node] = []
        self.down_after_ms = down_after_ms
        self._count = sentinels

    @property
    def servers(self) -> list[Node]:
        return [self.master, *self.replicas]

    def url(self, db: int = 0, scheme: str = "redis+sentinel") -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        query = f"?{self.tls.query()}" if self.tls is not None else ""
        return f"{scheme}://{hosts}/{SERVICE}/{db}{query}"

    def start(self) -> None:
        self.master.start()
        for replica in self.replicas:
            replica.args = ["--replicaof", "127.0.0.1", str(self.master.port)]
            replica.start()
        for replica in self.replicas:
            _wait(
                "replication link",
                lambda r=replica: r.client().info("replication")["master_link_status"] == "up",
            )
        for _ in range(self._count):
            node = Node(
                [
                    f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2",
                    f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}",
                    f"sentinel failover-timeout {SERVICE} 10000",
                    f"sentinel parallel-syncs {SERVICE} 2",
                ],
                sentinel=True,
                tls=self.tls,
            )
            node.start()
            self.sentinels.append(node)
        _wait("sentinels to see every replica and each other", self._settled)

    def _settled(self) -> bool:
        for node in self.sentinels:
            info = node.client().sentinel_master(SERVICE)
            if (
                int(info["num-slaves"]) < len(self.replicas)
                or int(info["num-other-sentinels"]) < self._count - 1
            ):
                return False
        return True

    def master_port(self) -> int:
        """The port the first sentinel names as master now, as clients read it
        (``SENTINEL MASTERS``: during a fail-over ``get-master-addr-by-name`` already
        names the replica being promoted, ``SENTINEL MASTERS`` the old master until the
        fail-over ends, and redis-py reads the latter)."""
        return int(self.sentinels[0].client().sentinel_masters()[SERVICE]["port"])

    def node_on(self, port: int) -> Node:
        return next(s for s in self.servers if s.port == port)

    def failover(self) -> int:
        """``SENTINEL FAILOVER``; returns the new master's port once every sentinel names it
        and it answers as a master."""
        old = self.master_port()
        self.sentinels[0].client().execute_command("SENTINEL", "FAILOVER", SERVICE)
        return self.wait_new_master(old)

    def kill_master(self) -> int:
        """``kill -9`` of the current master; returns the promoted one's port."""
        old = self.master_port()
        self.node_on(old).kill()
        return self.wait_new_master(old)

    def wait_new_master(self, old: int, timeout: float = 60.0) -> int:
        def promoted() -> int:
            ports = {int(n.client().sentinel_masters()[SERVICE]["port"]) for n in self.sentinels if n.proc}
            if len(ports) != 1 or old in ports:
                return 0
            port = ports.pop()
            return port if self.node_on(port).client().info("replication")["role"] == "master" else 0

        port: int = _wait("a new master", promoted, timeout)
        return port

    def close(self) -> None:
        for node in [*self.sentinels, *self.servers]:
            node.close()


class Cluster:
    """A Redis Cluster of ``masters`` masters (and ``replicas_each`` replicas each), made
    with ``redis-cli --cluster create``."""

    def __init__(self, masters: int = 3, replicas_each: int = 0, *, tls: Tls | None = None) -> None:
        self.tls = tls
        bus_tls = ["--tls-cluster", "yes"] if tls is not None else []
        self.nodes = [
            Node(
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "2000",
                    "--cluster-config-file",
                    "nodes.conf",
                    # the bus on a free port of its own (port + 10000, the default, may be taken or > 65535)
                    "--cluster-port",
                    str(free_port()),
                    *bus_tls,
                ],
                tls=tls,
            )
            for _ in range(masters * (1 + replicas_each))
        ]
        self.replicas_each = replicas_each

    def url(self, scheme: str = "redis+cluster") -> str:
        query = f"?{self.tls.query()}" if self.tls is not None else ""
        return f"{scheme}://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes) + query

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        cli = shutil.which("redis-cli")
        if cli is None:
            raise FileNotFoundError("redis-cli is not installed")
        tls = ["--tls", "--cacert", self.tls.ca] if self.tls is not None else []
        subprocess.run(
            [cli, *tls, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
             "--cluster-replicas", str(self.replicas_each), "--cluster-yes"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60,
        )  # fmt: skip
        _wait("cluster state ok", self._ok)

    def _ok(self) -> bool:
        """Every node says ``ok`` and sees every replica as one (a fresh cluster shows
        its replicas as empty masters for a moment; a fail-over then finds none)."""
        replicas = len(self.nodes) - len(self.nodes) // (1 + self.replicas_each)
        for node in self.nodes:
            client = node.client()
            if client.cluster("info")["cluster_state"] != "ok":
                return False
            view = client.execute_command("CLUSTER", "NODES").decode()
            if sum(" slave " in line or ",slave " in line for line in view.splitlines()) < replicas:
                return False
            info = client.info("replication")
            if info["role"] == "slave" and info["master_link_status"] != "up":
                return False  # a replica that never synced cannot take over
        return True

    def owner_of(self, key: str) -> Node:
        """The master serving ``key``'s slot now."""
        slot = int(self.nodes[0].client().cluster("keyslot", key))
        for low, high, *nodes in self.nodes[0].client().execute_command("CLUSTER", "SLOTS"):
            if low <= slot <= high:
                port = int(nodes[0][1])
                return next(n for n in self.nodes if n.port == port)
        raise RuntimeError(f"no node serves slot {slot}")

    def node_id(self, node: Node) -> str:
        """The node's cluster id."""
        reply = node.client().execute_command("CLUSTER", "MYID")
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    def begin_migration(self, slot: int, source: Node, target: Node) -> None:
        """``CLUSTER SETSLOT <slot> IMPORTING`` on ``target``, then ``MIGRATING`` on
        ``source``, in the order ``redis-cli --cluster reshard`` uses."""
        target.client().execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
        source.client().execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(target))

    def migrate_keys(
        self, slot: int, source: Node, target: Node, *, batch: int = 10, pause: float = 0.0
    ) -> int:
        """``MIGRATE`` the slot's keys from ``source`` to ``target``, ``batch`` at a time
        (``pause`` seconds between batches), until none is left; returns how many moved."""
        moved = 0
        while True:
            keys = source.client().execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch)
            if not keys:
                return moved
            source.client().execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 10000, "KEYS", *keys)
            moved += len(keys)
            time.sleep(pause)

    def end_migration(self, slot: int, source: Node, target: Node) -> None:
        """``CLUSTER SETSLOT <slot> NODE <target>`` on the target, the source, then every
        other master (as ``redis-cli --cluster reshard`` ends a slot)."""
        target_id = self.node_id(target)
        others = [
            n
            for n in self.nodes
            if n is not source
            and n is not target
            and n.proc is not None
            and n.client().info("replication")["role"] == "master"
        ]
        for node in [target, source, *others]:
            node.client().execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)

    def close(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.close()
