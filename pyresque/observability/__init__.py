"""Observability for pyresque: Prometheus metrics, an exporter reading Redis,
OpenTelemetry tracing, daily/per-minute history and JSON logs.

Nothing here is imported by ``import pyresque``; each module imports its optional
dependency (``prometheus_client``, ``opentelemetry``) itself, so install the extra
it needs (``pyresque[metrics]``, ``pyresque[tracing]``) before importing it.

Where to start:

- :mod:`pyresque.observability.metrics`: :class:`~pyresque.observability.metrics.PrometheusMetrics`,
  the worker/client plugin (fork-safe through a multiprocess directory);
- :mod:`pyresque.observability.exporter`: metrics read from Redis on each scrape
  (every language's workers), and the ``/metrics`` ASGI app;
- :mod:`pyresque.observability.tracing`: the OpenTelemetry plugin;
- :mod:`pyresque.observability.history`: daily and per-minute counters in Redis;
- :mod:`pyresque.observability.jsonlog`: a one-object-per-line log formatter;
- :mod:`pyresque.observability.labels`: how a payload's class name becomes a bounded label.

The worker-side plugins see each job through the ``pyresque_job_started`` hook (a
plain call and a finisher, no pluggy wrapper: it runs for every job); what each costs
per job is measured by ``bench/bench_observability.py`` (figures in
``docs/observability.md``, "What it costs").

See ``docs/observability.md``.
"""
