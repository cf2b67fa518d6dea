"""``pyresque worker`` (being built)."""

from __future__ import annotations

import click


@click.command()
def worker() -> None:
    """Run a worker (not built yet)."""
    raise click.ClickException("the worker is not built yet")
