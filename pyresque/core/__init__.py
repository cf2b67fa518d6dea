"""The app and its data model, independent of Redis.

Open ``app.py`` first: :class:`~pyresque.core.app.Resque` registers jobs, enqueues them
(``Job`` -> serializer -> ``backend.broker``) and reads queues, statuses and failures
back. Beside it: the data the backends carry (``job``, ``failure``, ``status``,
``reservation``, ``delayed_item``, ``timefmt``, ``errors``), the registry that decides
what a payload may run (``registry``), and the app's helpers (``delayed``, ``dequeue``,
``idempotency``, ``tracking``). The runtimes that take jobs back out live in the
sub-packages ``worker/`` and ``scheduling/``; see ``docs/architecture.md``.
"""
