"""Whatever is logged while chats run, no ciphertext, canary or client address is in it."""

from __future__ import annotations

import logging

import pytest

from tests.support.clients import random_ct
from tests.support.harness import Harness


async def test_a_full_chat_with_errors_logs_nothing_identifying(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    anna = await harness.counsellor("anna", "Anna")
    visitor = await harness.visitor(headers={"User-Agent": "Canary-UA/1.0",
                                             "X-Forwarded-For": "203.0.113.77"})
    await visitor.request()
    await anna.accept(visitor.chat_id)
    sent = [random_ct(80) for _ in range(3)]
    for ct in sent:
        await visitor.send(ct)
        await anna.send(visitor.chat_id, ct)
    await visitor.send("!!notbase64!!")
    await visitor.send(sent[0], seq=99)
    await anna.end(visitor.chat_id)
    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in caplog.records
    )
    for needle in [*sent, visitor.chat_id, visitor.resume_token, "Canary-UA", "203.0.113.77"]:
        assert needle not in text
    assert "127.0.0.1" not in text
