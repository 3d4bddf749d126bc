"""The supervisors' statistics page and its CSV export (roles ``supervisor`` and ``admin``).

Everything shown comes from :func:`chatserver.stats.report.build`, which has already withheld what
could point to a person; this module only lays the numbers out: tables, two SVG charts drawn
on the server (no charting script), and CSV in the reader's conventions (German: semicolons,
decimal comma, day.month.year, UTF-8 with a byte order mark so spreadsheets read it).
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web

from chatserver.records.accounts import Session
from chatserver.stats.counters import LANGS
from chatserver.stats.report import (
    PERIODS,
    Key,
    Period,
    PeriodError,
    Report,
    Table,
    build,
    local_today,
    resolve,
    shift,
)
from chatserver.vocabulary import STATS_ROLES
from chatserver.web.appkeys import CLOCK, STATS
from counsellor_console.common import CONSOLE_CONFIG, HERE, console_route, page

EVENT_COLUMNS = ("requested", "accepted", "abandoned", "refused", "handed_off", "transferred",
                 "ended", "drop_left", "drop_answered", "urgent")
TABLES = ("totals", "shares", "daily", "entries", "languages", "wait", "duration", "profile",
          "topics", "topic_chats")
MESSAGES = web.AppKey("stats_messages", dict)


def load_messages() -> dict[str, dict[str, str]]:
    """The statistics page's strings, German first."""
    return {lang: json.loads((HERE / "i18n" / f"stats.{lang}.json").read_text("utf-8"))
            for lang in LANGS}


class Formatter:
    """Numbers, dates and withheld counts the way a reader of ``lang`` writes them."""

    def __init__(self, lang: str, messages: dict[str, str], threshold: int,
                 topics: dict[str, str] | None = None) -> None:
        self.lang = lang
        self.messages = messages
        self.threshold = threshold
        # Configured topic labels in this language, by id.
        self.topics = topics or {}

    def msg(self, key: str, **values: Any) -> str:
        return self.messages[key].format(**values) if values else self.messages[key]

    def number(self, n: int, grouped: bool = True) -> str:
        text = f"{n:,}" if grouped else str(n)
        return text.replace(",", ".") if self.lang == "de" else text

    def percent(self, share: float | None) -> str:
        if share is None:
            return "–"
        text = f"{share * 100:.1f}"
        return text.replace(".", ",") + " %" if self.lang == "de" else text + "%"

    def date(self, day: date) -> str:
        return day.strftime("%d.%m.%Y") if self.lang == "de" else day.isoformat()

    def cell(self, report: Report, key: Key, grouped: bool = True) -> str:
        value = report.value(key)
        if value is not None:
            return self.number(value, grouped)
        return f"<{report.threshold}" if report.small(key) else "×"

    def row_label(self, label: str) -> str:
        if label == "total":
            return self.msg("total")
        if label[:4].isdigit():
            return self.date(date.fromisoformat(label))
        if label.startswith("topic:"):
            # An id no longer configured keeps its counts, under its id.
            topic = label.removeprefix("topic:")
            return self.topics.get(topic, topic)
        for prefix in ("entry.", "lang.", "event."):
            if prefix + label in self.messages:
                return self.msg(prefix + label)
        return self.msg(label)

    def column_label(self, column: str) -> str:
        if column.isdigit():
            return f"{int(column):02d}"
        if column in EVENT_COLUMNS:
            return self.msg("event." + column)
        return self.msg(column)


def shares(report: Report) -> list[tuple[str, float | None]]:
    """The share rows, computed only from counts that are shown."""
    return [
        ("share.answered", report.share(("all", "accepted"), ("all", "requested"))),
        ("share.abandoned", report.share(("all", "abandoned"), ("all", "requested"))),
        ("share.handed_off", report.share(("all", "handed_off"), ("all", "accepted"))),
    ]


def rows_of(report: Report, fmt: Formatter, name: str,
            grouped: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header and rows of table ``name``, formatted for reading or for CSV."""
    if name == "shares":
        return ([fmt.msg("table.shares"), fmt.msg("share")],
                [[fmt.msg(label), fmt.percent(value)] for label, value in shares(report)])
    table: Table = report.tables[name]
    first = {"daily": "day", "profile": "weekday"}.get(name, "table." + name)
    header = [fmt.msg(first)] + [fmt.column_label(c) for c in table.columns]
    body = [[fmt.row_label(row.label)] + [fmt.cell(report, k, grouped) for k in row.keys]
            for row in table.rows]
    return header, body


# -- charts, drawn as SVG on the server ------------------------------------------------

@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str
    withheld: bool


def daily_chart(report: Report, fmt: Formatter) -> dict[str, Any]:
    """Geometry of the requests-per-day bar chart; withheld days get a marker, no height."""
    width, height, left, bottom, top = 720.0, 200.0, 44.0, 24.0, 8.0
    days = report.period.days
    shown = [report.value(("day", d, "requested")) for d in days]
    peak = max([v for v in shown if v is not None] + [1])
    step = (width - left) / max(1, len(days))
    plot = height - bottom - top
    bars, labels = [], []
    every = 1 if len(days) <= 14 else 7 if len(days) <= 62 else 0
    for i, (day, value) in enumerate(zip(days, shown, strict=True)):
        x = left + i * step
        title = f"{fmt.date(day)}: {fmt.cell(report, ('day', day, 'requested'))}"
        if value is None:
            bars.append(Bar(x, height - bottom - 3, max(1.0, step * 0.8), 3, title, True))
        else:
            h = plot * value / peak
            bars.append(Bar(x, height - bottom - h, max(1.0, step * 0.8), h, title, False))
        if (every and i % every == 0) or (not every and day.day == 1):
            text = day.strftime("%d.%m.") if fmt.lang == "de" else day.strftime("%m-%d")
            labels.append({"x": x + step * 0.4, "text": text})
    ticks = [{"y": height - bottom - plot * f, "text": fmt.number(round(peak * f))}
             for f in (0.0, 0.5, 1.0)]
    return {"width": width, "height": height, "left": left, "base": height - bottom,
            "bars": bars, "labels": labels, "ticks": ticks}


def profile_chart(report: Report, fmt: Formatter) -> dict[str, Any]:
    """Geometry of the hour-of-week heat map (7 × 24 cells, five shades)."""
    left, top, cw, ch = 40.0, 18.0, 27.0, 22.0
    values = [report.value(("how", dow, h)) for dow in range(7) for h in range(24)]
    peak = max([v for v in values if v is not None] + [1])
    cells = []
    for dow in range(7):
        for hour in range(24):
            key: Key = ("how", dow, hour)
            value = report.value(key)
            shade = "withheld" if value is None else f"l{math.ceil(5 * value / peak)}"
            cells.append({"x": left + hour * cw, "y": top + dow * ch, "w": cw - 2, "h": ch - 2,
                          "shade": shade,
                          "title": f"{fmt.msg(f'dowshort:{dow}')} {hour:02d}–{hour + 1:02d}: "
                                   f"{fmt.cell(report, key)}"})
    rows = [{"y": top + dow * ch + ch * 0.7, "text": fmt.msg(f"dowshort:{dow}")}
            for dow in range(7)]
    hours = [{"x": left + h * cw + cw * 0.5, "text": f"{h:02d}"} for h in range(0, 24, 3)]
    weeks = report.weeks
    return {"width": left + 24 * cw, "height": top + 7 * ch + 4, "cells": cells,
            "rows": rows, "hours": hours, "first": fmt.date(weeks[0]),
            "last": fmt.date(weeks[-1] + timedelta(days=6))}


# -- routes -----------------------------------------------------------------------------

def _formatter(request: web.Request, lang: str) -> Formatter:
    config = request.app[CONSOLE_CONFIG]
    labels = {t.id: t.de if lang == "de" else t.en for t in config.topic_list}
    return Formatter(lang, request.app[MESSAGES][lang], config.stats_threshold, labels)


async def _build(request: web.Request, period: Period) -> Report:
    config = request.app[CONSOLE_CONFIG]
    return await build(request.config_dict[STATS], period, config.stats_threshold,
                       [t.id for t in config.topic_list])


def _lang(request: web.Request, session: Session) -> str:
    """``?lang=`` (the page's own switch keeps it in every link), else the account's choice."""
    lang = request.query.get("lang", "")
    return lang if lang in LANGS else session.user.language


def _period(request: web.Request) -> Period:
    config = request.app[CONSOLE_CONFIG]
    today = local_today(request.config_dict[CLOCK](), ZoneInfo(config.stats_timezone))
    q = request.query
    return resolve(q.get("period", "month")[:16], today, q.get("on", "")[:16],
                   q.get("from", "")[:16], q.get("to", "")[:16])


def _query(period: Period, lang: str, anchor: date | None = None) -> str:
    if period.kind == "custom":
        first = anchor or period.first
        last = first + (period.last - period.first)
        return f"period=custom&from={first.isoformat()}&to={last.isoformat()}&lang={lang}"
    return f"period={period.kind}&on={(anchor or period.anchor).isoformat()}&lang={lang}"


@console_route(STATS_ROLES, page_route=True,
               refused="Statistics are for supervisors and admins.")
async def stats_page(request: web.Request, session: Session) -> web.Response:
    """The statistics page for the period the picker asks for."""
    lang = _lang(request, session)
    config = request.app[CONSOLE_CONFIG]
    fmt = _formatter(request, lang)
    context: dict[str, Any] = {
        "session": session, "fmt": fmt, "lang": lang, "periods": PERIODS,
        "q": {k: request.query.get(k, "")[:16] for k in ("period", "on", "from", "to")},
        "other_lang": "en" if lang == "de" else "de",
    }
    switch = {k: v for k, v in context["q"].items() if v}
    switch["lang"] = context["other_lang"]
    context["switch"] = urlencode(sorted(switch.items()))
    try:
        period = _period(request)
    except PeriodError as exc:
        return page(request, "stats.html", status=400, error=str(exc), report=None, **context)
    report = await _build(request, period)
    tables = {name: rows_of(report, fmt, name) for name in TABLES}
    return page(request, "stats.html", report=report, period=period, tables=tables,
                daily=daily_chart(report, fmt), profile=profile_chart(report, fmt),
                query=_query(period, lang), error=None,
                previous=_query(period, lang, shift(period, -1)),
                next=_query(period, lang, shift(period, 1)), tz=config.stats_timezone,
                **context)


@console_route(STATS_ROLES, page_route=True,
               refused="Statistics are for supervisors and admins.")
async def stats_csv(request: web.Request, session: Session) -> web.Response:
    """One table of the page as CSV."""
    lang = _lang(request, session)
    name = request.query.get("table", "")
    if name not in TABLES:
        raise web.HTTPBadRequest(text=f"table must be one of {', '.join(TABLES)}")
    try:
        period = _period(request)
    except PeriodError as exc:
        raise web.HTTPBadRequest(text=str(exc)) from None
    report = await _build(request, period)
    fmt = _formatter(request, lang)
    header, body = rows_of(report, fmt, name, grouped=False)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if lang == "de" else ",", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(body)
    text = ("\ufeff" if lang == "de" else "") + out.getvalue()
    filename = f"erstkontakt-{name}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
    return web.Response(text=text, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "Cache-Control": "no-store",
    })


def setup_stats_routes(app: web.Application) -> None:
    app[MESSAGES] = load_messages()
    app.router.add_get("/stats", stats_page)
    app.router.add_get("/stats.csv", stats_csv)
