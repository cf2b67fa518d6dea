"""Delayed jobs on a real redis-server: golden bytes and keys, promotion, foreign items."""

from __future__ import annotations

import json
import logging
import time

import pytest
import redis

from pyresque import Job, Resque, hookimpl
from pyresque.backends.redis import RedisBackend
from pyresque.core.scheduling.promotion import Promoter
from pyresque.core.scheduling.scheduler import Scheduler
from tests.roundtrips import counting_client

pytestmark = pytest.mark.redis

#: resque-scheduler's verified sample (spec section 8).
RS_ITEM = b'{"class":"Foo::Bar","args":[1,"a/b"],"queue":"high"}'


@pytest.fixture
def rapp(redis_url: str) -> Resque:
    """An app on the session's redis-server (emptied per test)."""
    return Resque(redis_url)


def _raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _push_foreign(r: redis.Redis, ts: int, *items: bytes, index: bool = False) -> None:
    """Write items the way other schedulers do (PHP and pyres write no reverse index)."""
    for item in items:
        r.rpush(f"resque:delayed:{ts}", item)
        if index:
            r.sadd(b"resque:timestamps:" + item, f"delayed:{ts}")
    r.zadd("resque:delayed_queue_schedule", {str(ts): ts})


def test_enqueue_at_writes_resque_scheduler_keys_byte_for_byte(rapp: Resque, redis_url: str) -> None:
    """enqueue_at of Foo::Bar(1, "a/b") on high: exactly RS's three keys, types and bytes."""
    at = int(time.time()) + 3600
    rapp.enqueue_at(at, "high", "Foo::Bar", 1, "a/b", payload_form="ruby")  # resque-scheduler's bytes
    r = _raw(redis_url)
    assert sorted(r.keys("*")) == sorted(
        [b"resque:delayed_queue_schedule", f"resque:delayed:{at}".encode(), b"resque:timestamps:" + RS_ITEM]
    )
    assert r.type("resque:delayed_queue_schedule") == b"zset"
    assert r.zrange("resque:delayed_queue_schedule", 0, -1, withscores=True) == [
        (str(at).encode(), float(at))
    ]
    assert r.lrange(f"resque:delayed:{at}", 0, -1) == [RS_ITEM]
    assert r.smembers(b"resque:timestamps:" + RS_ITEM) == {f"delayed:{at}".encode()}


def test_enqueue_in_remove_delayed_and_scheduled_at_match_ruby_written_items(
    rapp: Resque, redis_url: str
) -> None:
    """Items Ruby wrote (same bytes) are found by scheduled_at and removed by remove_delayed."""
    r = _raw(redis_url)
    at = int(time.time()) + 600
    _push_foreign(r, at, RS_ITEM, index=True)
    rapp.enqueue_in(1200, "high", "Foo::Bar", 1, "a/b")
    stamps = rapp.scheduled_at("high", "Foo::Bar", 1, "a/b")
    assert len(stamps) == 2 and stamps[0] == at and stamps[1] >= at + 599
    assert rapp.remove_delayed("high", "Foo::Bar", 1, "a/b") == 2
    assert r.keys("*") == []


def test_scheduler_promotes_a_due_item_to_its_queue_unchanged(rapp: Resque, redis_url: str) -> None:
    """A due RS item lands in queue:high byte for byte, `queues` gains high, delayed keys vanish."""
    r = _raw(redis_url)
    past = int(time.time()) - 5
    _push_foreign(r, past, RS_ITEM, index=True)
    result = Scheduler(rapp, interval=1).poll()
    assert (result.leader, result.promoted.promoted) == (True, 1)
    assert r.lrange("resque:queue:high", 0, -1) == [RS_ITEM]
    assert r.smembers("resque:queues") == {b"high"}
    assert sorted(r.keys("*")) == [
        b"resque:queue:high",
        b"resque:queues",
        b"resque:resque:resque_scheduler_master_lock",
    ]


FOREIGN = [
    # (writer, item bytes, expected queue)
    ("ruby", RS_ITEM, "high"),
    ("node", b'{"class":"ok","queue":"high","args":[1,"a/b"]}', "high"),
    (
        "php",
        b'{"class":"App\\\\Jobs\\\\Foo","args":[{"path":"a\\/b","name":"\\u00e9"}],"queue":"php"}',
        "php",
    ),
    (
        "pyres",
        b'{"class": "myapp.jobs.Resize", "queue": "py", "args": [1], "first_attempt": "@D:2026-11-23"}',
        "py",
    ),
    ("unknown class", b'{"class":"Nobody::Knows","args":[],"queue":"low"}', "low"),
]


@pytest.mark.parametrize(("writer", "item", "queue"), FOREIGN, ids=[f[0] for f in FOREIGN])
def test_foreign_items_are_promoted_and_readable_by_a_worker(
    rapp: Resque, redis_url: str, writer: str, item: bytes, queue: str
) -> None:
    """Ruby/node/PHP/pyres shapes and unknown classes reach their queue intact and decode as jobs."""
    r = _raw(redis_url)
    _push_foreign(r, int(time.time()) - 1, item)
    assert Scheduler(rapp, interval=1).poll().promoted.promoted == 1
    (pushed,) = r.lrange(f"resque:queue:{queue}", 0, -1)
    assert pushed == item
    job = rapp.decode(pushed, queue)
    assert job.class_name == json.loads(item)["class"]
    assert r.zcard("resque:delayed_queue_schedule") == 0


def test_php_wrapped_args_stay_wrapped(rapp: Resque, redis_url: str) -> None:
    """A PHP item's one-element args list reaches the worker as one dict argument."""
    r = _raw(redis_url)
    _push_foreign(r, int(time.time()) - 1, FOREIGN[2][1])
    Scheduler(rapp, interval=1).poll()
    job = rapp.decode(r.lpop("resque:queue:php") or b"", "php")
    assert job.args == ({"path": "a/b", "name": "é"},)


@pytest.mark.parametrize(
    "item",
    [
        b'{"class":"Foo::Bar","args":[1]}',
        b"\xff\xfe not json",
        b'{"class":"X","args":"oops","queue":"q"}',
        b"[1,2]",
    ],
    ids=["no queue", "not json", "args not a list", "not an object"],
)
def test_undeliverable_items_go_to_the_failure_store_not_lost(
    rapp: Resque, redis_url: str, item: bytes
) -> None:
    """No queue and no default, or unreadable: a failure record holds the item; the scheduler goes on."""
    r = _raw(redis_url)
    past = int(time.time()) - 1
    _push_foreign(r, past, item, RS_ITEM)
    result = Scheduler(rapp, interval=1, name="host:42").poll()
    assert (result.promoted.promoted, result.promoted.failed) == (1, 1)
    assert r.lrange("resque:queue:high", 0, -1) == [RS_ITEM]
    (record,) = rapp.failures.all(0, 10)
    assert record.exception == "pyresque.UndeliverableDelayedItem"
    assert record.worker == "host:42"
    if record.payload.get("class") is None:
        assert record.payload["raw"] == item.decode("utf-8", "replace")
    else:
        assert record.payload == json.loads(item)
    assert r.zcard("resque:delayed_queue_schedule") == 0


def test_items_without_queue_use_class_queue_then_default_queue(rapp: Resque, redis_url: str) -> None:
    """The class's `queue` attribute wins over the default queue."""

    class Mailer:
        queue = "mail"

        def perform(self) -> None: ...

    rapp.job(Mailer, name="Mailer")
    r = _raw(redis_url)
    _push_foreign(r, int(time.time()) - 1, b'{"class":"Mailer","args":[]}', b'{"class":"Other","args":[]}')
    Scheduler(rapp, interval=1, default_queue="fallback").poll()
    assert r.llen("resque:queue:mail") == 1
    assert r.llen("resque:queue:fallback") == 1
    assert rapp.failures.count() == 0


def test_before_delayed_enqueue_hook_errors_are_logged_and_job_enqueued(
    rapp: Resque, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A failing before_delayed_enqueue hook never costs the job."""
    seen: list[Job] = []

    class Plugin:
        @hookimpl
        def pyresque_before_delayed_enqueue(self, app: Resque, job: Job) -> None:
            seen.append(job)
            raise RuntimeError("hook broke")

    rapp.plugins.register(Plugin())
    _push_foreign(_raw(redis_url), int(time.time()) - 1, RS_ITEM)
    with caplog.at_level(logging.ERROR, logger="pyresque.scheduler"):
        Scheduler(rapp, interval=1).poll()
    assert [(j.queue, j.class_name, j.args) for j in seen] == [("high", "Foo::Bar", (1, "a/b"))]
    assert "hook broke" in caplog.text
    assert rapp.size("high") == 1


def test_future_items_stay_and_due_ones_go_oldest_first(rapp: Resque, redis_url: str) -> None:
    """Only timestamps <= now move, in timestamp order; the future stays delayed."""
    r = _raw(redis_url)
    now = int(time.time())
    _push_foreign(r, now - 1, b'{"class":"A","args":[2],"queue":"q"}')
    _push_foreign(r, now - 50, b'{"class":"A","args":[1],"queue":"q"}')
    rapp.enqueue_at(now + 3600, "q", "A", 3)
    Scheduler(rapp, interval=1).poll()
    assert [json.loads(x)["args"] for x in r.lrange("resque:queue:q", 0, -1)] == [[1], [2]]
    assert rapp.delayed_timestamps() == [now + 3600]


def test_duplicate_items_at_one_timestamp_are_each_promoted(rapp: Resque, redis_url: str) -> None:
    """The same bytes three times: three jobs, nothing left behind."""
    r = _raw(redis_url)
    ts = int(time.time()) - 1
    for _ in range(3):
        rapp.backend.delayed.schedule(ts, RS_ITEM)
    assert Scheduler(rapp, interval=1).poll().promoted.promoted == 3
    assert r.llen("resque:queue:high") == 3
    assert r.exists(f"resque:delayed:{ts}") == 0


def test_promotion_round_trips_are_two_per_batch(redis_url: str) -> None:
    """2,500 due items at one timestamp, batch 1000: 1 + 3 x 2 + 1 round trips (+1 to load the script)."""
    client, counter = counting_client(redis_url)
    app = Resque(RedisBackend(client))
    ts = int(time.time()) - 1
    pipe = client.pipeline(transaction=False)
    for i in range(2500):
        pipe.rpush(f"resque:delayed:{ts}", b'{"class":"A","args":[%d],"queue":"q"}' % i)
    pipe.zadd("resque:delayed_queue_schedule", {str(ts): ts})
    pipe.execute()
    counter.sent = 0
    result = Promoter(app, batch_size=1000).promote_due(ts + 1)
    assert result.promoted == 2500
    assert counter.sent in (8, 9)  # 9 when the script is not cached yet (NOSCRIPT, then EVAL)
    assert app.size("q") == 2500


NODE_ITEM = b'{"class":"Foo::Bar","queue":"high","args":[1,"a/b"]}'
PHP_ITEM = b'{"class":"Foo::Bar","args":[1,"a\\/b"],"queue":"high"}'


def test_remove_delayed_where_removes_every_writers_encoding(rapp: Resque, redis_url: str) -> None:
    """A predicate removes Ruby-, node- and PHP-encoded items of one job; others stay; index stays exact."""
    r = _raw(redis_url)
    at = int(time.time()) + 600
    _push_foreign(r, at, NODE_ITEM, index=True)
    _push_foreign(r, at, PHP_ITEM)
    rapp.enqueue_at(at, "high", "Foo::Bar", 1, "a/b")
    rapp.enqueue_at(at, "high", "Foo::Bar", 1, "a/b")
    rapp.enqueue_at(at + 1, "high", "Foo::Bar", 2)
    found = rapp.find_delayed(lambda j: j.class_name == "Foo::Bar" and j.args == (1, "a/b"))
    assert len(found) == 4
    assert rapp.remove_delayed_where(lambda j: j.args == (1, "a/b") and j.queue == "high") == 4
    assert rapp.delayed_timestamps() == [at + 1]
    assert rapp.scheduled_at("high", "Foo::Bar", 1, "a/b") == []
    assert r.exists(b"resque:timestamps:" + NODE_ITEM) == 0


def test_remove_delayed_where_keeps_the_index_while_a_copy_remains(rapp: Resque, redis_url: str) -> None:
    """Removing one of two identical items leaves scheduled_at pointing at the other."""
    at = int(time.time()) + 600
    rapp.enqueue_at(at, "high", "Foo::Bar", 1, "a/b", payload_form="ruby")
    rapp.enqueue_at(at, "high", "Foo::Bar", 1, "a/b", payload_form="ruby")
    assert rapp.backend.delayed.remove_items(at, [RS_ITEM]) == 1
    assert rapp.scheduled_at("high", "Foo::Bar", 1, "a/b") == [at]
    assert rapp.backend.delayed.remove_items(at, [RS_ITEM, RS_ITEM]) == 1
    assert rapp.scheduled_at("high", "Foo::Bar", 1, "a/b") == [] and rapp.delayed_count() == 0


def test_enqueue_delayed_where_moves_matching_items_now_exactly_once(rapp: Resque, redis_url: str) -> None:
    """Matching future items (any encoding) are enqueued now; the rest stay delayed."""
    r = _raw(redis_url)
    at = int(time.time()) + 600
    _push_foreign(r, at, NODE_ITEM)
    rapp.enqueue_at(at, "high", "Foo::Bar", 1, "a/b", payload_form="ruby")
    rapp.enqueue_at(at, "high", "Other", 3)
    assert rapp.enqueue_delayed_where(lambda j: j.class_name == "Foo::Bar") == 2
    assert sorted(r.lrange("resque:queue:high", 0, -1)) == sorted([NODE_ITEM, RS_ITEM])
    assert rapp.enqueue_delayed_where(lambda j: j.class_name == "Foo::Bar") == 0
    assert [d.job.class_name for d in rapp.delayed_peek(0, 5) if d.job] == ["Other"]
