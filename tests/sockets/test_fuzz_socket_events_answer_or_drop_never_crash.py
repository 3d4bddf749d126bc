"""Arbitrary payloads on every socket event of both namespaces, in any order.

The server answers with the documented error shape (or ``ok``), or drops the connection; it
never answers ``internal``, never logs a traceback or the client's text, and a healthy chat
next to the prober goes on undisturbed after every example.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
import socketio
from hypothesis import given
from hypothesis import strategies as st
from pytest_aiohttp import AiohttpServer

from chatserver.config import Config
from chatserver.main import create_app
from chatserver.relay.state import Identity
from chatserver.sockets import schemas
from chatserver.sockets.counsellor import CounsellorNamespace
from chatserver.sockets.packets import MAX_EVENT_NAME, RESERVED_EVENTS
from chatserver.sockets.visitor import VisitorNamespace
from chatserver.web.appkeys import CONFIG, RELAY, SIO
from tests.support.clients import CounsellorClient, VisitorClient
from tests.support.fuzzing import FUZZ, json_values
from tests.support.hardening import HealthyChat, assert_quiet_logs, is_error_shape
from tests.support.harness import Harness
from tests.support.waiting import eventually

pytestmark = pytest.mark.hardening

MARK = "Fz9Qx"
CHAT, COLLEAGUE, SELF = "$chat", "$colleague", "$self"


def handled(namespace: type) -> list[str]:
    """Every event a namespace class answers (new events are fuzzed as soon as they exist)."""
    return sorted(name[3:] for name in vars(namespace)
                  if name.startswith("on_") and name not in ("on_connect", "on_disconnect"))


VISITOR_EVENTS = handled(VisitorNamespace)
COUNSELLOR_EVENTS = handled(CounsellorNamespace)
FIELDS = sorted({field for value in vars(schemas).values()
                 if isinstance(value, type) and issubclass(value, msgspec.Struct)
                 for field in value.__struct_fields__})


@dataclass(frozen=True)
class Huge:
    """A stand-in for a huge value, so that hypothesis can print the example cheaply."""

    kind: str
    size: int

    def build(self) -> Any:
        if self.kind == "text":
            return MARK + "A" * self.size
        if self.kind == "b64":
            return base64.b64encode(bytes(self.size)).decode()
        if self.kind == "list":
            return [0] * self.size
        value: Any = MARK
        for level in range(self.size):
            value = [value] if level % 2 else {"k": value}
        return value


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(),
    st.sampled_from([0, -1, 1, 2**31, 2**53, 2**53 + 1, 2**63, -(2**63), 2**64, 10**30]),
    st.text(max_size=24), st.text(max_size=8).map(lambda s: MARK + s),
)
json_any = json_values(scalars)
huge = st.one_of(
    st.integers(1, 6).map(lambda k: Huge("text", 10**k)),
    st.integers(1, 500).map(lambda n: Huge("nest", n)),
    st.integers(1, 5000).map(lambda n: Huge("list", n)),
)
base64ish = st.one_of(
    st.binary(max_size=48).map(lambda b: base64.b64encode(b).decode()),
    st.binary(min_size=1, max_size=48).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.text(alphabet="ABCDab+/=-_ \n\x00é", max_size=24),
    st.integers(16380, 16390).map(lambda n: Huge("b64", n)),
)
ids = st.one_of(
    st.sampled_from([CHAT, COLLEAGUE, SELF]),
    st.builds(lambda: secrets.token_urlsafe(16)),
    st.text(alphabet="abcXYZ019_-./%", min_size=0, max_size=80),
)
field_values = st.one_of(
    json_any, base64ish, ids, st.integers(-2, 2**54),
    st.sampled_from(["exit", "relative", "professional", "de", "en", "yes", "no", "v1"]),
)
payloads = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=6), field_values,
                           max_size=4)
arguments = st.one_of(
    payloads.map(lambda d: (d,)),
    json_any.map(lambda v: (v,)),
    huge.map(lambda v: (v,)),
    st.just(()),
    st.lists(json_any, min_size=2, max_size=3).map(tuple),
)


def event_names(known: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(known),
        st.sampled_from([*sorted(RESERVED_EVENTS), "message", "*", "on_send", "__init__",
                         "emit", "failed", "msg"]),
        st.text(min_size=1, max_size=40),
    )


def calls(known: list[str]) -> st.SearchStrategy[list[tuple[str, tuple[Any, ...]]]]:
    return st.lists(st.tuples(event_names(known), arguments), min_size=1, max_size=6)


def fill(value: Any, names: dict[str, str]) -> Any:
    """Replace the id placeholders with the real ids of this run, and build huge values."""
    if isinstance(value, Huge):
        return value.build()
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    if isinstance(value, tuple):
        return tuple(fill(v, names) for v in value)
    if isinstance(value, dict):
        return {fill(k, names): fill(v, names) for k, v in value.items()}
    return value


def frame_size(args: tuple[Any, ...]) -> int:
    try:
        return len(json.dumps(list(args)))
    except (ValueError, RecursionError):
        return 1 << 30


@pytest.fixture
async def server(
    backend: str, make_config: Callable[..., Config], aiohttp_server: Callable[..., Any]
) -> AsyncIterator[Harness]:
    # A helper counsellor accepts every prober's chat, so allow it plenty of them.
    config = make_config(redis_url=backend, max_chats_per_counsellor=10_000, queue_cap=10_000)
    # Probers dropped by the server leave python-socketio clients that never close their
    # WebSocket; do not wait the default minute for those handlers at teardown.
    app_server: AiohttpServer = await aiohttp_server(create_app(config), shutdown_timeout=3.0)
    h = Harness(app_server.app, str(app_server.make_url("/")))
    yield h
    await h.close()


@pytest.fixture
async def healthy(server: Harness) -> HealthyChat:
    """The chat next to the probers; the examples of a test share it, as they share the
    server."""
    return await HealthyChat.open(server)


@pytest.fixture
async def helper(server: Harness) -> CounsellorClient:
    """A counsellor who accepts the chats of visitor probers."""
    return await server.counsellor("helper", "Helga")


async def probe(client: VisitorClient | CounsellorClient, frame_limit: int,
                sequence: list[tuple[str, tuple[Any, ...]]], names: dict[str, str]) -> bool:
    """Send each call and check the answer; False once the server has dropped the prober."""
    answered = VISITOR_EVENTS if isinstance(client, VisitorClient) else COUNSELLOR_EVENTS
    for event, raw_args in sequence:
        args = fill(raw_args, names)
        silent = (event in RESERVED_EVENTS or len(event) > MAX_EVENT_NAME
                  or frame_size(args) > frame_limit - 64)
        if not client.connected:
            return False
        try:
            answer = await client.sio.call(event, args if len(args) != 1 else args[0],
                                           namespace=client.namespace,
                                           timeout=0.2 if silent else 4.0)
        except socketio.exceptions.TimeoutError:
            assert silent, f"no answer to {event!r}"
            return False
        except socketio.exceptions.BadNamespaceError:
            return False
        assert event not in RESERVED_EVENTS and len(event) <= MAX_EVENT_NAME, event
        if answer is None:
            # python-socketio acknowledges an event without a handler with nothing.
            assert event not in answered, f"{event!r} gave no answer"
            continue
        assert event in answered, f"unknown event {event!r} was answered"
        assert (isinstance(answer, dict) and answer.get("ok") is True) or \
            is_error_shape(answer), (event, str(answer)[:200])
    return True


def frame_limit(server: Harness) -> int:
    return int(server.app[SIO].eio.max_http_buffer_size)


@FUZZ
@given(sequence=calls(VISITOR_EVENTS), accepted=st.booleans())
async def test_visitor_events_fuzzed(
    server: Harness, healthy: HealthyChat, helper: CounsellorClient,
    caplog: pytest.LogCaptureFixture, sequence: list[tuple[str, tuple[Any, ...]]],
    accepted: bool,
) -> None:
    caplog.set_level(logging.INFO)
    prober = VisitorClient(server.url)
    await prober.connect()
    try:
        if accepted:
            assert (await prober.request())["ok"]
            assert (await helper.accept(prober.chat_id))["ok"]
        names = {CHAT: healthy.visitor.chat_id, COLLEAGUE: "healthy", SELF: prober.chat_id}
        await probe(prober, frame_limit(server), sequence, names)
    finally:
        await prober.disconnect()
        if prober.chat_id:
            await helper.end(prober.chat_id)
    await healthy.round_trip()
    assert_quiet_logs(caplog.records, [MARK, prober.resume_token])


@FUZZ
@given(sequence=calls(COUNSELLOR_EVENTS), on_duty=st.booleans())
async def test_counsellor_events_fuzzed(
    server: Harness, healthy: HealthyChat, caplog: pytest.LogCaptureFixture,
    sequence: list[tuple[str, tuple[Any, ...]]], on_duty: bool,
) -> None:
    caplog.set_level(logging.INFO)
    prober = CounsellorClient(server.url, await server.token("mallory", pseudonym="Mallory"))
    await prober.connect()
    waiting = VisitorClient(server.url)
    await waiting.connect()
    try:
        await prober.duty(on_duty)
        assert (await waiting.request())["ok"]
        names = {CHAT: healthy.visitor.chat_id, COLLEAGUE: "healthy", SELF: waiting.chat_id}
        alive = await probe(prober, frame_limit(server), sequence, names)
        # Whatever the prober did, it can still not touch the healthy chat.
        if alive and prober.connected:
            answer = await prober.call("send", {"chat_id": healthy.visitor.chat_id, "seq": 1,
                                                "ct": "AAAA"})
            assert answer["error"] in ("forbidden", "rate_limited"), answer
    finally:
        await waiting.disconnect()
        await prober.disconnect()
    await healthy.round_trip()
    assert_quiet_logs(caplog.records, [MARK])


async def test_visitor_leaving_as_the_chat_ends_leaves_nothing_behind(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Found by the fuzzer: a visitor's disconnect racing the end of its chat.

    The presence update must not bring back a husk of the deleted chat, which the reaper
    could then never end (and, failing on it, would stop reaping every other chat too).
    """
    caplog.set_level(logging.INFO)
    relay = harness.app[RELAY]
    anna = Identity("anna", "Anna", "counsellor")
    await relay.state.set_duty(anna, True)
    for _ in range(10):
        chat, _resume, _position = await relay.request_chat("exit", "de")
        await relay.accept(anna, chat.id)
        # The presence update starts first, the end overtakes it.
        await asyncio.gather(relay.visitor_present(chat, False), relay.end(chat.id, "visitor"))
        assert await relay.state.get_chat(chat.id) is None
    # Time passes on purpose: past the grace period the reaper has had its go at any husk (a
    # failing reaper would log an error, which assert_quiet_logs catches below).
    await asyncio.sleep(harness.app[CONFIG].visitor_grace_s + 0.3)
    assert await relay.state.abandoned(time.time() + 3600, 0) == []
    assert await relay.state.chats_of("anna") == []
    # A chat that is really abandoned is still reaped.
    chat, _resume, _position = await relay.request_chat("exit", "de")
    await relay.visitor_present(chat, False)

    async def reaped() -> bool:
        return await relay.state.get_chat(chat.id) is None

    await eventually(reaped, what="the reaper to end the abandoned chat",
                     timeout=harness.app[CONFIG].visitor_grace_s + 5)
    assert_quiet_logs(caplog.records)
