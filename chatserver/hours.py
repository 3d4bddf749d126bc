"""Office hours: a weekly schedule with holidays in one time zone, and whether it is open.

Pure and clock-free: every question takes the time as an argument, so that tests drive it
across daylight saving changes and holidays. The settings are
``CHATSERVER_OFFICE_HOURS`` (``"mon-fri 09:00-17:00; wed 18:00-20:00"``: items separated by
``;``, each one or more days or day ranges separated by ``,`` and one or more ``HH:MM-HH:MM``
windows separated by ``,``), ``CHATSERVER_HOLIDAYS`` (ISO dates, closed all day) and
``CHATSERVER_OFFICE_TIMEZONE``. The schedule says when the team means to be there; whether a
chat can start still follows duty (docs/operations.md, "Office hours").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
# A schedule with no opening in this many days has none (holidays cover at most a year or two).
HORIZON_DAYS = 800
MAX_HOLIDAYS = 400


@dataclass(frozen=True)
class Window:
    """Open on ``day`` (0 = Monday) from ``start`` to ``end``, in minutes after midnight."""

    day: int
    start: int
    end: int


@dataclass(frozen=True)
class Schedule:
    """Weekly windows, closed holidays and the time zone they are meant in."""

    windows: tuple[Window, ...]
    holidays: frozenset[date]
    zone: ZoneInfo

    @property
    def empty(self) -> bool:
        """True when no hours are set (availability then follows duty alone)."""
        return not self.windows

    def _local(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, self.zone)

    def _opens_on(self, day: date) -> list[Window]:
        if day in self.holidays:
            return []
        return sorted((w for w in self.windows if w.day == day.weekday()),
                      key=lambda w: w.start)

    def is_open(self, at: float) -> bool:
        """True if ``at`` (Unix seconds) falls in a window on a day that is no holiday."""
        local = self._local(at)
        minute = local.hour * 60 + local.minute
        return any(w.start <= minute < w.end for w in self._opens_on(local.date()))

    def next_opening(self, at: float) -> float | None:
        """When the next window after ``at`` begins (Unix seconds), or None if there is none.

        Wall-clock times are meant: 09:00 is 09:00 local time in summer and in winter. A window
        that begins in the hour a spring change skips begins when the clock shows it again.
        """
        local = self._local(at)
        minute = local.hour * 60 + local.minute
        for offset in range(HORIZON_DAYS):
            day = local.date() + timedelta(days=offset)
            for w in self._opens_on(day):
                if offset == 0 and w.start <= minute:
                    continue
                start = datetime.combine(day, time(w.start // 60, w.start % 60), self.zone)
                stamp = start.timestamp()
                if datetime.fromtimestamp(stamp, self.zone).time() != start.time():
                    # Skipped by the spring change: open from the first minute the clock shows
                    # inside the window (none if the whole window was skipped).
                    early = int(start.replace(fold=1).timestamp())
                    found = [t for t in range(early, int(stamp) + 1, 60) if self.is_open(t)]
                    if not found:
                        continue
                    stamp = found[0]
                return float(max(stamp, at))
        return None

    def weekly(self) -> list[dict[str, int]]:
        """The windows as the widget renders them, Monday first: ``{day, start, end}``."""
        return [{"day": w.day, "start": w.start, "end": w.end}
                for w in sorted(self.windows, key=lambda w: (w.day, w.start))]


@dataclass(frozen=True)
class Availability:
    """What the widget is told: whether a chat can start (someone is on duty, inside the
    hours or not), whether the hours say open (None without a schedule), and when they next
    open (None while open, or when no window follows)."""

    chat: bool
    open: bool | None
    next_open: float | None


def availability(hours: Schedule, on_duty: int, now: float) -> Availability:
    """Duty decides whether a chat starts: a counsellor on duty outside the hours is there,
    and is offered; inside the hours with nobody on duty the visitor can leave a message."""
    if hours.empty:
        return Availability(on_duty > 0, None, None)
    is_open = hours.is_open(now)
    return Availability(on_duty > 0, is_open, None if is_open else hours.next_opening(now))


def _day(name: str, item: str) -> int:
    try:
        return DAYS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"{item!r}: {name.strip()!r} is no day (use {', '.join(DAYS)})") from None


def _days(spec: str, item: str) -> list[int]:
    days: list[int] = []
    for part in spec.split(","):
        first, dash, last = part.partition("-")
        if not dash:
            days.append(_day(first, item))
            continue
        a, b = _day(first, item), _day(last, item)
        span = (b - a) % 7
        days.extend((a + i) % 7 for i in range(span + 1))
    return days


def _minutes(hours: str, minutes: str, item: str, end: bool) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m) or (h == 24 and not end):
        raise ValueError(f"{item!r}: {hours}:{minutes} is no time of day (00:00 to 24:00)")
    return h * 60 + m


def parse_hours(text: str) -> tuple[Window, ...]:
    """The windows of ``"mon-fri 09:00-17:00; wed 18:00-20:00"``; ValueError names the item."""
    windows: list[Window] = []
    for item in text.split(";"):
        item = item.strip()
        if not item:
            continue
        days, _, ranges = item.partition(" ")
        if not ranges.strip():
            raise ValueError(f"{item!r} is not like 'mon-fri 09:00-17:00'")
        for spec in ranges.replace(" ", "").split(","):
            match = _WINDOW.match(spec)
            if not match:
                raise ValueError(f"{item!r}: {spec!r} is not a window like 09:00-17:00")
            start = _minutes(match[1], match[2], item, end=False)
            end = _minutes(match[3], match[4], item, end=True)
            if end <= start:
                raise ValueError(f"{item!r}: {spec!r} ends before it begins (a window past "
                                 "midnight is two: 'fri 22:00-24:00; sat 00:00-02:00')")
            windows.extend(Window(day, start, end) for day in _days(days, item))
    return tuple(windows)


def parse_holidays(items: tuple[str, ...]) -> frozenset[date]:
    """ISO dates (``2026-12-24``); ValueError names the first one that is not."""
    days = set()
    for item in items:
        try:
            days.add(date.fromisoformat(item.strip()))
        except ValueError:
            raise ValueError(f"{item!r} is not a date like 2026-12-24") from None
    if len(days) > MAX_HOLIDAYS:
        raise ValueError(f"at most {MAX_HOLIDAYS} dates")
    return frozenset(days)


def parse_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError if there is none of that name."""
    try:
        return ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ValueError(f"{name!r} is not a time zone like Europe/Berlin") from None


def schedule(hours: str, holidays: tuple[str, ...], zone: str) -> Schedule:
    """The schedule of the three settings (each checked by its own parser)."""
    return Schedule(parse_hours(hours), parse_holidays(holidays), parse_zone(zone))
