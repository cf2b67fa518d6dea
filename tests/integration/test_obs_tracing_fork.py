"""A trace across enqueue -> fork-mode worker -> retry (in-memory exporter on the client,
a file exporter in the worker's children, which are other processes)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from pyresque import Resque
from pyresque.observability.tracing import TracingPlugin
from tests.worker_proc import start_worker, stop

pytestmark = pytest.mark.redis

APP = textwrap.dedent(
    """
    import os
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    from pyresque import Resque
    from pyresque.observability.tracing import TracingPlugin
    import tests.worker_jobs as jobs

    out = open(os.environ["OBS_SPANS"], "a")
    provider = TracerProvider()
    provider.add_span_processor(  # batched: a child's spans are flushed before it exits
        BatchSpanProcessor(ConsoleSpanExporter(out=out, formatter=lambda s: s.to_json(indent=None) + "\\n"))
    )
    app = Resque(os.environ["OBS_REDIS"], plugins=[TracingPlugin(provider, style=os.environ["OBS_STYLE"])])
    jobs.register(app)

    class Flaky:
        retry_limit = 2
        retry_delay = 0

        def perform(self, marker):
            if not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError("first run fails")

    app.job(Flaky, name="Flaky")
    """
)


@pytest.mark.parametrize("style", ["link", "child"])
def test_a_trace_crosses_a_fork_mode_worker_and_a_retry(redis_url: str, tmp_path: Path, style: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = Resque(redis_url, plugins=[TracingPlugin(provider, style=style)])
    client.enqueue("obs", "Flaky", str(tmp_path / "marker"))
    client.enqueue("obs", "noop")
    client.close()
    (app_file := tmp_path / "obs_app.py").write_text(APP)
    spans_file = tmp_path / "spans.jsonl"
    env = {"OBS_REDIS": redis_url, "OBS_SPANS": str(spans_file), "OBS_STYLE": style}
    args = ["--burst", "--mode", "fork", "--app-include", str(app_file)]
    proc = start_worker(redis_url, "obs", *args, env=env)
    assert stop(proc, timeout=60) == 0
    sends = exporter.get_finished_spans()
    assert [s.name for s in sends] == ["obs send", "obs send"]
    flaky_send = sends[0]
    processed = [json.loads(line) for line in spans_file.read_text().splitlines()]
    flaky = [s for s in processed if s["attributes"]["messaging.resque.job_class"] == "Flaky"]
    assert [s["name"] for s in flaky] == ["obs process", "obs process"]  # the run and its retry
    assert [s["status"]["status_code"] for s in flaky] == ["ERROR", "UNSET"]
    send_span = f"0x{flaky_send.context.span_id:016x}"
    send_trace = f"0x{flaky_send.context.trace_id:032x}"
    for span in flaky:
        assert span["kind"] == "SpanKind.CONSUMER"
        if style == "link":
            assert span["parent_id"] is None
            assert [link["context"]["span_id"] for link in span["links"]] == [send_span]
        else:
            assert span["parent_id"] == send_span
            assert span["context"]["trace_id"] == send_trace
    assert len(processed) == 3
