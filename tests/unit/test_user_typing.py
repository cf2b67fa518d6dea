"""A user's code type-checks against the installed package (issue 11: "types reach user code").

``./dev`` and ``.ci/run`` install the checkout in editable mode; the build backend
(hatchling) writes a plain path entry, which mypy follows. The setuptools editable
finder it replaced is an import hook that mypy cannot see ("Cannot find implementation
or library stub for module named 'pyresque'").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

USER_CODE = '''\
from pyresque import Resque

app = Resque("fakeredis://")

@app.job(name="Mail::Send")
def send(to: str) -> None: ...

size: int = app.size("mail")
reveal_type(app.enqueue)
'''


def test_mypy_on_user_code_finds_the_package(tmp_path: Path) -> None:
    """mypy --strict, run from outside the checkout, resolves pyresque and its types."""
    (tmp_path / "user.py").write_text(USER_CODE)
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(tmp_path / "cache"), "user.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert "Cannot find implementation" not in out, out
    assert "error" not in out, out
    # The revealed type comes from the package's annotations, not from an Any.
    assert 'Revealed type is "def (' in out, out
    assert "(queue: str, job: Any" in out, out
