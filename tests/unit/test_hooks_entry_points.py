"""The example plugin in docs/, installed by pip as a package, found through its entry point.

The wheel is assembled here from ``docs/example_plugin/pyproject.toml`` (the machine's
setuptools cannot build wheels offline); pip then installs it with ``--target`` into a
throwaway directory put on ``sys.path``, exactly as an installed distribution.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import logging
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyresque import Resque
from pyresque.core.worker import Worker
from pyresque.hooks.manager import HookManager

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - depends on the interpreter
    import tomli as tomllib

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "example_plugin"


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def build_wheel(src: Path, out: Path) -> Path:
    """A pure-Python wheel of the project at ``src`` (metadata and entry points from its pyproject)."""
    project = tomllib.loads((src / "pyproject.toml").read_text(encoding="utf-8"))
    meta = project["project"]
    dist_name = meta["name"].replace("-", "_")
    dist_info = f"{dist_name}-{meta['version']}.dist-info"
    files: dict[str, bytes] = {}
    for package in project["tool"]["setuptools"]["packages"]:
        for source in sorted((src / package).rglob("*.py")):
            files[source.relative_to(src).as_posix()] = source.read_bytes()
    files[f"{dist_info}/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
        f"Summary: {meta['description']}\n"
    ).encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    groups = meta.get("entry-points", {})
    files[f"{dist_info}/entry_points.txt"] = "".join(
        f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in eps.items()) + "\n"
        for group, eps in groups.items()
    ).encode()
    record = [_record_line(path, data) for path, data in files.items()] + [f"{dist_info}/RECORD,,"]
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = out / f"{dist_name}-{meta['version']}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example plugin pip-installed into a throwaway target directory on sys.path."""
    work = tmp_path_factory.mktemp("slowlog")
    wheel = build_wheel(EXAMPLE, work)
    target = work / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-index",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        timeout=120,
    )
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m.startswith("pyresque_slowlog")]:
            del sys.modules[name]
        importlib.invalidate_caches()


class Sleepy:
    """Sleeps for its argument, in seconds."""

    def perform(self, seconds: float) -> None:
        time.sleep(seconds)


def test_pip_installed_the_distribution_with_its_entry_point(installed: Path) -> None:
    """pip wrote a dist-info whose entry point names the plugin class."""
    import importlib.metadata as md

    (ep,) = [e for e in md.entry_points(group="pyresque") if e.name == "slowlog"]
    assert ep.value == "pyresque_slowlog:SlowLog"
    assert md.distribution("pyresque-slowlog").version == "0.1.0"
    assert (installed / "pyresque_slowlog" / "__init__.py").exists()


def test_the_entry_point_is_loaded_and_logs_slow_jobs(
    installed: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An app loading entry points gets 'slowlog'; it times jobs and warns about slow ones."""
    app = Resque("fakeredis://", load_entry_points=True)
    plugin: Any = app.plugins.pm.get_plugin("slowlog")
    assert type(plugin).__name__ == "SlowLog"
    plugin.threshold = 0.05
    app.job(Sleepy, name="Sleepy")
    app.enqueue("q", "Sleepy", 0)
    app.enqueue("q", "Sleepy", 0.1)
    with caplog.at_level(logging.WARNING, logger="pyresque_slowlog"):
        Worker(app, "q", mode="inprocess", burst=True, heartbeat_interval=0).work()
    assert [t[0] for t in plugin.timings] == ["Sleepy", "Sleepy"]
    fast, slow = plugin.timings
    assert fast[2] < 0.05 <= slow[2]
    warnings = [r.getMessage() for r in caplog.records if r.name == "pyresque_slowlog"]
    assert len(warnings) == 1 and "slow job Sleepy" in warnings[0]


def test_the_environment_variable_blocks_the_plugin(installed: Path) -> None:
    """PYRESQUE_DISABLE_PLUGINS=slowlog (read by the CLI, passed as blocked) keeps it out."""
    blocked = HookManager.blocked_from_env({"PYRESQUE_DISABLE_PLUGINS": "slowlog"})
    app = Resque("fakeredis://", load_entry_points=True, blocked_plugins=blocked)
    assert app.plugins.pm.get_plugin("slowlog") is None and "slowlog" not in app.plugins.names()
    assert Resque("fakeredis://").plugins.pm.get_plugin("slowlog") is None  # not loaded unless asked


@pytest.mark.redis
@pytest.mark.parametrize("disabled", [False, True])
def test_the_worker_command_loads_the_plugin_unless_disabled(
    installed: Path, redis_url: str, tmp_path: Path, disabled: bool
) -> None:
    """`pyresque worker` loads entry points; PYRESQUE_DISABLE_PLUGINS=slowlog keeps it out."""
    from tests.worker_proc import ROOT, start_worker, stop

    app = Resque(redis_url)
    app.enqueue("q", "sleeper", 1.05)
    app.close()
    log = tmp_path / "worker.log"
    env = {"PYTHONPATH": f"{installed}{os.pathsep}{ROOT}"}
    if disabled:
        env["PYRESQUE_DISABLE_PLUGINS"] = "pyresque.retry, slowlog"
    proc = start_worker(redis_url, "q", "--burst", "--mode", "inprocess", env=env, log=log)
    assert stop(proc, 60) == 0
    text = log.read_text(encoding="utf-8", errors="replace")
    assert ("slow job sleeper" in text) is not disabled, text[-2000:]
