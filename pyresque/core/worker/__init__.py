"""The worker runtime: take a job from Redis, run it, write its outcome, repeat.

Open ``worker.py`` first: :class:`Worker` registers, heartbeats, turns signals into
intents (stop, kill the job, pause) and runs the executor of its mode.

How data flows: the executor's loop (``loop.py``) asks the backend to reserve a job
(one script that also records the previous job's outcome); ``perform.py`` runs it,
hooks around ``set_up``/``perform``/``tear_down``, and returns an ``Outcome``; the next
reserve carries that outcome back (a failure adds one FAIL script). Where the job runs
is the executor's business: in the worker process (``inprocess.py``, with
``watchdog.py``'s hard deadline) or in a forked child (``fork.py`` in the parent,
``child.py`` in the child, talking over a pipe).

Around it: ``identity.py`` (the worker id and its lease), ``pruning.py`` (dead
workers' jobs recovered), ``queue_select.py`` (queue patterns), ``options.py``
(:class:`WorkerOptions`), ``proctitle.py``, ``supervisor.py`` (several workers under
one parent: ``pyresque worker -c N``), ``signals.py`` (signals -> intents),
``heartbeat.py``, ``voice.py`` (what the worker logs), ``ctrl_c.py`` (the Ctrl-C notice
on a terminal), ``companion.py`` (a process beside the worker: ``--with-scheduler``),
``childpipe.py`` (a child's handle and its job pipe).
"""

from __future__ import annotations

from pyresque.core.worker.options import MODES, WorkerOptions
from pyresque.core.worker.worker import Worker, make_executor

__all__ = ["MODES", "Worker", "WorkerOptions", "make_executor"]
