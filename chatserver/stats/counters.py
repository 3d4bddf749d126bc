"""Anonymous volume statistics: aggregate counters only, never a chat, a person or an id.

The recorder listens to the relay's lifecycle events (which carry no ids) and adds one to a
counter in the current UTC hour's bucket of the shared state (Redis or memory). Every few
minutes one node takes the closed hours out of the state and adds them to two tables in the
database: counts per local day, and request counts per local hour-of-week per week. A Redis
restart so loses at most the hour that is still open. Reading, and the disclosure control
that decides what may be shown, live in :mod:`chatserver.stats.report` and
:mod:`chatserver.stats.disclosure`.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.config import TOPIC_ID
from chatserver.records.schema import stats_daily, stats_weekly
from chatserver.relay.events import (
    ChatAbandoned,
    ChatAccepted,
    ChatEnded,
    ChatHandedOff,
    ChatRefused,
    ChatRequested,
    ChatTransferred,
    DropAnswered,
    DropLeft,
    LifecycleEvent,
    TopicsChosen,
    UrgentRequested,
)
from chatserver.vocabulary import Entry, Lang

log = logging.getLogger(__name__)

# Counter names are built only from these fixed sets, so no client-made text is ever stored.
ENTRIES = tuple(entry.value for entry in Entry)
LANGS = tuple(lang.value for lang in Lang)
# Upper bounds in seconds, with the label each bucket is stored under.
WAIT_BUCKETS = ((60, "0-1"), (120, "1-2"), (300, "2-5"), (600, "5-10"), (1200, "10-20"),
                (math.inf, "20+"))
DURATION_BUCKETS = ((300, "0-5"), (900, "5-15"), (1800, "15-30"), (3600, "30-60"),
                    (math.inf, "60+"))
# Events whose hour-of-week profile is kept (summed over entry type and language).
WEEKLY_EVENTS = ("requested", "accepted", "abandoned")
ROLLUP_INTERVAL_S = 300.0
# The stored name of each counted event.
EVENT_NAMES: dict[type, str] = {
    ChatRequested: "requested", ChatAccepted: "accepted", ChatAbandoned: "abandoned",
    ChatEnded: "ended", ChatRefused: "refused", ChatHandedOff: "handed_off",
    ChatTransferred: "transferred", DropLeft: "drop_left", DropAnswered: "drop_answered",
    UrgentRequested: "urgent",
}


# Topics are counted apart from the events above: one ``topic|<id>`` per topic ticked, and one
# ``topic_chats`` per chat with any, so the report knows how many chats the topics describe.
TOPIC_EVENT = "topic"
TOPIC_CHATS = "topic_chats"


class Counters(Protocol):
    """Where hourly counters wait until they are rolled up: the relay's shared state."""

    async def add_counts(self, hour: str, counts: dict[str, int]) -> None: ...
    async def take_counts(self, before_hour: str) -> dict[str, dict[str, int]]: ...


def bucket(seconds: float, buckets: tuple[tuple[float, str], ...]) -> str:
    """The label of the first bucket whose bound ``seconds`` stays under."""
    for bound, label in buckets:
        if seconds < bound:
            return label
    return buckets[-1][1]


def metric(event: LifecycleEvent) -> str | None:
    """The counter an event adds to, or None for events statistics do not count."""
    match event:
        case DropLeft(lang=lang):
            return f"drop_left|drop|{lang if lang in LANGS else '-'}"
        case DropAnswered():
            return "drop_answered|drop|-"
        case UrgentRequested():
            return "urgent|-|-"
        case ChatAccepted(wait_s=wait) | ChatAbandoned(wait_s=wait):
            suffix = "|" + bucket(max(0.0, wait), WAIT_BUCKETS)
        case ChatEnded(duration_s=duration):
            suffix = "|" + bucket(max(0.0, duration), DURATION_BUCKETS)
        case ChatRequested() | ChatRefused() | ChatTransferred() | ChatHandedOff():
            suffix = ""
        case _:
            return None
    entry = event.entry if event.entry in ENTRIES else "other"
    lang = event.lang if event.lang in LANGS else "-"
    return f"{EVENT_NAMES[type(event)]}|{entry}|{lang}{suffix}"


def counts(event: LifecycleEvent) -> dict[str, int]:
    """The counters an event adds one to (none for events statistics do not count)."""
    if isinstance(event, TopicsChosen):
        # The ids were checked against the configured list at the edge; the pattern again
        # here keeps anything else out of a counter name.
        chosen = [t for t in dict.fromkeys(event.topics) if TOPIC_ID.match(t)]
        if not chosen:
            return {}
        return {**{f"{TOPIC_EVENT}|{t}": 1 for t in chosen}, TOPIC_CHATS: 1}
    counter = metric(event)
    return {} if counter is None else {counter: 1}


def event_time(event: LifecycleEvent) -> float | None:
    """When ``event`` happened, for events that say so."""
    at = getattr(event, "at", None)
    return float(at) if isinstance(at, int | float) else None


def hour_stamp(at: float) -> str:
    """The UTC hour of ``at`` as a sortable stamp, e.g. ``2026112514``."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y%m%d%H")


class Recorder:
    """A relay listener that turns lifecycle events into hourly counters in the shared state."""

    def __init__(self, counters: Counters, clock: Callable[[], float]) -> None:
        self.counters = counters
        self.clock = clock

    async def on_event(self, event: LifecycleEvent) -> None:
        added = counts(event)
        if not added:
            return
        when = event_time(event)
        await self.counters.add_counts(hour_stamp(self.clock() if when is None else when),
                                       added)


@dataclass(frozen=True)
class LocalHour:
    """Where a UTC hour falls in the organisation's time zone."""

    day: date
    week: date  # the Monday of its week
    hour_of_week: int  # 0 = Monday 0–1 h … 167 = Sunday 23–24 h


def local_hour(stamp: str, tz: ZoneInfo) -> LocalHour:
    utc = datetime.strptime(stamp, "%Y%m%d%H").replace(tzinfo=UTC)
    local = utc.astimezone(tz)
    day = local.date()
    return LocalHour(day, day - timedelta(days=day.weekday()),
                     day.weekday() * 24 + local.hour)


class StatsStore:
    """The durable counters in the database: added to by the roll-up, read by reports."""

    def __init__(self, engine: AsyncEngine, tz: ZoneInfo) -> None:
        self.engine = engine
        self.tz = tz

    async def add(self, hours: dict[str, dict[str, int]]) -> None:
        """Add the counters of whole UTC hours, in one transaction."""
        daily: Counter[tuple[str, str]] = Counter()
        weekly: Counter[tuple[str, int, str]] = Counter()
        for stamp, counts in hours.items():
            where = local_hour(stamp, self.tz)
            for name, n in counts.items():
                if n <= 0:
                    continue
                daily[(where.day.isoformat(), name)] += n
                event = name.split("|", 1)[0]
                if event in WEEKLY_EVENTS:
                    weekly[(where.week.isoformat(), where.hour_of_week, event)] += n
        if not daily:
            return
        async with self.engine.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            for (day, name), n in sorted(daily.items()):
                stmt = insert(stats_daily).values(day=day, metric=name, n=n)
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=["day", "metric"],
                    set_={"n": stats_daily.c.n + stmt.excluded.n}))
            for (week, hour, event), n in sorted(weekly.items()):
                stmt = insert(stats_weekly).values(week=week, hour=hour, event=event, n=n)
                await conn.execute(stmt.on_conflict_do_update(
                    index_elements=["week", "hour", "event"],
                    set_={"n": stats_weekly.c.n + stmt.excluded.n}))

    async def daily(self, first: date, last: date) -> dict[date, Counter[str]]:
        """Counters per local day from ``first`` to ``last`` (both included)."""
        out: dict[date, Counter[str]] = defaultdict(Counter)
        query = sa.select(stats_daily.c.day, stats_daily.c.metric, stats_daily.c.n).where(
            stats_daily.c.day.between(first.isoformat(), last.isoformat()))
        async with self.engine.connect() as conn:
            for day, name, n in await conn.execute(query):
                out[date.fromisoformat(day)][name] += int(n)
        return out

    async def weekly(self, weeks: Iterable[date], event: str) -> Counter[int]:
        """Counts of ``event`` per hour-of-week, summed over ``weeks`` (their Mondays)."""
        keys = [w.isoformat() for w in weeks]
        out: Counter[int] = Counter()
        if not keys:
            return out
        query = (sa.select(stats_weekly.c.hour, sa.func.sum(stats_weekly.c.n))
                 .where(stats_weekly.c.week.in_(keys), stats_weekly.c.event == event)
                 .group_by(stats_weekly.c.hour))
        async with self.engine.connect() as conn:
            for hour, n in await conn.execute(query):
                out[int(hour)] += int(n)
        return out


async def rollup(counters: Counters, store: StatsStore, before: float) -> int:
    """Move every hour that ended before ``before`` from the state into the database.

    Taking from the state is atomic, so two nodes never add the same hour twice; if the
    database refuses, the counters go back into the state for the next attempt. Returns the
    number of hours moved.
    """
    hours = await counters.take_counts(hour_stamp(before))
    if not hours:
        return 0
    try:
        await store.add(hours)
    except Exception:
        for stamp, counts in hours.items():
            await counters.add_counts(stamp, counts)
        raise
    return len(hours)


async def rollup_forever(counters: Counters, store: StatsStore, clock: Callable[[], float],
                         interval: float = ROLLUP_INTERVAL_S) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await rollup(counters, store, clock())
        except Exception as exc:  # the database may be briefly away; the state keeps them
            log.warning("statistics roll-up failed: %s", type(exc).__name__)
