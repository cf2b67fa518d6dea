"""The asyncio Redis backend: the reference backend's keys, scripts and bytes, awaited.

``connection.py`` builds the ``redis.asyncio`` client from a backend URL (or from a sync
client); the stores follow the sync modules one for one.
"""
