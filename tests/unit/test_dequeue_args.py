"""app.dequeue finds what app.enqueue wrote, for args the serializer changes on the way."""

from __future__ import annotations

import pytest

from pyresque import Resque
from pyresque.core.errors import EncodeError
from pyresque.testing import drain

SEEN: list[object] = []


def job_a(*args: object) -> None:
    SEEN.append(args)


@pytest.fixture
def app() -> Resque:
    SEEN.clear()
    resque = Resque("fakeredis://")
    resque.job(job_a, name="JobA")
    return resque


@pytest.mark.parametrize(
    "args",
    [
        ((1, 2),),
        ({1: "a", 2: "b"},),
        ([(1, 2), {"k": (3,)}], "x"),
        ({"nested": {10: [(1,)]}},),
    ],
    ids=["tuple", "int-keys", "nested-tuples", "nested-int-keys"],
)
def test_dequeue_with_enqueue_args_removes_the_job(app: Resque, args: tuple[object, ...]) -> None:
    app.enqueue("q", job_a, *args)
    app.enqueue("q", job_a, "other")
    assert app.dequeue("q", job_a, *args) == 1
    drain(app)
    assert SEEN == [("other",)]


def test_dequeue_with_unserializable_args_is_a_clear_error(app: Resque) -> None:
    app.enqueue("q", job_a, 1)
    with pytest.raises(EncodeError):
        app.dequeue("q", job_a, {1, 2})
    assert app.size("q") == 1


def test_plain_args_still_match_exactly(app: Resque) -> None:
    app.enqueue("q", job_a, 1, "b")
    assert app.dequeue("q", job_a, 1, "c") == 0
    assert app.dequeue("q", job_a, 1, "b") == 1
