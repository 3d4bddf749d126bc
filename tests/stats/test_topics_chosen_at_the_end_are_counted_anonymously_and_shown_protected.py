"""Topics: a counsellor names what a chat was about when ending it; only counters per topic
and hour are kept, unknown topics are refused before anything ends, and the statistics page
and CSV show the topics with the same disclosure control as everything else.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from chatserver.config import DEFAULT_TOPICS, Config, ConfigError, load_config, parse_topics
from chatserver.stats.counters import rollup, stats_daily
from chatserver.stats.report import Report, build, resolve
from chatserver.web.appkeys import ENGINE, RELAY, STATS
from tests.stats.test_stats_supervisor_page_and_csv_show_protected_counts import (
    Clock,
    assert_nothing_to_subtract,
    assert_store_holds_no_identifier,
    csv_table,
    get,
    october,
    page_tables,
    sign_in,
    stats_server,
)
from tests.support.clients import random_ct
from tests.support.harness import Harness

__all__ = ["stats_server"]  # the fixture, shared with the other statistics tests

TOPICS = [topic.id for topic in parse_topics(DEFAULT_TOPICS)]


async def metrics(h: Harness) -> dict[str, int]:
    """Every counter in the statistics database, summed over days."""
    async with h.app[ENGINE].connect() as conn:
        assert list((await conn.execute(sa.select(stats_daily))).keys()) == ["day", "metric",
                                                                             "n"]
        rows = await conn.execute(sa.select(stats_daily.c.metric, stats_daily.c.n))
        out: Counter[str] = Counter()
        for name, n in rows:
            out[name] += int(n)
        return dict(out)


async def test_topics_count_once_when_known_and_never_with_an_id(
    stats_server: tuple[Harness, Clock],
) -> None:
    h, clock = stats_server
    clock.at(october(5, 10))
    anna = await h.counsellor("anna-4711", "Anna")
    secrets = ["anna-4711", "Anna", anna.token]
    visitor = await h.visitor()
    assert (await visitor.request("exit", "de"))["ok"]
    secrets += [visitor.chat_id, visitor.resume_token]
    assert (await anna.accept(visitor.chat_id))["ok"]

    # Checked before anything ends: an unknown or malformed topic is refused, the chat goes on.
    for topics in (["weather"], ["safety", "weather"], ["Safety"], ["s" * 25], "safety", [1],
                   ["safety"] * 31, [""], None):
        answer = await anna.call("end", {"chat_id": visitor.chat_id, "topics": topics})
        assert answer.get("error") == "invalid", topics
    assert (await anna.send(visitor.chat_id, random_ct()))["ok"]
    assert (await visitor.expect("msg"))["seq"] == 1

    clock.t += 600
    answer = await anna.call("end", {"chat_id": visitor.chat_id,
                                     "topics": ["safety", "family", "safety"]})
    assert answer == {"ok": True}
    await visitor.expect("ended")
    # Ending it again, with other topics, counts nothing more.
    again = await anna.call("end", {"chat_id": visitor.chat_id, "topics": ["work"]})
    assert again.get("error") in ("not_found", "forbidden"), again

    # Ended without topics, and ended by the visitor: ended, but no topics counted.
    for by_visitor in (False, True):
        other = await h.visitor()
        assert (await other.request("relative", "en"))["ok"]
        secrets += [other.chat_id, other.resume_token]
        assert (await anna.accept(other.chat_id))["ok"]
        if by_visitor:
            assert (await other.end())["ok"]
        else:
            assert (await anna.call("end", {"chat_id": other.chat_id, "topics": []}))["ok"]
        await anna.expect("ended")

    # A third chat ends with one topic and the console is gone right after: counted at the end.
    last = await h.visitor()
    assert (await last.request("exit", "de"))["ok"]
    secrets += [last.chat_id, last.resume_token]
    assert (await anna.accept(last.chat_id))["ok"]
    assert (await anna.call("end", {"chat_id": last.chat_id, "topics": ["other"]}))["ok"]
    await anna.disconnect()

    clock.at(october(6, 12))
    assert await rollup(h.app[RELAY], h.app[STATS], clock()) > 0
    counted = await metrics(h)
    assert {k: v for k, v in counted.items() if k.startswith("topic")} == {
        "topic|safety": 1, "topic|family": 1, "topic|other": 1, "topic_chats": 2}
    assert sum(v for k, v in counted.items() if k.startswith("ended|")) == 4
    await assert_store_holds_no_identifier(h, secrets)


async def test_the_page_and_csv_show_topics_with_small_counts_withheld(
    stats_server: tuple[Harness, Clock],
) -> None:
    h, _ = stats_server
    # 12 chats ended on 5 October, 10 of them with topics; a "legacy" id no longer configured.
    await h.app[STATS].add({"2026100508": {
        "ended|exit|de|15-30": 12, "topic_chats": 10, "topic|safety": 7, "topic|family": 3,
        "topic|work": 6, "topic|exit_steps": 9, "topic|legacy": 8}})
    sabine = await sign_in(h, "sabine", "supervisor")
    query = "period=month&on=2026-10-15"
    status, html, _ = await get(h, sabine, f"/console/stats?{query}&lang=de")
    assert status == 200, html
    tables = page_tables(html)
    for name in ("topics", "topic_chats"):
        assert tables[name] == await csv_table(h, sabine, query, name), name
        assert_nothing_to_subtract(tables[name])
    topics = {row[0]: row[1] for row in tables["topics"][1:]}
    assert tables["topics"][0] == ["Themen der Gespräche", "Nennungen"]
    assert topics == {
        "Ausstieg und erste Schritte": "9", "Sicherheit und Bedrohung": "7",
        "Familie und Angehörige": "<5",  # 3
        "Arbeit und Ausbildung": "×",  # 6, else 33 − the rest would give the 3 away
        "Justiz und Bewährung": "0", "Kontakte zur Szene lösen": "0",
        "Psychische Belastung": "0", "Sonstiges": "0", "legacy": "8", "Summe": "33"}
    # 12 ended, 10 with topics: the 2 without are withheld, and so the 10.
    assert {row[0]: row[1] for row in tables["topic_chats"][1:]} == {
        "Mit Themen": "×", "Ohne Themen": "<5", "Summe": "12"}
    assert "die Summe zählt Nennungen, nicht Gespräche" in html

    english = await csv_table(h, sabine, query, "topics", lang="en")
    assert english[0] == ["Topics of the chats", "Mentions"]
    assert ["Safety and threats", "7"] in english and english[-1] == ["Total", "33"]
    raw = (await get(h, sabine, f"/console/stats.csv?table=topics&{query}&lang=de"))[1]
    assert raw.startswith("\ufeffThemen der Gespräche;Nennungen\r\n")


class Store:
    """The two reads a report makes, from memory."""

    def __init__(self, counts: dict[str, int]) -> None:
        self.counts = counts

    async def daily(self, first: date, last: date) -> dict[date, Counter[str]]:
        return {first: Counter(self.counts)}

    async def weekly(self, weeks: object, event: str) -> Counter[int]:
        return Counter()


def safe_line(report: Report, total: Any, cells: list[Any]) -> bool:
    """What a reader can compute from one line of shown numbers reveals no small count."""
    hidden, t = report.hidden, report.threshold
    values = Counter(report.values)
    withheld = [c for c in cells if c in hidden]
    if total in hidden:
        return bool(withheld) or not any(values[c] for c in cells)
    return not withheld or (len(withheld) >= 2 and sum(values[c] for c in withheld) >= t)


@settings(max_examples=200, deadline=None)
@given(chats=st.lists(st.sets(st.sampled_from(TOPICS[:5]), max_size=3), max_size=40),
       others=st.integers(0, 12), threshold=st.integers(3, 8))
def test_any_mix_of_multiple_choices_comes_out_safe(chats: list[set[str]], others: int,
                                                    threshold: int) -> None:
    """Chats with any subset of topics (none included), and chats ended by others."""
    counts: Counter[str] = Counter()
    for chosen in chats:
        counts["ended|exit|de|0-5"] += 1
        if chosen:
            counts["topic_chats"] += 1
            for topic in chosen:
                counts[f"topic|{topic}"] += 1
    counts["ended|exit|de|0-5"] += others
    period = resolve("custom", date(2026, 11, 25), start="2026-10-05", end="2026-10-05")
    report = asyncio.run(build(Store(dict(counts)), period, threshold,  # type: ignore[arg-type]
                               TOPICS))
    cells = [("topic", t) for t in TOPICS]
    for key in [*cells, ("topics", "chats"), ("topics", "none"), ("all", "ended")]:
        n = report.values.get(key, 0)
        assert n == 0 or n >= threshold or key in report.hidden, key
    assert [report.values.get(c, 0) for c in cells] == [counts[f"topic|{t}"] for t in TOPICS]
    assert report.values[("topics", "mentions")] == sum(len(c) for c in chats)
    assert report.values[("topics", "none")] == others + sum(1 for c in chats if not c)
    assert safe_line(report, ("topics", "mentions"), cells)
    assert safe_line(report, ("all", "ended"), [("topics", "chats"), ("topics", "none")])
    shown = [row.keys[0] for row in report.tables["topics"].rows]
    assert shown == [*cells, ("topics", "mentions")]


@pytest.mark.parametrize("value, why", [
    ("safety", "not like id=German label|English label"),
    ("safety=Sicherheit", "not like id=German label|English label"),
    ("Safety=Sicherheit|Safety", "an id is 1 to 24"),
    ("a=b|c,a=d|e", "appears twice"),
    ("a=|c", "a label is 1 to 60"),
    ("a=" + "x" * 61 + "|c", "a label is 1 to 60"),
    (",".join(f"t{i}=T|T" for i in range(31)), "at most 30 topics"),
])
def test_a_bad_topic_list_stops_the_start_naming_the_setting(value: str, why: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_config({"CHATSERVER_TOPICS": value})
    assert str(raised.value).startswith("CHATSERVER_TOPICS: ") and why in str(raised.value)


def test_the_topic_list_is_read_from_its_setting(make_config: Callable[..., Config]) -> None:
    config = load_config({"CHATSERVER_TOPICS":
                          "a=Ämter und Behörden|Authorities, b=Wohnen|Housing"})
    assert [(t.id, t.de, t.en) for t in config.topic_list] == [
        ("a", "Ämter und Behörden", "Authorities"), ("b", "Wohnen", "Housing")]
    assert load_config({"CHATSERVER_TOPICS": ""}).topic_list == ()
    defaults = make_config().topic_list
    assert len(defaults) == 8 and defaults[-1].id == "other"
