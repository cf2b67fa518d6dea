"""The hooks reference (``docs/hooks.md``), generated from the specs' docstrings.

``python -m pyresque.hooks.reference docs/hooks.md`` rewrites the generated part of
that file (between the ``BEGIN``/``END`` markers); a test fails when it is stale.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

from pyresque.hooks import specs

__all__ = ["BEGIN", "END", "render", "spec_functions", "update_file"]

#: Markers around the generated part of the reference file.
BEGIN = "<!-- BEGIN GENERATED: python -m pyresque.hooks.reference docs/hooks.md -->"
END = "<!-- END GENERATED -->"


def spec_functions() -> list[tuple[str, object]]:
    """Every ``pyresque_*`` spec, in the order the specs module declares them."""
    found = [
        (name, fn)
        for name, fn in vars(specs).items()
        if name.startswith("pyresque_") and inspect.isfunction(fn)
    ]
    return sorted(found, key=lambda item: inspect.getsourcelines(item[1])[1])  # type: ignore[arg-type]


def _signature(fn: object) -> str:
    sig = inspect.signature(fn)  # type: ignore[arg-type]
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"({params}) -> {sig.return_annotation}"


def _firstresult(fn: object) -> bool:
    opts = getattr(fn, "pyresque_spec", {}) or {}
    return bool(opts.get("firstresult"))


def render() -> str:
    """The generated Markdown: one section per hook, its signature and documentation."""
    out: list[str] = [BEGIN, ""]
    out.append("| hook | facade method | arguments |")
    out.append("|---|---|---|")
    for name, fn in spec_functions():
        args = ", ".join(inspect.signature(fn).parameters)  # type: ignore[arg-type]
        out.append(f"| [`{name}`](#{name}) | `app.hooks.{name.removeprefix('pyresque_')}` | {args} |")
    out.append("")
    for name, fn in spec_functions():
        out.append(f"### {name}")
        out.append("")
        extra = " (firstresult)" if _firstresult(fn) else ""
        out.append(f"```python\n{name}{_signature(fn)}{extra}\n```")
        out.append("")
        out.append(inspect.cleandoc(getattr(fn, "__doc__", None) or ""))
        out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def update_file(path: Path) -> bool:
    """Replace the generated part of ``path`` (appending it when absent). Returns whether it changed."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    generated = render()
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + generated + tail
    else:
        new = text + ("\n" if text and not text.endswith("\n") else "") + generated
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/hooks.md")
    print(f"{target}: {'updated' if update_file(target) else 'up to date'}")
