"""The docs harness itself: what it runs, what it refuses, what it catches.

Each test writes a small page (as text), runs its blocks as ``test_docs`` would, and looks
at which blocks failed and why. A harness that let these through would let wrong docs
through.
"""

from __future__ import annotations

import os
import sys

import pytest

from tests.docs.blocks import parse_page
from tests.docs.harness import exemptions, run_block
from tests.docs.page import DatabasePool, PageRun
from tests.docs.shell import _exec_form, matches
from tests.redis_server import in_ci

pytestmark = pytest.mark.redis

F = "```"


def run_page(text: str, pool: DatabasePool, **names: object) -> list[BaseException | None]:
    """Run every block of a page written as ``text`` (``names`` put in its namespace first);
    the error of each block (None: it passed)."""
    page = parse_page("docs/selftest.md", text)
    assert not page.errors, page.errors
    run = PageRun(page, pool)
    run.namespace.update(names)
    errors: list[BaseException | None] = []
    try:
        for index in range(len(page.blocks)):
            try:
                run.run(index, run_block)
                errors.append(None)
            except Exception as exc:
                errors.append(exc)
    finally:
        run.close()
    return errors


def test_blocks_without_a_handler_fail(doc_pool: DatabasePool) -> None:
    """No language, or an unknown one, fails: nothing is skipped silently."""
    errors = run_page(f"{F}\nx\n{F}\n\n{F}rust\nfn main() {{}}\n{F}\n", doc_pool)
    assert "no language" in str(errors[0])
    assert "language 'rust'" in str(errors[1])


def test_directive_errors_are_page_errors() -> None:
    """An unknown directive, and one that no block follows, are errors of the page."""
    page = parse_page(
        "docs/x.md",
        "<!-- doc-test: skipp typo -->\n```python\npass\n```\n\n<!-- doc-test: burst -->\n\ntext\n",
    )
    assert any("unknown doc-test directive 'skipp'" in e for e in page.errors)
    assert any("not followed by a code block" in e for e in page.errors)


def test_a_skip_needs_a_reason_and_is_listed(doc_pool: DatabasePool) -> None:
    text = (
        f"<!-- doc-test: skip -->\n{F}python\nraise SystemExit\n{F}\n"
        f"<!-- doc-test: skip needs a real GPU here -->\n{F}python\nraise SystemExit\n{F}\n"
    )
    errors = run_page(text, doc_pool)
    assert "must say why" in str(errors[0]) and errors[1] is None
    assert exemptions([parse_page("docs/selftest.md", text)])[1] == (
        "docs/selftest.md:6",
        "needs a real GPU here",
    )


def test_python_blocks_share_the_page_and_point_at_the_doc(doc_pool: DatabasePool) -> None:
    """Later blocks see earlier names; an error's traceback names the markdown line."""
    errors = run_page(f"{F}python\nx = 41\n{F}\n\n{F}python\nx += 1\nassert x == 41\n{F}\n", doc_pool)
    assert errors[0] is None and isinstance(errors[1], AssertionError)
    tb = errors[1].__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    assert tb is not None
    assert tb.tb_frame.f_code.co_filename.endswith("docs/selftest.md") and tb.tb_lineno == 7


def test_a_file_block_is_imported_under_its_dotted_name(doc_pool: DatabasePool) -> None:
    text = (
        f"{F}python\n# shopapp/jobs.py\nfrom pyresque import Resque\n\napp = Resque('fakeredis://selftest')\n\n"
        f"@app.job\ndef send(to): ...\n{F}\n\n"
        f"{F}python\nassert app.registry.name_for(send) == 'shopapp.jobs.send'\n{F}\n"
    )
    assert run_page(text, doc_pool) == [None, None]


def test_urls_point_at_fresh_databases_of_the_test_server(doc_pool: DatabasePool) -> None:
    """Each database a page writes is a distinct, emptied database of the session's server."""
    page = parse_page("docs/selftest.md", f"{F}python\npass\n{F}\n")
    run = PageRun(page, doc_pool)
    try:
        first, second = run.url(0), run.url(1)
        assert first != second and f":{doc_pool.port}/" in first
        assert run.rewrite("redis://localhost:6379/1 x") == f"{second} x"
        assert (
            run.rewrite("REDIS_BACKEND=localhost:6379")
            == f"REDIS_BACKEND=127.0.0.1:{doc_pool.port}:{run.db(0)}"
        )
        assert run.rewrite("--redis-db 1") == f"--redis-db {run.db(1)}"
        assert run.rewrite("redis://localhost:6379?db=1&timeout=2") == f"{second}?db={run.db(1)}&timeout=2"
        assert run.client(0).dbsize() == 0
    finally:
        run.close()


def test_the_machines_redis_is_refused(doc_pool: DatabasePool) -> None:
    """A snippet that would talk to port 6379 (no URL given) fails instead of touching it."""
    errors = run_page(f"{F}python\nfrom pyresque import Resque\nResque().size('q')\n{F}\n", doc_pool)
    assert "machine's own Redis" in str(errors[0])


def test_a_worker_needs_burst_or_background(doc_pool: DatabasePool) -> None:
    """A long-running command without a directive fails; with burst a real worker drains."""
    text = (
        f"{F}python\n# wjobs.py\nfrom pyresque import Resque\n\napp = Resque('redis://localhost:6379/0')\n\n"
        f"@app.job(name='Echo')\ndef echo(x):\n    return x\n{F}\n\n"
        f"{F}python\napp.enqueue('q', 'Echo', 1)\n{F}\n\n"
        f"{F}sh\nQUEUE=q APP_INCLUDE=wjobs pyresque worker\n{F}\n\n"
        "<!-- doc-test: burst -->\n"
        "<!-- doc-test: then assert app.size('q') == 0 and app.info().processed == 1 -->\n"
        f"{F}sh\nQUEUE=q APP_INCLUDE=wjobs pyresque worker\n{F}\n"
    )
    errors = run_page(text, doc_pool)
    assert errors[:2] == [None, None]
    assert "runs until stopped" in str(errors[2])
    assert errors[3] is None


def test_background_runs_until_the_condition_then_quits(doc_pool: DatabasePool) -> None:
    text = (
        f"{F}python\n# bjobs.py\nfrom pyresque import Resque\n\napp = Resque('redis://localhost:6379/0')\n\n"
        f"@app.job(name='Echo')\ndef echo(x):\n    return x\n{F}\n\n"
        f"{F}python\napp.enqueue('q', 'Echo', 1)\n{F}\n\n"
        f"<!-- doc-test: background 20 until app.info().processed == 1 -->\n"
        f"{F}sh\nQUEUE=q APP_INCLUDE=bjobs pyresque worker --interval 0.1\n{F}\n\n"
        f"<!-- doc-test: background 0.5 until False -->\n"
        f"{F}sh\nQUEUE=q APP_INCLUDE=bjobs pyresque worker --interval 0.1\n{F}\n"
    )
    errors = run_page(text, doc_pool)
    assert errors[:3] == [None, None, None], errors
    assert "still false" in str(errors[3])


def test_commands_must_succeed_and_print_what_is_documented(doc_pool: DatabasePool) -> None:
    text = (
        f"{F}sh\npyresque no-such-command\n{F}\n\n"
        f"<!-- doc-test: exit 2 -->\n{F}sh\npyresque no-such-command\n{F}\n\n"
        f"{F}console\n$ echo one; echo two; echo three\none\n...\nthree\n{F}\n\n"
        f"{F}console\n$ echo one\ntwo\n{F}\n\n"
        f"{F}sh\npyresque worker ...\n{F}\n"
    )
    errors = run_page(text, doc_pool)
    assert "exited 2, not 0" in str(errors[0])
    assert errors[1] is None and errors[2] is None
    assert "documented" in str(errors[3])
    assert "not a runnable command" in str(errors[4])


def test_output_elision() -> None:
    assert matches(["a", "...", "d"], ["a", "b", "c", "d"])
    assert matches(["a", "...", "b"], ["a", "b"])
    assert matches(["took ...s"], ["took 0.2s"])
    assert not matches(["a", "b"], ["a", "b", "c"])
    assert not matches(["took ...s"], ["took 0.2ms!"])


def test_install_lines_are_validated_not_run(doc_pool: DatabasePool) -> None:
    errors = run_page(
        f'{F}sh\npip install "pyresque[msgpack]"\n./dev test -x\n{F}\n\n'
        f'{F}sh\npip install "pyresque[nosuchextra]"\n{F}\n\n{F}sh\n./dev deploy\n{F}\n\n'
        f"{F}sh\npython -m bench.bench_enqueue --no-such-option 3\n{F}\n",
        doc_pool,
    )
    assert errors[0] is None
    assert "no extra 'nosuchextra'" in str(errors[1]) and "no sub-command 'deploy'" in str(errors[2])
    assert "has no option --no-such-option" in str(errors[3])


def test_schedules_are_loaded_by_the_product(doc_pool: DatabasePool) -> None:
    errors = run_page(
        f"{F}yaml\nbeat:\n  every: 30s\n  class: Beat\n{F}\n\n"
        f"{F}yaml\nbeat:\n  every: 30s\n  class: Beat\n  queeu: high\n{F}\n\n"
        f"{F}yaml\nbeat:\n  cron: 'not a cron'\n  class: Beat\n{F}\n\n{F}json\n{{'a': 1}}\n{F}\n",
        doc_pool,
    )
    assert errors[0] is None
    assert "queeu" in str(errors[1])
    assert errors[2] is not None and "not valid json" in str(errors[3])


def test_a_systemd_unit_is_checked(doc_pool: DatabasePool) -> None:
    unit = (
        "[Service]\nEnvironment=QUEUE=high APP_INCLUDE=myapp.jobs\n"
        "ExecStart=/srv/.venv/bin/pyresque worker --graceful-term 25\nKillSignal=SIGTERM\n"
        "TimeoutStopSec=30\nExecReload=/bin/kill -{sig} $MAINPID\n"
    )
    errors = run_page(
        f"{F}ini\n{unit.format(sig='QUIT')}{F}\n\n{F}ini\n{unit.format(sig='USR1')}{F}\n\n"
        f"{F}ini\n{unit.format(sig='QUIT').replace('--graceful-term', '--gracefull-term')}{F}\n\n"
        f"{F}ini\n{unit.format(sig='QUIT').replace('QUEUE=', 'QUEUS=')}{F}\n\n"
        f"{F}ini\n{unit.format(sig='QUIT').replace('TimeoutStopSec=30', 'TimeoutStopSec=20')}{F}\n",
        doc_pool,
    )
    assert errors[0] is None
    assert "ExecReload must send QUIT" in str(errors[1])
    assert "gracefull" in str(errors[2])
    assert "does not read QUEUS" in str(errors[3])
    assert "kills before --graceful-term" in str(errors[4])


def test_text_blocks_are_checked_against_the_code(doc_pool: DatabasePool) -> None:
    errors = run_page(
        f"{F}text\nsome words\n{F}\n\n"
        f"<!-- doc-test: tree pyresque/ -->\n{F}text\npyresque/\n  core/    app\n    app.py  Resque\n{F}\n\n"
        f"<!-- doc-test: tree pyresque/ -->\n{F}text\npyresque/\n  core/    app\n    nope.py  gone\n{F}\n\n"
        f"<!-- doc-test: exceptions -->\n{F}text\nPyresqueError\n└── ConfigurationError (ValueError)\n{F}\n\n"
        f"<!-- doc-test: hook-order -->\n{F}text\nbefore_perform\nbefore_fork\n{F}\n\n"
        f"<!-- doc-test: hook-order -->\n{F}text\nworker: before_fork\nworker: after_fork\n{F}\n\n"
        f"<!-- doc-test: hook-order -->\n{F}text\nworker: before_fork\nchild:  after_fork\n{F}\n",
        doc_pool,
    )
    assert "must say what it is" in str(errors[0])
    assert errors[1] is None
    assert "pyresque/core/nope.py does not exist" in str(errors[2])
    assert "not drawn" in str(errors[3]) and "BackendError" in str(errors[3])
    assert "a forking worker calls" in str(errors[4])
    assert "after_fork is documented in the worker, it runs in the child" in str(errors[5])
    assert errors[6] is None


def test_a_failure_record_sample_has_a_real_records_shape(doc_pool: DatabasePool) -> None:
    good = (
        '{"failed_at":"x","payload":{"class":"A","args":[],"id":"i","queue_time":1.5},'
        '"exception":"E","error":"m","backtrace":[],"worker":"w","queue":"q"}'
    )
    bad = good.replace('"error":"m",', "")
    errors = run_page(
        f"<!-- doc-test: shape failure-record -->\n{F}json\n{good}\n{F}\n\n"
        f"<!-- doc-test: shape failure-record -->\n{F}json\n{bad}\n{F}\n",
        doc_pool,
    )
    assert errors[0] is None and "a real record has" in str(errors[1])


def test_a_page_leaves_nothing_behind(doc_pool: DatabasePool) -> None:
    """After the page: its modules forgotten, its folder gone and off sys.path."""

    folders: list[str] = []
    run_page(
        f"{F}python\n# leftjobs.py\nimport os\n{F}\n\n{F}python\nfolders.append(os.getcwd())\n{F}\n",
        doc_pool,
        folders=folders,
    )
    assert "leftjobs" not in sys.modules and "docpage_docs_selftest" not in sys.modules
    assert folders and not os.path.exists(folders[0]) and folders[0] not in sys.path


def test_a_pytest_block_is_run_by_pytest(doc_pool: DatabasePool) -> None:
    """A ``pytest`` block passes only if its tests pass (the plugin's fixtures are there)."""
    tests = (
        "def test_good(pyresque_app):\n"
        "    pyresque_app.enqueue('q', 'X')\n"
        "    assert pyresque_app.size('q') == 1\n\n"
        "def test_bad(pyresque_app):\n"
        "    assert pyresque_app.size('q') == 1\n"
    )
    errors = run_page(f"<!-- doc-test: pytest -->\n{F}python\n{tests}{F}\n", doc_pool)
    assert "1 failed, 1 passed" in str(errors[0])


def test_copied_files_are_importable_and_rewritten(doc_pool: DatabasePool) -> None:
    """``copy`` brings a repository file into the page's folder, its URLs rewritten."""
    errors = run_page(
        "<!-- doc-test: copy docs/examples/testing/shop.py -->\n"
        f"{F}python\nimport shop\nassert ':6379/' not in shop.app.backend.describe()\n{F}\n",
        doc_pool,
    )
    assert errors == [None]


def test_drain_performs_the_queued_jobs_and_fails_with_them(doc_pool: DatabasePool) -> None:
    job = (
        "from pyresque import Resque\napp = Resque('fakeredis://selftest-drain')\n"
        "@app.job(name='Div')\ndef div(a, b):\n    return a / b\n"
    )
    errors = run_page(
        f"<!-- doc-test: drain -->\n{F}python\n{job}app.enqueue('q', div, 1, 2)\n{F}\n\n"
        "<!-- doc-test: then assert app.size('q') == 0 -->\n"
        f"<!-- doc-test: drain app -->\n{F}python\napp.enqueue('q', div, 1, 0)\n{F}\n",
        doc_pool,
    )
    assert errors[0] is None and isinstance(errors[1], ZeroDivisionError)


def test_javascript_is_syntax_checked(doc_pool: DatabasePool) -> None:
    import shutil

    if shutil.which("node") is None:
        if in_ci():
            pytest.fail("CI needs node to check javascript doc blocks")
        pytest.skip("no node on this machine")
    errors = run_page(f"{F}js\nconst x = 1;\n{F}\n\n{F}javascript\nconst = ;\n{F}\n", doc_pool)
    assert errors[0] is None and "not valid javascript" in str(errors[1])


def test_background_waits_for_a_slow_start_before_quit(doc_pool: DatabasePool) -> None:
    """A worker whose app takes long to import is not QUIT before it can handle QUIT
    (on a loaded machine a start can take longer than the documented seconds)."""
    text = (
        f"{F}python\n# slowjobs.py\nimport time\n\ntime.sleep(1.5)\n{F}\n\n"
        "<!-- doc-test: background 0.1 -->\n"
        f"{F}sh\nQUEUE=q APP_INCLUDE=slowjobs pyresque worker --interval 0.1\n{F}\n"
    )
    errors = run_page(text, doc_pool)
    assert errors == [None, None], errors
    assert _exec_form("A=1 B='x y' pyresque worker -q a") == "A=1 B='x y' exec pyresque worker -q a"


def test_which_commands_run_until_stopped() -> None:
    import shlex
    import signal

    from tests.docs.shell import long_running, stop_signal

    assert long_running(shlex.split("QUEUE=a pyresque worker -v"))
    assert long_running(shlex.split("python -m pyresque --redis redis://h/0 scheduler"))
    assert long_running(shlex.split("pyresque web --port 8080"))
    assert long_running(shlex.split("pyresque metrics --port 9464"))
    assert not long_running(shlex.split("pyresque worker --burst"))
    assert not long_running(shlex.split("pyresque metrics --once"))
    assert not long_running(shlex.split("pyresque info"))
    assert not long_running(shlex.split("pyresque web --help"))
    assert stop_signal(shlex.split("pyresque worker")) == signal.SIGQUIT
    assert stop_signal(shlex.split("pyresque web")) == signal.SIGTERM
