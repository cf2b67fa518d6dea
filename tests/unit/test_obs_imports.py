"""``import pyresque`` (and the CLI) never imports prometheus_client or opentelemetry.

redis-py 8 imports the OpenTelemetry API itself when it is installed (its own
``redis.observability``): what redis brings is the baseline, pyresque adds nothing."""

from __future__ import annotations

import subprocess
import sys

from tests.worker_proc import ROOT

CHECK = (
    "import sys, redis;"
    "opt = lambda: {m for m in sys.modules if m.split('.')[0] in ('prometheus_client', 'opentelemetry')};"
    "base = opt();"
    "import pyresque, pyresque.cli, pyresque.observability;"
    "bad = sorted(opt() - base);"
    "assert not bad, bad"
)


def test_pyresque_imports_no_optional_dependency() -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
