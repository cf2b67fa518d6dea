"""Finding the fenced code blocks of the documentation, with their ``doc-test`` directives.

:func:`pages` lists the pages (``README.md`` and every ``docs/*.md``); :func:`parse_page`
splits one into :class:`Block` objects. A directive is an HTML comment
``<!-- doc-test: NAME ARGS -->`` written just before a fence (blank lines and other
directives may sit in between); see ``tests/docs/README.md`` for the list. A directive
that is unknown, or that is not followed by a block, is an error of the page
(:attr:`Page.errors`), so a typo never disables a check silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: every directive the harness understands (see tests/docs/README.md)
DIRECTIVES = frozenset(
    {
        "skip",  # REASON: exempt the block (counted and listed)
        "file",  # PATH: write the block to PATH in the page's folder (python: and import it)
        "copy",  # PATH...: copy these repository files or folders into the page's folder
        "setup",  # CODE: python run in the page's namespace before the block
        "then",  # CODE: python run in the page's namespace after the block (its checks)
        "drain",  # [APP]: after a python block, perform the queued jobs (pyresque.testing.drain)
        "pytest",  # python: the block is a test module: written to the page's folder, run by pytest
        "burst",  # shell: `pyresque worker` commands get --burst (drain, then exit)
        "background",  # [SECONDS] [until EXPR]: shell: run long commands, then QUIT them
        "exit",  # N: shell: every command of the block must exit with status N
        "schedule",  # yaml/toml/json: load it with the product's schedule loader
        "excerpt-of",  # PATH: the block is part of that file (data: a subset; text: its lines)
        "tree",  # ROOT: a text block listing files under ROOT: each one exists
        "exceptions",  # a text block drawing the exception tree: checked against pyresque
        "hook-order",  # a text block listing hooks in the order a job sees them
        "output-of",  # COMMAND: a text block is what COMMAND prints (elision with ...)
        "signatures",  # MODULE: python blocks up to <!-- END GENERATED --> are signatures of MODULE
        "systemd",  # an ini block that is a systemd unit: checked (see data_blocks.py)
        "shape",  # failure-record: a json block has the keys of a real failure record
    }
)

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*)$")
_DIRECTIVE = re.compile(r"<!--\s*doc-test:\s*(?P<body>.*?)\s*-->", re.S)


@dataclass(frozen=True)
class Directive:
    """One ``<!-- doc-test: NAME ARGS -->`` comment."""

    name: str
    args: str
    line: int


@dataclass
class Block:
    """One fenced block: where it is, its language, its text (dedented) and directives."""

    page: str  # "docs/quickstart.md"
    line: int  # 1-based line of the opening fence
    lang: str  # the info string's first word, lower case ("" when none)
    text: str  # the content, without the fences, dedented by the fence's indent
    directives: list[Directive] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The test id: ``docs/quickstart.md:42``."""
        return f"{self.page}:{self.line}"

    def directive(self, name: str) -> Directive | None:
        """The block's directive of that name, if any."""
        for found in self.directives:
            if found.name == name:
                return found
        return None

    def all(self, name: str) -> list[Directive]:
        """Every directive of that name (``setup`` may come several times)."""
        return [d for d in self.directives if d.name == name]


@dataclass
class Page:
    """A documentation page: its blocks, and the errors found in its directives."""

    path: str
    blocks: list[Block]
    errors: list[str]


def pages() -> list[str]:
    """README.md and every docs/*.md, as paths relative to the repository root."""
    found = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))]
    return [p for p in found if (ROOT / p).is_file()]


def parse_page(path: str, text: str | None = None) -> Page:
    """Split a page into its blocks; directives attach to the block that follows them."""
    if text is None:
        text = (ROOT / path).read_text(encoding="utf-8")
    lines = text.split("\n")
    blocks: list[Block] = []
    errors: list[str] = []
    pending: list[Directive] = []
    region: Directive | None = None  # a "signatures" directive, up to END GENERATED
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence is None:
            if "<!--" in line and "doc-test:" in line[line.index("<!--") :]:
                end = i
                while "-->" not in lines[end] and end + 1 < len(lines):
                    end += 1
                lead = line[: len(line) - len(line.lstrip())]
                comment = "\n".join(x.removeprefix(lead) for x in lines[i : end + 1])
                for match in _DIRECTIVE.finditer(comment):
                    name, _, args = match.group("body").partition(" ")
                    name = name.strip()
                    directive = Directive(name, args.strip(), i + 1)
                    if name not in DIRECTIVES:
                        errors.append(f"{path}:{i + 1}: unknown doc-test directive {name!r}")
                    elif name == "signatures":
                        region = directive
                    else:
                        pending.append(directive)
                i = end + 1
                continue
            if "<!-- END GENERATED" in line:
                region = None
            if line.strip() and pending:
                errors.append(f"{path}:{pending[0].line}: doc-test directive not followed by a code block")
                pending = []
            i += 1
            continue
        indent, mark, info = fence.group("indent"), fence.group("fence"), fence.group("info").strip()
        body: list[str] = []
        j = i + 1
        closer = re.compile(rf"^[ \t]*{re.escape(mark[0])}{{{len(mark)},}}[ \t]*$")
        while j < len(lines) and not closer.match(lines[j]):
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        if j == len(lines):
            errors.append(f"{path}:{i + 1}: code block never closed")
        lang = info.split()[0].lower() if info else ""
        directives = pending + ([region] if region is not None else [])
        blocks.append(Block(path, i + 1, lang, "\n".join(body) + "\n", directives))
        pending = []
        i = j + 1
    if pending:
        errors.append(f"{path}:{pending[0].line}: doc-test directive not followed by a code block")
    return Page(path, blocks, errors)
