"""Running shell blocks (sh, bash, shell, console) and checking what commands print.

Each command (``\\`` continuations joined, blank and comment lines dropped; in console
blocks the lines starting with ``$ ``) runs with ``bash -c`` in the page's folder, with
the venv's ``bin`` first on ``PATH``, ``REDIS_URL`` pointing at the page's test database
and the Resque variables of the calling environment removed. It must exit 0 (or the
``exit N`` directive's status) within 60 s.

Commands that never end are refused unless a directive says what to do with them:
``pyresque worker`` without ``--burst``, ``pyresque scheduler``, ``pyresque web`` and
``pyresque metrics`` without ``--once``. ``burst`` appends
``--burst`` to workers (they drain their queues and exit); ``background [SECONDS]
[until EXPR]`` starts them, waits SECONDS (default 1) or until the Python expression EXPR
is true (evaluated in the page's namespace plus ``db``, a redis-py client on the page's
database; SECONDS is then the time limit, default 20), then sends QUIT (TERM to the web
and metrics servers) and wants exit 0. The time starts once the process has a handler
for that signal (``/proc/PID/status``), so a slow start never turns it into a kill; bash
``exec``s the command so the signal reaches it.

Commands that must not run here are validated instead: ``pip install`` (the project's
extras exist, a local path is a package), ``./dev CMD`` (the script handles CMD),
``python -m bench.X ...`` (benchmarks take long: the module's ``--help`` works and names
every ``--option`` given).

In a console block, the lines after a ``$ command`` up to the next ``$`` are its expected
output (stdout and stderr together): compared line by line after the same URL rewrite,
where ``...`` inside a line matches any text and a line that is only ``...`` matches any
number of lines. With no output lines under it, a command's output is not checked.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tests.docs.blocks import ROOT, Block
from tests.docs.compat import tomllib
from tests.docs.page import PageRun

VENV_BIN = Path(sys.executable).parent
#: the calling environment's variables that would steer a command elsewhere
_CLEARED = frozenset(
    {
        *("REDIS_URL", "REDIS_BACKEND", "REDIS_BACKEND_DB", "QUEUE", "QUEUES", "APP_INCLUDE"),
        *("PREFIX", "COUNT", "INTERVAL", "PIDFILE", "LOGGING", "VERBOSE", "VVERBOSE", "BLOCKING"),
        *("SCHEDULE_FILE", "FAILURE_BACKEND", "BURST", "PYRESQUE_DISABLE_PLUGINS"),
        *("DYNAMIC_SCHEDULE", "MISSED_TICKS", "LOCK_TIMEOUT", "LOCK_STYLE"),
    }
)
TIMEOUT = 60.0


@dataclass
class Command:
    """One command of a shell block, and what it is documented to print (console blocks)."""

    line: int
    text: str
    expected: list[str] | None = None
    tokens: list[str] = field(default_factory=list)


def commands(block: Block) -> list[Command]:
    """The block's commands (see the module docstring)."""
    console = block.lang == "console" or block.text.startswith("$ ")
    found: list[Command] = []
    lines = block.text.rstrip("\n").split("\n")
    i = 0
    while i < len(lines):
        raw, number = lines[i], block.line + 1 + i
        i += 1
        if console and not raw.startswith("$ "):
            if found:
                assert found[-1].expected is not None
                found[-1].expected.append(raw.rstrip())
            elif raw.strip():
                raise AssertionError(f"{block.page}:{number}: output before any '$ ' command")
            continue
        text = raw[2:] if console else raw
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        while text.endswith("\\") and i < len(lines):
            text = text[:-1] + " " + lines[i].lstrip().removeprefix("> ")
            i += 1
        found.append(Command(number, text, [] if console else None))
    for command in found:
        if command.expected is not None:
            while command.expected and not command.expected[-1].strip():
                command.expected.pop()
        try:
            command.tokens = shlex.split(command.text, comments=True)
        except ValueError as exc:
            where = f"{block.page}:{command.line}"
            raise AssertionError(f"{where}: cannot read {command.text!r}: {exc}") from None
    return found


def environment(run: PageRun) -> dict[str, str]:
    """The environment commands of the page run in."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["REDIS_URL"] = run.url(0)
    env.pop("PYTHONPATH", None)
    return env


def _program(tokens: list[str]) -> list[str]:
    """The words after the leading ``VAR=value`` assignments (and ``env``)."""
    words = list(tokens)
    while words and (re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]) or words[0] == "env"):
        words.pop(0)
    return words


def _subcommand(tokens: list[str]) -> str | None:
    """``worker`` for ``pyresque worker ...`` / ``python -m pyresque worker``; else None."""
    words = _program(tokens)
    if words[:1] and Path(words[0]).name == "pyresque":
        rest = words[1:]
    elif len(words) >= 3 and Path(words[0]).name.startswith("python") and words[1:3] == ["-m", "pyresque"]:
        rest = words[3:]
    else:
        return None
    while rest and rest[0].startswith("-"):  # global options before the sub-command
        rest = rest[2:] if rest[0] in ("--redis", "-r", "--backend", "--prefix", "--namespace") else rest[1:]
    return rest[0] if rest else ""


def long_running(tokens: list[str]) -> bool:
    """A command that runs until told to stop."""
    sub = _subcommand(tokens)
    if {"--help", "-h", "--version"} & set(tokens):
        return False
    return (
        (sub == "worker" and "--burst" not in tokens)
        or sub in ("scheduler", "web")
        or (sub == "metrics" and "--once" not in tokens)
    )


def stop_signal(tokens: list[str]) -> signal.Signals:
    """How a long-running command is stopped: QUIT for Resque's worker and scheduler (finish,
    then exit), TERM for the servers (``pyresque web``, ``pyresque metrics``)."""
    return signal.SIGQUIT if _subcommand(tokens) in ("worker", "scheduler") else signal.SIGTERM


def run_shell(run: PageRun, block: Block) -> None:
    """Run (or validate) every command of a shell or console block."""
    status = int(block.directive("exit").args) if block.directive("exit") else 0  # type: ignore[union-attr]
    for command in commands(block):
        where = f"{block.page}:{command.line}"
        program = _program(command.tokens)
        if "..." in command.tokens:
            raise AssertionError(f"{where}: {command.text!r} is not a runnable command ('...')")
        if _validated(where, program):
            continue
        text = run.rewrite(command.text)
        if long_running(command.tokens) and status == 0:  # a nonzero ``exit N``: it refuses, and ends
            if block.directive("burst") is not None and _subcommand(command.tokens) == "worker":
                text = shlex.join([*shlex.split(text, comments=True), "--burst"])
            elif block.directive("background") is not None:
                output = _background(run, block, text, where, stop_signal(command.tokens))
                _check_output(where, command, run.rewrite, output)
                continue
            elif block.directive("burst") is not None:
                raise AssertionError(f"{where}: {command.text!r}: burst is for workers; use background")
            else:
                raise AssertionError(
                    f"{where}: {command.text!r} runs until stopped: put <!-- doc-test: burst --> "
                    "or <!-- doc-test: background ... --> before the block"
                )
        proc = subprocess.run(
            ["bash", "-c", text],
            cwd=run.dir,
            env=environment(run),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=TIMEOUT,
            check=False,
        )
        output = proc.stdout.decode("utf-8", "replace")
        if proc.returncode != status:
            raise AssertionError(f"{where}: {text!r} exited {proc.returncode}, not {status}:\n{output}")
        _check_output(where, command, run.rewrite, output)


_ASSIGNMENTS = re.compile(r"""^\s*(?:[A-Za-z_]\w*=(?:'[^']*'|"[^"]*"|[^\s'"])*\s+)*""")
READY_TIMEOUT = 30.0


def _exec_form(text: str) -> str:
    """``A=1 cmd ...`` -> ``A=1 exec cmd ...``: bash replaces itself, so QUIT reaches ``cmd``."""
    lead = _ASSIGNMENTS.match(text)
    cut = lead.end() if lead else 0
    return f"{text[:cut]}exec {text[cut:]}"


def catches(pid: int, sig: signal.Signals) -> bool | None:
    """Whether the process has a handler installed for ``sig`` (Linux ``/proc``); None: unknown."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    except OSError:
        return None
    return None


def _background(run: PageRun, block: Block, text: str, where: str, stop: signal.Signals) -> str:
    """Start a long-running command, let it work, QUIT it; its output (see the module docstring).

    The time (or the condition) starts once the process catches QUIT, so a slow start on
    a loaded machine never turns the QUIT into a kill."""
    import tempfile

    directive = block.directive("background")
    assert directive is not None
    seconds_text, _, condition = directive.args.partition("until")
    seconds = float(seconds_text) if seconds_text.strip() else (20.0 if condition else 1.0)
    with tempfile.TemporaryFile() as sink:
        proc = subprocess.Popen(
            ["bash", "-c", _exec_form(text)],
            cwd=run.dir,
            env=environment(run),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            ready_by = time.monotonic() + READY_TIMEOUT
            while proc.poll() is None and catches(proc.pid, stop) is False and time.monotonic() < ready_by:
                time.sleep(0.02)
            deadline = time.monotonic() + seconds
            scope = dict(run.namespace, db=run.client(0))
            while time.monotonic() < deadline and proc.poll() is None:
                if condition.strip() and eval(condition, scope):
                    break
                time.sleep(0.05)
            else:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"{where}: {text!r} ended by itself ({proc.returncode}):\n{_read(sink)}"
                    )
                if condition.strip():
                    raise AssertionError(f"{where}: {condition.strip()!r} still false after {seconds} s")
            proc.send_signal(stop)
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        output = _read(sink)
    if proc.returncode != 0:
        raise AssertionError(f"{where}: {text!r} exited {proc.returncode} after {stop.name}:\n{output}")
    return output


def _read(sink: IO[bytes]) -> str:
    sink.seek(0)
    return sink.read().decode("utf-8", "replace")


def _check_output(where: str, command: Command, rewrite: object, output: str) -> None:
    if not command.expected:
        return
    assert callable(rewrite)
    expected = [str(rewrite(line)) for line in command.expected]
    actual = [line.rstrip() for line in output.rstrip("\n").split("\n")] if output.strip() else []
    if not matches(expected, actual):
        raise AssertionError(
            f"{where}: {command.text!r} printed\n"
            + "\n".join(actual)
            + "\n--- documented:\n"
            + "\n".join(expected)
        )


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line-by-line match with ``...`` elision (see the module docstring)."""
    memo: dict[tuple[int, int], bool] = {}

    def line_ok(pattern: str, line: str) -> bool:
        if "..." not in pattern:
            return pattern.rstrip() == line
        regex = ".*".join(re.escape(part) for part in pattern.rstrip().split("..."))
        return re.fullmatch(regex, line) is not None

    def go(i: int, j: int) -> bool:
        if (i, j) in memo:
            return memo[i, j]
        if i == len(expected):
            result = j == len(actual)
        elif expected[i].strip() == "...":
            result = go(i + 1, j) or (j < len(actual) and go(i, j + 1))
        else:
            result = j < len(actual) and line_ok(expected[i], actual[j]) and go(i + 1, j + 1)
        memo[i, j] = result
        return result

    return go(0, 0)


def _validated(where: str, program: list[str]) -> bool:
    """Check (without running) the commands that must not run here; True if it was one."""
    if not program:
        return False
    name = Path(program[0]).name
    if name in ("pip", "pip3") and program[1:2] == ["install"]:
        _check_pip(where, program[2:])
        return True
    if name.startswith("python") and program[1:4] == ["-m", "pip", "install"]:
        _check_pip(where, program[4:])
        return True
    module = program[2] if name.startswith("python") and program[1:2] == ["-m"] and program[2:] else ""
    if module.startswith("bench."):
        _check_bench(where, module, program[3:])
        return True
    if program[0] == "./dev":
        script = (ROOT / "dev").read_text()
        sub = program[1] if len(program) > 1 else ""
        if not re.search(rf"^\s*{re.escape(sub)}\)", script, re.M):
            raise AssertionError(f"{where}: ./dev has no sub-command {sub!r}")
        for arg in program[2:]:
            if not arg.startswith("-") and "/" in arg and not (ROOT / arg).exists():
                raise AssertionError(f"{where}: {arg} does not exist")
        return True
    return False


def _check_bench(where: str, module: str, args: list[str]) -> None:
    """A benchmark is not run here (it takes long): the module exists, ``--help`` works,
    and every ``--option`` given is one it offers."""
    path = ROOT / (module.replace(".", "/") + ".py")
    if not path.is_file():
        raise AssertionError(f"{where}: no benchmark module {module} ({path.relative_to(ROOT)})")
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        raise AssertionError(f"{where}: python -m {module} --help exited {proc.returncode}:\n{proc.stderr}")
    for option in (a.split("=", 1)[0] for a in args if a.startswith("--")):
        if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", proc.stdout):
            raise AssertionError(f"{where}: python -m {module} has no option {option}")


def _check_pip(where: str, args: list[str]) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for arg in args:
        if arg.startswith("-"):
            continue
        if arg.startswith((".", "/")):
            folder = ROOT / arg
            if not ((folder / "pyproject.toml").is_file() or (folder / "setup.py").is_file()):
                raise AssertionError(f"{where}: {arg} is not a package folder")
            continue
        match = re.fullmatch(r"(?P<name>[A-Za-z0-9_.-]+)(?:\[(?P<extras>[^\]]*)\])?(?P<rest>.*)", arg)
        if match is None:
            raise AssertionError(f"{where}: cannot read the requirement {arg!r}")
        if match.group("name").lower() == project["name"]:
            for extra in filter(None, (e.strip() for e in (match.group("extras") or "").split(","))):
                if extra not in project.get("optional-dependencies", {}):
                    raise AssertionError(f"{where}: pyresque has no extra {extra!r}")
