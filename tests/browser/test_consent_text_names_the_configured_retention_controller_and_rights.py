"""The consent question says what the settings say, in German and in English: the retention
period (``CHATSERVER_RECORD_RETENTION_DAYS``), the controller with its address, the visitor's
rights and a link to the privacy notice; without a controller set it names none."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from chatserver.config import Config
from tests.support.browser import chromium, widget_server
from tests.support.e2e_clients import Pki

pytestmark = pytest.mark.browser

CONTROLLER = "KAST e. V., Musterstraße 1, 24103 Kiel"
NOTICE = "https://example.org/datenschutz"


async def consent_text(page: Page) -> str:
    return str(await page.locator("#consent").evaluate("(el) => el.textContent"))


async def test_consent_text_names_the_configured_retention_controller_and_rights(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), record_retention_days=123.0,
                             controller=CONTROLLER, privacy_url=NOTICE) as h, \
            chromium() as browser:
        page = await browser.new_page()
        await page.goto(h.url + "/widget/frame")
        await page.get_by_role("button", name="Chat beginnen").wait_for()
        german = await consent_text(page)
        assert "Wir löschen es nach 123 Tagen" in german
        assert f"Verantwortlich: {CONTROLLER}." in german
        assert "Recht auf Auskunft, Berichtigung, Löschung" in german
        assert "bis jetzt und ab jetzt" not in german and "365" not in german
        # What continuity keeps (docs/protocol.md, "Continuity"), and no more than that.
        assert ("das Gespräch bis dahin, was danach noch geschrieben wird, auch wenn du mit "
                "deinem Codewort wiederkommst, und ihre Notizen") in german
        link = page.locator("#consent a")
        await expect(link).to_have_attribute("href", NOTICE)
        await expect(link).to_have_text("Datenschutzhinweise")

        await page.locator("#lang").select_option("en")
        await expect(page.locator("#consent-title")).to_have_text("Keep this conversation?")
        english = await consent_text(page)
        assert "We delete it after 123 days" in english
        assert ("the conversation up to then, what is written after it, also when you come "
                "back with your codename, and their notes") in english
        assert f"Responsible for your data: {CONTROLLER}." in english
        assert "right to access, correction, deletion" in english
        await expect(link).to_have_text("Privacy notice")

    async with widget_server(make_config, tmp_path, Pki()) as h, chromium() as browser:
        page = await browser.new_page()
        await page.goto(h.url + "/widget/frame")
        await page.get_by_role("button", name="Chat beginnen").wait_for()
        default = await consent_text(page)
        assert "Wir löschen es nach 365 Tagen" in default
        assert "Verantwortlich" not in default
        await expect(page.locator("#consent a")).to_have_count(0)
