"""Reading ``redis+sentinel://`` and ``redis+cluster://`` URLs (no server needed)."""

from __future__ import annotations

import pytest

from pyresque.backends.redis import RedisBackend
from pyresque.backends.url import parse_backend_url, parse_multi_host, redact_url
from pyresque.core.errors import UnknownBackendError


def test_a_sentinel_url_names_hosts_service_db_and_password() -> None:
    url = "redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26380/mymaster/3?socket_timeout=2.5"
    loc = parse_multi_host(parse_backend_url(url).url)
    assert loc.kind == "sentinel" and not loc.tls
    assert loc.hosts == (("10.0.0.1", 26379), ("10.0.0.2", 26380))
    assert (loc.service, loc.db, loc.password, loc.username) == ("mymaster", 3, "s3cret", None)
    assert dict(loc.options) == {"socket_timeout": 2.5}


def test_tls_user_ipv6_and_a_separate_db() -> None:
    loc = parse_multi_host(parse_backend_url("rediss+sentinel://app:pw@[::1]:26379/svc", db=5).url)
    assert loc.tls and loc.hosts == (("::1", 26379),) and loc.db == 5 and loc.username == "app"


def test_passwords_never_show() -> None:
    url = "redis+sentinel://user:s3cret@h1:1,h2:2/svc/0"
    assert "s3cret" not in redact_url(url)
    assert redact_url(url) == "redis+sentinel://user:***@h1:1,h2:2/svc/0"
    assert "s3cret" not in repr(parse_backend_url(url))
    backend = RedisBackend.from_url(url)
    assert "s3cret" not in backend.describe() and "s3cret" not in repr(backend)
    with pytest.raises(UnknownBackendError) as info:
        parse_backend_url("redis+sentinel://:s3cret@h1:x/svc")
    assert "s3cret" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://h1:26379", "name the master's service"),
        ("redis+sentinel://h1:26379/svc/x", "database 'x' is not a number"),
        ("redis+sentinel://h1/svc", "give every host a port"),
        ("redis+sentinel://h1:99999/svc", "not a number in 1-65535"),
        ("redis+sentinel://h1:1/svc?bogus=1", "unknown option 'bogus'"),
        ("redis+sentinel://h1:1/svc?socket_timeout=-1", "not a number of seconds"),
        ("redis+cluster://h1:7000/2", "database 0 only"),
        ("redis+cluster://h1:7000,:7001", "a host is missing"),
    ],
)
def test_mistakes_are_one_plain_line(url: str, says: str) -> None:
    with pytest.raises(UnknownBackendError, match=says):
        parse_backend_url(url)


def test_a_cluster_url() -> None:
    loc = parse_multi_host("rediss+cluster://:pw@n1:7000,n2:7001")
    assert (
        loc.kind == "cluster"
        and loc.tls
        and loc.hosts == (("n1", 7000), ("n2", 7001))
        and loc.password == "pw"
    )
