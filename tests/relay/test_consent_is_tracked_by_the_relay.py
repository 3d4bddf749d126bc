"""The visitor's consent answer is known to the relay (not its content), per chat."""

from __future__ import annotations

from chatserver.web.appkeys import RELAY
from tests.support.harness import Harness


async def test_consent_yes_then_no_is_recorded_and_announced(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna")
    visitor = await harness.visitor()
    await visitor.request()
    assert (await visitor.call("consent", {"answer": "yes", "version": "v2"}))["error"] == \
        "bad_state"
    await anna.accept(visitor.chat_id)
    assert (await visitor.call("consent", {"answer": "yes", "version": "v2"}))["ok"]
    assert (await anna.expect("consent")) == {
        "chat_id": visitor.chat_id, "answer": "yes", "version": "v2"}
    chat = await harness.app[RELAY].get_chat(visitor.chat_id)
    assert chat is not None and chat.consent == "v2"
    assert (await visitor.call("consent", {"answer": "no", "version": "v2"}))["ok"]
    chat = await harness.app[RELAY].get_chat(visitor.chat_id)
    assert chat is not None and chat.consent == ""
