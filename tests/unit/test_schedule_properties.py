"""Properties of schedule ticks (hypothesis): ticks agree however they are computed."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyresque.core.scheduling.schedule import Schedule

NOW = st.integers(min_value=1_000_000_000, max_value=2_000_000_000)
CRONS = st.sampled_from(["* * * * *", "*/7 * * * *", "0 */3 * * *", "*/20 * * * * *", "15 4 * * 1-5"])


@given(every=st.integers(min_value=1, max_value=86_400 * 7), now=NOW, frac=st.floats(0, 0.999))
def test_every_latest_and_next_tick_bracket_now(every: int, now: int, frac: float) -> None:
    """latest <= now < next, next - latest == every, and both are on the grid."""
    s = Schedule("p", "A", queue="q", every=every)
    latest, nxt = s.latest_tick(now + frac), s.next_tick(now + frac)
    assert latest is not None and nxt is not None
    assert latest <= now + frac < nxt
    assert nxt - latest == every
    assert latest % every == 0


@settings(max_examples=40, deadline=None)
@given(expr=CRONS, now=NOW, span=st.integers(min_value=0, max_value=4 * 3600))
def test_cron_ticks_between_match_stepping_with_next_tick(expr: str, now: int, span: int) -> None:
    """ticks_between equals repeated next_tick, and its last item is latest_tick."""
    s = Schedule("c", "A", queue="q", cron=expr)
    ticks = s.ticks_between(now, now + span, 100_000)
    stepped: list[int] = []
    t = now
    while (n := s.next_tick(t)) is not None and n <= now + span:
        stepped.append(n)
        t = n
    assert ticks == stepped
    latest = s.latest_tick(now + span)
    if ticks:
        assert latest == ticks[-1]
    else:
        assert latest is not None and latest <= now


@settings(max_examples=60)
@given(
    every=st.integers(min_value=1, max_value=600),
    start=NOW,
    gap=st.integers(min_value=0, max_value=5000),
    limit=st.integers(min_value=1, max_value=50),
)
def test_every_ticks_between_are_the_newest_ticks_after_the_last(
    every: int, start: int, gap: int, limit: int
) -> None:
    """ticks_between returns ascending grid ticks in (after, upto], the `limit` newest."""
    s = Schedule("p", "A", queue="q", every=every)
    ticks = s.ticks_between(start, start + gap, limit)
    assert ticks == sorted(set(ticks))
    assert all(start < t <= start + gap and t % every == 0 for t in ticks)
    full = [t for t in range(start + 1, start + gap + 1) if t % every == 0]
    assert ticks == full[-limit:]
