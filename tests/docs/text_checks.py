"""Checks of text blocks that draw something of the code: a file tree, the exception tree,
the order of hooks around one job.

- ``tree ROOT``: each line is ``NAME[ NAME...]   description`` indented two spaces per
  level (a name ending in ``/`` is a folder); every named file exists under ROOT at that
  place, and every ``something.py`` a folder's description names exists in that folder.
- ``exceptions``: a tree drawn with ``├──``/``└──``; every name is a class exported by
  ``pyresque.core.errors`` (or a builtin at the top) whose parent in the drawing is one
  of its direct bases; ``(ValueError, ...)`` after a name are further bases; and every
  exception class of ``pyresque.core.errors`` is drawn.
- ``hook-order``: the hook names on the lines, in order, are hooks of
  ``pyresque.hooks.specs`` (or ``set_up``/``perform``/``tear_down``); a real forking
  worker (``pyresque worker --burst --mode fork``) calls the ones it runs in that order,
  and a line labelled ``worker:`` or ``child:`` names hooks that run in that process.
"""

from __future__ import annotations

import builtins
import re
from pathlib import Path

from tests.docs.blocks import ROOT, Block
from tests.docs.page import PageRun

_ENTRY = re.compile(r"^(?P<indent> *)(?P<names>\S+(?: \S+)*?)(?:\s{2,}(?P<description>.*))?$")


def check_tree(block: Block, root: str) -> None:
    """The ``tree`` directive (see the module docstring)."""
    base = ROOT / root
    stack: list[tuple[int, str]] = []  # (indent, folder relative to base) of the open folders
    last_indent, last_folder = -2, ""
    for offset, line in enumerate(block.text.rstrip("\n").split("\n")):
        where = f"{block.page}:{block.line + 1 + offset}"
        match = _ENTRY.match(line)
        if match is None or not line.strip():
            continue
        indent = len(match.group("indent"))
        if offset == 0 and match.group("names") == root.rstrip("/") + "/":
            last_indent = indent  # the root itself: its entries are one level in
            continue
        if indent > last_indent + 2:  # the description above, continued
            _mentioned(where, base, last_folder, line)
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        names = match.group("names").split(" ")
        for name in names:
            if not (base / parent / name).exists():
                raise AssertionError(f"{where}: {root}{parent}{name} does not exist")
        last_indent, last_folder = indent, ""
        if len(names) == 1 and names[0].endswith("/"):
            last_folder = parent + names[0]
            _mentioned(where, base, last_folder, match.group("description") or "")
            stack.append((indent, last_folder))


def _mentioned(where: str, base: Path, folder: str, text: str) -> None:
    """Every ``x.py`` a folder's description names is in that folder."""
    for name in re.findall(r"\b(\w+\.py)\b", text):
        if folder and not (base / folder / name).exists():
            raise AssertionError(f"{where}: {folder}{name} does not exist")


_DRAWN = re.compile(r"^(?P<lead>[│ ]*)(?:[├└]── )?(?P<name>[A-Za-z_]\w*)(?: \((?P<bases>[\w, ]+)\))?")


def check_exceptions(block: Block) -> None:
    """The ``exceptions`` directive (see the module docstring)."""
    from pyresque.core import errors

    stack: list[tuple[int, type]] = []
    drawn: set[type] = set()
    for offset, line in enumerate(block.text.rstrip("\n").split("\n")):
        where = f"{block.page}:{block.line + 1 + offset}"
        match = _DRAWN.match(line)
        if match is None or not line.strip():
            continue
        depth = len(match.group("lead")) // 4 + (1 if re.match(r"^[│ ]*[├└]", line) else 0)
        name = match.group("name")
        cls = getattr(errors, name, None) if depth or name != "BaseException" else BaseException
        if not isinstance(cls, type) or not issubclass(cls, BaseException):
            raise AssertionError(f"{where}: {name} is not an exception of pyresque.core.errors")
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack and stack[-1][1] not in cls.__bases__:
            raise AssertionError(f"{where}: {name} does not derive directly from {stack[-1][1].__name__}")
        for base in filter(None, (b.strip() for b in (match.group("bases") or "").split(","))):
            builtin = getattr(builtins, base, None)
            if not (isinstance(builtin, type) and issubclass(cls, builtin)):
                raise AssertionError(f"{where}: {name} is not a {base}")
        drawn.add(cls)
        stack.append((depth, cls))
    classes = {
        n: v for n, v in vars(errors).items() if isinstance(v, type) and v.__module__ == errors.__name__
    }
    missing = [n for n, v in classes.items() if issubclass(v, BaseException) and v not in drawn]
    if missing:
        raise AssertionError(f"{block.id}: not drawn: {', '.join(sorted(missing))}")


def check_hook_order(run: PageRun, block: Block) -> None:
    """The ``hook-order`` directive (see the module docstring)."""
    from pyresque.hooks import specs

    known = {n.removeprefix("pyresque_") for n in dir(specs) if n.startswith("pyresque_")}
    steps = {"set_up", "perform", "tear_down"}
    documented: list[tuple[str, str]] = []  # (hook or step, "worker" / "child" / "")
    for line in block.text.split("\n"):
        label = re.match(r"^\s*(worker|child):", line)
        text = line.split("|", 1)[0]
        text = text if "->" in text else text.split("(", 1)[0]
        for word in re.findall(r"\b[a-z_]+\b", text[label.end() :] if label else text):
            if word in known or word in steps:
                documented.append((word, label.group(1) if label else ""))
    unknown = [w for w in re.findall(r"\b(?:before|after|on)_[a-z_]+\b", block.text) if w not in known]
    if unknown:
        raise AssertionError(f"{block.id}: not hooks: {unknown}")
    seen, worker_pid = _record_hooks(run)
    names = [name for name, _ in seen]
    ran = [name for name, _ in documented if name in names]
    if ran != [name for name in names if name in ran]:
        raise AssertionError(f"{block.id}: documented order {ran}, a forking worker calls {names}")
    runs = [(name, pid) for name, pid in seen if name in ran]  # aligned with ran, checked above
    for (name, label), (_, pid) in zip([d for d in documented if d[0] in names], runs, strict=True):
        where = "worker" if pid == worker_pid else "child"
        if label and label != where:
            raise AssertionError(f"{block.id}: {name} is documented in the {label}, it runs in the {where}")


_RECORDER = """
import os
from pyresque import Resque, hookimpl

def note(name):
    with open(os.environ["DOC_TEST_HOOK_LOG"], "a") as log:
        log.write(f"{name} {os.getpid()}\\n")

class Recorder:
    @hookimpl
    def pyresque_before_first_fork(self): note("before_first_fork")
    @hookimpl
    def pyresque_before_fork(self): note("before_fork")
    @hookimpl
    def pyresque_after_fork(self): note("after_fork")
    @hookimpl
    def pyresque_before_perform(self): note("before_perform")
    @hookimpl(wrapper=True)
    def pyresque_perform(self):
        note("perform")  # the wrappers enter
        return (yield)
    @hookimpl
    def pyresque_after_perform(self): note("after_perform")
    @hookimpl
    def pyresque_worker_exit(self): note("worker_exit")

app = Resque(os.environ["REDIS_URL"], plugins=[Recorder()])

@app.job(name="Doc::HookOrder")
class Job:
    def set_up(self): note("set_up")
    def perform(self): note("perform")
    def tear_down(self): note("tear_down")
"""


def _record_hooks(run: PageRun) -> tuple[list[tuple[str, int]], int]:
    """The hooks and job steps a real forking worker (``pyresque worker --burst``) runs for
    one job, in order, each with the pid that ran it; and the worker's pid."""
    import subprocess

    from pyresque import Resque
    from tests.docs.shell import environment

    folder = run.dir / ".doc-test-hook-order"
    folder.mkdir(exist_ok=True)
    (folder / "hookorder_jobs.py").write_text(_RECORDER, encoding="utf-8")
    log = folder / "calls.log"
    log.unlink(missing_ok=True)
    client = Resque(run.url(0))
    try:
        client.enqueue("doc-hook-order", "Doc::HookOrder")
    finally:
        client.close()
    env = dict(environment(run), DOC_TEST_HOOK_LOG=str(log))
    command = "pyresque worker --burst --mode fork -q doc-hook-order --app-include hookorder_jobs"
    proc = subprocess.Popen(
        command.split(),
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = proc.communicate(timeout=60)
    if proc.returncode != 0:
        text = output.decode(errors="replace")
        raise AssertionError(f"the hook-order worker exited {proc.returncode}: {text}")
    seen = [(name, int(pid)) for name, pid in (line.split() for line in log.read_text().splitlines())]
    return seen, proc.pid
