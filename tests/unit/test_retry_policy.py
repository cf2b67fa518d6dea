"""Retry policies: limits, exception filters, exact delay schedules, resque-retry keys."""

from __future__ import annotations

import random

import pytest

from pyresque.backends.redis.keys import Keys
from pyresque.core.errors import ConfigurationError, DirtyExit
from pyresque.hooks.builtin.retry_policy import RetryPolicy, retry_identifier, ruby_join


def test_limit_counts_retries_after_the_first_run() -> None:
    """limit=2 retries attempts 0 and 1, gives up after attempt 2 (three runs)."""
    policy = RetryPolicy(limit=2)
    assert [policy.should_retry(ValueError(), n) for n in range(4)] == [True, True, False, False]


def test_limit_zero_never_retries_and_minus_one_always_does() -> None:
    """resque-retry's special limits: 0 = never, -1 = forever."""
    assert not RetryPolicy(limit=0).should_retry(ValueError(), 0)
    assert RetryPolicy(limit=-1).should_retry(ValueError(), 10_000)


def test_fatal_exceptions_win_over_retry_exceptions() -> None:
    """Fatal classes never retry; with retry_exceptions only those (and subclasses) retry."""
    policy = RetryPolicy(
        limit=5, retry_exceptions=(OSError, DirtyExit), fatal_exceptions=(FileNotFoundError,)
    )
    assert policy.should_retry(ConnectionError(), 0)
    assert policy.should_retry(DirtyExit("killed"), 0)
    assert not policy.should_retry(FileNotFoundError(), 0)
    assert not policy.should_retry(ValueError(), 0)


def test_fixed_and_backoff_schedules_are_exact() -> None:
    """A fixed delay repeats; a backoff list is indexed by attempt, its last value repeating."""
    rng = random.Random(0)
    assert [RetryPolicy(limit=3, delay=5).delay_for(n, rng) for n in range(3)] == [5.0, 5.0, 5.0]
    backoff = RetryPolicy(limit=-1, backoff=(0, 60, 600))
    assert [backoff.delay_for(n, rng) for n in range(5)] == [0.0, 60.0, 600.0, 600.0, 600.0]


def test_exponential_backoff_is_capped_by_max_delay() -> None:
    """delay * factor**n, never above max_delay."""
    policy = RetryPolicy(limit=-1, delay=10, exponential=True, factor=3, max_delay=500)
    assert [policy.delay_for(n, random.Random(0)) for n in range(5)] == [10.0, 30.0, 90.0, 270.0, 500.0]


def test_jitter_under_a_seeded_rng_gives_an_exact_reproducible_schedule() -> None:
    """Each delay is base * uniform(min, max), drawn in order from the injected RNG."""
    policy = RetryPolicy(limit=-1, delay=10, exponential=True, jitter=(0.5, 1.5))
    rng, reference = random.Random(7), random.Random(7)
    schedule = [policy.delay_for(n, rng) for n in range(6)]
    assert schedule == [10 * 2**n * reference.uniform(0.5, 1.5) for n in range(6)]
    assert all(10 * 2**n * 0.5 <= d <= 10 * 2**n * 1.5 for n, d in enumerate(schedule))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"limit": -2}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 1, "delay": -1}, "delay"),
        ({"limit": 1, "delay": float("nan")}, "delay"),
        ({"limit": 1, "backoff": (1, "x")}, "backoff"),
        ({"limit": 1, "jitter": (2.0, 1.0)}, "jitter"),
        ({"limit": 1, "factor": 0.5}, "factor"),
        ({"limit": 1, "retry_exceptions": (ValueError, "x")}, "exception"),
        ({"limit": 1, "expire_key_after": 0}, "expire"),
    ],
)
def test_bad_policy_values_are_refused_clearly(kwargs: dict[str, object], match: str) -> None:
    """Every unusable setting raises ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match=match):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_policy_from_class_attributes() -> None:
    """resque-retry's class attributes become a policy; a class without them has none."""

    class Job:
        retry_limit = 4
        retry_delay = 2
        retry_exceptions = OSError
        fatal_exceptions = [PermissionError]
        expire_retry_key_after = 3600

    policy = RetryPolicy.from_class(Job)
    assert policy == RetryPolicy(
        limit=4,
        delay=2,
        retry_exceptions=(OSError,),
        fatal_exceptions=(PermissionError,),
        expire_key_after=3600,
    )
    assert RetryPolicy.from_class(type("Plain", (), {})) is None


def test_backoff_strategy_alone_sets_the_limit_to_its_length() -> None:
    """Like resque-retry's ExponentialBackoff: one retry per listed delay."""
    policy = RetryPolicy.from_class(type("B", (), {"backoff_strategy": [0, 60, 600]}))
    assert policy is not None and policy.limit == 3 and policy.backoff == (0, 60, 600)


def test_bad_class_attributes_name_the_class() -> None:
    """An unusable attribute value raises ConfigurationError naming the job class."""
    with pytest.raises(ConfigurationError, match="Broken"):
        RetryPolicy.from_class(type("Broken", (), {"retry_limit": 2, "retry_delay": "soon"}))


def test_retry_identifier_is_sha1_of_ruby_array_join() -> None:
    """Digests match Ruby's Digest::SHA1.hexdigest(args.join('-')) (values from sha1sum)."""
    assert retry_identifier([1, "foo"]) == "7f9cb0cda7bf10619d9f3d55429318e496a3b071"
    assert ruby_join([1, [2, 3], None, "a b"]) == "1-2-3--a b"
    assert retry_identifier([1, [2, 3], None, "a b"]) == "2b11da6c84d785a24a46c1e3dc3d8a53a98261e4"
    assert ruby_join([{"a": 1, "b": None}, 1e20]) == '{"a"=>1, "b"=>nil}-1.0e+20'
    assert retry_identifier([{"a": 1, "b": None}, 1e20]) == "e8b7a295f4738f63ba6ff9dfb2a50f5ed43f9ec0"
    assert retry_identifier([]) is None and retry_identifier([None]) is None


def test_retry_key_matches_resque_retry() -> None:
    """resque:resque-retry:<Class>[:<digest>], whitespace stripped after the namespace."""
    keys = Keys("resque")
    assert keys.retry_attempts("Foo::Bar", "abc") == "resque:resque-retry:Foo::Bar:abc"
    assert keys.retry_attempts("Foo::Bar", None) == "resque:resque-retry:Foo::Bar"
    assert keys.retry_attempts("My Job", "d") == "resque:resque-retry:MyJob:d"


def test_retry_exceptions_as_a_mapping_gives_per_exception_delays() -> None:
    """resque-retry's Hash form: only the listed classes retry, each with its own delays."""

    class Job:
        retry_limit = 3
        retry_delay = 999
        retry_exceptions = {TimeoutError: 30, ConnectionError: [5, 60]}

    policy = RetryPolicy.from_class(Job)
    assert policy is not None
    rng = random.Random(0)
    assert not policy.should_retry(ValueError(), 0)
    assert policy.should_retry(ConnectionResetError(), 0)
    assert [policy.delay_for(n, rng, TimeoutError()) for n in range(3)] == [30.0, 30.0, 30.0]
    assert [policy.delay_for(n, rng, ConnectionResetError()) for n in range(3)] == [5.0, 60.0, 60.0]
    assert policy.delay_for(0, rng) == 999.0


def test_bad_exception_delays_are_refused() -> None:
    """A mapping with a non-exception key or an empty/negative delay raises ConfigurationError."""
    with pytest.raises(ConfigurationError, match="Bad"):
        RetryPolicy.from_class(type("Bad", (), {"retry_limit": 1, "retry_exceptions": {TimeoutError: -1}}))
    with pytest.raises(ConfigurationError):
        RetryPolicy(limit=1, exception_delays=((TimeoutError, ()),))


def test_a_schedule_and_exponential_backoff_together_are_refused() -> None:
    """Two alternatives set at once: refused, not one silently winning."""
    from pyresque import ConfigurationError, RetryPolicy

    class Both:
        backoff_strategy = [0, 60]
        retry_exponential_backoff = True

    with pytest.raises(ConfigurationError, match="alternatives"):
        RetryPolicy.from_class(Both)
    with pytest.raises(ConfigurationError, match="alternatives"):
        RetryPolicy(limit=2, backoff=(1.0, 2.0), exponential=True)
