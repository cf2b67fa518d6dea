"""``pyresque scheduler`` (being built)."""

from __future__ import annotations

import click


@click.command()
def scheduler() -> None:
    """Run the scheduler (not built yet)."""
    raise click.ClickException("the scheduler is not built yet")
