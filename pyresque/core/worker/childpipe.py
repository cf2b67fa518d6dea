"""The parent's handle on a forked child, the framing of a spare child's job pipe, and
``PR_SET_PDEATHSIG`` (a child that dies with its parent).

A spare child (forked ahead of time) waits on a pipe for its job, framed as: 4-byte
queue length, 4-byte payload length, 4-byte token length, then queue, payload, token
(:func:`send_job` writes it, :func:`read_job` reads it).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import signal
import struct
from typing import Any

from pyresque.core.reservation import Reservation

__all__ = ["ChildProc", "die_with_parent", "load_libc", "read_job", "send_job"]

_FRAME = struct.Struct("!III")


@dataclasses.dataclass(slots=True)
class ChildProc:
    """A forked child as the parent sees it."""

    pid: int
    status_r: int
    job_w: int | None = None  # a spare's job pipe (closed once the job is sent)


def send_job(proc: ChildProc, res: Reservation) -> bool:
    """Give a spare its job. ``False`` when the spare is gone (the job stays reserved)."""
    if proc.job_w is None:
        return False
    queue = res.queue.encode("utf-8")
    token = res.token.encode("ascii")
    data = _FRAME.pack(len(queue), len(res.payload), len(token)) + queue + res.payload + token
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(proc.job_w, view) :]
        return True
    except OSError:
        return False
    finally:
        os.close(proc.job_w)
        proc.job_w = None


def read_job(fd: int) -> tuple[str, bytes, str] | None:
    """A spare's side: ``(queue, payload, token)``, or ``None`` when the parent closed
    the pipe without sending one."""
    head = _read_exact(fd, _FRAME.size)
    if head is None:
        return None
    qlen, plen, tlen = _FRAME.unpack(head)
    body = _read_exact(fd, qlen + plen + tlen)
    if body is None:
        return None
    return body[:qlen].decode("utf-8"), body[qlen : qlen + plen], body[qlen + plen :].decode("ascii")


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n > 0:
        chunk = os.read(fd, n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


_prctl: Any = None


def load_libc() -> None:
    """Look ``prctl`` up once, in the parent (a child should not pay for it)."""
    global _prctl
    if _prctl is None:
        try:
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            _prctl = False


def die_with_parent(parent: int, sig: int = signal.SIGKILL) -> bool:
    """Linux: the kernel sends ``sig`` to this process when its parent dies (no orphan).
    Returns ``False`` when the parent is already gone (the caller exits)."""
    load_libc()
    if _prctl:
        _prctl(1, int(sig))  # PR_SET_PDEATHSIG
    return os.getppid() == parent
