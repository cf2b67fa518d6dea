"""Recurring schedule definitions: durations, config parsing, ticks, files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pyresque import ConfigurationError
from pyresque.core.scheduling.schedule import Schedule, load_schedule_file, parse_duration, parse_schedules

UTC = dt.timezone.utc


def _ts(*parts: int, tz: dt.tzinfo = UTC) -> int:
    return int(dt.datetime(*parts, tzinfo=tz).timestamp())  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m", 60), ("1h30m", 5400), ("2d", 172800), ("1w", 604800), ("45", 45), (10, 10)],
)
def test_parse_duration_reads_rufus_durations(text: str | int, seconds: float) -> None:
    """rufus units s/m/h/d/w, combinations and bare numbers."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "1x", "m5", "5 m x"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    """Anything else is a ConfigurationError naming the value."""
    with pytest.raises(ConfigurationError, match="duration"):
        parse_duration(text)


def test_from_config_reads_resque_scheduler_keys() -> None:
    """class, every (string), queue, args, description as resque-scheduler writes them."""
    s = Schedule.from_config("x", {"class": "Foo::Bar", "every": "1m", "args": [1], "queue": "q"})
    assert (s.class_name, s.every, s.queue, s.args, s.cron) == ("Foo::Bar", 60, "q", (1,), None)


def test_from_config_reads_every_with_options_and_single_args() -> None:
    """every: [duration, {first_at}] and a non-list args become one argument."""
    s = Schedule.from_config(
        "x", {"class": "A", "every": ["10s", {"first_at": "2026-01-01T00:00:05Z"}], "args": {"k": 1}}
    )
    assert s.every == 10
    assert s.first_at == _ts(2026, 1, 1, 0, 0, 5)
    assert s.args == ({"k": 1},)


@pytest.mark.parametrize(
    "config",
    [
        {"every": "1m"},
        {"class": "A"},
        {"class": "A", "every": "1m", "cron": "* * * * *"},
        {"class": "A", "every": "0s"},
        {"class": "A", "every": "1.5s"},
        {"class": "A", "cron": "61 * * * *"},
        {"class": "A", "cron": "* * * * * Nowhere/City"},
        {"class": "A", "every": "1m", "queue": "a,b"},
    ],
)
def test_from_config_rejects_invalid_schedules(config: dict[str, object]) -> None:
    """Missing class, both/neither cron and every, bad values: ConfigurationError."""
    with pytest.raises(ConfigurationError):
        Schedule.from_config("bad", config)


def test_every_ticks_are_multiples_of_the_interval_from_the_epoch() -> None:
    """every 60 s ticks on whole minutes, the same in every process."""
    s = Schedule.from_config("m", {"class": "A", "every": "1m"})
    now = _ts(2026, 3, 1, 10, 5, 30)
    assert s.latest_tick(now) == _ts(2026, 3, 1, 10, 5)
    assert s.next_tick(now) == _ts(2026, 3, 1, 10, 6)
    assert s.latest_tick(_ts(2026, 3, 1, 10, 6)) == _ts(2026, 3, 1, 10, 6)


def test_every_honours_first_at_and_last_at() -> None:
    """No tick before first_at (ticks count from it), none after last_at."""
    first = _ts(2026, 3, 1, 10, 0, 7)
    s = Schedule.from_config("w", {"class": "A", "every": "10s", "first_at": first, "last_at": first + 30})
    assert s.latest_tick(first - 1) is None
    assert s.next_tick(first - 100) == first
    assert s.latest_tick(first + 15) == first + 10
    assert s.latest_tick(first + 1000) == first + 30
    assert s.next_tick(first + 30) is None
    assert s.ticks_between(first - 1, first + 1000, 100) == [first, first + 10, first + 20, first + 30]


def test_cron_ticks_in_utc_by_default_and_in_a_named_zone() -> None:
    """'0 5 * * *' is 05:00 UTC; with Europe/Stockholm it is 05:00 there (04:00 UTC in winter)."""
    utc = Schedule.from_config("u", {"class": "A", "cron": "0 5 * * *"})
    sthlm = Schedule.from_config("s", {"class": "A", "cron": "0 5 * * * Europe/Stockholm"})
    now = _ts(2026, 1, 10, 12, 0)
    assert utc.latest_tick(now) == _ts(2026, 1, 10, 5, 0)
    assert sthlm.latest_tick(now) == _ts(2026, 1, 10, 4, 0)
    assert utc.next_tick(now) == _ts(2026, 1, 11, 5, 0)


def test_cron_with_six_fields_puts_seconds_first() -> None:
    """'*/15 * * * * *' (rufus order) ticks every 15 seconds."""
    s = Schedule.from_config("q", {"class": "A", "cron": "*/15 * * * * *"})
    now = _ts(2026, 1, 1, 0, 0, 40)
    assert s.latest_tick(now) == _ts(2026, 1, 1, 0, 0, 30)
    assert s.ticks_between(now - 40, now, 10) == [now - 40 + 15, now - 40 + 30]


def test_a_tick_exactly_now_counts_as_due() -> None:
    """latest_tick(t) == t when t is a tick (cron and every)."""
    tick = _ts(2026, 1, 1, 6, 0)
    assert Schedule.from_config("c", {"class": "A", "cron": "0 6 * * *"}).latest_tick(tick) == tick
    assert Schedule.from_config("e", {"class": "A", "every": "1h"}).latest_tick(tick) == tick


def test_ticks_between_keeps_only_the_most_recent_limit() -> None:
    """A long gap is capped at the `limit` newest ticks."""
    s = Schedule.from_config("e", {"class": "A", "every": "1s"})
    assert s.ticks_between(100, 200, 3) == [198, 199, 200]
    c = Schedule.from_config("c", {"class": "A", "cron": "* * * * *"})
    assert c.ticks_between(0, 600, 2) == [540, 600]


def test_to_config_round_trips_a_python_schedule() -> None:
    """A Schedule built in Python turns into resque-scheduler's keys and back."""
    s = Schedule("n", "Foo::Bar", queue="q", args=(1, "x"), every=30, description="d")
    again = Schedule.from_config("n", s.to_config())
    assert again == s
    assert s.to_config() == {
        "class": "Foo::Bar",
        "every": "30s",
        "queue": "q",
        "args": [1, "x"],
        "description": "d",
    }


def test_parse_schedules_names_the_invalid_schedule() -> None:
    """An error in one schedule says which."""
    with pytest.raises(ConfigurationError, match="'broken'"):
        parse_schedules({"ok": {"class": "A", "every": "1m"}, "broken": {"class": "A"}})


def test_load_schedule_file_reads_yaml_toml_and_json(tmp_path: Path) -> None:
    """The same schedule from .yml, .toml and .json files."""
    (tmp_path / "s.yml").write_text(
        "clear_cache:\n  cron: '0 */2 * * *'\n  class: CacheClearer\n  queue: low\n  args: [1, x]\n"
        "  description: Clears the cache\n"
    )
    (tmp_path / "s.toml").write_text(
        '[clear_cache]\ncron = "0 */2 * * *"\nclass = "CacheClearer"\nqueue = "low"\nargs = [1, "x"]\n'
        'description = "Clears the cache"\n'
    )
    (tmp_path / "s.json").write_text(
        '{"clear_cache": {"cron": "0 */2 * * *", "class": "CacheClearer", "queue": "low", '
        '"args": [1, "x"], "description": "Clears the cache"}}'
    )
    loaded = [load_schedule_file(tmp_path / f"s.{ext}") for ext in ("yml", "toml", "json")]
    assert loaded[0] == loaded[1] == loaded[2]
    (s,) = loaded[0]
    assert (s.name, s.cron, s.class_name, s.queue, s.args) == (
        "clear_cache",
        "0 */2 * * *",
        "CacheClearer",
        "low",
        (1, "x"),
    )


def test_load_schedule_file_reports_unreadable_and_unknown_files(tmp_path: Path) -> None:
    """Missing file, wrong extension, broken YAML: ConfigurationError with the path."""
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_schedule_file(tmp_path / "missing.yml")
    (tmp_path / "s.ini").write_text("x")
    with pytest.raises(ConfigurationError, match=r"\.yml"):
        load_schedule_file(tmp_path / "s.ini")
    (tmp_path / "bad.yml").write_text("a: [unclosed\n")
    with pytest.raises(ConfigurationError, match="cannot parse"):
        load_schedule_file(tmp_path / "bad.yml")


def test_unknown_keys_are_reported() -> None:
    """A typo like 'qeue' is listed by unknown_keys (the CLI warns about it)."""
    s = Schedule.from_config("t", {"class": "A", "every": "1m", "qeue": "x"})
    assert s.unknown_keys() == ["qeue"]


def test_every_options_other_than_first_and_last_at_are_refused() -> None:
    """rufus' first_in/times depend on when a process started: refused with a hint, never ignored."""
    with pytest.raises(ConfigurationError, match="first_at / last_at"):
        Schedule.from_config("x", {"class": "A", "every": ["1m", {"first_in": "10s"}]})
    with pytest.raises(ConfigurationError, match="mapping"):
        Schedule.from_config("x", {"class": "A", "every": ["1m", "oops"]})
