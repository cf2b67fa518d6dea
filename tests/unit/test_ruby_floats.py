"""Every float is written as Ruby's ``Float#to_s`` writes it (what the json gem emits).

The reference below restates ``flo_to_s`` from Ruby's numeric.c on the shortest
round-trip digits (Ruby's ``ruby_dtoa`` mode 0 and Python's repr give the same digits).
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from pyresque.serializers.json import JsonSerializer, dumps_text, ruby_floats

DBL_DIG = 15


def shortest_digits(value: float) -> tuple[str, int]:
    """The shortest digits of ``value`` > 0 and its decimal point position (dtoa's decpt)."""
    mantissa, _, exponent = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    shift = int(exponent) if exponent else 0
    digits = (whole + fraction).lstrip("0")
    leading_zeros = len(whole + fraction) - len(digits)
    decpt = len(whole) - leading_zeros + shift
    return digits.rstrip("0") or "0", decpt


def ruby_float_to_s(value: float) -> str:
    """Ruby's Float#to_s for a finite float (numeric.c, flo_to_s)."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    digits, decpt = shortest_digits(abs(value))
    digs = len(digits)
    if 0 < decpt < digs:
        return f"{sign}{digits[:decpt]}.{digits[decpt:]}"
    if 0 < decpt <= DBL_DIG:
        return f"{sign}{digits}{'0' * (decpt - digs)}.0"
    if -4 < decpt <= 0:
        return f"{sign}0.{'0' * -decpt}{digits}"
    return f"{sign}{digits[0]}.{digits[1:] or '0'}e{decpt - 1:+03d}"


def test_reference_matches_ruby_samples() -> None:
    """The reference itself gives Ruby's documented outputs."""
    samples = {1e20: "1.0e+20", 1.5e-05: "1.5e-05", 100.0: "100.0", 1e16: "1.0e+16", 1e15: "1.0e+15"}
    for value, ruby in samples.items():
        assert ruby_float_to_s(value) == ruby
    assert ruby_float_to_s(3.14) == "3.14"
    assert ruby_float_to_s(10.1**50) == "1.644631821843879e+50"  # Float#to_s's own doc example


@settings(max_examples=2000, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_float_is_written_as_ruby_writes_it(value: float) -> None:
    """Any finite float: Ruby's bytes, and it reads back to the same float."""
    ruby = ruby_float_to_s(value)
    assert dumps_text([value, "1e+5", value]) == f'[{ruby},"1e+5",{ruby}]'
    assert JsonSerializer().loads(ruby.encode()) == value


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=10**14, max_value=10**17).map(float))
def test_integral_floats_near_the_thresholds(value: float) -> None:
    """Whole floats around 1e15 and 1e16, where Ruby and Python part ways."""
    assert dumps_text(value) == ruby_float_to_s(value)


def test_text_without_floats_is_returned_as_is() -> None:
    """No float to fix: the very same string object (the cheap path)."""
    text = '{"class":"X","args":[1,"e","0.5"],"queue_time":1795454611.123456}'
    assert ruby_floats(text) is text
