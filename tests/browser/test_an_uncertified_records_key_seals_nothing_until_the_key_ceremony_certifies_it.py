"""Outside demo mode the first console makes the records key, but neither it nor the widget
seals anything to it until the administrator has certified it with the offline org key and
installed the certificate; the console tells the admin what to run, and the widget says that
no message can be left yet instead of offering a field."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from chatserver.admin import keys
from chatserver.cli import build_parser
from chatserver.config import Config
from chatserver.web.appkeys import CONFIG, RECORDS, USERS
from tests.support.browser import PASSWORD, chromium, login, show_view, widget_server
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of

pytestmark = pytest.mark.browser


async def leave_drop(browser: Browser, h: Harness, text: str) -> Page:
    visitor = await (await browser.new_context()).new_page()
    await visitor.goto(h.url + "/widget/frame")
    await visitor.get_by_text("Gerade ist niemand im Dienst").wait_for()
    await visitor.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(text)
    await visitor.get_by_role("button", name="Nachricht hinterlassen").click()
    return visitor


async def test_the_records_key_is_used_once_the_admin_certified_and_installed_it(
    make_config: Callable[..., Config], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki) as h, chromium() as browser:
        uri = await h.app[USERS].add("akeller", "counsellor", PASSWORD, pseudonym="Anna")
        anna = await (await browser.new_context()).new_page()
        await login(anna, h.url, "akeller", totp_of(uri).now())
        await anna.locator("#keyring", has_text="noch nicht zertifiziert").wait_for()
        records_pk = await h.app[RECORDS].keyring.records_public_key()
        said = await anna.locator("#keyring").text_content() or ""
        assert f"chatserver keys certify-records --records-pk {records_pk}" in said
        assert "chatserver keys install-records-cert" in said

        # The widget says at once that no message can be left, and offers no field to write it.
        refused = await (await browser.new_context()).new_page()
        await refused.goto(h.url + "/widget/frame")
        await refused.get_by_text(re.compile(
            "Nachrichten können hier noch nicht hinterlassen werden")).wait_for()
        assert await refused.locator("#drop-form").is_hidden()
        assert await h.app[RECORDS].list_drops() == []

        # The key ceremony: certified offline with the org key, installed on the server.
        org_file = keys.write_org_key(tmp_path / "org", pki.org)
        args = build_parser().parse_args(["keys", "certify-records", "--org-key", str(org_file),
                                          "--records-pk", records_pk])
        assert args.func(args) == 0
        certificate = json.loads(capsys.readouterr().out)
        await keys.install_records_certificate(h.app[CONFIG], certificate)

        await show_view(anna, "Fallakten")
        await anna.get_by_role("button", name="Akten laden").click()
        await anna.locator("#keyring", has_text=re.compile(
            r"^Aktenschlüssel entsperrt$")).wait_for()
        done = await leave_drop(browser, h, "KANARIE-rechtzeitig")
        await done.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
        assert len(await h.app[RECORDS].list_drops()) == 1
