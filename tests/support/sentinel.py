"""Redis Sentinel on loopback, owned by the test run: a primary, a replica and three sentinels
on free ports, their files in a temporary directory, quick to notice a dead primary."""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import redis

from tests.support.redis_server import RedisServer, free_port
from tests.support.waiting import eventually_blocking

SERVICE = "ek-test"


def info(port: int, section: str) -> dict[str, Any]:
    """``INFO section`` of the Redis on ``port``."""
    client = redis.Redis(port=port)
    try:
        return dict(client.info(section))
    finally:
        client.close()


class Sentinels:
    """A primary, one replica and three sentinels (quorum 2) watching them as ``SERVICE``.

    A primary that stops answering is down for the sentinels after ``down_after_ms``; they
    agree, elect a leader and promote the replica, usually within about two seconds more.
    """

    def __init__(self, down_after_ms: int = 1000, failover_timeout_ms: int = 2000) -> None:
        # No delay before a full resynchronisation: the replica is in step at once.
        self.servers = [RedisServer("--repl-diskless-sync-delay", "0") for _ in range(2)]
        self.ports = [free_port() for _ in range(3)]
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.dir = Path(tempfile.mkdtemp(prefix="ek-sentinel-"))
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """``CHATSERVER_REDIS_URL`` for this service (database 0)."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def server(self, port: int) -> RedisServer:
        return next(s for s in self.servers if s.port == port)

    def start(self) -> None:
        """Start everything and block until the sentinels know the replica and each other."""
        exe = shutil.which("redis-server")
        if exe is None:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        primary, replica = self.servers
        primary.start()
        replica.options += ["--replicaof", "127.0.0.1", str(primary.port)]
        replica.start()
        eventually_blocking(lambda: info(replica.port, "replication")["master_link_status"],
                            until=lambda status: status == "up",
                            what="the replica to be in step with the primary")
        for port in self.ports:
            conf = self.dir / f"sentinel-{port}.conf"
            # Sentinel rewrites its own file as it learns; each needs one it may write.
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {self.down_after_ms}\n"
                f"sentinel failover-timeout {SERVICE} {self.failover_timeout_ms}\n")
            self.procs.append(subprocess.Popen([exe, str(conf), "--sentinel"],
                                               stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        for port in self.ports:
            # Sentinels find each other through the primary every two seconds or so.
            eventually_blocking(lambda port=port: self.master_state(port),
                                until=lambda s: s["num-slaves"] == 1
                                and s["num-other-sentinels"] == 2,
                                what=f"sentinel {port} to know the replica and the others",
                                timeout=20, ignoring=(redis.ConnectionError,))

    def master_state(self, port: int) -> dict[str, Any]:
        """What the sentinel on ``port`` says about the service."""
        client = redis.Redis(port=port, decode_responses=True)
        try:
            return dict(client.sentinel_master(SERVICE))
        finally:
            client.close()

    def primary_port(self) -> int:
        """The primary's port as every sentinel names it (they agree, or this raises)."""
        named = set()
        for port in self.ports:
            client = redis.Redis(port=port, decode_responses=True)
            try:
                named.add(int(client.sentinel_get_master_addr_by_name(SERVICE)[1]))
            finally:
                client.close()
        if len(named) != 1:
            raise LookupError("the sentinels do not agree yet")
        return named.pop()

    def in_step(self, primary: int) -> bool:
        """True when every write the primary on ``primary`` made has reached the replica."""
        replica = next(s.port for s in self.servers if s.port != primary)
        offset = info(primary, "replication")["master_repl_offset"]
        return bool(info(replica, "replication").get("slave_repl_offset") == offset)

    def kill(self, port: int) -> None:
        """SIGKILL the Redis on ``port``: no goodbye, its last writes may not have left it."""
        self.server(port).stop(signal.SIGKILL)

    def cleanup(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait(10)
        for server in self.servers:
            server.cleanup()
        shutil.rmtree(self.dir, ignore_errors=True)
