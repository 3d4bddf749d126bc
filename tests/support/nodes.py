"""Chat server processes started like production: ``python -m chatserver serve``, and the
socket tokens their counsellors sign in with."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from chatserver.config import load_config
from chatserver.records.accounts import Users
from chatserver.records.db import migrate, open_engine
from chatserver.records.kdf import KDF_COSTS
from chatserver.relay.state.redis import RedisState
from tests.support.accounts import bound_token
from tests.support.paths import ROOT
from tests.support.redis_server import free_port
from tests.support.waiting import eventually_blocking


class Node:
    """One chat server process on a free port; its output is kept for log scans."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.env = {
            **os.environ,
            "CHATSERVER_HOST": "127.0.0.1",
            "CHATSERVER_PORT": str(self.port),
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "chatserver", "serve"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        eventually_blocking(self.healthy, what=f"the node on port {self.port} to be healthy",
                            timeout=timeout, interval=0.1, ignoring=(OSError,))

    def healthy(self) -> bool:
        """True once ``/healthz`` answers 200; raises if the process has exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"node exited: {self.log_path.read_text()[-2000:]}")
        with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
            return bool(resp.status == 200)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc is None:
            return 0
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def output(self) -> bytes:
        return self.log_path.read_bytes() if self.log_path.exists() else b""


async def counsellor_token(node: Node, redis_url: str, name: str, pseudonym: str = "") -> str:
    """A counsellor's socket token for nodes sharing ``redis_url`` and ``node``'s database: an
    account and a console session made in that database, and a token bound to the session
    issued straight into the Redis state (what the console's sign-in does)."""
    engine = open_engine(load_config({}, database_url=node.env["CHATSERVER_DATABASE_URL"]))
    state = RedisState(redis_url)
    try:
        await migrate(engine)
        accounts = Users(engine, *KDF_COSTS["min"])
        return await bound_token(accounts, state, name, pseudonym or name.title(), ttl=600)
    finally:
        await state.close()
        await engine.dispose()
