"""Target P: this chat server, exactly as ``chatserver serve`` builds it, plus one bench-only
route that signs a counsellor in and issues a socket token bound to that session (what the
console does after a full login).

Limits meant for one visitor's browser (messages per second, requests per address) are
raised so that one load generator on loopback can stand in for thousands of visitors; every
check still runs. The database is a throwaway SQLite file.

    python bench/targets/chatserver_p.py PORT DB_DIR [REDIS_URL]
"""

from __future__ import annotations

import logging
import secrets
import sys
import time

from aiohttp import web

from chatserver.cli import new_event_loop
from chatserver.config import load_config
from chatserver.main import create_app
from chatserver.relay.state import Identity
from chatserver.web.appkeys import RELAY, USERS

BENCH_LIMITS = {
    "msg_rate_per_s": 1e6, "msg_burst": 1_000_000, "chat_requests_per_min": 1e7,
    "addr_connects_per_min": 1e9, "addr_requests_per_min": 1e9, "addr_msgs_per_s": 1e9,
    "strike_limit": 1_000_000, "queue_cap": 1_000_000, "max_chats_per_counsellor": 10_000,
    "kdf_cost": "min",
}


def make_app(port: int, db_dir: str, redis_url: str = "") -> web.Application:
    config = load_config({}, port=port, redis_url=redis_url,
                         database_url=f"sqlite:///{db_dir}/bench.sqlite3", **BENCH_LIMITS)
    app = create_app(config)

    async def token(request: web.Request) -> web.Response:
        # What the console does after a full login: an account, a session, a token bound to it.
        name = request.query.get("name", "bench-" + secrets.token_hex(4))[:64]
        users = app[USERS]
        if await users.find(name) is None:
            await users.add(name, "counsellor", secrets.token_urlsafe(16),
                            f"Beraterin {name[-40:]}")
        session = await users.open_session(name, time.time())
        user = session.user
        ident = Identity(user.id, user.pseudonym, user.role, session.ref)
        return web.json_response({"token": await app[RELAY].tokens.issue(ident, 3600)})

    app.router.add_post("/bench/token", token)
    return app


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aiohttp.access").disabled = True
    # The event loop `chatserver serve` runs on (uvloop where installed).
    web.run_app(make_app(int(sys.argv[1]), sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else ""),
                host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
                loop=new_event_loop())
