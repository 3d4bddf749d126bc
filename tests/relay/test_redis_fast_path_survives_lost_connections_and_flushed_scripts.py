"""The lean Redis connection of the relay's hot path (chatserver/state/resp.py) answers like
redis-py: after its connection is killed, after Redis forgets its scripts, with a password and
a database from the URL, and it declines URLs it cannot speak."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis

from chatserver.errors import DomainError
from chatserver.relay.state import Chat, Envelope, Identity
from chatserver.relay.state.redis import RedisState
from chatserver.relay.state.resp import RespError, connect_url
from tests.support.redis_server import RedisServer


def test_only_plain_urls_take_the_lean_path() -> None:
    assert connect_url("redis://127.0.0.1:6379/0") is not None
    assert connect_url("redis://:secret@127.0.0.1/2") is not None
    assert connect_url("unix:///run/redis.sock?db=1") is not None
    assert connect_url("rediss://127.0.0.1:6380/0") is None  # TLS: redis-py's job
    assert connect_url("redis://127.0.0.1/0?socket_timeout=3") is None
    assert connect_url("redis://127.0.0.1/zero") is None


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

        fast = state._fast
        assert fast is not None and fast._proto is not None and fast._proto.transport is not None
        host, port = fast._proto.transport.get_extra_info("sockname")[:2]
        assert await admin.client_kill_filter(addr=f"{host}:{port}") == 1
        assert await state.append_held(chat.id, "v2c", Envelope(2, "BBBB"), 1.0, 60, "") == (
            "ok", "anna")
        await admin.script_flush()
        assert await state.append_held(chat.id, "v2c", Envelope(3, "CCCC"), 1.0, 60, "") == (
            "ok", "anna")
        assert await state.ack_held(chat.id, "v2c", 2, "anna") == "anna"
        assert await state.pending(chat.id, "v2c", 2.0) == [Envelope(3, "CCCC")]
        with pytest.raises(DomainError) as exc:
            await state.ack_held(chat.id, "v2c", 3, "ben")
        assert exc.value.code == "forbidden"
    finally:
        await admin.aclose()
        await state.close()


async def test_password_and_database_come_from_the_url(redis_server: RedisServer) -> None:
    redis_server.flush()
    admin = aioredis.Redis.from_url(redis_server.url, single_connection_client=True)
    await admin.config_set("requirepass", "s3cret")
    try:
        fast = connect_url(f"redis://:s3cret@127.0.0.1:{redis_server.port}/3")
        assert fast is not None
        assert await fast.call("SET", "probe", "x") == "OK"
        assert await fast.call("DBSIZE") == 1
        with pytest.raises(RespError):
            await fast.call("NOSUCHCOMMAND")
        await fast.close()
        wrong = connect_url(f"redis://:wrong@127.0.0.1:{redis_server.port}/0")
        assert wrong is not None
        with pytest.raises(RespError):
            await wrong.call("PING")
        await wrong.close()
    finally:
        await admin.execute_command("AUTH", "s3cret")
        await admin.config_set("requirepass", "")
        await admin.flushall()
        await admin.aclose()
