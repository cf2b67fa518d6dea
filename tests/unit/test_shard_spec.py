"""Shard specs (pyresque.backends.shard_spec): the inline redis+shards:// form and the
shards:FILE form, their one-line errors, and passwords masked everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyresque import Resque
from pyresque.backends import create_backend
from pyresque.backends.redis.shards import ShardedBackend
from pyresque.backends.shard_spec import parse_shard_spec
from pyresque.backends.url import is_shard_spec, parse_backend_url, redact_url
from pyresque.core.errors import ConfigurationError, UnknownBackendError

SENTINEL = "redis+sentinel://:s3cret@s1:26379,s2:26380/mymaster/2?socket_timeout=2"


def test_the_inline_form_reads_names_urls_map_and_namespace() -> None:
    spec = parse_shard_spec(
        f"redis+shards://a=redis://:pw@h1:6379/0,b={SENTINEL}&map=mail:b,crit%3Ax:a&namespace=shop"
    )
    assert spec.shards == (
        ("a", "redis://:pw@h1:6379/0"),
        ("b", "redis+sentinel://:s3cret@s1:26379,s2:26380/mymaster/2?socket_timeout=2"),
    )
    assert dict(spec.queue_map) == {"mail": "b", "crit:x": "a"}
    assert spec.namespace == "shop"
    assert "pw" not in spec.source and "s3cret" not in spec.source


def test_a_cluster_shard_and_no_options() -> None:
    spec = parse_shard_spec("redis+shards://one=redis+cluster://n1:7000,n2:7001,two=rediss://h2:6380/1")
    assert spec.names == ["one", "two"]
    assert spec.shards[0][1] == "redis+cluster://n1:7000,n2:7001"
    assert spec.queue_map == () and spec.namespace is None


def test_create_backend_and_resque_build_the_sharded_backend() -> None:
    backend = create_backend("redis+shards://a=redis://h1/0,b=redis://h2/0?map=mail:a", "ns")
    assert isinstance(backend, ShardedBackend)
    assert list(backend.shards) == ["a", "b"] and backend.map.shard_of("mail") == "a"
    assert backend.keys.namespace == "ns"
    app = Resque("redis+shards://a=redis://h1/0,b=redis://h2/0?namespace=shop")
    assert isinstance(app.backend, ShardedBackend) and app.backend.keys.namespace == "shop"
    app.close()


def test_the_file_form(tmp_path: Path) -> None:
    path = tmp_path / "shards.toml"
    path.write_text(
        'namespace = "shop"\n[shards]\nb = "redis://:pw@h2:6379/0"\na = "redis://h1:6379/0"\n'
        '[queue_map]\nmail = "a"\n'
    )
    spec = parse_shard_spec(f"shards:{path}")
    assert spec.names == ["b", "a"]  # the file's order
    assert dict(spec.queue_map) == {"mail": "a"} and spec.namespace == "shop"
    backend = create_backend(f"shards:{path}")
    assert isinstance(backend, ShardedBackend) and backend.map.shard_of("mail") == "a"
    assert "pw" not in backend.describe()


def test_shards_port_stays_a_host_form() -> None:
    assert not is_shard_spec("shards:6379")
    assert not is_shard_spec("shards:6379:2/ns")
    assert parse_backend_url("shards:6379").url == "redis://shards:6379/0"
    assert is_shard_spec("shards:/etc/pyresque/shards.toml") and is_shard_spec("shards:./s.toml")


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("redis+shards://", "expected redis+shards://NAME=URL"),
        ("redis+shards://redis://h/0", "expected redis+shards://NAME=URL"),
        ("redis+shards://a=redis://:pw@h:x/0", "shard 'a': cannot read backend"),
        ("redis+shards://a=redis://:pw@h/0,a=redis://h/1", "named twice"),
        ("redis+shards://a=redis://:pw@h/0?map=q:z", "unknown shard 'z'"),
        ("redis+shards://a=redis://:pw@h/0?map=qq", "is not QUEUE:SHARD"),
        ("redis+shards://a=redis://:pw@h/0?map=q:a,q:b", "unknown shard 'b'"),
        ("redis+shards://a=redis://:pw@h/0?namespace=", "namespace is empty"),
        ("redis+shards://a=fakeredis://x", "shards are Redis servers"),
        ("redis+shards://a=redis://:pw@h/0,b=nope://h", "unknown backend scheme"),
        ("redis+shards://a=redis+sentinel://:pw@s1:26379", "name the master's service"),
        ("shards:/no/such/file.toml", "shard file not found"),
    ],
)
def test_a_malformed_spec_is_one_line_without_the_password(spec: str, says: str) -> None:
    with pytest.raises(UnknownBackendError) as caught:
        create_backend(spec)
    text = str(caught.value)
    assert says in text and "\n" not in text and "pw" not in text


def test_a_bad_file_is_one_line(tmp_path: Path) -> None:
    cases = {
        "not toml [": "is not TOML",
        '[shards]\na = 1\n': "must be a table of strings",
        '[shard]\na = "redis://h/0"\n': "unknown keys ['shard']",
        "": "names no shard",
        '[shards]\n"a b" = "redis://h/0"\n': "is not letters",
    }
    for i, (text, says) in enumerate(cases.items()):
        path = tmp_path / f"s{i}.toml"
        path.write_text(text)
        with pytest.raises(UnknownBackendError) as caught:
            parse_shard_spec(f"shards:{path}")
        assert says in str(caught.value) and "\n" not in str(caught.value)


def test_redis_db_with_a_spec_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="each shard's database in its URL"):
        create_backend("redis+shards://a=redis://h/0", db=3)


def test_one_backend_url_is_not_a_spec() -> None:
    with pytest.raises(UnknownBackendError, match="is a shard spec"):
        parse_backend_url("redis+shards://a=redis://:pw@h/0")


def test_redact_masks_every_shards_password() -> None:
    text = redact_url(f"redis+shards://a=redis://u:pw1@h1/0,b={SENTINEL},c=rediss://:pw3@h3/0?map=x:a")
    assert "pw1" not in text and "s3cret" not in text and "pw3" not in text
    assert text.count("***") == 3 and "map=x:a" in text
    assert "secret" not in redact_url("redis+shards://u:secret@garbage")


_NAMES = st.from_regex(r"[A-Za-z0-9_.-]{1,8}", fullmatch=True)
_PASSWORDS = st.from_regex(r"[A-Za-z0-9]{6,12}", fullmatch=True)


@given(
    st.lists(_NAMES, min_size=1, max_size=5, unique=True),
    _PASSWORDS,
    st.lists(st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8),
             max_size=4),
)
def test_any_spec_reads_back_what_was_written(names: list[str], password: str, queues: list[str]) -> None:
    from urllib.parse import quote

    urls = [
        f"redis://:{password}@h{i}:6379/{i % 16}" if i % 2 else f"redis+sentinel://:{password}@s{i}:26379,t:1/m"
        for i in range(len(names))
    ]
    mapping = {q: names[i % len(names)] for i, q in enumerate(queues)}
    query = ",".join(f"{quote(q, safe='')}:{s}" for q, s in mapping.items())
    text = "redis+shards://" + ",".join(f"{n}={u}" for n, u in zip(names, urls, strict=True))
    text += f"?map={query}" if mapping else ""
    spec = parse_shard_spec(text)
    assert spec.shards == tuple(zip(names, urls, strict=True))
    assert dict(spec.queue_map) == mapping
    assert password not in redact_url(text) and password not in spec.source


def test_the_async_worker_over_shards_is_refused_in_one_line() -> None:
    """``--mode async`` does not reserve across shards: one plain line says what to run
    instead (it said "a fakeredis app lives in one process")."""
    import subprocess
    import sys

    spec = "redis+shards://a=redis://127.0.0.1:1/0,b=redis://127.0.0.1:2/0"
    done = subprocess.run(
        [sys.executable, "-m", "pyresque", "worker", "--redis", spec, "--mode", "async", "--queue", "q"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "Error: the async worker does not work over shards yet: run it per shard "
        "(--shard NAME), or use mode='fork' or 'inprocess', which reserve across shards"
    ]
