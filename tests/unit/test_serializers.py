"""Serializers: Ruby-compatible JSON bytes, msgpack, and cross-format reading."""

from __future__ import annotations

import pytest

from pyresque import DecodeError, EncodeError, UnknownSerializerError
from pyresque.serializers import get_serializer, load_any, sniff_format
from pyresque.serializers.json import JsonSerializer
from pyresque.serializers.msgpack import MsgpackSerializer


def test_json_is_compact_with_raw_utf8_and_unescaped_slash() -> None:
    """JSON bytes match Ruby's JSON gem: no spaces, raw UTF-8, '/' unescaped."""
    data = JsonSerializer().dumps({"class": "Foo::Bar", "args": [1, "a/b", "é", None, True, 1.5]})
    assert data == '{"class":"Foo::Bar","args":[1,"a/b","é",null,true,1.5]}'.encode()


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object(), float("nan"), float("inf")])
def test_json_refuses_values_it_cannot_carry(value: object) -> None:
    """Sets, bytes, objects, NaN and infinity raise EncodeError."""
    with pytest.raises(EncodeError):
        JsonSerializer().dumps({"args": [value]})


def test_json_decode_error_keeps_the_raw_bytes() -> None:
    """Undecodable bytes raise DecodeError that carries them."""
    with pytest.raises(DecodeError) as info:
        JsonSerializer().loads(b"{not json")
    assert info.value.raw == b"{not json"


def test_msgpack_round_trips() -> None:
    """msgpack decodes what it encoded, with str keys and values."""
    ser = MsgpackSerializer()
    value = {"class": "X", "args": [1, "é", [1, 2], {"k": None}]}
    assert ser.loads(ser.dumps(value)) == value


def test_reader_identifies_either_format() -> None:
    """load_any decodes JSON or msgpack whichever serializer is preferred."""
    value = {"class": "X", "args": [1]}
    js, mp = JsonSerializer().dumps(value), MsgpackSerializer().dumps(value)
    assert sniff_format(js) == "json" and sniff_format(mp) == "msgpack"
    assert load_any(js, MsgpackSerializer()) == value
    assert load_any(mp, JsonSerializer()) == value


def test_reader_reports_garbage_clearly() -> None:
    """Bytes of neither format raise DecodeError naming both."""
    with pytest.raises(DecodeError, match="neither JSON nor msgpack"):
        load_any(b"\x00\x01garbage")


def test_unknown_serializer_name_is_rejected() -> None:
    """get_serializer rejects names it does not know."""
    with pytest.raises(UnknownSerializerError):
        get_serializer("pickle")
    assert get_serializer("msgpack").name == "msgpack"
