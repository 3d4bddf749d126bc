"""The reaper ends every chat that is due, even when ending one of them fails."""

from __future__ import annotations

import socketio

from chatserver.config import load_config
from chatserver.relay.relay import Relay
from chatserver.relay.state import Chat
from chatserver.relay.state.memory import MemoryState
from chatserver.sockets.outbound import SocketOutbound


class OneChatStuck(MemoryState):
    """The embedded state, except that one chat cannot be ended (a Redis hiccup, say)."""

    stuck = ""

    async def end_chat(self, chat_id: str, keep_codename_s: float = 0.0) -> Chat | None:
        if chat_id == self.stuck:
            raise ConnectionError("state unavailable for this one")
        return await super().end_chat(chat_id, keep_codename_s)


async def test_one_failing_chat_does_not_keep_the_others_alive() -> None:
    state = OneChatStuck()
    sio = socketio.AsyncServer(async_mode="aiohttp")
    relay = Relay(load_config({}), state, SocketOutbound(sio), clock=lambda: 1000.0)
    ids = []
    for _ in range(3):
        chat, _, _ = await relay.request_chat("exit", "de")
        await state.set_visitor_present(chat.id, False, 10.0)
        ids.append(chat.id)
    state.stuck = ids[0]
    assert await relay.reap() == 2
    assert await state.get_chat(ids[0]) is not None
    assert [await state.get_chat(i) for i in ids[1:]] == [None, None]

