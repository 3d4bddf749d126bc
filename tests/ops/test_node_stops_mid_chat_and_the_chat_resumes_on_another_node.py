"""The production topology on loopback: nginx (the shipped ``deploy/nginx`` configuration, TLS,
WebSocket only) in front of two ``python -m chatserver serve`` nodes sharing one Redis and one
PostgreSQL database. A visitor and a counsellor chat through nginx from different nodes; one
node is stopped with SIGTERM mid-chat, and then the other: each time the clients reconnect
through nginx, resume, and the chat goes on with nothing lost, nothing repeated after an
acknowledgement, and sequence numbers continuing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from tests.support.clients import CounsellorClient, VisitorClient, random_ct
from tests.support.database import pg_database, pg_url
from tests.support.ledger import LedgerChat
from tests.support.nodes import Node, counsellor_token
from tests.support.paths import ROOT
from tests.support.redis_server import RedisServer
from tests.support.topology import ONION, Nginx, ascrape, nginx_binary
from tests.support.waiting import eventually

pytestmark = pytest.mark.postgres

WAIT_S = 15.0


class Reconnecting:
    """A client that reconnects by itself through nginx, as socket.io-client in a browser does.

    After every reconnect the test resumes (visitor) or syncs (counsellor), as the widget and
    the console do in their ``connect`` handlers.
    """

    sio: socketio.AsyncClient
    namespace: str
    _on_any: Any

    def reconnecting(self, origin: str) -> None:
        self.headers = {"Origin": origin}
        self.sio = socketio.AsyncClient(
            reconnection=True, reconnection_delay=0.1, reconnection_delay_max=0.5,
            randomization_factor=0.0, ssl_verify=False,
        )
        self.sio.on("*", self._on_any, namespace=self.namespace)
        self.connects = 0
        self.sio.on("connect", self._count, namespace=self.namespace)

    async def _count(self) -> None:
        self.connects += 1

    async def reconnected(self, after: int) -> None:
        """Wait until the client has connected more than ``after`` times."""
        await eventually(lambda: self.connects > after and self.sio.connected,
                         what=f"{self.namespace} to reconnect", timeout=WAIT_S, interval=0.02)


class Visitor(Reconnecting, VisitorClient):
    def __init__(self, url: str) -> None:
        VisitorClient.__init__(self, url)
        self.reconnecting(url)


class Counsellor(Reconnecting, CounsellorClient):
    def __init__(self, url: str, token: str) -> None:
        CounsellorClient.__init__(self, url, token)
        self.reconnecting(url)


class Chat(LedgerChat):
    """A visitor and a counsellor talking through nginx, with a ledger each."""

    def __init__(self, visitor: Visitor, counsellor: Counsellor) -> None:
        super().__init__(settle_s=WAIT_S)
        self.visitor, self.counsellor = visitor, counsellor

    async def acknowledged(self, client: VisitorClient | CounsellorClient, event: str,
                           payload: dict[str, Any]) -> dict[str, Any]:
        return await until_acknowledged(client, event, payload)


async def until_acknowledged(client: VisitorClient | CounsellorClient, event: str,
                             payload: dict[str, Any]) -> dict[str, Any]:
    """Send until the server acknowledges; a send lost in the switch-over is simply repeated
    (as is one refused while the chat moves, or one made before the client is connected)."""
    answer: dict[str, Any] = await eventually(
        lambda: client.call(event, payload, timeout=2.0), until=lambda answer: answer.get("ok"),
        what=f"{event} to be acknowledged", timeout=WAIT_S, interval=0.1,
        # Not connected, or the answer died with the node.
        ignoring=(socketio.exceptions.SocketIOError,))
    return answer


@pytest.fixture
async def database() -> AsyncIterator[str]:
    async with pg_database("ek_deploy_") as name:
        yield pg_url(name)


async def where(nodes: dict[str, Node], metric: str) -> list[str]:
    """The names of the running nodes that hold a socket of ``metric`` right now."""
    counts = {name: (await ascrape(node.url))[metric] for name, node in nodes.items()
              if node.proc is not None}
    return [name for name, count in counts.items() for _ in range(count)]


async def settled_on(nodes: dict[str, Node], metric: str, expected: list[str]) -> None:
    await eventually(lambda: where(nodes, metric), until=lambda found: found == expected,
                     what=f"{metric} on nodes {expected}", timeout=WAIT_S)


async def stop_and_resume(chat: Chat, node: Node, visitor_seq: int, counsellor_seq: int,
                          counsellor_moves: bool) -> tuple[int, float]:
    """Stop ``node`` with SIGTERM while an envelope is in flight each way, then resume both
    ends the way the widget and the console do. Returns the exit code and the stop time."""
    chat.mark()
    visitor_connects, counsellor_connects = chat.visitor.connects, chat.counsellor.connects
    # In flight as the node goes: sent, acknowledgement not awaited.
    chat.v.sent[visitor_seq] = random_ct(64)
    chat.c.sent[counsellor_seq] = random_ct(64)
    await chat.visitor.sio.emit("send", {"seq": visitor_seq, "ct": chat.v.sent[visitor_seq]},
                                namespace="/visitor")
    await chat.counsellor.sio.emit(
        "send", {"chat_id": chat.chat_id, "seq": counsellor_seq,
                 "ct": chat.c.sent[counsellor_seq]}, namespace="/counsellor")
    loop = asyncio.get_running_loop()
    began = loop.time()
    # In a thread, so the clients' event loop keeps running while the node drains.
    code = await asyncio.to_thread(node.stop, signal.SIGTERM)
    took = loop.time() - began

    await chat.visitor.reconnected(visitor_connects)
    resumed = await until_acknowledged(chat.visitor, "resume",
                                       {"token": chat.visitor.resume_token})
    assert resumed["status"] == "active" and resumed["chat_id"] == chat.chat_id, resumed
    # The stopping node kept the visitor's envelope or never got it; next_seq says which.
    assert resumed["next_seq"] in (visitor_seq, visitor_seq + 1), resumed
    visitor_kept = resumed["next_seq"] == visitor_seq + 1
    counsellor_kept = True  # its own node never stopped, so it has the envelope
    if counsellor_moves:
        await chat.counsellor.reconnected(counsellor_connects)
        synced = await until_acknowledged(chat.counsellor, "sync", {})
        assert [c["chat_id"] for c in synced["chats"]] == [chat.chat_id], synced
        assert synced["chats"][0]["next_seq"] in (counsellor_seq, counsellor_seq + 1), synced
        counsellor_kept = synced["chats"][0]["next_seq"] == counsellor_seq + 1
    # Neither sender heard back about its in-flight envelope: both send it again, unchanged,
    # and it is called a duplicate exactly when the server had kept it.
    assert (await chat.visitor_says(visitor_seq))["dup"] is visitor_kept
    assert (await chat.counsellor_says(counsellor_seq))["dup"] is counsellor_kept
    return code, took


class Topology:
    """Two nodes on one Redis and one PostgreSQL database, and nginx in front of both."""

    def __init__(self, redis_url: str, database: str, tmp_path: Path) -> None:
        env = {
            "CHATSERVER_REDIS_URL": redis_url,
            "CHATSERVER_DATABASE_URL": database,
            "CHATSERVER_KDF_COST": "min",
            "CHATSERVER_TRUSTED_PROXIES": "127.0.0.1",
            "CHATSERVER_REAPER_INTERVAL_S": "0.5",
        }
        self.nodes = {"a": Node(env, tmp_path / "a.log"), "b": Node(env, tmp_path / "b.log")}
        self.nginx = Nginx(tmp_path / "nginx", [n.port for n in self.nodes.values()])
        self.origin = self.nginx.url
        for node in self.nodes.values():
            node.env["CHATSERVER_PUBLIC_ORIGINS"] = self.origin

    def start(self) -> None:
        # One after the other: the first node creates the tables in the empty database.
        for node in self.nodes.values():
            node.start()
        self.nginx.configure()
        self.nginx.start()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
        self.nginx.stop()

    def check_logs(self, secrets: list[str]) -> None:
        """No traceback or secret in a node's output; no request line or address from nginx."""
        for node in self.nodes.values():
            out = node.output()
            assert b"Traceback" not in out
            assert not any(secret.encode() in out for secret in secrets)
        assert self.nginx.access_log() == ""
        assert "client:" not in self.nginx.logs()


@pytest.fixture
async def topology(
    redis_server: RedisServer, database: str, tmp_path: Path
) -> AsyncIterator[Topology]:
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (make test installs nginx-light)")
    redis_server.flush()
    topo = Topology(redis_server.url, database, tmp_path)
    try:
        await asyncio.to_thread(topo.start)
        yield topo
    finally:
        await asyncio.to_thread(topo.stop)


async def test_a_node_stops_mid_chat_and_the_chat_goes_on_through_nginx(
    topology: Topology, redis_server: RedisServer
) -> None:
    nodes, origin = topology.nodes, topology.origin
    token = await counsellor_token(nodes["a"], redis_server.url, "anna")
    visitor, counsellor = Visitor(origin), Counsellor(origin, token)
    chat = Chat(visitor, counsellor)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(origin + "/healthz", ssl=False) as resp:
                assert resp.status == 200
                assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
                assert resp.headers["Onion-Location"] == f"http://{ONION}.onion/healthz"
            async with http.get(origin + "/metrics", ssl=False) as resp:
                assert resp.status == 404  # never served through the proxy
            async with http.get(origin + "/socket.io/?EIO=4&transport=polling",
                                ssl=False) as resp:
                assert resp.status == 400  # WebSocket only: polling would need sticky routing

        await counsellor.connect()
        placed = await eventually(lambda: where(nodes, "erstkontakt_connected_counsellors"),
                                  what="the counsellor's socket on a node", timeout=WAIT_S)
        home = placed[0]
        away = "b" if home == "a" else "a"
        await visitor.connect()
        # nginx sends the new socket to the node holding fewer: the other one.
        await settled_on(nodes, "erstkontakt_connected_visitors", [away])

        assert (await counsellor.duty(True))["ok"]
        assert (await visitor.request())["ok"]
        chat.chat_id = visitor.chat_id
        assert (await counsellor.accept(chat.chat_id))["ok"]
        assert (await visitor.expect("accepted"))["pseudonym"] == "Anna"
        await chat.exchange(1, 2, 3)
        await chat.settle()
        await chat.ack(visitor_upto=2, counsellor_upto=1)

        # The visitor's node stops: the visitor moves to the counsellor's node.
        code, took = await stop_and_resume(chat, nodes[away], visitor_seq=4, counsellor_seq=4,
                                           counsellor_moves=False)
        assert code == 0 and took < 8.0, (code, took)
        await settled_on(nodes, "erstkontakt_connected_visitors", [home])
        assert (await counsellor.expect("presence"))["present"] is False
        assert (await counsellor.expect("presence"))["present"] is True
        await chat.exchange(5, 6)
        await chat.settle()
        chat.check()
        await chat.ack(visitor_upto=6, counsellor_upto=5)

        # The stopped node comes back; now the node holding both ends stops: both move.
        await asyncio.to_thread(nodes[away].start)
        code, took = await stop_and_resume(chat, nodes[home], visitor_seq=7, counsellor_seq=7,
                                           counsellor_moves=True)
        assert code == 0 and took < 8.0, (code, took)
        await settled_on(nodes, "erstkontakt_connected_visitors", [away])
        await settled_on(nodes, "erstkontakt_connected_counsellors", [away])
        await chat.exchange(8, 9)
        await chat.settle()
        chat.check()

        assert (await counsellor.end(chat.chat_id))["ok"]
        assert (await visitor.expect("ended"))["reason"] == "counsellor"
    finally:
        await visitor.disconnect()
        await counsellor.disconnect()
    await asyncio.to_thread(topology.stop)
    topology.check_logs(list(chat.v.sent.values()) + list(chat.c.sent.values()))


# The widget's and the console's own socket.io client, as their pages configure it, in node.
BROWSER_CLIENTS = """
import { createRequire } from "node:module";
const require = createRequire(process.argv[2] + "/package.json");
const { io } = require("socket.io-client");
const [url, count] = [process.argv[3], Number(process.argv[4])];
for (let i = 0; i < count; i++) {
  const socket = io(url + "/visitor", {
    transports: ["websocket"], rejectUnauthorized: false,
    extraHeaders: { Origin: url }, reconnectionDelayMax: 1000,
  });
  socket.on("connect", () => console.log(JSON.stringify({ i, event: "connect" })));
  socket.on("disconnect", (reason) => console.log(JSON.stringify({ i, event: reason })));
}
"""


async def test_browser_clients_of_a_stopping_node_reconnect_to_the_other_at_once(
    topology: Topology, tmp_path: Path
) -> None:
    node_js = shutil.which("node")
    if node_js is None:
        pytest.skip("node is not installed")
    script = tmp_path / "clients.mjs"
    script.write_text(BROWSER_CLIENTS)
    count = 6
    proc = await asyncio.create_subprocess_exec(
        node_js, str(script), str(ROOT), topology.origin, str(count),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    events: list[tuple[int, str, float]] = []
    loop = asyncio.get_running_loop()

    async def read() -> None:
        assert proc.stdout is not None
        async for line in proc.stdout:
            data = json.loads(line)
            events.append((data["i"], data["event"], loop.time()))

    reader = asyncio.create_task(read())
    nodes = topology.nodes
    try:
        await eventually(lambda: sum(e == "connect" for _, e, _ in events) >= count,
                         what=f"{count} clients to connect", timeout=WAIT_S)
        await settled_on(nodes, "erstkontakt_connected_visitors",
                         ["a"] * (count // 2) + ["b"] * (count // 2))
        moving = count // 2

        began = loop.time()
        code = await asyncio.to_thread(nodes["a"].stop, signal.SIGTERM)
        assert code == 0 and loop.time() - began < 3.0
        # Every socket of the stopped node closed as a transport close, which socket.io-client
        # answers by reconnecting; through nginx each lands on the other node.
        await settled_on(nodes, "erstkontakt_connected_visitors", ["b"] * count)
        assert loop.time() - began < 5.0
        dropped = [(i, e) for i, e, t in events if t >= began and e != "connect"]
        assert sorted(e for _, e in dropped) == ["transport close"] * moving, dropped
        assert sum(e == "connect" for _, e, t in events if t >= began) == moving
    finally:
        proc.terminate()
        await proc.wait()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
