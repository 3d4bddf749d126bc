#!/usr/bin/env python3
"""Regenerate the screenshots of docs/console.md from the demo (``make screenshots``).

Starts ``chatserver serve`` in demo mode on a free port with a throwaway database, signs in as
the demo counsellor and the demo supervisor in Debian's Chromium (Playwright), lets three made-up
visitors open chats and one leave an anonymous message, and writes PNGs to docs/img/. Nothing
of a real installation is touched; every text shown is invented here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pyotp
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CREDENTIALS = r"DEMO {who}: (\S+) / password (\S+)\n\s+TOTP: (\S+)"
# The demo counsellor's key passphrase, for this run's throwaway database only.
PASSPHRASE = secrets.token_urlsafe(16)
SIZE: ViewportSize = {"width": 1280, "height": 800}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    ours = {"CHATSERVER_DEMO": "true", "CHATSERVER_PORT": str(port),
            "CHATSERVER_KDF_COST": "min",
            "CHATSERVER_DATABASE_URL": f"sqlite:///{workdir / 'demo.sqlite3'}",
            # Every made-up visitor here comes from this one address: a message and three chats
            # within seconds would meet the per-address limit meant for real visitors.
            "CHATSERVER_ADDR_REQUESTS_PER_MIN": "60"}
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("CHATSERVER_")} | ours
    log = workdir / "server.log"
    # Our own server from this checkout, no input of anyone's in the command line.
    proc = subprocess.Popen([str(ROOT / ".venv/bin/chatserver"), "serve"], env=env, cwd=ROOT,  # noqa: S603
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the demo server stopped:\n" + log.read_text("utf-8", "replace"))
        if "DEMO supervisor" in log.read_text("utf-8", "replace"):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return proc, url, log
            except OSError:
                pass
        time.sleep(0.2)
    proc.terminate()
    sys.exit("the demo server did not start within a minute")


def credentials(log: Path, who: str) -> tuple[str, str, str]:
    found = re.search(CREDENTIALS.format(who=re.escape(who)), log.read_text("utf-8"))
    if not found:
        sys.exit(f"no demo {who} in the server's output")
    name, password, uri = found.groups()
    return name, password, pyotp.TOTP(parse_qs(urlparse(uri).query)["secret"][0]).now()


async def sign_in(page: Page, url: str, name: str, password: str, code: str) -> None:
    await page.goto(url + "/console/login")
    await page.get_by_label("Name").fill(name)
    await page.get_by_label("Passwort").fill(password)
    await page.get_by_label("Einmalcode").fill(code)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Anmelden").click()


async def unlock(page: Page) -> None:
    await page.locator("#unlock-setup:visible, #unlock-passphrase-form:visible").first.wait_for()
    if await page.locator("#unlock-setup").is_visible():
        await page.get_by_label("Neue Schlüssel-Passphrase").fill(PASSPHRASE)
        await page.get_by_label("Passphrase noch einmal").fill(PASSPHRASE)
        await page.get_by_role("button", name="Schlüssel einrichten").click()
    else:
        await page.get_by_label("Schlüssel-Passphrase", exact=True).fill(
            PASSPHRASE)
        await page.get_by_role("button", name="Entsperren", exact=True).click()
    await page.locator("#unlock").wait_for(state="hidden")


async def visitor(browser: Browser, url: str, relative: bool = False) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(url + "/widget/frame")
    if relative:
        await page.get_by_label("Angehörige oder Freundeskreis").check()
    await page.get_by_role("button", name="Chat beginnen").click()
    return page


async def say(page: Page, text: str) -> None:
    await page.get_by_label("Nachricht", exact=True).fill(text)
    await page.get_by_role("button", name="Senden").click()


async def shoot(page: Page, out: Path, name: str) -> None:
    await page.mouse.move(0, 0)
    await page.screenshot(path=str(out / name))
    print("wrote", (out / name).relative_to(ROOT))


async def scenes(url: str, log: Path, out: Path) -> None:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        lead_name, lead_password, lead_code = credentials(log, "supervisor (statistics)")
        name, password, code = credentials(log, "counsellor")
        console = await (await browser.new_context(viewport=SIZE, locale="de-DE")).new_page()
        await console.goto(url + "/console/login")
        await shoot(console, out, "console-login.png")

        # The first console makes the team's records key; then an anonymous message can be
        # left, while nobody is on duty.
        await sign_in(console, url, name, password, code)
        await unlock(console)
        await console.get_by_text("Aktenschlüssel entsperrt").wait_for()
        drop = await (await browser.new_context()).new_page()
        await drop.goto(url + "/widget/frame")
        await drop.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(
            "Mein Bruder hängt seit einem Jahr mit Leuten aus der Kameradschaft herum. "
            "Wie kann ich mit ihm reden, ohne dass er dichtmacht?")
        await drop.get_by_role("button", name="Nachricht hinterlassen").click()
        await drop.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()

        await console.get_by_role("button", name="Dienst beginnen").click()
        await console.get_by_text("Im Dienst").wait_for()
        await console.locator("#status").evaluate("(el) => { el.textContent = ''; }")

        one = await visitor(browser, url)
        two = await visitor(browser, url, relative=True)
        accept = console.get_by_role("button", name="Annehmen")
        await accept.first.click()
        await one.locator("#peer").get_by_text(re.compile("Du schreibst mit")).wait_for()
        await accept.first.click()
        await two.locator("#peer").get_by_text(re.compile("Du schreibst mit")).wait_for()
        await visitor(browser, url)
        await console.locator("#queue li").first.wait_for()

        await console.locator("#tabs [role=tab]").first.click()
        await say(one, "Hallo. Ich weiß nicht genau, ob ich hier richtig bin.")
        await console.locator("#log li.them").first.wait_for()
        await console.get_by_label("Nachricht", exact=True).fill(
            "Hallo, schön, dass Sie schreiben. Sie sind hier richtig. Was beschäftigt Sie?")
        await console.get_by_role("button", name="Senden").click()
        await say(one, "Ich will da raus, aber meine Freunde sind alle in der Szene.")
        await console.get_by_role("button", name="Einwilligung erfragen").click()
        await one.get_by_role("button", name="Ja, einverstanden").click()
        await console.get_by_text("Einwilligung: ja").wait_for()
        await say(two, "Guten Abend, es geht um meinen Sohn.")
        await say(two, "Er ist 17.")
        await console.locator("#tabs .badge").first.wait_for()
        await console.get_by_label("Nachricht", exact=True).fill("Danke für Ihr Vertrauen. ")
        await shoot(console, out, "console-workspace.png")

        await console.get_by_role("button", name="Akte anlegen").click()
        await console.get_by_text("Akte gespeichert").wait_for()
        await console.keyboard.press("Escape")
        await console.locator("body").click(position={"x": 2, "y": 2})
        await console.keyboard.press("?")
        await console.locator("#shortcuts").wait_for()
        await shoot(console, out, "console-shortcuts.png")
        await console.keyboard.press("Escape")

        await console.get_by_role("tab", name=re.compile("^Fallakten")).click()
        await console.get_by_role("button", name="Akten laden").click()
        await console.get_by_role("button", name="Öffnen", exact=True).first.click()
        await console.locator("#record-view").wait_for()
        await shoot(console, out, "console-records.png")

        await console.get_by_role("tab", name=re.compile("^Anonyme Nachrichten")).click()
        await console.get_by_role("button", name="Nachrichten laden").click()
        await console.get_by_role("button", name="Lesen").first.click()
        await console.locator("#drop-text").wait_for()
        await shoot(console, out, "console-messages.png")

        await console.get_by_role("tab", name=re.compile("^Textbausteine")).click()
        await console.get_by_label("Titel").fill("Begrüßung")
        await console.get_by_label("Text", exact=True).fill(
            "Hallo, schön, dass Sie schreiben. Ich bin für Sie da; lassen Sie sich Zeit.")
        await console.get_by_role("button", name="Anlegen", exact=True).click()
        await console.locator("#canned-list li").first.wait_for()
        await shoot(console, out, "console-canned.png")

        # 200 % zoom of the same screen: half the CSS pixels; the page scrolls, the composer
        # comes into sight with the conversation.
        await console.set_viewport_size(
            {"width": SIZE["width"] // 2, "height": SIZE["height"] // 2})
        await console.get_by_role("tab", name=re.compile("^Chats")).click()
        await console.locator("#tabs [role=tab]").first.click()
        await shoot(console, out, "console-zoom.png")

        lead = await (await browser.new_context(viewport=SIZE, locale="de-DE")).new_page()
        await sign_in(lead, url, lead_name, lead_password, lead_code)
        await lead.goto(url + "/console/team")
        await lead.get_by_role("heading", name="Team").wait_for()
        await shoot(lead, out, "console-team.png")
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/img")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="console-shots-") as tmp:
        proc, url, log = start_server(Path(tmp))
        try:
            asyncio.run(scenes(url, log, args.out.resolve()))
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
