"""Python socket.io test clients for visitors and counsellors, speaking the raw relay protocol.

They carry opaque ciphertext strings; ``tests/support/e2e_clients.py`` layers the real
end-to-end protocol on top. Every test and the harness checks reuse these.
"""

from __future__ import annotations

import asyncio
import base64
import os
from collections import defaultdict
from typing import Any

import socketio

DEFAULT_TIMEOUT = 5.0


def random_ct(size: int = 64) -> str:
    """Ciphertext-like base64 of ``size`` random bytes."""
    return base64.b64encode(os.urandom(size)).decode()


def sealed_record() -> tuple[str, str]:
    """Stand-ins for what the console hands off: a sealed record key and a secretbox body."""
    return random_ct(80), random_ct(400)


class _Client:
    namespace = ""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None) -> None:
        self.url = url
        self.headers = headers or {}
        self.sio = socketio.AsyncClient(reconnection=False)
        self._queues: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.sio.on("*", self._on_any, namespace=self.namespace)

    async def _on_any(self, event: str, data: Any = None) -> None:
        self._queues[event].put_nowait(data)

    async def connect(self, auth: dict[str, Any] | None = None,
                      transports: list[str] | None = None) -> None:
        await self.sio.connect(
            self.url, namespaces=[self.namespace], auth=auth, headers=self.headers,
            transports=transports or ["websocket"], wait_timeout=DEFAULT_TIMEOUT,
        )

    async def disconnect(self) -> None:
        await self.sio.disconnect()

    @property
    def connected(self) -> bool:
        return bool(self.sio.connected)

    async def call(self, event: str, data: Any = None, *, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Emit ``event`` and return the server's acknowledgement."""
        args = {} if data is None else data
        return await self.sio.call(event, args, namespace=self.namespace, timeout=timeout)

    async def call_raw(self, event: str, *args: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Emit ``event`` with arbitrary arguments (for garbage tests)."""
        data = args[0] if len(args) == 1 else tuple(args) if args else None
        return await self.sio.call(event, data, namespace=self.namespace, timeout=timeout)

    async def expect(self, event: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Wait for the next ``event`` from the server."""
        return await asyncio.wait_for(self._queues[event].get(), timeout)

    def drain(self, event: str) -> list[Any]:
        """Everything received of ``event`` so far, without waiting."""
        items = []
        queue = self._queues[event]
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    async def nothing(self, event: str, within: float = 0.3) -> bool:
        """True if no ``event`` arrives within ``within`` seconds."""
        try:
            await asyncio.wait_for(self._queues[event].get(), within)
        except TimeoutError:
            return True
        return False


class VisitorClient(_Client):
    """An anonymous visitor: one chat per connection."""

    namespace = "/visitor"

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.chat_id = ""
        self.resume_token = ""
        self.next_seq = 1
        # Where the relay says this visitor's inbox starts, and the receipt of what it sent.
        self.acked = 0
        self.receipt: dict[str, Any] = {"upto": 0}

    async def request(self, entry: str = "exit", lang: str = "de") -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("request", {"entry": entry, "lang": lang})
        if answer.get("ok"):
            self.chat_id = answer["chat_id"]
            self.resume_token = answer["resume"]
        return answer

    async def resume(self, token: str | None = None) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("resume", {"token": token or self.resume_token})
        if answer.get("ok") and answer["status"] != "ended":
            self.chat_id = answer["chat_id"]
            self.next_seq = answer["next_seq"]
            self.acked = answer["acked"]
            self.receipt = answer["delivered"]
        return answer

    async def send(self, ct: str, seq: int | None = None) -> dict[str, Any]:
        use = self.next_seq if seq is None else seq
        answer: dict[str, Any] = await self.call("send", {"seq": use, "ct": ct})
        if answer.get("ok") and not answer.get("dup") and use == self.next_seq:
            self.next_seq += 1
        return answer

    async def ack(self, upto: int, lost: list[int] | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"upto": upto} if lost is None else {"upto": upto, "lost": lost}
        result: dict[str, Any] = await self.call("ack", payload)
        return result

    async def resync(self, after: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("resync", {"after": after})
        return result

    async def end(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("end", {})
        return result


class CounsellorClient(_Client):
    """A signed-in counsellor, holding several chats."""

    namespace = "/counsellor"

    def __init__(self, url: str, token: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.token = token
        self.next_seq: dict[str, int] = {}
        # Per chat: where the relay says this counsellor's inbox starts, and the receipt of
        # what it sent.
        self.acked: dict[str, int] = {}
        self.receipt: dict[str, dict[str, Any]] = {}

    async def connect(self, auth: dict[str, Any] | None = None,
                      transports: list[str] | None = None) -> None:
        await super().connect(auth if auth is not None else {"token": self.token}, transports)

    async def sync(self) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("sync", {})
        for chat in answer.get("chats", []):
            self.adopt(chat)
        return answer

    async def duty(self, on: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("duty", {"on": on})
        return result

    async def accept(self, chat_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = await self.call("accept", {"chat_id": chat_id})
        if answer.get("ok"):
            self.adopt(answer["chat"])
        return answer

    def adopt(self, chat: dict[str, Any]) -> None:
        """Take over a chat announced by ``assigned`` (or listed by ``sync`` or ``accept``)."""
        self.next_seq[chat["chat_id"]] = chat["next_seq"]
        self.acked[chat["chat_id"]] = chat["acked"]
        self.receipt[chat["chat_id"]] = chat["delivered"]

    async def send(self, chat_id: str, ct: str, seq: int | None = None) -> dict[str, Any]:
        use = self.next_seq.get(chat_id, 1) if seq is None else seq
        answer: dict[str, Any] = await self.call("send", {"chat_id": chat_id, "seq": use, "ct": ct})
        if answer.get("ok") and not answer.get("dup") and use == self.next_seq.get(chat_id, 1):
            self.next_seq[chat_id] = use + 1
        return answer

    async def ack(self, chat_id: str, upto: int, lost: list[int] | None = None
                  ) -> dict[str, Any]:
        payload: dict[str, Any] = {"chat_id": chat_id, "upto": upto}
        if lost is not None:
            payload["lost"] = lost
        result: dict[str, Any] = await self.call("ack", payload)
        return result

    async def resync(self, chat_id: str, after: int) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("resync", {"chat_id": chat_id, "after": after})
        return result

    async def transfer(self, chat_id: str, to: str, note: str = "") -> dict[str, Any]:
        result: dict[str, Any] = await self.call(
            "transfer", {"chat_id": chat_id, "to": to, "note": note}
        )
        return result

    async def end(self, chat_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("end", {"chat_id": chat_id})
        return result
