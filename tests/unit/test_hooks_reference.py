"""docs/hooks.md stays in step with the hook specs."""

from __future__ import annotations

from pathlib import Path

from pyresque.hooks.reference import BEGIN, END, render, spec_functions, update_file

DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def test_generated_reference_is_up_to_date() -> None:
    """The generated part of docs/hooks.md equals what the specs render today."""
    text = DOC.read_text(encoding="utf-8")
    generated = BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"
    assert generated == render(), "run: python -m pyresque.hooks.reference docs/hooks.md"


def test_every_hook_is_in_the_process_table_and_documented() -> None:
    """Each spec has a row in the handwritten table and a section with its docstring."""
    text = DOC.read_text(encoding="utf-8")
    table = text.split("## Where each hook runs", 1)[1].split("## Per-job", 1)[0]
    for name, fn in spec_functions():
        short = name.removeprefix("pyresque_")
        assert f"`{short}`" in table or f"`{short.split('_')[0]}_pause`" in table, short
        assert f"### {name}" in text
        assert "Exceptions:" in (fn.__doc__ or ""), name


def test_update_file_replaces_only_the_generated_part(tmp_path: Path) -> None:
    """Regeneration keeps the handwritten text around the markers and is idempotent."""
    target = tmp_path / "hooks.md"
    target.write_text(f"intro\n{BEGIN}\nSTALE-CONTENT\n{END}\noutro\n", encoding="utf-8")
    assert update_file(target) is True
    text = target.read_text(encoding="utf-8")
    assert text.startswith("intro\n") and text.endswith("outro\n") and "STALE-CONTENT" not in text
    assert update_file(target) is False
