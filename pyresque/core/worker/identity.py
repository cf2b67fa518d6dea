"""A worker's identity: Resque's ``host:pid:queues`` id, and the lease that proves a
live process owns it.

Two processes can compute the same id: containers that share the host's name (host
networking) and each run the worker as pid 1. Sharing an id means sharing
``worker:<id>``: each would take the other's job for a dead runner's. So a live worker
holds a lease on its id, ``worker:<id>:lease`` = ``<nonce>:<seq>:<pid namespace>``,
refreshed every :attr:`Worker.lease_interval` seconds and expiring after three. At
start a worker claims its id; if another process's lease is on it, it waits until that
lease lapses (the owner died: the id, and recovering its job, are ours) or is refreshed
(a live twin: this worker takes ``host-<tag>:pid:queues``, the same shape). The lease's
pid namespace also tells a pruner on the same host whether a pid it cannot see is dead
or merely in another container.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from typing import TYPE_CHECKING

from pyresque.core.errors import ConfigurationError

if TYPE_CHECKING:
    from pyresque.core.worker.worker import Worker

__all__ = ["claim_id", "lease_detail", "lease_namespace", "pid_namespace"]

log = logging.getLogger("pyresque.worker")


def pid_namespace() -> str:
    """This process's pid namespace (``pid:[4026531836]``), ``""`` where unknown."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def lease_detail(seq: int) -> str:
    """What follows the nonce in a lease value: ``<seq>:<pid namespace>``."""
    return f"{seq}:{pid_namespace()}"


def lease_namespace(lease: str) -> str:
    """The pid namespace recorded in a lease value (``""`` when it has none)."""
    parts = lease.split(":", 2)
    return parts[2] if len(parts) == 3 else ""


def claim_id(worker: Worker) -> None:
    """Own ``worker.id``, or switch it to a unique one (see the module docstring)."""
    first = worker.refresh_lease()
    if first is None:
        return
    ours = pid_namespace()
    if ours and lease_namespace(first) == ours:
        # the holder ran in our pid namespace with our pid: that process is gone
        log.info("worker id %s: its previous process is gone; taking it over", worker.id)
        worker.registry.drop_lease(worker.id, first)
        if worker.refresh_lease() is None:
            return
    interval = worker.lease_interval
    deadline = time.monotonic() + 4 * interval
    log.info("worker id %s is leased by another process; waiting to see whether it lives", worker.id)
    other: str | None = first
    while other == first and time.monotonic() < deadline and not worker.shutdown:
        time.sleep(min(0.25, interval / 2))
        other = worker.refresh_lease()
        if other is None:
            log.info("worker id %s: its previous process is gone; taking it over", worker.id)
            return
    taken = worker.id
    worker.hostname = f"{socket.gethostname()}-{worker.nonce[:6]}"
    worker.id = f"{worker.hostname}:{worker.pid}:{worker.selector}"
    log.warning(
        "worker id %s is in use by another live worker (same hostname and pid: containers "
        "sharing a hostname?); this worker runs as %s",
        taken,
        worker.id,
    )
    if worker.refresh_lease() is not None:  # pragma: no cover - a fresh random tag
        raise ConfigurationError(f"cannot find a free worker id (tried {worker.id})")
