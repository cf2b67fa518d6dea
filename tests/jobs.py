"""Importable job fixtures (workers resolve jobs by name, so tests need real modules)."""

from __future__ import annotations

from typing import Any

from pyresque import Resque


class Add:
    """Adds its two arguments."""

    def perform(self, a: int, b: int) -> int:
        return a + b


class Echo:
    """Returns its arguments."""

    def perform(self, *args: Any) -> list[Any]:
        return list(args)


def noop(*args: Any) -> None:
    """Does nothing (benchmarks, drains)."""


class Boom:
    """Always fails."""

    def perform(self, *args: Any) -> None:
        raise RuntimeError("boom é/x")


def register_all(app: Resque) -> None:
    """Register every fixture job on ``app``."""
    app.job(Add, name="Add")
    app.job(Echo, name="Echo")
    app.job(noop, name="noop")
    app.job(Boom, name="Boom")
