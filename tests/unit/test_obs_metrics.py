"""The Prometheus plugin in one process (fakeredis, in-process worker)."""

from __future__ import annotations

import time
import uuid

import pytest

pytest.importorskip("prometheus_client")

from prometheus_client import CollectorRegistry

from pyresque import Resque
from pyresque.core.worker import Worker
from pyresque.observability.labels import OTHER, UNKNOWN, ClassLabels
from pyresque.observability.metrics import PrometheusMetrics


def _value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def _ok(n: int) -> int:
    return n


def _bad() -> None:
    raise RuntimeError("no")


@pytest.fixture
def metered() -> tuple[Resque, PrometheusMetrics]:
    plugin = PrometheusMetrics()
    app = Resque(f"fakeredis://obs-metrics-{uuid.uuid4().hex}", plugins=[plugin])
    app.job(_ok, name="Ok")
    app.job(_bad, name="Bad")
    yield app, plugin
    app.close()


def _work(app: Resque) -> None:
    Worker(app, "q", mode="inprocess", burst=True).work()


def test_counts_outcomes_durations_and_enqueues(metered: tuple[Resque, PrometheusMetrics]) -> None:
    app, plugin = metered
    reg = plugin.registry
    assert reg is not None
    for n in range(3):
        app.enqueue("q", "Ok", n)
    app.enqueue("q", "Bad")
    _work(app)
    assert _value(reg, "resque_jobs_enqueued_total", queue="q", **{"class": "Ok"}) == 3
    assert _value(reg, "resque_jobs_processed_total", queue="q", outcome="success", **{"class": "Ok"}) == 3
    assert _value(reg, "resque_jobs_processed_total", queue="q", outcome="failure", **{"class": "Bad"}) == 1
    assert _value(reg, "resque_job_duration_seconds_count", queue="q", **{"class": "Ok"}) == 3
    assert _value(reg, "resque_job_duration_seconds_count", queue="q", **{"class": "Bad"}) == 1
    assert _value(reg, "resque_job_wait_seconds_count", queue="q") == 4
    assert _value(reg, "resque_jobs_in_progress") == 0
    assert _value(reg, "resque_jobs_retried_total") == 0


def test_unknown_classes_share_one_label(metered: tuple[Resque, PrometheusMetrics]) -> None:
    app, plugin = metered
    reg = plugin.registry
    assert reg is not None
    client = app.backend.client  # type: ignore[attr-defined]
    for i in range(5):  # payloads naming classes nobody registered (attacker-controlled)
        client.rpush("resque:queue:q", f'{{"class":"Evil{i}","args":[]}}')
    client.sadd("resque:queues", "q")
    _work(app)
    assert _value(reg, "resque_jobs_processed_total", queue="q", outcome="failure", **{"class": UNKNOWN}) == 5
    names = {s.labels.get("class") for m in reg.collect() for s in m.samples}
    assert not any(str(n).startswith("Evil") for n in names)


def test_wait_ignores_a_lying_queue_time(metered: tuple[Resque, PrometheusMetrics]) -> None:
    app, plugin = metered
    reg = plugin.registry
    assert reg is not None
    client = app.backend.client  # type: ignore[attr-defined]
    client.rpush("resque:queue:q", '{"class":"Ok","args":[1],"queue_time":1e300}')
    client.rpush("resque:queue:q", f'{{"class":"Ok","args":[1],"queue_time":{time.time() - 2}}}')
    client.sadd("resque:queues", "q")
    _work(app)
    assert _value(reg, "resque_job_wait_seconds_count", queue="q") == 1
    assert _value(reg, "resque_job_wait_seconds_sum", queue="q") >= 2


def test_class_labels_are_bounded() -> None:
    labels = ClassLabels(limit=2)
    assert labels("A") == "A" and labels("B") == "B" and labels("A") == "A"
    assert labels("C") == OTHER
    assert labels(None) == UNKNOWN
    assert ClassLabels()("x" * 1000) == "x" * 120


def test_two_apps_keep_their_own_registries() -> None:
    first, second = PrometheusMetrics(), PrometheusMetrics()
    assert first.registry is not second.registry


def test_a_metrics_directory_is_undone_on_exit() -> None:
    import os

    from prometheus_client import values

    from pyresque.observability.metrics import MetricsDirectory, multiprocess_registry

    before = (values.ValueClass, os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    with MetricsDirectory() as directory:
        plugin = PrometheusMetrics(multiprocess_dir=directory.path)
        app = Resque(f"fakeredis://obs-mp-{uuid.uuid4().hex}", plugins=[plugin])
        app.job(_ok, name="Ok")
        app.enqueue("q", "Ok", 1)
        _work(app)
        app.close()
        scraped = multiprocess_registry(directory.path)
        labels = {"queue": "q", "class": "Ok", "outcome": "success"}
        assert scraped.get_sample_value("resque_jobs_processed_total", labels) == 1
        assert os.listdir(directory.path)
    assert not os.path.exists(directory.path)
    assert (values.ValueClass, os.environ.get("PROMETHEUS_MULTIPROC_DIR")) == before
