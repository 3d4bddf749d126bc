"""Widgets refuse a revocation list older than 30 days (every chat) and a certificate past its
end (that counsellor's chats), silently. On a fake clock across both limits: ``/metrics`` has
the list's age and the seconds until the first certificate ends, and the console page warns
from 14 days ahead, and says so once it has happened."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from chatserver import crypto
from chatserver.admin.expiry import (
    REVOCATION_MAX_AGE_S,
    WARN_AHEAD_S,
    Lapse,
    Material,
    assess,
)
from chatserver.config import Config
from chatserver.main import create_app
from chatserver.vocabulary import Lang
from chatserver.web.appkeys import CLOCK, USERS
from tests.support.harness import Harness
from tests.support.paths import ROOT

DAY = 86400
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()


class Clock:
    """The app's wall clock, set by the test."""

    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> float:
        return self.t


class Setup:
    """A server pinning a test organisation key, its list file, and the fake clock."""

    def __init__(self, h: Harness, org: crypto.SigningSeed, revocations: Path) -> None:
        self.h, self.org, self.revocations = h, org, revocations
        self.session_key = ""
        self.user_id = ""

    def sign_list(self, days_old: float, org: crypto.SigningSeed | None = None) -> None:
        """Put a list signed ``days_old`` days before NOW in the configured file."""
        listing = crypto.issue_revocation_list(org or self.org, int(NOW - days_old * DAY), [])
        self.revocations.write_text(json.dumps(listing))

    async def certify(self, name: str, days_old: float, disabled: bool = False) -> None:
        """An account that chats with a 90-day certificate issued ``days_old`` days ago."""
        users = self.h.app[USERS]
        await users.add(name, "counsellor", "ein-langes-passwort", f"Beraterin {name}")
        issued = int(NOW - days_old * DAY)
        cert = crypto.issue_certificate(self.org, crypto.SigningSeed.generate().public_key,
                                        f"Beraterin {name}", issued, issued + 90 * DAY)
        await users.set_certificate(name, json.dumps(cert))
        if disabled:
            await users.set_disabled(name, True)

    async def banner(self) -> list[str]:
        """The warnings on the console page of a signed-in counsellor ([] if none), each as
        "German / English": the page as the account reads it in English, then in German."""
        if not self.session_key:
            session = await self.h.console_session("leser")
            self.session_key, self.user_id = session.key, session.user.id
        said: dict[Lang, list[str]] = {}
        for lang in (Lang.EN, Lang.DE):
            await self.h.app[USERS].set_language(self.user_id, lang)
            async with aiohttp.ClientSession(cookies={"ek_console": self.session_key}) as http, \
                    http.get(self.h.url + "/console/") as resp:
                assert resp.status == 200
                page = await resp.text()
            assert f'<html lang="{lang.value}">' in page
            found = Items()
            found.feed(page)
            said[lang] = found.items
        assert len(said[Lang.DE]) == len(said[Lang.EN])
        return [f"{de} / {en}" for de, en in zip(said[Lang.DE], said[Lang.EN], strict=True)]

    async def metrics(self) -> dict[str, float]:
        async with aiohttp.ClientSession() as http, http.get(self.h.url + "/metrics") as resp:
            assert resp.status == 200
            text = await resp.text()
        return {m[1]: float(m[2]) for m in re.finditer(
            r'^(erstkontakt_(?:revocation|counsellor_cert)[a-z_]*(?:\{[^}]*\})?) (\S+)$', text,
            re.MULTILINE)}


class Items(HTMLParser):
    """The text of each list item in the warning banner."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[str] = []
        self._depth = 0  # inside <section id="lapsing">: counts nested sections
        self._item: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section" and (self._depth or ("id", "lapsing") in attrs):
            self._depth += 1
        elif tag == "li" and self._depth:
            self._item = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "section" and self._depth:
            self._depth -= 1
        elif tag == "li" and self._item is not None:
            self.items.append(" ".join("".join(self._item).split()))
            self._item = None

    def handle_data(self, data: str) -> None:
        if self._item is not None:
            self._item.append(data)


@pytest.fixture
async def setup(make_config: Callable[..., Config], tmp_path: Path) -> AsyncIterator[Setup]:
    org = crypto.SigningSeed.generate()
    revocations = tmp_path / "revocations.json"
    app = create_app(make_config(org_public_key=crypto.b64encode(org.public_key),
                                 revocations_file=str(revocations)))
    app[CLOCK] = Clock()
    server = TestServer(app)
    await server.start_server()
    h = Harness(server.app, str(server.make_url("/")))
    yield Setup(h, org, revocations)
    await asyncio.wait_for(h.close(), 20)
    await asyncio.wait_for(server.close(), 20)


@pytest.mark.parametrize(("days_old", "warning"), [
    (16, None),
    (17, "Die Sperrliste läuft in 13 Tagen ab (14.03.2027 12:00); danach lehnen Widgets jeden "
         "Chat ab. / The revocation list expires in 13 days (2027-03-14 12:00); widgets then "
         "refuse every chat."),
    (29.5, "Die Sperrliste läuft heute ab (02.03.2027 00:00)"),
    (31, "Die Sperrliste ist seit 28.02.2027 12:00 abgelaufen: Widgets lehnen jeden Chat ab. "
         "/ The revocation list expired on 2027-02-28 12:00: widgets refuse every chat."),
])
async def test_the_revocation_list_is_warned_of_from_14_days_before_its_30(
    setup: Setup, days_old: float, warning: str | None
) -> None:
    setup.sign_list(days_old)
    banner = await setup.banner()
    if warning is None:
        assert banner == []
    else:
        assert len(banner) == 1 and banner[0].startswith(warning), banner
    metrics = await setup.metrics()
    assert metrics["erstkontakt_revocation_list_valid"] == 1
    assert metrics["erstkontakt_revocation_list_age_seconds"] == days_old * DAY
    # No certificate installed: no earliest end, and none counted.
    assert "erstkontakt_counsellor_certificate_expiry_seconds" not in metrics
    assert all(metrics[f'erstkontakt_counsellor_certificates{{state="{lapse}"}}'] == 0
               for lapse in Lapse)


@pytest.mark.parametrize(("days_old", "state", "warning"), [
    (76, Lapse.VALID, None),
    (77, Lapse.EXPIRING,
     "1 Zertifikat läuft in den nächsten 14 Tagen ab, das erste in 13 Tagen (14.03.2027 "
     "12:00). / 1 certificate expires within 14 days, the first in 13 days (2027-03-14 12:00)."),
    (91, Lapse.EXPIRED,
     "1 Zertifikat ist abgelaufen (das erste am 28.02.2027 12:00): Widgets lehnen Chats mit "
     "diesem Konto ab. / 1 certificate has expired (the first on 2027-02-28 12:00): widgets "
     "refuse chats with this account."),
])
async def test_certificates_are_warned_of_from_14_days_before_their_90(
    setup: Setup, days_old: float, state: Lapse, warning: str | None
) -> None:
    setup.sign_list(1)
    await setup.certify("anna", days_old)
    # Far off, or gone with its disabled account: neither moves the earliest end.
    await setup.certify("ben", 1)
    await setup.certify("carla", 200, disabled=True)
    banner = await setup.banner()
    assert banner == ([] if warning is None else [warning])
    metrics = await setup.metrics()
    assert metrics["erstkontakt_counsellor_certificate_expiry_seconds"] == (90 - days_old) * DAY
    counts = {lapse: metrics[f'erstkontakt_counsellor_certificates{{state="{lapse}"}}']
              for lapse in Lapse}
    assert counts == {lapse: (1 if lapse == state else 0) + (lapse == Lapse.VALID)
                      for lapse in Lapse}


async def test_a_missing_or_foreign_list_is_warned_of_as_refused(setup: Setup) -> None:
    missing = "Die Sperrliste fehlt oder ist nicht mit dem Organisationsschlüssel signiert"
    assert (await setup.banner())[0].startswith(missing)
    assert (await setup.metrics())["erstkontakt_revocation_list_valid"] == 0
    setup.sign_list(1, org=crypto.SigningSeed.generate())
    assert (await setup.banner())[0].startswith(missing)
    metrics = await setup.metrics()
    assert metrics["erstkontakt_revocation_list_valid"] == 0
    assert "erstkontakt_revocation_list_age_seconds" not in metrics
    setup.sign_list(1)
    assert await setup.banner() == []


@pytest.mark.parametrize(("days_left", "lapse"), [
    (14.0, Lapse.VALID), (13.99, Lapse.EXPIRING), (0.0, Lapse.EXPIRING), (-0.01, Lapse.EXPIRED)])
def test_the_warning_starts_once_less_than_14_days_are_left(days_left: float,
                                                            lapse: Lapse) -> None:
    issued = NOW - (30 - days_left) * DAY
    end = NOW + days_left * DAY
    signed = assess(Material(issued, (end, end + 10 * DAY)), NOW)
    assert signed.revocations == lapse
    assert signed.certificate_ends(lapse)[0] == end
    assert signed.warn is (lapse != Lapse.VALID)


async def test_the_alert_rules_in_the_guide_use_served_metrics_and_the_same_limits(
    setup: Setup
) -> None:
    guide = (ROOT / "docs" / "operations.md").read_text("utf-8")
    rules = guide.split("A Prometheus rule file:", 1)[1].split("```yaml", 1)[1].split("```")[0]
    named = set(re.findall(r"erstkontakt_[a-z_]+", rules))
    assert len(named) == 4, named
    setup.sign_list(1)
    await setup.certify("anna", 1)
    served = {name.split("{")[0] for name in await setup.metrics()}
    assert named <= served, named - served
    # The same limits as the banner: 14 days ahead of 30 and of a certificate's end.
    assert f"> {(REVOCATION_MAX_AGE_S - WARN_AHEAD_S) // DAY} * 86400" in rules
    assert f"> {REVOCATION_MAX_AGE_S // DAY} * 86400" in rules
    assert f"< {WARN_AHEAD_S // DAY} * 86400" in rules
