"""Statistics end to end: synthetic chats through the real relay, then the page and the CSV.

A fake wall clock (the relay's and the statistics') places each chat at a chosen local time
in October 2026; the supervisor looks on 25 November. The numbers must be right, small ones
withheld, no withheld one recoverable from a total, and no id anywhere in the store.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
import socketio
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from sqlalchemy.ext.asyncio import create_async_engine

from chatserver.config import Config
from chatserver.main import create_app
from chatserver.relay.state import Identity, secret_key
from chatserver.relay.state.redis import RedisState
from chatserver.stats.counters import rollup, stats_daily, stats_weekly
from chatserver.stats.report import build, resolve
from chatserver.web.appkeys import CLOCK, ENGINE, RELAY, STATS, USERS
from tests.support.clients import CounsellorClient, random_ct
from tests.support.drops import leave_drop
from tests.support.harness import Harness

BERLIN = ZoneInfo("Europe/Berlin")
LOOKING_ON = datetime(2026, 11, 25, 12, 0, tzinfo=BERLIN)


class Clock:
    def __init__(self) -> None:
        self.t = LOOKING_ON.timestamp()

    def __call__(self) -> float:
        return self.t

    def at(self, when: datetime) -> None:
        self.t = when.timestamp()


@pytest.fixture
async def stats_server(backend: str, make_config: Callable[..., Config]
                       ) -> AsyncIterator[tuple[Harness, Clock]]:
    app = create_app(make_config(redis_url=backend))
    clock = Clock()
    app[CLOCK] = clock
    server = TestServer(app)
    await server.start_server()
    h = Harness(server.app, str(server.make_url("/")))
    yield h, clock
    await asyncio.wait_for(h.close(), 20)
    await asyncio.wait_for(server.close(), 20)



async def chat(h: Harness, clock: Clock, anna: CounsellorClient, start: datetime, entry: str,
               lang: str, wait_s: float, duration_s: float | None,
               handoff: bool = False) -> list[str]:
    """One chat at ``start``: accepted after ``wait_s`` and ended after ``duration_s``, or
    given up after ``wait_s`` when ``duration_s`` is None. Returns what identifies it."""
    clock.at(start)
    visitor = await h.visitor()
    await visitor.request(entry, lang)
    secrets = [visitor.chat_id, visitor.resume_token]
    clock.t += wait_s
    if duration_s is None:
        assert (await visitor.end())["ok"]
    else:
        assert (await anna.accept(visitor.chat_id))["ok"]
        if handoff:
            assert (await visitor.call("consent", {"answer": "yes", "version": "v2"}))["ok"]
            answer = await anna.call("handoff", {
                "chat_id": visitor.chat_id, "consent_version": "v2",
                "sealed_key": random_ct(80), "body": random_ct(400)})
            assert answer["ok"], answer
            secrets += [answer["record_id"], (await visitor.expect("codename"))["codename"]]
        clock.t += duration_s
        assert (await anna.end(visitor.chat_id))["ok"]
    await visitor.disconnect()
    return secrets


def october(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 10, day, hour, minute, tzinfo=BERLIN)


async def drive_october(h: Harness, clock: Clock) -> list[str]:
    """26 chats and one message drop in October; returns every id and token they used."""
    anna = await h.counsellor("anna-4711", "Anna")
    secrets = ["anna-4711", "Anna", anna.token]
    for k in range(12):  # Monday 5 Oct, 10 h: considering an exit, answered within a minute
        secrets += await chat(h, clock, anna, october(5, 10, 2 * k), "exit", "de", 30, 600)
    for k in range(6):  # Tuesday 6 Oct, 14 h: relatives, three minutes' wait; one hand-off
        secrets += await chat(h, clock, anna, october(6, 14, 5 + k), "relative", "de", 180,
                              1200, handoff=k == 0)
    for k in range(2):  # Wednesday 7 Oct, 20 h: professionals give up after 90 s
        secrets += await chat(h, clock, anna, october(7, 20, 10 + k), "professional", "en",
                              90, None)
    secrets += await chat(h, clock, anna, october(11, 23, 10), "exit", "en", 30, 2400)
    for k in range(5):  # Tuesday 20 Oct, 9 h: long waits, long talks
        secrets += await chat(h, clock, anna, october(20, 9, 3 * k), "professional", "de",
                              720, 4200)
    clock.at(october(8, 11))
    visitor = await h.visitor()
    left = await leave_drop(visitor)
    await visitor.disconnect()
    return [*secrets, left.lookup]


async def sign_in(h: Harness, name: str, role: str) -> dict[str, str]:
    """The cookies of a console session of a new account with ``role``."""
    return {"ek_console": (await h.console_session(name, role)).key}


async def get(h: Harness, cookies: dict[str, str], path: str) -> tuple[int, str, Any]:
    async with aiohttp.ClientSession(cookies=cookies) as http, http.get(
            h.url + path, allow_redirects=False) as resp:
        return resp.status, await resp.text(), resp.headers


class Tables(HTMLParser):
    """The page's tables (by id) as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id", "") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def page_tables(html: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(html)
    return {name.removeprefix("table-"): rows for name, rows in parser.tables.items()}


async def csv_table(h: Harness, cookies: dict[str, str], query: str, table: str,
                    lang: str = "de") -> list[list[str]]:
    status, text, headers = await get(h, cookies, f"/console/stats.csv?table={table}&{query}"
                                                  f"&lang={lang}")
    assert status == 200, text
    assert headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    if lang == "de":
        assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")),
                           delimiter=";" if lang == "de" else ","))


def number(cell: str) -> int | None:
    """A shown count, or None for a withheld one ("<5" or "×")."""
    if cell.startswith("<") or cell == "×":
        return None
    return int(cell.replace(".", ""))


def assert_nothing_to_subtract(rows: list[list[str]], threshold: int = 5) -> None:
    """In a table whose last row holds the column totals, no withheld count can be worked out
    from a shown total: either nothing in a column is withheld, or at least two cells are and
    together they hold at least the threshold; a withheld total never has all parts shown."""
    body, totals = rows[1:-1], rows[-1]
    for col in range(1, len(totals)):
        cells = [number(row[col]) for row in body]
        total = number(totals[col])
        withheld = [c for c in cells if c is None]
        if total is None:
            assert withheld or not any(cells), (rows[0][col], "total alone withheld")
            continue
        if withheld:
            assert len(withheld) >= 2, (rows[0][col], "one withheld cell, total shown")
            assert total - sum(c for c in cells if c is not None) >= threshold, rows[0][col]


async def test_supervisor_sees_right_protected_numbers_on_page_and_csv(
    stats_server: tuple[Harness, Clock],
) -> None:
    h, clock = stats_server
    secrets = await drive_october(h, clock)
    clock.at(LOOKING_ON)
    assert await rollup(h.app[RELAY], h.app[STATS], clock()) > 0
    sabine = await sign_in(h, "sabine", "supervisor")

    # October: 26 requests, of which 2 given up; a hand-off, a drop, the profile over weeks.
    query = "period=month&on=2026-10-15"
    status, html, _ = await get(h, sabine, f"/console/stats?{query}&lang=de")
    assert status == 200, html
    assert "01.10.2026 bis 31.10.2026" in html
    tables = page_tables(html)
    for name in ("totals", "shares", "daily", "entries", "languages", "wait", "duration",
                 "profile"):
        assert tables[name] == await csv_table(h, sabine, query, name), name
    totals = {row[0]: row[1] for row in tables["totals"][1:]}
    assert totals["Anfragen"] == "26"
    assert totals["Vor Annahme beendet"] == "<5"  # 2
    assert totals["Angenommen"] == "×"  # 24 = 26 − 2 would give the 2 away
    assert totals["In Fallakte übergeben"] == "<5"
    assert totals["An Kolleg*in weitergegeben"] == "0"
    assert totals["Hinterlassene Nachrichten"] == "<5"
    assert totals["Beendete Gespräche"] == "24"
    daily = {row[0]: row[1:] for row in tables["daily"][1:]}
    assert daily["05.10.2026"] == ["12", "12", "0"]
    assert daily["06.10.2026"] == ["6", "6", "0"]
    assert daily["07.10.2026"][0] == "<5" and daily["11.10.2026"][0] == "<5"
    assert daily["20.10.2026"][0] == "×"  # 2 + 1 withheld alone could be recovered from 26
    assert daily["Summe"][0] == "26"
    entries = {row[0]: row[1:] for row in tables["entries"][1:]}
    assert entries["Ausstiegsinteressierte"][0] == "13"
    assert entries["Angehörige und Freundeskreis"] == ["6", "6", "0", "<5"]
    assert entries["Fachkräfte"][0] == "7"
    assert entries["Wiederkehrend (Codewort)"] == ["0", "0", "0", "0"]
    languages = {row[0]: row[1] for row in tables["languages"][1:]}
    assert languages == {"Deutsch": "×", "Englisch": "<5", "Summe": "26"}
    wait = {row[0]: row[1:] for row in tables["wait"][1:]}
    assert wait["unter 1 Minute"] == ["13", "0", "13"]
    assert wait["2 bis 5 Minuten"] == ["6", "0", "6"]
    # 24 accepted in all is withheld (it would give the 2 given up away), so a cell of its
    # column goes too, the smallest: the 5 waiting 12 minutes, and with it its row.
    assert wait["10 bis 20 Minuten"] == ["×", "×", "×"]
    assert wait["1 bis 2 Minuten"][1] == "<5"
    duration = {row[0]: row[1] for row in tables["duration"][1:]}
    assert duration["5 bis 15 Minuten"] == "12" and duration["15 bis 30 Minuten"] == "6"
    assert duration["30 bis 60 Minuten"] == "<5" and duration["über 60 Minuten"] == "×"
    for name in ("daily", "entries", "languages", "wait", "duration", "profile"):
        assert_nothing_to_subtract(tables[name])
    # Totals: requests = accepted + given up, so one of those withheld means both are.
    assert (totals["Angenommen"] == "×") == (totals["Vor Annahme beendet"] != "0")

    # The profile sums whole weeks, never one day: four weeks up to 25 October.
    assert "Summe über 4 ganze Wochen (28.09.2026 bis 25.10.2026)" in html
    profile = {row[0]: row[1:] for row in tables["profile"][1:]}
    assert profile["Montag"][10] == "12" and profile["Dienstag"][14] == "6"
    assert profile["Mittwoch"][20] == "<5" and profile["Sonntag"][23] == "<5"
    assert 'class="withheld"' in html and 'class="l5"' in html  # the heat map's cells

    # The first two days: everything answered, shares in German and English conventions.
    custom = "period=custom&from=2026-10-05&to=2026-10-06"
    status, html, _ = await get(h, sabine, f"/console/stats?{custom}&lang=de")
    shares = {row[0]: row[1] for row in page_tables(html)["shares"][1:]}
    assert shares["Angenommen, von allen Anfragen"] == "100,0 %"
    status, html, _ = await get(h, sabine, f"/console/stats?{custom}&lang=en")
    assert status == 200 and "2026-10-05 to 2026-10-06" in html
    shares = {row[0]: row[1] for row in page_tables(html)["shares"][1:]}
    assert shares["Accepted, of all requests"] == "100.0%"
    english = await csv_table(h, sabine, custom, "daily", lang="en")
    assert english[1] == ["2026-10-05", "12", "12", "0"]

    # A week alone still gets a four-week profile; today never shows.
    status, html, _ = await get(h, sabine, "/console/stats?period=week&on=2026-10-07")
    assert "Summe über 4 ganze Wochen (14.09.2026 bis 11.10.2026)" in html
    clock.at(LOOKING_ON.replace(hour=10))
    await chat(h, clock, await h.counsellor("bea", "Bea"), LOOKING_ON.replace(hour=10),
               "exit", "de", 5, 60)
    clock.at(LOOKING_ON)
    await rollup(h.app[RELAY], h.app[STATS], clock())
    status, html, _ = await get(h, sabine, "/console/stats?period=month&lang=de")
    assert "01.11.2026 bis 24.11.2026" in html
    assert {row[0]: row[1] for row in page_tables(html)["totals"][1:]}["Anfragen"] == "0"

    # The statistics store holds counters only: no id, token, codename or pseudonym.
    await assert_store_holds_no_identifier(h, secrets)


async def assert_store_holds_no_identifier(h: Harness, secrets: list[str]) -> None:
    async with h.app[ENGINE].connect() as conn:
        rows = [" ".join(map(str, row)) for table in (stats_daily, stats_weekly)
                for row in await conn.execute(sa.select(table))]
    assert rows
    state = h.app[RELAY].state
    pending = await state.take_stats("9999999999")
    rows += [f"{hour} {name} {n}" for hour, counts in pending.items()
             for name, n in counts.items()]
    if isinstance(state, RedisState):
        redis = state._retried  # the whole Redis server, not only the statistics keys
        for key in await redis.keys("*stats*"):
            rows.append(key + " " + repr(await redis.hgetall(key) if await redis.type(key)
                                         == "hash" else await redis.zrange(key, 0, -1)))
    blob = "\n".join(rows)
    for secret in secrets:
        assert secret and secret not in blob, secret
    for row in rows:
        assert all(part.isalnum() or part in "|-+_ :'{}[],\"" or part == "."
                   for part in row), row


async def test_only_supervisors_and_admins_see_statistics_and_they_never_a_chat(
    stats_server: tuple[Harness, Clock],
) -> None:
    h, _ = stats_server
    sabine = await sign_in(h, "sabine", "supervisor")
    status, _, headers = await get(h, sabine, "/console/")
    assert status == 303 and headers["Location"] == "/console/stats"
    session = await h.app[USERS].session(sabine["ek_console"], time.time())
    assert session is not None
    async with aiohttp.ClientSession(cookies=sabine) as http:
        for path in ("/console/api/socket-token", "/console/api/keys", "/console/api/canned"):
            async with http.post(h.url + path, json={"blob": "A" * 44, "title": "t",
                                                     "body": "b"},
                                 headers={"X-CSRF-Token": session.csrf}) as resp:
                assert resp.status == 403, path
        for path in ("/console/api/keys", "/console/api/canned"):
            async with http.get(h.url + path) as resp:
                assert resp.status == 403, path
    # No socket token is made out to a supervisor; and one planted in the state anyway does
    # not open the counsellor socket, the only way to chats, records, drops and the keyring.
    with pytest.raises(ValueError):
        await h.token("sabine", role="supervisor")
    token = "s" * 43
    await h.app[RELAY].state.put_token(secret_key(token),
                                       Identity("sabine", "Sabine", "supervisor"),
                                       3600)
    client = CounsellorClient(h.url, token)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect()
    await client.disconnect()

    counsellor = await sign_in(h, "carl", "counsellor")
    for path in ("/console/stats", "/console/stats.csv?table=totals"):
        status, _, _ = await get(h, counsellor, path)
        assert status == 403, path
    status, _, headers = await get(h, {}, "/console/stats")
    assert status == 303 and headers["Location"] == "/console/login"
    admin = await sign_in(h, "ada", "admin")
    status, html, _ = await get(h, admin, "/console/stats")
    assert status == 200 and 'href="/console/"' in html
    # Bad input gets a clear error, not a crash.
    for query in ("period=decade", "period=custom&from=2026-10-05&to=2026-10-01",
                  "period=custom&from=x&to=y", "period=custom&from=2020-01-01&to=2026-01-01",
                  "period=week&on=2099-01-01"):
        status, html, _ = await get(h, sabine, f"/console/stats?{query}")
        assert status == 400 and 'id="period-error"' in html, query
        status, text, _ = await get(h, sabine, f"/console/stats.csv?table=totals&{query}")
        assert status == 400 and text, query
    status, text, _ = await get(h, sabine, "/console/stats.csv?table=chats")
    assert status == 400 and "table must be one of" in text


async def test_rolled_up_counts_survive_a_redis_restart_and_a_database_outage(
    stats_server: tuple[Harness, Clock],
) -> None:
    h, clock = stats_server
    anna = await h.counsellor("anna", "Anna")
    await chat(h, clock, anna, october(5, 10), "exit", "de", 10, 60)
    clock.at(october(5, 11, 30))
    await chat(h, clock, anna, october(5, 11, 30), "exit", "de", 10, 60)  # the open hour
    relay, store = h.app[RELAY], h.app[STATS]
    state = relay.state
    # The database is away: nothing is lost, the counters wait in the state.
    real = store.engine
    store.engine = create_async_engine(
        "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    with pytest.raises(OSError):  # the connection is refused
        await rollup(relay, store, clock())
    store.engine = real
    assert await rollup(relay, store, clock()) == 1  # only the closed hour 10
    if isinstance(state, RedisState):
        await state._once.flushall()  # a Redis restart without persistence
    days = await store.daily(october(5, 0).date(), october(5, 0).date())
    assert days[october(5, 0).date()]["requested|exit|de"] == 1


async def test_profile_rows_cannot_be_worked_out_from_the_daily_table(
    stats_server: tuple[Harness, Clock],
) -> None:
    """Over four whole weeks inside the period, a weekday's row of the profile adds up to that
    weekday's days in the daily table; a withheld cell must not fall out of that sum either."""
    h, _ = stats_server
    hours: dict[str, dict[str, int]] = {}
    for day in range(5, 33):  # 5 Oct to 1 Nov 2026: four whole weeks, 10 h local each day
        local = datetime(2026, 10, 1, 10, tzinfo=BERLIN) + timedelta(days=day - 1)
        hours[local.astimezone(UTC).strftime("%Y%m%d%H")] = {"requested|exit|de": 6}
    hours["2026100517"] = {"requested|exit|de": 1}  # Monday 5 Oct, 19 h: one person
    await h.app[STATS].add(hours)
    report = await build(h.app[STATS], resolve("custom", date(2026, 11, 25),
                                               start="2026-10-05", end="2026-11-01"), 5)
    assert len(report.weeks) == 4 and report.weeks[0] == date(2026, 10, 5)
    assert report.small(("how", 0, 19))
    checked = 0
    for dow in range(7):
        days = [("day", w + timedelta(days=dow), "requested") for w in report.weeks]
        if all(report.value(d) is not None for d in days):
            checked += 1
            row_total = sum(report.value(d) or 0 for d in days)
            cells = [report.value(("how", dow, hour)) for hour in range(24)]
            withheld = [c for c in cells if c is None]
            assert not withheld or (
                len(withheld) >= 2
                and row_total - sum(c for c in cells if c is not None) >= 5), dow
    assert checked == 7  # every weekday's days are shown, so every row was checked


async def test_a_stopping_node_rolls_up_the_open_hour(make_config: Callable[..., Config]) -> None:
    """With the embedded state, counters would die with the process: a clean stop saves them."""
    app = create_app(make_config())
    clock = Clock()
    app[CLOCK] = clock
    server = TestServer(app)
    await server.start_server()
    h = Harness(server.app, str(server.make_url("/")))
    anna = await h.counsellor("anna", "Anna")
    await chat(h, clock, anna, october(5, 10, 30), "exit", "de", 10, 60)
    store = h.app[STATS]
    assert await store.daily(october(5, 0).date(), october(5, 0).date()) == {}
    await h.close()
    await server.close()
    days = await store.daily(october(5, 0).date(), october(5, 0).date())
    assert days[october(5, 0).date()]["requested|exit|de"] == 1
    await store.engine.dispose()
