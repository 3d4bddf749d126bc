"""Statistics reports for supervisors: closed days and closed weeks only, small counts withheld.

A report covers a period of whole local days that have ended (today is never shown, so no one
can watch a day's counts grow hour by hour), and an hour-of-week profile over at least
``MIN_PROFILE_WEEKS`` whole weeks (never the hour of one specific day). Every number of every
table goes through :func:`chatserver.stats.disclosure.protect` in one pass, so a withheld count
cannot be worked out from totals anywhere in the report.

Topics are a multiple choice, so their counts add up to mentions, not chats: the topics table's
total is the sum of its cells (exact, so it protects like any other line), and the number of
chats with topics is a counter of its own, shown beside the ended chats without topics.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from chatserver.stats.counters import (
    DURATION_BUCKETS,
    ENTRIES,
    LANGS,
    TOPIC_CHATS,
    TOPIC_EVENT,
    WAIT_BUCKETS,
    StatsStore,
)
from chatserver.stats.disclosure import Line, protect

PERIODS = ("week", "month", "quarter", "year", "custom")
MAX_DAYS = 3 * 366 + 1
MIN_PROFILE_WEEKS = 4
TOTALS = ("requested", "accepted", "abandoned", "refused", "handed_off", "transferred",
          "ended", "drop_left", "drop_answered", "urgent")
ENTRY_EVENTS = ("requested", "accepted", "abandoned", "handed_off")
DAILY_EVENTS = ("requested", "accepted", "abandoned")

Key = tuple[object, ...]


class PeriodError(ValueError):
    """The asked-for period is malformed or holds no closed day."""


@dataclass(frozen=True)
class Period:
    kind: str
    first: date
    last: date
    # The date the picker was set to; "previous"/"next" move it by one period.
    anchor: date

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def local_today(now: float, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(now, tz).date()


def _span(kind: str, anchor: date) -> tuple[date, date]:
    if kind == "week":
        first = anchor - timedelta(days=anchor.weekday())
        return first, first + timedelta(days=6)
    if kind == "month":
        days = calendar.monthrange(anchor.year, anchor.month)[1]
        return anchor.replace(day=1), anchor.replace(day=days)
    if kind == "quarter":
        month = (anchor.month - 1) // 3 * 3 + 1
        first = date(anchor.year, month, 1)
        last_month = month + 2
        return first, date(anchor.year, last_month,
                           calendar.monthrange(anchor.year, last_month)[1])
    return date(anchor.year, 1, 1), date(anchor.year, 12, 31)


def shift(period: Period, steps: int) -> date:
    """The anchor of the period ``steps`` periods before (negative) or after this one."""
    if period.kind == "week":
        return period.anchor + timedelta(days=7 * steps)
    if period.kind == "custom":
        length = (period.last - period.first).days + 1
        return period.first + timedelta(days=length * steps)
    months = {"month": 1, "quarter": 3, "year": 12}[period.kind] * steps
    index = period.anchor.year * 12 + period.anchor.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def resolve(kind: str, today: date, anchor: str = "", start: str = "",
            end: str = "") -> Period:
    """The period to report for the picker's values; only days before ``today``."""
    if kind not in PERIODS:
        raise PeriodError("period must be week, month, quarter, year or custom")
    yesterday = today - timedelta(days=1)
    try:
        if kind == "custom":
            first, last = date.fromisoformat(start), date.fromisoformat(end)
            at = first
        else:
            at = date.fromisoformat(anchor) if anchor else yesterday
            first, last = _span(kind, at)
    except ValueError:
        raise PeriodError("dates must look like 2026-11-24") from None
    if first > last:
        raise PeriodError("the period must not end before it starts")
    if (last - first).days + 1 > MAX_DAYS:
        raise PeriodError("a period may span at most three years")
    last = min(last, yesterday)
    if first > last:
        raise PeriodError("this period has no day that has ended yet")
    return Period(kind, first, last, at)


def profile_weeks(period: Period) -> list[date]:
    """Mondays of the whole weeks the hour-of-week profile sums over.

    The whole weeks inside the period; if there are fewer than ``MIN_PROFILE_WEEKS``, the
    ``MIN_PROFILE_WEEKS`` whole weeks that end last on or before the period's last day.
    """
    after = period.last + timedelta(days=1)
    last_monday = after - timedelta(days=after.weekday()) - timedelta(days=7)
    inside = []
    monday = last_monday
    while monday >= period.first:
        inside.append(monday)
        monday -= timedelta(days=7)
    if len(inside) >= MIN_PROFILE_WEEKS:
        return sorted(inside)
    return sorted(last_monday - timedelta(days=7 * i) for i in range(MIN_PROFILE_WEEKS))


@dataclass
class Row:
    label: str
    keys: list[Key]


@dataclass
class Table:
    """One table of the report; labels are message ids (or ISO dates for days)."""

    name: str
    columns: list[str]
    rows: list[Row]


@dataclass
class Report:
    period: Period
    threshold: int
    values: dict[Key, int]
    hidden: set[Key]
    tables: dict[str, Table] = field(default_factory=dict)
    weeks: list[date] = field(default_factory=list)

    def value(self, key: Key) -> int | None:
        """The count, or None when it is withheld."""
        return None if key in self.hidden else self.values.get(key, 0)

    def small(self, key: Key) -> bool:
        """True for a withheld count below the threshold (shown as "<5")."""
        return key in self.hidden and 0 < self.values.get(key, 0) < self.threshold

    def share(self, part: Key, whole: Key) -> float | None:
        """``part`` as a fraction of ``whole``, when both are shown and ``whole`` is not 0."""
        p, w = self.value(part), self.value(whole)
        if p is None or w is None or w == 0:
            return None
        return p / w


def _split(name: str) -> tuple[str, str, str, str]:
    parts = [*name.split("|"), "", "", ""][:4]
    return parts[0], parts[1], parts[2], parts[3]


async def build(store: StatsStore, period: Period, threshold: int,
                topics: Sequence[str] = ()) -> Report:
    """Read the counters of ``period`` and lay them out as protected tables.

    ``topics`` are the configured topic ids, in their order; ids counted earlier and no longer
    configured follow, so their counts are not lost from the report.
    """
    daily = await store.daily(period.first, period.last)
    weeks = profile_weeks(period)
    profile = await store.weekly(weeks, "requested")

    values: Counter[Key] = Counter()
    for day, counts in daily.items():
        for name, n in counts.items():
            event, entry, lang, bucket = _split(name)
            values[("all", event)] += n
            if event in DAILY_EVENTS:
                values[("day", day, event)] += n
            if event in ENTRY_EVENTS and entry in ENTRIES:
                values[("entry", entry, event)] += n
            if event == "requested" and lang in LANGS:
                values[("lang", lang)] += n
            if event in ("accepted", "abandoned"):
                values[("wait", bucket, event)] += n
                values[("wait", bucket, None)] += n
                values[("wait", None, None)] += n
            if event == "ended":
                values[("duration", bucket)] += n
            if event == TOPIC_EVENT and entry:
                values[("topic", entry)] += n
            if event == TOPIC_CHATS:
                values[("topics", "chats")] += n
    for how, n in profile.items():
        dow, hour = divmod(how, 24)
        values[("how", dow, hour)] += n
        values[("how", dow, None)] += n
        values[("how", None, hour)] += n
        values[("how", None, None)] += n

    topic_ids = list(dict.fromkeys(topics))
    topic_ids += sorted({str(k[1]) for k in values if k[0] == "topic"} - set(topic_ids))
    values[("topics", "mentions")] = sum(values[("topic", t)] for t in topic_ids)
    # Chats with topics are counted in the same hour as their end; the guard is only for a
    # database someone edited by hand.
    values[("topics", "none")] = max(0, values[("all", "ended")] - values[("topics", "chats")])

    lines: list[Line[Key]] = []
    days = period.days
    waits = [label for _, label in WAIT_BUCKETS]
    durations = [label for _, label in DURATION_BUCKETS]
    for event in DAILY_EVENTS:
        lines.append(Line(("all", event), tuple(("day", d, event) for d in days)))
    for d in days:
        lines.append(Line(("day", d, "requested"),
                          (("day", d, "accepted"), ("day", d, "abandoned"))))
    for event in ENTRY_EVENTS:
        lines.append(Line(("all", event), tuple(("entry", e, event) for e in ENTRIES)))
    for e in ENTRIES:
        lines.append(Line(("entry", e, "requested"),
                          (("entry", e, "accepted"), ("entry", e, "abandoned"))))
    lines.append(Line(("all", "requested"), (("all", "accepted"), ("all", "abandoned"))))
    lines.append(Line(("all", "requested"), tuple(("lang", lang) for lang in LANGS)))
    for event in ("accepted", "abandoned"):
        lines.append(Line(("all", event), tuple(("wait", b, event) for b in waits)))
    for b in waits:
        lines.append(Line(("wait", b, None), (("wait", b, "accepted"), ("wait", b, "abandoned"))))
    lines.append(Line(("wait", None, None), tuple(("wait", b, None) for b in waits)))
    lines.append(Line(("wait", None, None), (("all", "accepted"), ("all", "abandoned"))))
    lines.append(Line(("all", "ended"), tuple(("duration", b) for b in durations)))
    lines.append(Line(("topics", "mentions"), tuple(("topic", t) for t in topic_ids)))
    lines.append(Line(("all", "ended"), (("topics", "chats"), ("topics", "none"))))
    for dow in range(7):
        lines.append(Line(("how", dow, None), tuple(("how", dow, h) for h in range(24))))
    for hour in range(24):
        lines.append(Line(("how", None, hour), tuple(("how", dow, hour) for dow in range(7))))
    lines.append(Line(("how", None, None), tuple(("how", dow, None) for dow in range(7))))
    lines.append(Line(("how", None, None), tuple(("how", None, h) for h in range(24))))
    if weeks[0] >= period.first and weeks[-1] + timedelta(days=6) <= period.last:
        # The profile's weekday totals can then be added up from the daily table too.
        for dow in range(7):
            lines.append(Line(("how", dow, None), tuple(
                ("day", w + timedelta(days=dow), "requested") for w in weeks)))

    # Every key a table shows, zero or not, takes part in the protection.
    for line in lines:
        for key in (line.total, *line.cells):
            values.setdefault(key, 0)
    for event in TOTALS:
        values.setdefault(("all", event), 0)
    hidden = protect(values, lines, threshold)
    report = Report(period, threshold, dict(values), hidden, weeks=weeks)

    t = report.tables
    t["totals"] = Table("totals", ["count"], [Row(e, [("all", e)]) for e in TOTALS])
    t["daily"] = Table("daily", list(DAILY_EVENTS),
                       [Row(d.isoformat(), [("day", d, e) for e in DAILY_EVENTS]) for d in days]
                       + [Row("total", [("all", e) for e in DAILY_EVENTS])])
    t["entries"] = Table("entries", list(ENTRY_EVENTS),
                         [Row(e, [("entry", e, ev) for ev in ENTRY_EVENTS]) for e in ENTRIES]
                         + [Row("total", [("all", ev) for ev in ENTRY_EVENTS])])
    t["languages"] = Table("languages", ["requested"],
                           [Row(lang, [("lang", lang)]) for lang in LANGS]
                           + [Row("total", [("all", "requested")])])
    t["wait"] = Table("wait", ["accepted", "abandoned", "total"],
                      [Row("wait:" + b, [("wait", b, "accepted"), ("wait", b, "abandoned"),
                                         ("wait", b, None)]) for b in waits]
                      + [Row("total", [("all", "accepted"), ("all", "abandoned"),
                                       ("wait", None, None)])])
    t["duration"] = Table("duration", ["ended"],
                          [Row("duration:" + b, [("duration", b)]) for b in durations]
                          + [Row("total", [("all", "ended")])])
    t["topics"] = Table("topics", ["mentions"],
                        [Row("topic:" + tid, [("topic", tid)]) for tid in topic_ids]
                        + [Row("total", [("topics", "mentions")])])
    t["topic_chats"] = Table("topic_chats", ["ended"],
                             [Row("topics:with", [("topics", "chats")]),
                              Row("topics:without", [("topics", "none")]),
                              Row("total", [("all", "ended")])])
    t["profile"] = Table("profile", [str(h) for h in range(24)] + ["total"],
                         [Row(f"dow:{dow}", [("how", dow, h) for h in range(24)]
                              + [("how", dow, None)]) for dow in range(7)]
                         + [Row("total", [("how", None, h) for h in range(24)]
                                + [("how", None, None)])])
    return report
