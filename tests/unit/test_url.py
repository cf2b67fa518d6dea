"""Backend URLs: every accepted form, redaction, and clear errors."""

from __future__ import annotations

import pytest

from pyresque import Resque, UnknownBackendError
from pyresque.backends.url import parse_backend_url, redact_url


@pytest.mark.parametrize(
    ("spec", "url", "namespace"),
    [
        ("redis://localhost:6379/2", "redis://localhost:6379/2", None),
        ("rediss://u:p@host:6380/1", "rediss://u:p@host:6380/1", None),
        ("unix:///tmp/redis.sock?db=3", "unix:///tmp/redis.sock?db=3", None),
        ("localhost", "redis://localhost:6379/0", None),
        ("localhost:6380", "redis://localhost:6380/0", None),
        ("10.0.0.5:6380:4", "redis://10.0.0.5:6380/4", None),
        ("localhost:6379:0/resque:GitHub", "redis://localhost:6379/0", "resque:GitHub"),
    ],
)
def test_accepted_backend_forms_parse_to_redis_urls(spec: str, url: str, namespace: str | None) -> None:
    """redis/rediss/unix URLs, php-resque host:port and Ruby host:port:db/ns all parse."""
    parsed = parse_backend_url(spec)
    assert parsed.url == url
    assert parsed.namespace == namespace


def test_php_dsn_options_are_translated_not_passed_to_redis_py() -> None:
    """php-resque's timeout/persistent/max_connect_retries options do not break redis-py."""
    parsed = parse_backend_url("redis://h:1/0?timeout=2.5&persistent=x&max_connect_retries=3")
    assert parsed.url == "redis://h:1/0?socket_timeout=2.5"


def test_separate_db_overrides_the_url_db() -> None:
    """REDIS_BACKEND_DB (passed as db=) wins over the URL's database."""
    assert parse_backend_url("redis://h:1/0", db=5).url == "redis://h:1/5"
    assert parse_backend_url("h:1", db=7).url == "redis://h:1/7"


@pytest.mark.parametrize("spec", ["amqp://x", "memcached://h:1", "", "h:notaport", "a:1:b:c"])
def test_unknown_or_malformed_backends_raise_a_clear_error(spec: str) -> None:
    """An unknown scheme or unreadable host form raises UnknownBackendError naming it."""
    with pytest.raises(UnknownBackendError):
        parse_backend_url(spec)


def test_passwords_are_redacted_everywhere() -> None:
    """Neither the URL repr, the backend repr nor the app repr shows a password."""
    secret = "s3cr3t-pa55"
    assert secret not in redact_url(f"redis://user:{secret}@host:6379/0")
    assert "***" in redact_url(f"redis://:{secret}@host:6379/0")
    parsed = parse_backend_url(f"redis://user:{secret}@host:6379/0")
    assert secret not in repr(parsed) and secret not in str(parsed)
    app = Resque(f"redis://user:{secret}@127.0.0.1:1/0")
    assert secret not in repr(app) and secret not in app.backend.describe()
