"""Property: any JSON-able arguments survive enqueue -> payload -> job unchanged."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pyresque import Resque

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(args=st.lists(json_values, max_size=5), serializer=st.sampled_from(["json", "msgpack"]))
def test_json_able_args_round_trip_through_the_queue(args: list[Any], serializer: str) -> None:
    """What enqueue writes, a worker reads back as the same class and arguments."""
    app = Resque("fakeredis://", serializer=serializer)
    job_id = app.enqueue("q", "Echo", *args)
    raw = app.backend.broker.peek("q")[0]
    job = app.decode(raw, "q")
    assert job.class_name == "Echo" and job.id == job_id
    assert list(job.args) == args
