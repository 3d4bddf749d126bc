"""Office hours as a visitor meets them (issue 17), at desktop size and at 390×844: on a
Friday evening before a Monday holiday the widget says it is closed and opens again on Tuesday
at 9, and lists the hours, in German and, switched, in English (worded in the browser from the
server's structured answer, never the server's text), and offers a message; a counsellor on
duty outside the hours is offered all the same, and the widget says so; inside the hours with
someone on duty it says it is open."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.async_api import Page

from chatserver import crypto
from chatserver.config import Config
from chatserver.records.schema import team_keys
from chatserver.web.appkeys import ENGINE
from tests.support.browser import chromium, violations_under_csp, widget_server
from tests.support.e2e_clients import Pki

pytestmark = pytest.mark.browser

BERLIN = ZoneInfo("Europe/Berlin")
FRIDAY_EVENING = datetime(2026, 7, 17, 18, 30, tzinfo=BERLIN).timestamp()
TUESDAY_MORNING = datetime(2026, 7, 21, 10, 0, tzinfo=BERLIN).timestamp()
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def said(page: Page, selector: str) -> str:
    return " ".join((await page.locator(selector).inner_text()).split())


@pytest.mark.parametrize("size", SIZES)
async def test_closed_until_tuesday_after_a_holiday_in_german_and_english_and_duty_still_counts(
        make_config: Callable[..., Config], tmp_path: Path, size: str) -> None:
    clock, pki = Clock(FRIDAY_EVENING), Pki()
    async with widget_server(make_config, tmp_path, pki, clock=clock,
                             office_hours="mon-fri 09:00-17:00; wed 18:00-20:00",
                             holidays=("2026-07-20",), drop_reply_days=1) as h, \
            chromium() as browser:
        # The team's records key, certified: messages can be left.
        records_pk = crypto.box_keypair()[1]
        async with h.app[ENGINE].begin() as conn:
            await conn.execute(sa.insert(team_keys).values(
                name="records", public_key=crypto.b64encode(records_pk), created=0,
                certificate=json.dumps(pki.records_certificate(records_pk))))
        page = await (await browser.new_context(viewport=SIZES[size])).new_page()
        await page.goto(h.url + "/widget/frame")
        closed = page.locator("#closed")
        await closed.get_by_text("Geschlossen. Nächste Öffnung: Dienstag, 09:00.").wait_for()
        assert await said(page, "#hours") == \
            "Unsere Zeiten: Mo–Di 9:00–17:00; Mi 9:00–17:00, 18:00–20:00; Do–Fr 9:00–17:00"
        assert await said(page, "#drop-reply") == \
            "Wir antworten in der Regel innerhalb eines Werktags."
        assert await page.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:") \
            .is_visible()
        assert await page.locator("#start").is_disabled()
        assert await page.locator("#open").text_content() == ""

        await page.locator("#lang").select_option("en")
        await closed.get_by_text("Closed. Next opening: Tuesday 9:00 AM.").wait_for()
        assert await said(page, "#hours") == ("Our hours: Mon–Tue 9:00 AM–5:00 PM; "
                                              "Wed 9:00 AM–5:00 PM, 6:00 PM–8:00 PM; "
                                              "Thu–Fri 9:00 AM–5:00 PM")
        assert await said(page, "#drop-reply") == "We usually answer within one working day."
        assert await page.get_by_label("You can leave us an anonymous message:").is_visible()
        # Nothing German is left in the offline part of the English widget.
        assert "Geschlossen" not in await said(page, "#offline")
        assert await violations_under_csp(page) == []

        # Someone on duty on Friday evening: the chat is offered, and the widget says why.
        await h.counsellor("anna", "Anna", on_duty=True)
        await page.reload()
        await page.get_by_text("Außerhalb unserer Zeiten, aber gerade ist jemand für dich da.") \
            .wait_for()
        assert await page.locator("#start").is_enabled()
        assert await page.locator("#offline").is_hidden()

        # Tuesday morning, within the hours, someone on duty: open now, in both languages.
        clock.now = TUESDAY_MORNING
        await page.reload()
        await page.locator("#open").get_by_text("Jetzt geöffnet.").wait_for()
        await page.locator("#lang").select_option("en")
        await page.locator("#open").get_by_text("Open now.").wait_for()
        assert await page.locator("#start").is_enabled()
        for box in ("#open", "#start"):
            bounds = await page.locator(box).bounding_box()
            assert bounds is not None and bounds["x"] + bounds["width"] <= SIZES[size]["width"]
