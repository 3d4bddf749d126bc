"""The statistics page in Chromium: a supervisor signs in, reads both charts, switches to
English, downloads a CSV; no request leaves the server's origin and axe finds nothing serious."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from chatserver.config import Config
from chatserver.web.appkeys import STATS, USERS
from tests.support.browser import PASSWORD, chromium, login, serious_violations, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of

pytestmark = pytest.mark.browser



async def test_supervisor_reads_the_statistics_page(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki()) as h, chromium() as browser:
        # Four weeks of October 2026 (closed days on any date this runs), rolled up as the
        # relay's counters would be (UTC hours).
        hours = {}
        for day in range(1, 29):
            hours[f"202610{day:02d}08"] = {"requested|exit|de": 3 + day % 4,
                                           "accepted|exit|de|1-2": 3 + day % 4,
                                           "ended|exit|de|15-30": 3 + day % 4}
            hours[f"202610{day:02d}17"] = {"requested|relative|en": day % 3,
                                           "abandoned|relative|en|5-10": day % 3}
        await h.app[STATS].add(hours)
        uri = await h.app[USERS].add("sschulz", "supervisor", PASSWORD, pseudonym="Frau Sommer")

        ctx = await browser.new_context(accept_downloads=True)
        page = await ctx.new_page()
        foreign: list[str] = []
        refused: list[str] = []  # anything the page's own CSP blocks (inline styles, say)
        page.on("console", lambda m: refused.append(m.text)
                if "Content Security Policy" in m.text else None)
        page.on("request", lambda r: None if r.url.startswith(h.url) else foreign.append(r.url))
        await login(page, h.url, "sschulz", totp_of(uri).now())
        await page.get_by_role("heading", name="Statistik").wait_for()

        await page.get_by_label("Zeitraum").select_option("month")
        await page.get_by_label("Enthält den Tag").fill("2026-10-10")
        await page.get_by_role("button", name="Anzeigen").click()
        await page.get_by_role("heading", name="Monat: 01.10.2026 bis 31.10.2026").wait_for()
        bars = page.locator("svg[role=img] rect[class^=bar-]")
        assert await bars.count() == 31  # one per day; small days withheld, with no height
        assert await page.locator("svg[role=img] rect.bar-withheld").count() >= 1
        title = await page.locator("svg rect.bar-withheld title").first.text_content() or ""
        assert title.endswith(": <5") or title.endswith(": ×"), title
        assert await page.locator("svg[role=img] rect.l5").count() >= 1
        total = page.locator("#table-totals tbody tr").first
        assert (await total.inner_text()).split("\t") == ["Anfragen", str(
            sum(3 + d % 4 + d % 3 for d in range(1, 29)))]

        # axe needs an inline script, which the page's CSP rightly refuses: a second context
        # that bypasses CSP, signed in with the same session, runs it on the same page.
        audit_ctx = await browser.new_context(bypass_csp=True)
        await audit_ctx.add_cookies(await ctx.cookies())
        audit = await audit_ctx.new_page()
        await audit.goto(page.url)
        assert await serious_violations(audit) == []
        await audit_ctx.close()

        async with page.expect_download() as info:
            await page.locator("#totals-h a.csv").click()
        download = await info.value
        assert download.suggested_filename == "erstkontakt-totals-2026-10-01-2026-10-31.csv"
        text = Path(await download.path()).read_text("utf-8-sig")
        assert text.splitlines()[0] == "Gesamtzahlen;Anzahl"

        await page.get_by_role("link", name="English").click()
        await page.get_by_role("heading", name="Month: 2026-10-01 to 2026-10-31").wait_for()
        assert foreign == [] and refused == []
        await ctx.close()
