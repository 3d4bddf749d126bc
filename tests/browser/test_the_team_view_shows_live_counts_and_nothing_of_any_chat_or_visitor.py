"""The team view for supervisors and administrators: how many wait, the longest wait, who is
on duty and how many chats run, as counts that follow the relay live; nothing of any chat or
visitor, and no counsellor reads it."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from chatserver.config import Config
from chatserver.web.appkeys import RELAY, USERS
from tests.support.browser import (
    PASSWORD,
    chromium,
    login,
    serious_violations_under_csp,
    widget_server,
)
from tests.support.e2e_clients import Pki
from tests.support.harness import totp_of

pytestmark = pytest.mark.browser


async def test_team_view_counts_live_and_shows_nothing_identifying(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    async with widget_server(make_config, tmp_path, Pki(), demo=True) as h, \
            chromium() as browser:
        sue = await h.app[USERS].add("sschulz", "supervisor", PASSWORD, pseudonym="Frau Sommer")
        anna_uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        lead = await (await browser.new_context()).new_page()
        await login(lead, h.url, "sschulz", totp_of(sue).now())
        await lead.get_by_role("link", name="Team").click()
        await lead.get_by_role("heading", name="Team").wait_for()
        waiting, longest = lead.locator("#team-waiting"), lead.locator("#team-longest")
        on_duty, active = lead.locator("#team-on-duty"), lead.locator("#team-active")
        await expect(waiting).to_have_text("0")
        await expect(longest).to_have_text("0:00")
        await expect(on_duty).to_have_text("0")
        await expect(active).to_have_text("0")
        assert await serious_violations_under_csp(lead) == []

        # A visitor asks, without anyone on duty: counted, and the wait grows on its own.
        # (The widget offers no chat while nobody is on duty; the socket still queues one.)
        visitor = await h.visitor()
        assert (await visitor.request(entry="relative"))["ok"]
        await expect(waiting).to_have_text("1")
        await expect(longest).not_to_have_text("0:00", timeout=10_000)
        await expect(longest).to_have_text(re.compile(r"^0:\d\d$"))

        # Anna goes on duty and accepts: the counts follow.
        console = await (await browser.new_context()).new_page()
        await login(console, h.url, "akeller", totp_of(anna_uri).now())
        await console.get_by_role("button", name="Dienst beginnen").click()
        await expect(on_duty).to_have_text("1")
        await console.get_by_role("button", name="Annehmen").click()
        await visitor.expect("accepted")
        await expect(active).to_have_text("1")
        await expect(waiting).to_have_text("0")
        await expect(longest).to_have_text("0:00")

        # Nothing of the chat, the visitor or the counsellor is on the page or in its data.
        accounts = await h.app[USERS].by_id()
        anna = next(i for i, user in accounts.items() if user.name == "akeller")
        [chat_id] = await h.app[RELAY].state.chats_of(anna)
        html = await lead.content()
        for secret in (chat_id, anna, "Anna", "akeller", "relative", "Angehörige", "exit",
                       "Ausstieg nach"):
            assert secret not in html, secret
        counts = await lead.evaluate(
            "fetch('/console/api/team').then(r => r.json())")
        assert counts == {"waiting": 0, "longest_wait_s": 0, "on_duty": 1, "active": 1}
        assert await serious_violations_under_csp(lead) == []

        # A counsellor reads neither the page nor its data.
        assert await console.evaluate(
            "fetch('/console/api/team').then(r => r.status)") == 403
        async with aiohttp.ClientSession() as anonymous, \
                anonymous.get(h.url + "/console/api/team") as res:
            assert res.status == 403
        response = await console.goto(h.url + "/console/team")
        assert response is not None and response.status == 403
