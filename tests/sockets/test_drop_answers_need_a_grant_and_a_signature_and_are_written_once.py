"""Answers to anonymous messages (issue 15): only a counsellor holding a grant of the records
key answers, only with a signature of their certified key for this very drop, and only once;
the visitor gets the signed answer back under the lookup value and nothing else finds it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from chatserver import crypto
from chatserver.config import Config
from chatserver.main import create_app
from tests.support.clients import random_ct
from tests.support.drops import leave_drop, signed_answer
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness
from tests.support.records import certify, share_records_key


@pytest.fixture
def pki() -> Pki:
    return Pki()


@pytest.fixture
async def h(make_config: Callable[..., Config], pki: Pki) -> AsyncIterator[Harness]:
    """A server that pins ``pki``'s organisation key, as every production server does."""
    server = TestServer(create_app(make_config(
        org_public_key=crypto.b64encode(pki.org_public_key))))
    await server.start_server()
    harness = Harness(server.app, str(server.make_url("/")))
    yield harness
    await harness.close()
    await server.close()


async def _opened(h: Harness, name: str) -> tuple[Any, dict[str, Any]]:
    """A counsellor of ``name`` and the one drop, opened."""
    counsellor = await h.counsellor(name, name.capitalize(), on_duty=False)
    drop_id = (await counsellor.call("drops", {}))["items"][0]["drop_id"]
    return counsellor, (await counsellor.call("drop_open", {"drop_id": drop_id}))["drop"]


async def test_only_a_granted_counsellor_answers_signed_for_this_drop_and_only_once(
        h: Harness, pki: Pki) -> None:
    visitor = await h.visitor()
    left = await leave_drop(visitor)
    other = await leave_drop(visitor)
    anna, drop = await _opened(h, "anna")
    assert drop["lookup"] == left.lookup
    anna_id = await certify(h, "anna", pki.identity("Anna"))
    await share_records_key(anna, identities=[anna_id])
    ben, _ = await _opened(h, "ben")  # signed in, certified, but never granted the records key
    ben_id = await certify(h, "ben", pki.identity("Ben"))
    answer = {"drop_id": drop["drop_id"]}

    refused = await ben.call("drop_answer", {**answer,
                                             "answer": signed_answer(ben_id, drop, "Köder")})
    assert refused["error"] == "no_grant", refused
    # Signed for the other drop, by a key nobody certified, or with nothing signed at all.
    for forged in (
        signed_answer(anna_id, {**drop, "lookup": other.lookup}, "Falsch zugeordnet"),
        signed_answer(Pki().identity("Anna"), drop, "Fremde Organisation"),
        {**signed_answer(anna_id, drop, "Unsigniert"), "sig": crypto.b64encode(bytes(64))},
    ):
        refused = await anna.call("drop_answer", {**answer, "answer": forged})
        assert refused["error"] == "invalid", refused
    # The bare sealed text of the old protocol is refused by the schema.
    assert (await anna.call("drop_answer", {**answer, "answer": random_ct(200)}))["error"] \
        == "invalid"
    assert (await visitor.call("drop_check", {"lookup": left.lookup}))["answered"] is False

    first = signed_answer(anna_id, drop, "Wir sind für Sie da.")
    assert (await anna.call("drop_answer", {**answer, "answer": first}))["ok"]
    again = await anna.call("drop_answer", {
        **answer, "answer": signed_answer(anna_id, drop, "Doch etwas anderes")})
    assert again["error"] == "conflict", again
    assert (await ben.call("drop_answer", {**answer, "answer": first}))["error"] == "no_grant"

    checked = await (await h.visitor()).call("drop_check", {"lookup": left.lookup})
    assert checked == {"ok": True, "answered": True, "answer": first,
                       "rounds": [{"round": 1, "answered": True, "answer": first}]}
    certified = crypto.verify_drop_answer(checked["answer"], left.keys.lookup,
                                          pki.org_public_key, pki.now)
    assert certified.pseudonym == "Anna"
    opened = crypto.open_sealed(left.keys.reply_sk, left.keys.reply_pk,
                                crypto.b64decode(checked["answer"]["sealed"]))
    assert crypto.decode_payload(opened)["body"] == "Wir sind für Sie da."
    assert [d["answered"] for d in (await anna.call("drops", {}))["items"]] == [True, False]


async def test_the_server_takes_no_codename_and_finds_a_drop_only_by_its_lookup(
        h: Harness) -> None:
    visitor, checker = await h.visitor(), await h.visitor()
    code = crypto.generate_drop_code()
    # The old protocol: the server made the code and the widget checked with it.
    assert (await checker.call("drop_check", {"codename": code}))["error"] == "invalid"
    keys = crypto.drop_keys(code)
    lookup = crypto.b64encode(keys.lookup)
    assert (await checker.call("drop_check", {"lookup": lookup}))["error"] == "not_found"
    left = await leave_drop(visitor, code)
    assert (await checker.call("drop_check", {"lookup": left.lookup}))["answered"] is False
    # Without drop_start (which a proof of work pays for), and under a lookup already taken.
    again = {"lookup": lookup, "sealed_key": random_ct(80), "body": random_ct(300),
             "reply_pk": crypto.b64encode(keys.reply_pk)}
    assert (await visitor.call("drop", again))["error"] == "bad_state"
    assert (await visitor.call("drop_start", {"lang": "en"}))["ok"]
    assert (await visitor.call("drop", again))["error"] == "conflict"
    assert len((await (await h.counsellor("anna", on_duty=False)).call("drops", {}))["items"]) \
        == 1
