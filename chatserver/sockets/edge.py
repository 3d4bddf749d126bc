"""The edge of every socket event: parse the payload, run the handler, answer in one shape."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

import msgspec
import socketio

from chatserver.errors import INTERNAL, DomainError
from chatserver.relay.events import EventRefused
from chatserver.sockets.schemas import parse

log = logging.getLogger(__name__)

S = TypeVar("S", bound=msgspec.Struct)
N = TypeVar("N", bound=socketio.AsyncNamespace)
P = ParamSpec("P")

Handler = Callable[[N, str, S], Awaitable[dict[str, Any]]]


def event(
    schema: type[S],
) -> Callable[[Handler[N, S]], Callable[Concatenate[N, str, ...], Awaitable[dict[str, Any]]]]:
    """Wrap an ``on_<event>`` handler: validate into ``schema``, map errors to the error shape.

    The answer goes back as the acknowledgement; errors are also emitted as ``failed`` so a
    client that sent without a callback still hears of them. Unexpected exceptions are logged
    by type only: payloads may hold ciphertext and must never reach a log.
    """

    def wrap(fn: Handler[N, S]) -> Callable[Concatenate[N, str, ...], Awaitable[dict[str, Any]]]:
        @functools.wraps(fn)
        async def handler(self: N, sid: str, *args: Any) -> dict[str, Any]:
            try:
                payload = parse(schema, args)
                return await fn(self, sid, payload)
            except DomainError as exc:
                error = exc
            except Exception as exc:
                log.error("event %s failed: %s", fn.__name__, type(exc).__name__)
                error = INTERNAL
            answer = error.as_payload()
            await self.relay.notify(EventRefused(error.code))
            # The sender is connected to this very process: going through the Redis queue
            # would put every refusal of a flood in line before the other chats' messages.
            await self.emit("failed", answer, to=sid, ignore_queue=True)
            if self.struck(sid, error.code):
                await self.disconnect(sid)
            return answer

        return handler

    return wrap
