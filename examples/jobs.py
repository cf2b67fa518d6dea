"""Example jobs: the module a worker loads with ``APP_INCLUDE=examples.jobs``.

It defines ``register(app)``, so the worker builds the app from its backend options
and this module only registers the jobs.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pyresque import Resque

log = logging.getLogger("examples.jobs")


class Greet:
    """A job class: ``perform`` gets the job's arguments."""

    def perform(self, name: str) -> str:
        log.warning("Hello, %s!", name)
        return f"greeted {name}"


class Resize:
    """A job with set_up and tear_down, php-resque style."""

    def set_up(self) -> None:
        self.started = time.monotonic()

    def perform(self, image: str, width: int) -> dict[str, Any]:
        time.sleep(0.01)
        return {"image": image, "width": width}

    def tear_down(self) -> None:
        log.warning("resized in %.3f s", time.monotonic() - self.started)


def add(a: int, b: int) -> int:
    """A plain function is a job too."""
    return a + b


class Flaky:
    """Fails, so the demo shows a failure record."""

    def perform(self, reason: str) -> None:
        raise RuntimeError(f"flaky job failed: {reason}")


def register(app: Resque) -> None:
    """Register the example jobs under Resque class names."""
    app.job(Greet, name="Greet")
    app.job(Resize, name="Image::Resize")
    app.job(add, name="add")
    app.job(Flaky, name="Flaky")
