"""The Redis Cluster redirect rules without a server (pyresque/backends/redis/cluster_redirects.py):
the guarded form of a script, the reply of the MULTI fallback, the back-off plan."""

from __future__ import annotations

import pytest
import redis
from redis.exceptions import AskError, MovedError, NoScriptError, TryAgainError

from pyresque.backends.redis import cluster_redirects as cr
from pyresque.backends.redis.worker_scripts import RESERVE

GUARDS = cr.guard_keys(2409, "resque")


def test_guard_keys_share_the_namespace_slot() -> None:
    assert all(k.startswith("{resque}:") for k in GUARDS) and GUARDS[0] != GUARDS[1]
    with pytest.raises(ValueError):
        cr.guard_keys(1, "resque")  # not the tag's slot


def test_an_evalsha_of_a_pyresque_script_becomes_its_guarded_variant() -> None:
    sent = cr.guarded_script(("EVALSHA", RESERVE.sha, 2, "{resque}:a", "{resque}:b", "x"), GUARDS)
    assert sent is not None
    variant_sha, source = cr.GUARDED.of_sha(RESERVE.sha) or ("", "")
    assert sent == ("EVALSHA", variant_sha, 4, "{resque}:a", "{resque}:b", *GUARDS, "x")
    assert source == cr.GUARD_LINE + RESERVE.source
    assert cr.as_eval(sent) == ("EVAL", source, 4, "{resque}:a", "{resque}:b", *GUARDS, "x")


def test_an_eval_carries_its_own_variant_and_unknown_scripts_fall_back() -> None:
    sent = cr.guarded_script((b"EVAL_RO", b"return 1", b"0"), GUARDS)
    assert sent == (b"EVAL_RO", cr.GUARD_LINE + "return 1", 2, *GUARDS)
    assert cr.guarded_script(("EVALSHA", "f" * 40, 0), GUARDS) is None  # source unknown
    assert cr.guarded_script(("FCALL", "fn", 0), GUARDS) is None
    shebang = cr.GUARDED.of_source("#!lua flags=no-writes\nreturn 1")[1]
    assert shebang.startswith("#!lua flags=no-writes\n" + cr.GUARD_LINE)


def test_script_reply_of_the_fallback() -> None:
    assert cr.script_reply(["OK", "QUEUED", "QUEUED", [7, 0]]) == 7
    redirect = TryAgainError("Multiple keys request during rehashing of slot")
    with pytest.raises(TryAgainError):
        cr.script_reply(["OK", "QUEUED", redirect, redis.ResponseError("EXECABORT")])
    with pytest.raises(NoScriptError):
        cr.script_reply(["OK", "QUEUED", "QUEUED", [NoScriptError("NOSCRIPT"), 0]])


def test_the_plan_follows_moved_at_once_and_backs_off_for_tryagain() -> None:
    plan = cr.RedirectPlan(script=False)
    assert plan.after(MovedError("2409 127.0.0.1:7001")) == (0.0, None, ("127.0.0.1", 7001))
    assert plan.after(AskError("2409 127.0.0.1:7002")) == (0.0, ("127.0.0.1", 7002), None)
    first, _, _ = plan.after(TryAgainError("x"))
    second, _, _ = plan.after(TryAgainError("x"))
    assert 0 < first < second <= cr.BACKOFF_MAX
    script = cr.RedirectPlan(script=True)
    wait, ask, _ = script.after(AskError("2409 127.0.0.1:7002"))
    assert ask is None and wait > 0  # a script is never sent to the importing node
    done = cr.RedirectPlan(script=False, deadline=0.0)
    with pytest.raises(cr.SlotMovedError):
        done.after(TryAgainError("x"))
