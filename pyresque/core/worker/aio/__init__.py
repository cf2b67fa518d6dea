"""The async worker: ``pyresque worker --mode async --concurrency N`` runs up to N jobs
at once in one process, on one event loop (sync jobs in a bounded pool of threads).

Open ``worker.py`` first: :class:`AsyncWorker` (a
:class:`~pyresque.core.worker.worker.Worker`) claims and registers N worker ids, one
per slot, and runs the rounds of ``slots.py`` (:class:`~.slots.Dispatcher`): one
round trip writes the outcomes the free slots owe and reserves their next jobs, with
the same token-conditional scripts as every other mode
(:mod:`pyresque.backends.aio.workers` is the interface, the Redis implementation is
:mod:`pyresque.backends.redis.aio.workers`). ``running.py`` runs one job to an
outcome (timeouts, interrupts); ``beat.py`` keeps the slots' leases and heartbeats on
a thread of its own and watches the loop for blocking code. docs/async-worker.md says
what Ruby's, PHP's and node's views see.

It lives in ``core/worker`` beside the other executors because it is one: it reuses
their perform, pruning, identity and hook code, and the import rules of the worker
runtime apply to it as they are.
"""

from __future__ import annotations

from pyresque.core.worker.aio.worker import AsyncWorker

__all__ = ["AsyncWorker"]
