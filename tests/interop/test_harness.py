"""The interop harness itself: how it reports a machine without node."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.interop import node as harness

pytestmark = [pytest.mark.interop]


def test_missing_node_or_npm_raises_node_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without node/npm on PATH the installer raises NodeUnavailable (skip locally, fail in CI)."""
    monkeypatch.setattr(harness.shutil, "which", lambda name: None)
    with pytest.raises(harness.NodeUnavailable, match="node and npm are needed"):
        harness.install_node_resque(tmp_path / "nodedir")


def test_installed_package_is_reused(node_modules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second install with the same spec reuses the folder and never calls npm."""

    def no_npm(*args: object, **kwargs: object) -> None:
        raise AssertionError("npm must not run again")

    monkeypatch.setattr(harness.subprocess, "run", no_npm)
    assert harness.install_node_resque(node_modules.parent) == node_modules
    assert (node_modules / "node-resque" / "package.json").is_file()


def test_preinstalled_package_is_accepted_without_npm(
    node_modules: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder where node-resque was installed by other means (CI) is used as is when its
    version matches the spec, and refused (npm runs) when it does not."""
    target = tmp_path / "pre"
    shutil.copytree(node_modules, target / "node_modules", symlinks=True)
    calls: list[object] = []

    def fake_npm(*args: object, **kwargs: object) -> object:
        calls.append(args)
        raise harness.subprocess.TimeoutExpired("npm", 1)

    monkeypatch.setattr(harness.subprocess, "run", fake_npm)
    assert harness.install_node_resque(target, "node-resque@9.7.1") == target / "node_modules"
    assert harness.install_node_resque(target, "node-resque@9") == target / "node_modules"
    assert calls == []
    with pytest.raises(harness.NodeUnavailable, match="did not complete"):
        harness.install_node_resque(target, "node-resque@8.2.0")
    assert len(calls) == 1
