"""Topics as people use them: a counsellor ticks two topics with the keyboard and ends the
chat; once the day is over and the hour rolled up, the supervisor's statistics page shows the
topics, small counts withheld and what would give them away too."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page

from chatserver.config import Config
from chatserver.stats.counters import hour_stamp
from chatserver.web.appkeys import STATS, USERS
from tests.support.browser import (
    PASSWORD,
    chromium,
    login,
    serious_violations_under_csp,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of
from tests.support.waiting import eventually

pytestmark = pytest.mark.browser


class Clock:
    """The server's wall clock: real time, moved on by ``ahead`` seconds when a test says."""

    def __init__(self) -> None:
        self.ahead = 0.0

    def __call__(self) -> float:
        return time.time() + self.ahead


async def tab_to(page: Page, test: str, what: str) -> None:
    """Press Tab until the focused element passes ``test`` (JS, given ``el``)."""
    for _ in range(40):
        script = f"(() => {{ const el = document.activeElement; return {test}; }})()"
        if await page.evaluate(script):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {what}")


async def test_topics_ticked_by_keyboard_reach_the_statistics_protected(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    clock = Clock()
    async with widget_server(make_config, tmp_path, Pki(), clock=clock, demo=True,
                             stats_rollup_interval_s=0.2) as h, chromium() as browser:
        # Earlier today (already in the database): nine chats with topics.
        now = clock()
        await h.app[STATS].add({hour_stamp(now): {
            "ended|exit|de|15-30": 9, "topic_chats": 9, "topic|safety": 6, "topic|family": 2,
            "topic|work": 6}})
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        console = await (await browser.new_context()).new_page()
        await login(console, h.url, "akeller", totp_of(uri).now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await visitor.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        assert await serious_violations_under_csp(console) == []

        # From the message box on, by keyboard only: two topics, then "End chat".
        await console.get_by_label("Nachricht", exact=True).focus()
        await tab_to(console, "el.value === 'safety'", "the topic Sicherheit")
        await console.keyboard.press("Space")
        await console.keyboard.press("Tab")
        await tab_to(console, "el.value === 'family'", "the topic Familie")
        await console.keyboard.press("Space")
        safety = console.get_by_role("checkbox", name=re.compile("Sicherheit und Bedrohung"))
        family = console.get_by_role("checkbox", name=re.compile("Familie und Angehörige"))
        assert await safety.is_checked() and await family.is_checked()
        assert not await console.get_by_role("checkbox", name=re.compile("Sonstiges")).is_checked()
        await tab_to(console, "el.id === 'end'", "the end button")
        await console.keyboard.press("Enter")
        # Asked first, the focus on "Cancel"; Tab to the confirmation and Enter.
        await console.get_by_role("dialog", name="Chat beenden?").wait_for()
        assert await console.evaluate("document.activeElement.id") == "confirm-no"
        await console.keyboard.press("Tab")
        assert await console.evaluate("document.activeElement.id") == "confirm-yes"
        await console.keyboard.press("Enter")
        await visitor.get_by_text("Der Chat ist beendet").wait_for()

        # A console loaded before the list changed: its topic is refused, the chat ends anyway
        # and the console says the topics were not counted.
        second = await (await browser.new_context()).new_page()
        await second.goto(h.url + "/widget/frame")
        await second.get_by_role("button", name="Chat beginnen").click()
        await console.get_by_role("button", name="Annehmen").click()
        await second.locator("#peer").get_by_text(re.compile("Du schreibst mit Anna")).wait_for()
        other = console.get_by_role("checkbox", name=re.compile("Sonstiges"))
        assert not await safety.is_checked()  # each chat starts with none ticked
        await other.evaluate("(box) => { box.value = 'retired'; }")
        await other.check()
        await console.get_by_role("button", name="Chat beenden", exact=True).click()
        await console.get_by_role("button", name="Ja, Chat beenden").click()
        await second.get_by_text("Der Chat ist beendet").wait_for()
        await console.get_by_text(re.compile("Themen nicht gezählt")).wait_for()

        # A day later the node has rolled the hour up on its own.
        clock.ahead = 86400
        today = datetime.fromtimestamp(now, ZoneInfo("Europe/Berlin")).date()

        async def counted() -> int:
            return (await h.app[STATS].daily(today, today)).get(today, {}).get("topic|safety", 0)
        await eventually(counted, until=lambda n: n == 7, what="the topics rolled up")

        sue = await h.app[USERS].add("sschulz", "supervisor", PASSWORD, pseudonym="Frau Sommer")
        page = await (await browser.new_context()).new_page()
        await login(page, h.url, "sschulz", totp_of(sue).now())
        await page.get_by_role("heading", name="Themen der Gespräche").wait_for()
        rows = page.locator("#table-topics tbody tr")
        shown = {}
        for i in range(await rows.count()):
            label, count = (await rows.nth(i).inner_text()).split("\t")
            shown[label] = count
        assert shown == {
            "Ausstieg und erste Schritte": "0", "Sicherheit und Bedrohung": "7",
            "Familie und Angehörige": "<5",  # 3
            "Arbeit und Ausbildung": "×",  # 6: the total minus the rest would give the 3
            "Justiz und Bewährung": "0", "Kontakte zur Szene lösen": "0",
            "Psychische Belastung": "0", "Sonstiges": "0", "Summe": "16"}
        with_topics = page.locator("#table-topic_chats tbody tr").first
        assert (await with_topics.inner_text()).split("\t") == ["Mit Themen", "10"]
