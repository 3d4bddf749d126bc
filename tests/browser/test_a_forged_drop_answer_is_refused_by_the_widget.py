"""A forged "answer from the exit programme" is a lure (issue 15): whoever writes into the
database (or runs the server) can put an answer under a drop, sealed to the visitor's real reply
key, but the widget shows it only if a counsellor the pinned organisation certified, and did
not revoke, signed it for this very drop (and, since threads, for this round of it). Otherwise
the visitor reads that the answer cannot be confirmed, and never its text."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.async_api import Browser

from chatserver import crypto
from chatserver.config import Config
from chatserver.records.schema import drops, team_keys
from chatserver.web.appkeys import ENGINE, RECORDS
from tests.support.browser import chromium, widget_server
from tests.support.clients import random_ct
from tests.support.e2e_clients import Identity, Pki
from tests.support.harness import Harness

pytestmark = pytest.mark.browser

LURE = "KANARIE-koeder-komm-zum-treffen"
REFUSED = "Diese Antwort kann nicht bestätigt werden. Bitte folge ihr nicht."


def _answer(signer: Identity, lookup: bytes, reply_pk: bytes, text: str) -> dict[str, Any]:
    sealed = crypto.seal(reply_pk, crypto.encode_payload({"t": "answer", "body": text}))
    return crypto.sign_drop_answer(signer.signing, signer.certificate, lookup, sealed)


async def _plant(h: Harness, answer: dict[str, Any]) -> None:
    """Write an answer straight into the drop's row, past every check of the server."""
    async with h.app[ENGINE].begin() as conn:
        await conn.execute(sa.update(drops).values(
            answer=answer.get("sealed"), answer_sig=answer.get("sig"), answered_at=1.0,
            answer_certificate=json.dumps(answer["certificate"])
            if answer.get("certificate") else None))


async def _read(browser: Browser, h: Harness, code: str) -> str:
    """What a visitor coming back with ``code`` reads."""
    page = await (await browser.new_context()).new_page()
    await page.goto(h.url + "/widget/frame")
    await page.get_by_text("Ich habe ein Codewort").click()
    await page.get_by_label("Codewort").fill(code)
    await page.get_by_role("button", name="Weiter").click()
    shown = page.locator("#drop-answer")
    await shown.filter(has_text=re.compile(".")).wait_for()
    text = await shown.text_content() or ""
    await page.context.close()
    return text


async def test_forged_unsigned_misdirected_and_revoked_answers_are_refused(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki) as h, chromium() as browser:
        # The team's records key, as a console made it, certified by the organisation.
        records_pk = crypto.box_keypair()[1]
        async with h.app[ENGINE].begin() as conn:
            await conn.execute(sa.insert(team_keys).values(
                name="records", public_key=crypto.b64encode(records_pk), created=0,
                certificate=json.dumps(pki.records_certificate(records_pk))))
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(
            "Ich will raus.")
        await visitor.get_by_role("button", name="Nachricht hinterlassen").click()
        await visitor.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
        code = (await visitor.locator("#drop-codename").text_content() or "").strip()
        keys = crypto.drop_keys(code)
        elsewhere = crypto.drop_keys(crypto.generate_drop_code())
        anna, rolf = pki.identity("Anna"), pki.identity("Rolf")
        stranger = Pki().identity("Anna")  # certified, but by another organisation

        # The genuine answer shows, with its counsellor: the refusals below are not blindness.
        await _plant(h, _answer(anna, keys.lookup, keys.reply_pk, "Wir sind da."))
        assert await _read(browser, h, code) == "Antwort von Anna aus der Beratung: Wir sind da."

        signed = _answer(anna, keys.lookup, keys.reply_pk, LURE)
        forgeries = {
            "signed by a key the organisation did not certify":
                _answer(stranger, keys.lookup, keys.reply_pk, LURE),
            "unsigned": {"sealed": signed["sealed"], "certificate": None, "sig": None},
            "signed by Anna, for another drop":
                _answer(anna, elsewhere.lookup, keys.reply_pk, LURE),
            "signed by Anna over another text": dict(
                signed, sealed=_answer(anna, keys.lookup, keys.reply_pk, LURE + "!")["sealed"],
                sig=_answer(anna, keys.lookup, keys.reply_pk, "Harmlos")["sig"]),
        }
        for name, forged in forgeries.items():
            await _plant(h, forged)
            shown = await _read(browser, h, code)
            assert shown == REFUSED, name
            assert LURE not in shown, name

        # A counsellor who was revoked after answering: refused once the list says so.
        await _plant(h, _answer(rolf, keys.lookup, keys.reply_pk, LURE))
        assert await _read(browser, h, code) == "Antwort von Rolf aus der Beratung: " + LURE
        pki.revoke(rolf)
        (tmp_path / "revocations.json").write_text(json.dumps(pki.revocations))
        assert await _read(browser, h, code) == REFUSED


def _round_answer(signer: Identity, lookup: bytes, reply_pk: bytes, text: str,
                  round_no: int) -> dict[str, Any]:
    """An answer as the console writes it since threads (issue 17): naming its round."""
    sealed = crypto.seal(reply_pk, crypto.encode_payload(
        {"t": "answer", "body": text, "round": round_no}))
    return crypto.sign_drop_answer(signer.signing, signer.certificate, lookup, sealed)


async def _plant_round(h: Harness, round_no: int, answer: dict[str, Any]) -> None:
    async with h.app[ENGINE].begin() as conn:
        await conn.execute(sa.update(drops).where(drops.c.round == round_no).values(
            answer=answer["sealed"], answer_sig=answer["sig"], answered_at=1.0,
            answer_certificate=json.dumps(answer["certificate"])))


async def test_an_answer_moved_to_another_round_of_its_thread_is_refused(
    make_config: Callable[..., Config], tmp_path: Path
) -> None:
    """Threads: an answer is signed for the thread's lookup value, so inside one thread it
    could be shown again under a later message; it names its round inside what is signed, and
    the widget shows it only there."""
    pki = Pki()
    async with widget_server(make_config, tmp_path, pki) as h, chromium() as browser:
        records_pk = crypto.box_keypair()[1]
        async with h.app[ENGINE].begin() as conn:
            await conn.execute(sa.insert(team_keys).values(
                name="records", public_key=crypto.b64encode(records_pk), created=0,
                certificate=json.dumps(pki.records_certificate(records_pk))))
        visitor = await (await browser.new_context()).new_page()
        await visitor.goto(h.url + "/widget/frame")
        await visitor.get_by_label("Du kannst uns eine anonyme Nachricht hinterlassen:").fill(
            "Ich will raus.")
        await visitor.get_by_role("button", name="Nachricht hinterlassen").click()
        await visitor.get_by_text(re.compile("Gespeichert. Schreib dir")).wait_for()
        code = (await visitor.locator("#drop-codename").text_content() or "").strip()
        keys, anna = crypto.drop_keys(code), pki.identity("Anna")
        first = _round_answer(anna, keys.lookup, keys.reply_pk, "Erste Antwort", 1)
        await _plant_round(h, 1, first)
        # The visitor's second message, as the store takes it after an answer.
        await h.app[RECORDS].create_drop(crypto.b64encode(keys.lookup), random_ct(80),
                                         random_ct(300), crypto.b64encode(keys.reply_pk),
                                         time.time(), 2)
        genuine = "Antwort von Anna aus der Beratung: Erste Antwort"
        await _plant_round(h, 2, first)
        assert await _read(browser, h, code) == genuine + REFUSED
        await _plant_round(h, 2, _round_answer(anna, keys.lookup, keys.reply_pk, LURE, 1))
        assert await _read(browser, h, code) == genuine + REFUSED
        await _plant_round(h, 2, _round_answer(anna, keys.lookup, keys.reply_pk, "Zweite", 2))
        assert await _read(browser, h, code) == \
            genuine + "Antwort von Anna aus der Beratung: Zweite"
