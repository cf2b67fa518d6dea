"""The dashboard's Redis reads and writes, over ``redis.asyncio`` and Resque's keys.

Start at :class:`~pyresque.web.data.store.Store` (one client, the :class:`Keys`, a read
helper and the exactly-once write helpers of :mod:`pyresque.backends.redis.aio.calls`).
One module per page: ``overview``, ``queues``, ``workers``, ``failed``, ``delayed``
(delayed items and recurring schedules), ``stats`` (INFO and the SCAN key browser).
Every read of a list is paged in Redis (LRANGE/ZRANGE/SCAN): no page loads a whole set.
Values are returned as bytes or as text decoded with ``backslashreplace`` (invalid
UTF-8 is shown, never trusted), and templates escape them.
"""
