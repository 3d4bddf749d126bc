"""Office hours (chatserver/hours.py) on a fake clock: open and closed by the local wall clock
in summer and winter and across both daylight saving changes, closed all day on a holiday,
the next opening found past weekends and holidays; a counsellor on duty outside the hours is
offered, nobody on duty inside them is not; bad settings stop the start naming the setting."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chatserver.config import ConfigError, load_config
from chatserver.hours import Window, availability, parse_hours, schedule

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = "mon-fri 09:00-17:00; wed 18:00-20:00"


def at(text: str) -> float:
    """Unix seconds of a Berlin wall-clock time."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def local(stamp: float | None) -> str:
    assert stamp is not None
    return datetime.fromtimestamp(stamp, BERLIN).strftime("%a %Y-%m-%d %H:%M")


def test_the_settings_example_parses_into_windows() -> None:
    windows = parse_hours(HOURS)
    assert Window(0, 540, 1020) in windows and Window(4, 540, 1020) in windows
    assert Window(2, 1080, 1200) in windows
    assert len(windows) == 6
    # Day lists, wrapping ranges and several windows a day.
    assert {w.day for w in parse_hours("sat-mon 10:00-12:00")} == {5, 6, 0}
    assert len(parse_hours("mon,thu 08:00-12:00,13:00-16:30")) == 4
    assert parse_hours("") == () and parse_hours(" ; ") == ()


def test_open_by_the_wall_clock_in_winter_and_summer() -> None:
    hours = schedule(HOURS, (), "Europe/Berlin")
    # Winter (UTC+1) and summer (UTC+2): 09:00 local opens, 08:59 does not, 17:00 closes.
    for day in ("2026-01-13", "2026-07-14"):  # Tuesdays
        assert not hours.is_open(at(f"{day}T08:59"))
        assert hours.is_open(at(f"{day}T09:00"))
        assert hours.is_open(at(f"{day}T16:59"))
        assert not hours.is_open(at(f"{day}T17:00"))
    assert hours.is_open(at("2026-07-15T19:30"))  # Wednesday evening
    assert not hours.is_open(at("2026-07-14T19:30"))  # not on Tuesday
    assert not hours.is_open(at("2026-07-18T12:00"))  # Saturday


def test_the_next_opening_across_both_daylight_saving_changes() -> None:
    hours = schedule(HOURS, (), "Europe/Berlin")
    # Spring: clocks go from 02:00 to 03:00 on Sunday 29 March 2026. Friday evening to Monday
    # 09:00 CEST, which is 07:00 UTC (in winter it was 08:00 UTC).
    nxt = hours.next_opening(at("2026-03-27T18:00"))
    assert local(nxt) == "Mon 2026-03-30 09:00"
    assert nxt == datetime(2026, 3, 30, 7, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    # Autumn: back from 03:00 to 02:00 on Sunday 25 October 2026; Monday 09:00 is 08:00 UTC.
    nxt = hours.next_opening(at("2026-10-23T17:30"))
    assert local(nxt) == "Mon 2026-10-26 09:00"
    assert nxt == datetime(2026, 10, 26, 8, 0, tzinfo=ZoneInfo("UTC")).timestamp()
    # On the change day itself, a window in the skipped or repeated hour.
    night = schedule("sun 02:30-03:30", (), "Europe/Berlin")
    spring = night.next_opening(at("2026-03-28T12:00"))
    assert spring is not None and night.is_open(spring)
    assert local(spring) == "Sun 2026-03-29 03:00"  # the first minute the clock shows
    autumn = night.next_opening(at("2026-10-24T12:00"))
    assert local(autumn) == "Sun 2026-10-25 02:30"
    # Later the same day, and while open there is still a next window (Wednesday evening).
    assert local(hours.next_opening(at("2026-07-15T12:00"))) == "Wed 2026-07-15 18:00"


def test_a_holiday_is_closed_all_day_and_skipped_for_the_next_opening() -> None:
    hours = schedule(HOURS, ("2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"),
                     "Europe/Berlin")
    assert not hours.is_open(at("2026-12-24T10:00"))  # Thursday, a holiday
    assert hours.is_open(at("2026-12-23T10:00"))
    assert local(hours.next_opening(at("2026-12-23T20:30"))) == "Mon 2026-12-28 09:00"
    assert local(hours.next_opening(at("2026-12-30T20:30"))) == "Mon 2027-01-04 09:00"


def test_duty_decides_whether_a_chat_starts_and_the_hours_what_is_said() -> None:
    hours = schedule(HOURS, ("2026-12-24",), "Europe/Berlin")
    inside, outside = at("2026-07-14T10:00"), at("2026-07-18T10:00")
    got = availability(hours, 1, inside)
    assert (got.chat, got.open, got.next_open) == (True, True, None)
    # Someone on duty outside the hours is there: the chat is offered, and the widget says so.
    got = availability(hours, 2, outside)
    assert (got.chat, got.open) == (True, False)
    assert local(got.next_open) == "Mon 2026-07-20 09:00"
    # Nobody on duty inside the hours: no chat, a message instead.
    got = availability(hours, 0, inside)
    assert (got.chat, got.open) == (False, True)
    # No schedule: duty alone, and the widget falls back to the free text.
    got = availability(schedule("", (), "Europe/Berlin"), 0, inside)
    assert (got.chat, got.open, got.next_open) == (False, None, None)


@pytest.mark.parametrize(("env", "value", "says"), [
    ("OFFICE_HOURS", "mon-fri 9-17", "is not a window like 09:00-17:00"),
    ("OFFICE_HOURS", "montag 09:00-17:00", "is no day"),
    ("OFFICE_HOURS", "mon 17:00-09:00", "ends before it begins"),
    ("OFFICE_HOURS", "mon 09:00-25:00", "is no time of day"),
    ("OFFICE_HOURS", "mon", "is not like 'mon-fri 09:00-17:00'"),
    ("HOLIDAYS", "2026-12-24,24.12.2026", "is not a date like 2026-12-24"),
    ("OFFICE_TIMEZONE", "Europe/Bonn", "is not a time zone like Europe/Berlin"),
    ("DROP_REPLY_DAYS", "0", "must be between 1 and 60"),
])
def test_a_bad_setting_stops_the_start_and_names_itself(env: str, value: str,
                                                          says: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"CHATSERVER_" + env: value})
    assert str(err.value).startswith("CHATSERVER_" + env + ": ")
    assert says in str(err.value)


def test_the_settings_reach_the_schedule() -> None:
    cfg = load_config({"CHATSERVER_OFFICE_HOURS": "sat 10:00-12:00",
                       "CHATSERVER_HOLIDAYS": "2026-07-18",
                       "CHATSERVER_OFFICE_TIMEZONE": "America/New_York"})
    hours = cfg.schedule
    new_york = ZoneInfo("America/New_York")
    saturday = datetime(2026, 7, 25, 11, 0, tzinfo=new_york).timestamp()
    assert hours.is_open(saturday)
    assert not hours.is_open(datetime(2026, 7, 18, 11, 0, tzinfo=new_york).timestamp())
    assert load_config({}).schedule.weekly()[0] == {"day": 0, "start": 540, "end": 1020}
