"""Frames no socket.io client would send, on both transports: malformed engine.io and socket.io
packets, binary attachments, reserved event names, absurd ids, deep nesting, raw bytes.

The server may ignore such a frame or drop the connection, but it never answers with anything
but the protocol, never logs a traceback or the frame's text, and a healthy chat goes on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatserver.web.appkeys import SIO
from tests.support.fuzzing import FUZZ, json_scalars, json_values
from tests.support.hardening import INSIDES, HealthyChat, RawSocket, assert_quiet_logs
from tests.support.harness import Harness
from tests.support.waiting import eventually

pytestmark = pytest.mark.hardening

MARK = "Rw7Kq"


@dataclass(frozen=True)
class Deep:
    """Deeply nested JSON, built only when sent (so hypothesis prints it cheaply)."""

    opener: str
    middle: str
    closer: str
    depth: int

    def __str__(self) -> str:
        return self.opener * self.depth + self.middle + self.closer * self.depth


@dataclass(frozen=True)
class Frame:
    """A socket.io frame from its parts, rendered when sent."""

    parts: tuple[Any, ...]

    def __str__(self) -> str:
        return "".join(str(part) for part in self.parts)


def wire(frame: Frame | str | bytes) -> str | bytes:
    return frame if isinstance(frame, str | bytes) else str(frame)

json_any = json_values(json_scalars(MARK, text=12), keys=6, max_leaves=10)
json_texts = st.one_of(
    json_any.map(json.dumps),
    st.lists(json_any, max_size=3).map(lambda v: json.dumps([MARK, *v])),
    st.sampled_from(["connect", "disconnect", "connect_error", "send", "request", "sync"])
    .flatmap(lambda name: st.lists(json_any, max_size=2)
             .map(lambda v: json.dumps([name, *v]))),
    st.integers(1, 6000).map(lambda n: Deep("[", "", "]", n)),
    st.integers(1, 6000).map(lambda n: Deep('{"a":', "1", "}", n)),
    st.text(max_size=40).map(lambda t: "[" + MARK + t),
    st.just('[{"_placeholder":true,"num":0}]'),
    st.just('["send",{"_placeholder":true,"num":99}]'),
)
namespaces = st.sampled_from(["", "/visitor,", "/counsellor,", "/,", "/nope,", "/visitor",
                              "visitor,", "/visitor?x=1,", "/" + MARK + ","])
socketio_frames = st.builds(
    lambda kind, attachments, namespace, ack_id, data: Frame(
        ("4", kind, attachments, namespace, ack_id, data)),
    st.sampled_from("0123456789") | st.text(max_size=2),
    st.sampled_from(["", "1-", "2-", "99999-", "0-", "12345678901-"]),
    namespaces,
    st.sampled_from(["", "0", "7", "1" * 99, "1" * 120, "-1"]),
    json_texts | st.just(""),
)
frames = st.one_of(
    socketio_frames,
    st.text(max_size=30),
    st.sampled_from(["", "1", "2", "2probe", "3", "5", "6", "9", "4", "40", "41", "4x"]),
    st.binary(max_size=64),
    st.binary(max_size=8).map(lambda b: b"4" + b),
)
sequences = st.tuples(st.booleans(), st.lists(frames, min_size=1, max_size=6))


def check_frames(received: list[str | bytes]) -> None:
    """What the server sent back is protocol, not a traceback or echoed garbage."""
    for frame in received:
        text = frame.decode("latin-1") if isinstance(frame, bytes) else frame
        assert not any(word in text for word in INSIDES), text[:200]
        assert text[:1].isdigit(), text[:80]


@FUZZ
@given(sequence=sequences)
async def test_raw_websocket_frames_fuzzed(
    harness: Harness, healthy_chat: HealthyChat, caplog: pytest.LogCaptureFixture,
    sequence: tuple[bool, list[Any]],
) -> None:
    caplog.set_level(logging.INFO)
    join, items = sequence
    raw = RawSocket(harness.url)
    handshake = await raw.open()
    assert handshake.startswith("0{")
    try:
        if join:
            await raw.send("40/visitor,")
        for frame in items:
            if not await raw.send(wire(frame)):
                break
        received, _closed = await raw.frames(0.05)
        check_frames(received)
    finally:
        await raw.close()
    await healthy_chat.round_trip()
    assert_quiet_logs(caplog.records, [MARK])


@FUZZ
@given(bodies=st.lists(frames.filter(lambda f: not isinstance(f, bytes))
                       | st.binary(max_size=64), min_size=1, max_size=4))
async def test_polling_bodies_fuzzed(
    harness: Harness, healthy_chat: HealthyChat, caplog: pytest.LogCaptureFixture,
    bodies: list[Frame | str | bytes],
) -> None:
    caplog.set_level(logging.INFO)
    base = harness.url + "/socket.io/?EIO=4&transport=polling"
    # A short timeout: a body engine.io chokes on used to leave the request hanging forever.
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        async with http.get(base) as resp:
            assert resp.status == 200
            handshake = json.loads((await resp.text())[1:])
        url = f"{base}&sid={handshake['sid']}"
        for body in map(wire, bodies):
            # Several packets in one body are separated by the record separator \x1e.
            data = body if isinstance(body, bytes) else body.replace("|", "\x1e")
            async with http.post(url, data=data) as resp:
                assert resp.status in (200, 400), resp.status
                text = await resp.text(errors="replace")
                assert not any(word in text for word in INSIDES), text[:200]
                assert resp.headers["X-Content-Type-Options"] == "nosniff"
                if resp.status == 400:
                    break
    await healthy_chat.round_trip()
    assert_quiet_logs(caplog.records, [MARK])


async def test_binary_attachments_and_odd_event_names_are_refused(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The relay speaks JSON only. A declared attachment count would otherwise make
    python-socketio collect every following frame of the socket in memory, and a non-string
    event name crashes its dispatch task. Both end the socket's namespace instead."""
    caplog.set_level(logging.INFO)
    sio = harness.app[SIO]
    for frames in (
        ['451-/visitor,0["send",{"_placeholder":true,"num":0}]', b"\x00" * 64],
        ['459999999999-/visitor,0["send",{"_placeholder":true,"num":0}]',
         *[b"\x00" * 1024] * 50],
        ["42/visitor,0[1,{}]"], ['42/visitor,0[{"a":1}]'], ["42/visitor,0[null]"],
    ):
        raw = RawSocket(harness.url)
        await raw.open()
        await raw.send("40/visitor,")
        joined, _ = await raw.frames(0.2)
        assert any(str(f).startswith("40/visitor,{") for f in joined)
        for frame in frames:
            await raw.send(frame)
        # Refused: nothing answers, not even a later, valid event on the same socket.
        await raw.send('42/visitor,1["ack",{"upto":0}]')
        answered, _ = await raw.frames(0.3)
        assert not any(str(f).startswith("43/visitor,") for f in answered), answered[:3]
        # python-socketio keeps half-received binary packets here; nothing may linger.
        assert not sio._binary_packet
        await raw.close()
    # Whatever the server logs about these sockets, it has logged once it has let them go.
    await eventually(lambda: not sio.eio.sockets, what="the server to let every raw socket go")
    assert_quiet_logs(caplog.records, [MARK])
