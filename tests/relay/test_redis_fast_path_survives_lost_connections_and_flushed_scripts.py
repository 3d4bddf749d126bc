"""The Redis state's hot path (the envelope and ack scripts, alone or made together) and the
calls sent only once keep working after Redis kills every connection of the node and after
Redis forgets its scripts; password and database come from the URL."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from chatserver.errors import DomainError
from chatserver.relay.state import Chat, Envelope, Identity, Receipt
from chatserver.relay.state.redis import RedisState
from tests.support.lossy_proxy import LossyProxy
from tests.support.redis_server import RedisServer


async def _kill_every_other_client(admin: aioredis.Redis) -> int:
    """Kill every client connection of Redis except the admin's own; how many were killed."""
    return int(await admin.client_kill_filter(_type="normal", skipme=True))


async def test_relay_scripts_survive_a_killed_connection_and_a_script_flush(
    redis_server: RedisServer,
) -> None:
    redis_server.flush()
    state = RedisState(redis_server.url)
    admin = aioredis.from_url(redis_server.url)
    try:
        chat = Chat(id="c" * 22, entry="exit", lang="de", requested_at=1.0)
        await state.create_chat(chat, "resume-key", cap=10)
        await state.claim(chat.id, Identity("anna", "Anna", "counsellor"), 3, 1.0)
        assert await state.append_held(chat.id, "v2c", Envelope(1, "AAAA"), 1.0, 60, "") == (
            "ok", "anna")

        # The state's connections: the hot path's own, and one in each pool (for calls that
        # are repeated and for calls sent once).
        assert await _kill_every_other_client(admin) >= 3
        assert await state.append_held(chat.id, "v2c", Envelope(2, "BBBB"), 1.0, 60, "") == (
            "ok", "anna")
        other = Chat(id="d" * 22, entry="exit", lang="de", requested_at=2.0)
        assert await state.create_chat(other, "resume-other", cap=10) == 1

        await admin.script_flush()
        assert await state.append_held(chat.id, "v2c", Envelope(3, "CCCC"), 1.0, 60, "") == (
            "ok", "anna")
        await state.claim(other.id, Identity("anna", "Anna", "counsellor"), 3, 2.0)
        assert await state.ack_held(chat.id, "v2c", 2, "anna") == ("anna", Receipt(2))
        assert await state.pending(chat.id, "v2c", 2.0) == [Envelope(3, "CCCC")]
        with pytest.raises(DomainError) as exc:
            await state.ack_held(chat.id, "v2c", 3, "ben")
        assert exc.value.code == "forbidden"

        # Killed and flushed at once.
        assert await _kill_every_other_client(admin) >= 3
        await admin.script_flush()
        assert await state.append_held(chat.id, "v2c", Envelope(4, "DDDD"), 1.0, 60, "") == (
            "ok", "anna")
        ended = await state.end_chat(other.id)
        assert ended is not None and ended.counsellor_id == "anna"
        assert await state.pending(chat.id, "v2c", 2.0) == [Envelope(3, "CCCC"),
                                                            Envelope(4, "DDDD")]
    finally:
        await admin.aclose()
        await state.close()


async def test_appends_made_together_survive_a_script_flush(proxy: LossyProxy) -> None:
    state = RedisState(proxy.url)
    admin = aioredis.from_url(proxy.url)
    try:
        chats = []
        for name in "mnopqr":
            chat = Chat(id=name * 22, entry="exit", lang="de", requested_at=1.0)
            await state.create_chat(chat, "resume-" + name, cap=10)
            await state.claim(chat.id, Identity("anna", "Anna", "counsellor"), 10, 1.0)
            chats.append(chat)
        await admin.script_flush()
        # The first call goes alone (and loads the acknowledgement script); the appends made
        # meanwhile go together, and Redis answers each of them "no such script".
        sha = state._append.sha.encode()
        proxy.count_per_write(sha)
        answers = await asyncio.gather(state.ack_held(chats[0].id, "c2v", 0, ""), *(
            state.append_held(c.id, "v2c", Envelope(1, c.id[:4]), 1.0, 60, "") for c in chats))
        assert answers == [("anna", Receipt())] + [("ok", "anna")] * len(chats)
        assert proxy.most_per_write(sha) == len(chats)
        for c in chats:
            assert await state.pending(c.id, "v2c", 2.0) == [Envelope(1, c.id[:4])]
    finally:
        await admin.aclose()
        await state.close()


async def test_password_and_database_come_from_the_url(redis_server: RedisServer) -> None:
    redis_server.flush()
    admin = aioredis.Redis.from_url(redis_server.url, single_connection_client=True)
    await admin.config_set("requirepass", "s3cret")
    try:
        state = RedisState(f"redis://:s3cret@127.0.0.1:{redis_server.port}/3")
        try:
            chat = Chat(id="e" * 22, entry="exit", lang="de", requested_at=1.0)
            assert await state.create_chat(chat, "resume-key", cap=10) == 1
            await state.claim(chat.id, Identity("anna", "Anna", "counsellor"), 3, 1.0)
            assert await state.append_held(chat.id, "v2c", Envelope(1, "AAAA"), 1.0, 60,
                                           "") == ("ok", "anna")
        finally:
            await state.close()
        in_db3 = aioredis.from_url(f"redis://:s3cret@127.0.0.1:{redis_server.port}/3")
        in_db0 = aioredis.from_url(f"redis://:s3cret@127.0.0.1:{redis_server.port}/0")
        try:
            assert await in_db3.exists(f"ek:chat:{chat.id}", f"ek:buf:{chat.id}:v2c") == 2
            assert await in_db0.dbsize() == 0
        finally:
            await in_db3.aclose()
            await in_db0.aclose()
        wrong = RedisState(f"redis://:wrong@127.0.0.1:{redis_server.port}/0")
        try:
            with pytest.raises(aioredis.AuthenticationError):
                await wrong.ping()
        finally:
            await wrong.close()
    finally:
        await admin.execute_command("AUTH", "s3cret")
        await admin.config_set("requirepass", "")
        await admin.flushall()
        await admin.aclose()
