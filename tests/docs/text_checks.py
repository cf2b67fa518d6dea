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
  ``pyresque.hooks.specs`` (or ``set_up``/``perform``/``tear_down``), and a real in-process
  worker calls the ones it runs in that order.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterator
from pathlib import Path

from tests.docs.blocks import ROOT, Block

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


def check_hook_order(block: Block) -> None:
    """The ``hook-order`` directive (see the module docstring)."""
    from pyresque.hooks import specs

    known = {n.removeprefix("pyresque_") for n in dir(specs) if n.startswith("pyresque_")}
    steps = {"set_up", "perform", "tear_down"}
    documented: list[str] = []
    for line in block.text.split("\n"):
        text = line.split("(", 1)[0] if "->" not in line else line
        for word in re.findall(r"\b[a-z_]+\b", text.split("|", 1)[0]):
            if word in known or word in steps:
                documented.append(word)
    unknown = [w for w in re.findall(r"\b(?:before|after|on)_[a-z_]+\b", block.text) if w not in known]
    if unknown:
        raise AssertionError(f"{block.id}: not hooks: {unknown}")
    seen = _record_hooks()
    ran = [w for w in documented if w in seen]
    if ran != [w for w in seen if w in documented]:
        raise AssertionError(f"{block.id}: documented order {ran}, a worker calls {seen}")


def _record_hooks() -> list[str]:
    """The hooks and job steps, in the order an in-process worker runs them for one job."""
    from pyresque import Resque, hookimpl
    from pyresque.core.worker import Worker

    calls: list[str] = []

    class Recorder:
        @hookimpl
        def pyresque_before_first_fork(self) -> None:
            calls.append("before_first_fork")

        @hookimpl
        def pyresque_before_fork(self) -> None:
            calls.append("before_fork")

        @hookimpl
        def pyresque_before_perform(self) -> None:
            calls.append("before_perform")

        @hookimpl(wrapper=True)
        def pyresque_perform(self) -> Iterator[None]:
            calls.append("perform")  # the wrappers enter
            return (yield)

        @hookimpl
        def pyresque_after_perform(self) -> None:
            calls.append("after_perform")

        @hookimpl
        def pyresque_worker_exit(self) -> None:
            calls.append("worker_exit")

    class Job:
        def set_up(self) -> None:
            calls.append("set_up")

        def perform(self) -> None:
            calls.append("perform")

        def tear_down(self) -> None:
            calls.append("tear_down")

    app = Resque("fakeredis://doc-test-hook-order", plugins=[Recorder()])
    try:
        app.job(Job, name="Job")
        app.enqueue("q", "Job")
        Worker(app, "q", mode="inprocess", burst=True).work()
        app.backend.client.flushall()  # type: ignore[attr-defined]
    finally:
        app.close()
    return calls
