"""Redis with the persistence ``deploy/compose.yaml`` gives it (append-only file, flushed to disk
every second) keeps every write it acknowledged when its process is killed: it hands each change
to the file before it answers, so only a crash of the whole machine can lose the last second or
two (docs/operations.md, "Redis on disk"). The options are read from the compose file, so the
promise is checked for what is deployed.
"""

from __future__ import annotations

import signal
import time

from chatserver.relay.state import Chat, Envelope, Identity
from chatserver.relay.state.redis import RedisState
from tests.support.clients import random_ct
from tests.support.deploy import normalized_compose
from tests.support.redis_server import RedisServer

ANNA = Identity("anna", "Anna", "counsellor")


def deployed_options() -> list[str]:
    command: list[str] = normalized_compose()["services"]["redis"]["command"]
    assert command[0] == "redis-server"
    return command[1:]


async def test_a_killed_redis_comes_back_with_every_write_it_acknowledged() -> None:
    server = RedisServer(*deployed_options())
    server.start()
    try:
        now = time.time()
        sent = {seq: random_ct(64) for seq in range(1, 41)}
        state = RedisState(server.url)
        try:
            await state.create_chat(Chat("c1", "exit", "de", now), "resume-key", 10)
            await state.claim("c1", ANNA, 3, now)
            await state.put_token("token-key", ANNA, 600)
            for seq, ct in sent.items():
                assert await state.append("c1", "v2c", Envelope(seq, ct), now, 600) == "ok"
            await state.ack("c1", "v2c", 10)
        finally:
            await state.close()
        # No shutdown, no last save: the process is gone the moment after its last answer.
        server.stop(signal.SIGKILL)
        assert list((server.dir / "appendonlydir").iterdir()), "no append-only file written"
        server.start()

        state = RedisState(server.url)
        try:
            chat = await state.get_chat("c1")
            assert chat is not None and chat.counsellor_id == "anna"
            assert await state.chat_by_resume("resume-key") == "c1"
            assert await state.get_token("token-key") == ANNA
            assert await state.next_seq("c1", "v2c") == 41
            assert await state.pending("c1", "v2c", now) == [
                Envelope(seq, ct) for seq, ct in sent.items() if seq > 10]
        finally:
            await state.close()
    finally:
        server.cleanup()
