"""Golden bytes for what Ruby matches byte for byte: floats as ``Float#to_s`` writes
them (Ruby's json gem calls it), and the Ruby payload form ``{"class","args"}`` that
``Resque.dequeue(Klass, *args)`` removes with ``LREM``.

The float samples follow ``flo_to_s`` in Ruby's numeric.c: an exponent form always has
a fraction digit (``1.0e+20``), exponents have a sign and at least two digits, and a
float with no fraction digits is written in exponent form from 1e15 on (Python's repr
waits until 1e16).
"""

from __future__ import annotations

import time

import pytest

from pyresque import Resque
from pyresque.serializers.json import JsonSerializer, dumps_text

RUBY_FLOATS = [
    (1e20, "1.0e+20"),
    (-1e20, "-1.0e+20"),
    (1e-05, "1.0e-05"),
    (1.5e-05, "1.5e-05"),
    (2.5e-10, "2.5e-10"),
    (1e100, "1.0e+100"),
    (5e-324, "5.0e-324"),
    (1e16, "1.0e+16"),
    (1e15, "1.0e+15"),
    (-1e15, "-1.0e+15"),
    (1.5e15, "1.5e+15"),
    (1234567890123456.0, "1.234567890123456e+15"),
    (1e15 + 0.5, "1000000000000000.5"),
    (1e14, "100000000000000.0"),
    (100.0, "100.0"),
    (0.0, "0.0"),
    (-0.0, "-0.0"),
    (0.0001, "0.0001"),
    (0.1, "0.1"),
    (1234567.1234567894, "1234567.1234567894"),
    (1.7976931348623157e308, "1.7976931348623157e+308"),
    (1795454611.123456, "1795454611.123456"),
]


def test_floats_are_written_as_ruby_writes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every float, alone and inside arrays and objects, has Float#to_s's bytes; the
    samples Python already writes that way (100.0, 0.0001 ...) stay as they are, and
    queue_time stays a fractional float in plain notation (a whole-second clock too)."""
    serializer = JsonSerializer()
    for value, ruby in RUBY_FLOATS:
        assert serializer.dumps(value) == ruby.encode(), value
        assert serializer.dumps([value, {"k": value}]) == f'[{ruby},{{"k":{ruby}}}]'.encode(), value
        assert dumps_text([value]) == f"[{ruby}]", value
        assert serializer.loads(serializer.dumps(value)) == value
    monkeypatch.setattr(time, "time", lambda: 1795454611.0)
    app = Resque("fakeredis://")
    app.enqueue("q", "X")
    assert app.backend.broker.peek("q")[0].endswith(b',"queue_time":1795454611.000001}')


def test_strings_that_look_like_floats_are_kept() -> None:
    """Only numbers change: a string holding ``1e+20`` (escaped quotes too) is kept."""
    value = ["1e+20", 'a"1e-05', "x\\", 1e20, "1000000000000000.0"]
    assert dumps_text(value) == '["1e+20","a\\"1e-05","x\\\\",1.0e+20,"1000000000000000.0"]'


def test_ruby_form_payload_bytes() -> None:
    """The Ruby form is exactly what Ruby's Resque.dequeue(X, 1, "a") LREMs."""
    app = Resque("fakeredis://", payload_form="ruby")
    assert app.enqueue("q", "X", 1, "a") == ""
    assert app.backend.broker.peek("q") == [b'{"class":"X","args":[1,"a"]}']
    per_call = Resque("fakeredis://")
    per_call.enqueue("q", "X", 1, "a", payload_form="ruby")
    assert per_call.backend.broker.peek("q") == [b'{"class":"X","args":[1,"a"]}']


def test_ruby_form_floats_match_ruby_bytes() -> None:
    """A Ruby-form job with float args has the bytes Ruby would write for the same call."""
    app = Resque("fakeredis://", payload_form="ruby")
    app.enqueue("q", "X", 1e20, 1.5e-05, 2.0)
    assert app.backend.broker.peek("q") == [b'{"class":"X","args":[1.0e+20,1.5e-05,2.0]}']


def test_delayed_item_floats_match_resque_scheduler_bytes() -> None:
    """A delayed item's floats have Ruby's bytes (remove_delayed and delayed? match them)."""
    item = Resque("fakeredis://").delayed_item("q", "X", 1e20, 1e-05)
    assert item == b'{"class":"X","args":[1.0e+20,1.0e-05],"queue":"q"}'
