"""Checking the blocks that are data, not programs: yaml, json, toml, ini, text.

- yaml / json / toml: parsed (yaml.safe_load, json.loads, tomllib). A document that is a
  schedule (``schedule`` directive, or a mapping whose every value is a mapping with a
  ``class``) is written to a file of its kind and loaded by ``load_schedule_file``, the
  product's own loader; an unknown key in an entry fails. ``excerpt-of PATH``: the data
  is a subset of that file's (every key with the same value). ``shape failure-record``:
  the keys, in order, are those of a failure record a worker really writes.
- ini: parsed with configparser; ``systemd`` checks a unit (see :func:`check_systemd`).
- text: must say what it is with a directive (``tree``, ``exceptions``, ``hook-order``,
  ``output-of``), or be a console transcript (first line ``$ ...``), or be an
  ``excerpt-of`` a file (its non-blank lines appear in the file in order).
- js / javascript: syntax-checked by ``node --check`` (not run).
- ``file PATH`` writes any of these into the page's folder first (a schedule file a later
  shell block passes to ``pyresque scheduler``, a pyproject.toml ...).
"""

from __future__ import annotations

import configparser
import json
import re
import shlex
from typing import Any

import yaml

from tests.docs.blocks import ROOT, Block
from tests.docs.compat import tomllib
from tests.docs.page import PageRun
from tests.docs.text_checks import check_exceptions, check_hook_order, check_tree

_SUFFIX = {"yaml": ".yml", "yml": ".yml", "json": ".json", "toml": ".toml"}


def parse_data(block: Block, text: str) -> Any:
    """The block parsed in its language."""
    try:
        if block.lang in ("yaml", "yml"):
            return yaml.safe_load(text)
        if block.lang == "json":
            return json.loads(text)
        if block.lang == "toml":
            return tomllib.loads(text)
    except Exception as exc:
        raise AssertionError(f"{block.id}: not valid {block.lang}: {exc}") from None
    raise AssertionError(f"{block.id}: no parser for {block.lang}")


def is_schedule(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(v, dict) and "class" in v for v in data.values())
    )


def run_data(run: PageRun, block: Block) -> None:
    """A yaml, json or toml block (see the module docstring)."""
    text = run.rewrite(block.text)
    data = parse_data(block, text)
    file = block.directive("file")
    if file is not None:
        run.write(file.args.split()[0], text)
    if block.directive("schedule") is not None or is_schedule(data):
        _load_schedule(run, block, text)
    excerpt = block.directive("excerpt-of")
    if excerpt is not None:
        whole = parse_data(block, (ROOT / excerpt.args.split()[0]).read_text())
        _subset(block, data, whole, excerpt.args.split()[0])
    shape = block.directive("shape")
    if shape is not None:
        if shape.args.strip() != "failure-record":
            raise AssertionError(f"{block.id}: unknown shape {shape.args!r}")
        _failure_record_shape(block, data)


def _load_schedule(run: PageRun, block: Block, text: str) -> None:
    from pyresque.core.scheduling import load_schedule_file

    path = run.write(f".doc-test-schedule-{block.line}{_SUFFIX[block.lang]}", text)
    schedules = load_schedule_file(path)
    for schedule in schedules:
        unknown = schedule.unknown_keys()
        if unknown:
            raise AssertionError(f"{block.id}: schedule {schedule.name!r}: unknown keys {unknown}")


def _subset(block: Block, part: Any, whole: Any, where: str, path: str = "") -> None:
    if isinstance(part, dict):
        if not isinstance(whole, dict):
            raise AssertionError(f"{block.id}: {path or 'the top'} is not a table in {where}")
        for key, value in part.items():
            if key not in whole:
                raise AssertionError(f"{block.id}: {path}{key} is not in {where}")
            _subset(block, value, whole[key], where, f"{path}{key}.")
    elif part != whole:
        raise AssertionError(f"{block.id}: {path.rstrip('.')} is {part!r} here, {whole!r} in {where}")


def _failure_record_shape(block: Block, data: Any) -> None:
    """The documented record has a real record's keys, in order (payload's too)."""
    from pyresque import Resque
    from pyresque.testing import drain

    app = Resque("fakeredis://doc-test-failure-shape")
    try:

        def explode(width: int) -> None:
            raise ValueError("bad width")

        app.job(explode, name="Image::Resize")
        app.enqueue("high", "Image::Resize", 100)
        drain(app, raise_errors=False)
        raw = app.backend.client.lindex("resque:failed", -1)  # type: ignore[attr-defined]
        real = json.loads(raw)
        app.backend.client.flushall()  # type: ignore[attr-defined]
    finally:
        app.close()
    if list(data) != list(real):
        raise AssertionError(f"{block.id}: keys {list(data)}, a real record has {list(real)}")
    documented, really = list(data["payload"]), list(real["payload"])
    if documented != really:
        raise AssertionError(f"{block.id}: payload keys {documented}, a real record's {really}")
    for key, value in real.items():
        if type(data[key]) is not type(value):
            kind, real_kind = type(data[key]).__name__, type(value).__name__
            raise AssertionError(f"{block.id}: {key} is a {kind}, really a {real_kind}")


def run_ini(run: PageRun, block: Block) -> None:
    """An ini block: parsed; a systemd unit is checked."""
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(block.text)
    except configparser.Error as exc:
        raise AssertionError(f"{block.id}: not a valid ini file: {exc}") from None
    if block.directive("systemd") is not None or parser.has_section("Service"):
        check_systemd(block, parser)


def check_systemd(block: Block, unit: configparser.ConfigParser) -> None:
    """A systemd unit running a pyresque command: the command line parses, the environment
    variables are ones the command reads, reload and stop use the right signals and a stop
    waits longer than the graceful TERM lets a job run."""
    import click

    from pyresque.cli import main

    service = unit["Service"]
    start = shlex.split(service.get("ExecStart", ""))
    if not start:
        raise AssertionError(f"{block.id}: no ExecStart")
    words: list[str] | None = None
    if start[0].endswith("pyresque"):
        words = start[1:]
    elif start[1:3] == ["-m", "pyresque"]:
        words = start[3:]
    if words is None:
        raise AssertionError(f"{block.id}: ExecStart does not run pyresque: {start}")
    assert isinstance(main, click.Group)
    command = main.commands.get(words[0]) if words else None
    if command is None:
        raise AssertionError(f"{block.id}: ExecStart: no pyresque command {words[:1]}")
    try:
        ctx = command.make_context(words[0], words[1:])
    except click.ClickException as exc:
        raise AssertionError(f"{block.id}: ExecStart: {exc.format_message()}") from None
    readable = {e for p in command.params for e in _envvars(p)}
    for assignment in shlex.split(service.get("Environment", "")):
        name = assignment.partition("=")[0]
        if name not in readable:
            raise AssertionError(f"{block.id}: pyresque {words[0]} does not read {name}")
    reload = service.get("ExecReload", "")
    if reload and not re.search(r"(-s\s*|-)(SIG)?QUIT\b", reload):
        raise AssertionError(f"{block.id}: ExecReload must send QUIT (finish the job, then exit): {reload}")
    kill = service.get("KillSignal", "SIGTERM").removeprefix("SIG")
    if kill not in ("TERM", "QUIT"):
        raise AssertionError(f"{block.id}: KillSignal={kill}: a worker stops on TERM or QUIT")
    grace = ctx.params.get("graceful_term")
    stop = float(service.get("TimeoutStopSec", "90").rstrip("s"))
    if kill == "TERM" and grace is not None and stop <= grace:
        raise AssertionError(f"{block.id}: TimeoutStopSec={stop} kills before --graceful-term {grace} ends")


def _envvars(param: Any) -> list[str]:
    env = getattr(param, "envvar", None)
    if env is None:
        return []
    return [env] if isinstance(env, str) else list(env)


def run_text(run: PageRun, block: Block) -> None:
    """A text block: what it is must be said (see the module docstring)."""
    from tests.docs.shell import Command, _check_output, run_shell

    if block.text.startswith("$ "):
        run_shell(run, block)
    elif block.directive("tree") is not None:
        check_tree(block, block.directive("tree").args.split()[0])  # type: ignore[union-attr]
    elif block.directive("exceptions") is not None:
        check_exceptions(block)
    elif block.directive("hook-order") is not None:
        check_hook_order(run, block)
    elif block.directive("output-of") is not None:
        import subprocess

        from tests.docs.shell import environment

        command = block.directive("output-of").args  # type: ignore[union-attr]
        proc = subprocess.run(
            ["bash", "-c", run.rewrite(command)],
            cwd=run.dir,
            env=environment(run),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            output = proc.stdout + proc.stderr
            raise AssertionError(f"{block.id}: {command!r} exited {proc.returncode}:\n{output}")
        expected = Command(block.line, command, block.text.rstrip("\n").split("\n"))
        _check_output(block.id, expected, run.rewrite, proc.stdout + proc.stderr)
    elif block.directive("excerpt-of") is not None:
        where = block.directive("excerpt-of").args.split()[0]  # type: ignore[union-attr]
        lines = iter((ROOT / where).read_text().split("\n"))
        for wanted in (line.strip() for line in block.text.split("\n") if line.strip()):
            if not any(wanted == line.strip() for line in lines):
                raise AssertionError(f"{block.id}: {wanted!r} is not in {where} (in this order)")
    else:
        raise AssertionError(
            f"{block.id}: a text block must say what it is: <!-- doc-test: tree ROOT -->, "
            "exceptions, hook-order, output-of COMMAND, excerpt-of PATH, or start with '$ command'"
        )


def run_javascript(run: PageRun, block: Block) -> None:
    """A js / javascript block (a node-resque side of an example): its syntax is checked
    with ``node --check``; it is not run (it would need node-resque and its own Redis)."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        raise AssertionError(f"{block.id}: a javascript block is checked with node, which is not installed")
    path = run.write(f".doc-test-{block.line}.js", block.text)
    proc = subprocess.run(
        [node, "--check", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"{block.id}: not valid javascript:\n{proc.stderr}")
