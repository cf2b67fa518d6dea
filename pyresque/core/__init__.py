"""The engine: app, jobs, registry, statuses, failures; independent of Redis."""
