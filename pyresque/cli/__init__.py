"""The ``pyresque`` command: parsing and wiring only (the one place that reads env vars)."""

from __future__ import annotations

import click

from pyresque._version import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pyresque")
def main() -> None:
    """pyresque: Resque for Python."""


def _register() -> None:
    from pyresque.cli import ops, scheduler, worker

    main.add_command(worker.worker)
    main.add_command(scheduler.scheduler)
    for command in ops.COMMANDS:
        main.add_command(command)


_register()
