"""Helpers of the hardening tests: a healthy chat to watch, clients from other loopback addresses,
bare engine.io sockets for frames no real client sends, and checks on answers and log records.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import Iterable
from typing import Any

import aiohttp
import socketio

from chatserver.web.metrics import ERROR_CODES as ERROR_LABELS
from tests.support.clients import CounsellorClient, VisitorClient, _Client, random_ct
from tests.support.harness import Harness

# The codes an answer may carry: the server's one list, less "internal" (a crash) and the
# metrics' catch-all "other".
ERROR_CODES = frozenset(ERROR_LABELS) - {"internal", "other"}
# Texts that would betray a traceback or the server's insides in an answer or a page.
INSIDES = ("Traceback", "File \"", "site-packages", "/work/", "chatserver/", "Error:")


def is_error_shape(answer: Any) -> bool:
    """The documented error shape with a known code and a message free of internals."""
    return (
        isinstance(answer, dict)
        and set(answer) == {"error", "message"}
        and answer["error"] in ERROR_CODES
        and isinstance(answer["message"], str)
        and not any(word in answer["message"] for word in INSIDES)
    )


def assert_quiet_logs(records: Iterable[logging.LogRecord], needles: Iterable[str] = ()) -> None:
    """No traceback, no error, and none of ``needles`` in any log record."""
    needles = [n for n in needles if n]
    for record in records:
        if record.name == "aiohttp.access":
            continue  # the test server's access log; the chatserver command turns it off
        text = f"{record.name} {record.getMessage()} {record.exc_text or ''}"
        assert record.exc_info is None, f"traceback logged by {record.name}"
        assert record.levelno < logging.ERROR, f"error logged by {record.name}: {text[:200]}"
        for needle in needles:
            assert needle not in text, f"{record.name} logged client-made text"


class AddressedMixin(_Client):
    """Connects from a chosen loopback address (127.0.0.x), as a distinct client would."""

    address: str
    _http: aiohttp.ClientSession | None

    def bind(self, address: str) -> None:
        self.address = address
        self._http = None

    async def connect(self, auth: dict[str, Any] | None = None,
                      transports: list[str] | None = None) -> None:
        connector = aiohttp.TCPConnector(local_addr=(self.address, 0), force_close=True)
        self._http = aiohttp.ClientSession(connector=connector)
        self.sio = socketio.AsyncClient(reconnection=False, http_session=self._http)
        self.sio.on("*", self._on_any, namespace=self.namespace)
        try:
            await super().connect(auth, transports)
        except BaseException:
            await self._close_session()
            raise

    async def disconnect(self) -> None:
        try:
            await super().disconnect()
        finally:
            await self._close_session()

    async def _close_session(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


class AddressedVisitor(AddressedMixin, VisitorClient):
    """A visitor whose TCP connection comes from ``address``."""

    def __init__(self, url: str, address: str = "127.0.0.1", **kwargs: Any) -> None:
        VisitorClient.__init__(self, url, **kwargs)
        self.bind(address)


class AddressedCounsellor(AddressedMixin, CounsellorClient):
    """A counsellor whose TCP connection comes from ``address``."""

    def __init__(self, url: str, token: str, address: str = "127.0.0.1",
                 **kwargs: Any) -> None:
        CounsellorClient.__init__(self, url, token, **kwargs)
        self.bind(address)


class RawSocket:
    """A bare engine.io v4 websocket: sends exactly the frames it is given."""

    def __init__(self, url: str, *, address: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        base = url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        self.url = base + "/socket.io/?EIO=4&transport=websocket"
        self.address = address
        self.headers = headers or {}
        self._http: aiohttp.ClientSession | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def open(self) -> str:
        """Connect and return the engine.io handshake frame."""
        connector = aiohttp.TCPConnector(
            local_addr=(self.address, 0) if self.address else None, force_close=True
        )
        self._http = aiohttp.ClientSession(connector=connector)
        self.ws = await self._http.ws_connect(
            self.url, headers=self.headers, timeout=aiohttp.ClientWSTimeout(ws_close=5.0)
        )
        first = await self.ws.receive(timeout=5.0)
        return str(first.data)

    async def send(self, frame: str | bytes) -> bool:
        """Send one frame; False if the server has already closed the socket."""
        assert self.ws is not None
        if self.ws.closed:
            return False
        try:
            if isinstance(frame, bytes):
                await self.ws.send_bytes(frame)
            else:
                await self.ws.send_str(frame)
        except (ConnectionResetError, aiohttp.ClientError, RuntimeError):
            return False
        return True

    async def frames(self, within: float = 0.2) -> tuple[list[str | bytes], bool]:
        """Frames arriving within ``within`` seconds, and whether the socket got closed.

        A window, not a wait: it is how long the test listens for what should (not) come.
        """
        assert self.ws is not None
        got: list[str | bytes] = []
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                async for msg in self.ws:
                    if msg.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        break
                    got.append(msg.data)
                return got, True  # the socket closed within the window
        return got, self.ws.closed

    async def answer(self, prefix: str, timeout: float = 2.0) -> str | None:
        """The first text frame starting with ``prefix``; None if the socket closes first or
        nothing of the kind comes within ``timeout`` seconds."""
        assert self.ws is not None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                async for msg in self.ws:
                    if msg.type == aiohttp.WSMsgType.TEXT and str(msg.data).startswith(prefix):
                        return str(msg.data)
        return None

    async def close(self) -> None:
        if self.ws is not None and not self.ws.closed:
            await self.ws.close()
        if self._http is not None:
            await self._http.close()


class HealthyChat:
    """An accepted chat between a counsellor and a visitor that an attack must not disturb."""

    def __init__(self, counsellor: CounsellorClient, visitor: VisitorClient) -> None:
        self.counsellor = counsellor
        self.visitor = visitor
        self.latencies: list[float] = []
        self._last = 0.0

    @classmethod
    async def open(cls, harness: Harness, name: str = "healthy") -> HealthyChat:
        counsellor, visitor = await harness.accepted_chat(name, "Hanna")
        await visitor.expect("accepted")
        return cls(counsellor, visitor)

    async def round_trip(self, timeout: float = 5.0, pace: float = 0.05) -> float:
        """One envelope each way, acknowledged; returns the seconds it took.

        Trips are at least ``pace`` seconds apart: a healthy person does not outrun the
        per-connection message limit, however fast a fuzzer calls this.
        """
        wait = self._last + pace - time.perf_counter()
        if wait > 0:
            await asyncio.sleep(wait)  # pacing on purpose, as a person types; not a wait
        started = self._last = time.perf_counter()
        ct = random_ct(48)
        answer = await self.visitor.send(ct)
        assert answer.get("ok") and not answer.get("dup"), answer
        got = await self.counsellor.expect("msg", timeout)
        assert got["ct"] == ct and got["chat_id"] == self.visitor.chat_id
        reply = random_ct(48)
        answer = await self.counsellor.send(self.visitor.chat_id, reply)
        assert answer.get("ok") and not answer.get("dup"), answer
        back = await self.visitor.expect("msg", timeout)
        assert back["ct"] == reply
        await asyncio.gather(self.counsellor.ack(self.visitor.chat_id, got["seq"]),
                             self.visitor.ack(back["seq"]))
        took = time.perf_counter() - started
        self.latencies.append(took)
        return took


def p90(values: list[float]) -> float:
    """The 90th percentile (inclusive method) of ``values``."""
    return statistics.quantiles(values, n=10, method="inclusive")[-1]
