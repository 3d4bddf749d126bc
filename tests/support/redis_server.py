"""A throwaway redis-server on a free loopback port, owned by the test run."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

import redis

from tests.support.waiting import eventually_blocking


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """Start, stop and restart a private Redis; nothing is written to disk unless ``options``
    (more redis-server options, after this class's own: the last one wins) say so."""

    def __init__(self, *options: str) -> None:
        self.options = list(options)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="ek-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        self.proc = subprocess.Popen(
            [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), *self.options],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        self.wait_until_up()

    def wait_until_up(self) -> None:
        """Block until the server answers PING (a loading append-only file counts as not yet)."""
        client = redis.Redis(port=self.port)
        try:
            eventually_blocking(client.ping, what=f"redis-server on port {self.port}",
                                ignoring=(redis.ConnectionError, redis.BusyLoadingError))
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(10)
            self.proc = None

    def flush(self) -> None:
        client = redis.Redis(port=self.port)
        client.flushall()
        client.close()

    def dump(self) -> bytes:
        """Every key with its value, one pair a line, values rendered as read (never Redis's
        own DUMP format, which may compress a value and hide a canary), for canary scans."""
        client = redis.Redis(port=self.port)
        out: list[bytes] = []
        for key in client.scan_iter(count=1000):
            kind = client.type(key)
            if kind == b"string":
                value = client.get(key) or b""
            elif kind == b"hash":
                value = repr(client.hgetall(key)).encode()
            elif kind == b"list":
                value = repr(client.lrange(key, 0, -1)).encode()
            elif kind == b"set":
                value = repr(client.smembers(key)).encode()
            elif kind == b"zset":
                value = repr(client.zrange(key, 0, -1, withscores=True)).encode()
            else:
                value = b""
            out.append(key + b" " + value)
        client.close()
        return b"\n".join(out)

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
