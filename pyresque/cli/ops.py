"""Operator commands (info, queues, workers, failed ...): filled in by the CLI issue."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
