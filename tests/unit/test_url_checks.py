"""Backend URLs with a port or database that is not a number are refused in one clear
error, before redis-py sees them (issue 11, item 6)."""

from __future__ import annotations

import pytest

from pyresque import UnknownBackendError
from pyresque.backends import create_backend
from pyresque.backends.url import parse_backend_url, redact_url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://localhost:notaport/0", "port 'notaport' is not a number"),
        ("redis://localhost:0/0", "port '0' is not a number"),
        ("redis://localhost:99999/0", "port '99999' is not a number"),
        ("rediss://u:pw@localhost:x/0", "port 'x' is not a number"),
        ("redis://localhost:6379/abc", "database 'abc' is not a number"),
        ("redis://localhost:6379/-1", "database '-1' is not a number"),
        ("redis://localhost:6379/0?db=two", "database 'two' is not a number"),
        ("unix:///tmp/redis.sock?db=x", "database 'x' is not a number"),
    ],
)
def test_unreadable_port_or_database_is_refused(url: str, message: str) -> None:
    with pytest.raises(UnknownBackendError, match=message):
        parse_backend_url(url)
    with pytest.raises(UnknownBackendError):
        create_backend(url)


def test_the_password_never_shows_in_the_error() -> None:
    with pytest.raises(UnknownBackendError) as info:
        parse_backend_url("redis://user:hunter2@localhost:99999/0")
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in redact_url("redis://user:hunter2@localhost:99999/0")


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost",
        "redis://localhost/",
        "redis://localhost:6380/15",
        "redis://[::1]:6379/2",
        "rediss://h:1/0",
    ],
)
def test_good_urls_still_pass(url: str) -> None:
    assert parse_backend_url(url).scheme in ("redis", "rediss")
