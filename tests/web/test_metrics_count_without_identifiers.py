"""``/metrics``: Prometheus text with counts only, served to loopback or with the bearer token.

A real chat runs on each backend while the page is scraped; its numbers must follow the chat,
and nothing on it may be an id, a token, a pseudonym or a ciphertext.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import cast

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from multidict import CIMultiDict
from prometheus_client import generate_latest

from chatserver.config import Config, ConfigError, load_config
from chatserver.errors import ErrorCode
from chatserver.main import create_app
from chatserver.relay.events import EnvelopeRelayed, EventRefused
from chatserver.relay.state import Chat
from chatserver.vocabulary import DIRECTIONS, Direction
from chatserver.web.appkeys import RELAY
from chatserver.web.metrics import CHAT_EVENTS, CONTENT_TYPE, ERROR_CODES, Metrics, allowed
from tests.support.clients import random_ct
from tests.support.harness import Harness
from tests.support.waiting import eventually

TOKEN = "m" * 40
# prometheus_client writes every value as a float: "3.0", "1.234567e+06".
SAMPLE = re.compile(r'^(erstkontakt_[a-z_]+)(\{[a-z]+="[a-z_0-9]+"\})? '
                    r'(\d+\.\d+|\d(?:\.\d+)?e\+\d+)$')


def parse(text: str) -> dict[str, int]:
    """Sample name (with labels) -> value; every line must be a comment or a plain sample."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = SAMPLE.match(line)
        assert match, f"unexpected line shape: {line[:80]!r}"
        value = float(match.group(3))
        assert value.is_integer(), f"not a count: {line[:80]!r}"
        out[match.group(1) + (match.group(2) or "")] = int(value)
    return out


async def scrape(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url + "/metrics",
                                                         headers=headers) as resp:
        if resp.status == 200:
            assert resp.headers["Content-Type"] == CONTENT_TYPE
        return resp.status, await resp.text()


async def numbers(harness: Harness) -> dict[str, int]:
    status, text = await scrape(harness.url)
    assert status == 200, text
    return parse(text)


async def settled(harness: Harness, sample: str, value: int) -> dict[str, int]:
    """Scrape until ``sample`` shows ``value``: a client's disconnect returns before the server
    has run its disconnect handler, so the gauge follows a moment later."""

    async def showing() -> dict[str, int] | None:
        seen = await numbers(harness)
        return seen if seen[sample] == value else None

    return await eventually(showing, what=f"{sample} to show {value}", timeout=5)


async def test_metrics_follow_a_chat_and_hold_no_identifier(harness: Harness) -> None:
    before = await numbers(harness)
    assert before["erstkontakt_state_up"] == 1
    assert before["erstkontakt_queue_length"] == 0
    assert before['erstkontakt_events_refused_total{code="bad_seq"}'] == 0

    anna = await harness.counsellor("anna-4711", "Anna")
    visitor = await harness.visitor()
    await visitor.request()
    queued = await numbers(harness)
    assert queued["erstkontakt_connected_visitors"] == 1
    assert queued["erstkontakt_connected_counsellors"] == 1
    assert queued["erstkontakt_counsellors_on_duty"] == 1
    assert queued["erstkontakt_queue_length"] == 1
    assert queued["erstkontakt_active_chats"] == 0
    assert queued['erstkontakt_chat_events_total{event="requested"}'] == 1

    assert (await anna.accept(visitor.chat_id))["ok"]
    sent = [random_ct(80) for _ in range(3)]
    for ct in sent[:2]:
        assert (await visitor.send(ct))["ok"]
    assert (await anna.send(visitor.chat_id, sent[2]))["ok"]
    assert (await visitor.send(sent[0], seq=1))["dup"]  # a resend is not relayed twice
    assert (await visitor.send(random_ct(), seq=9))["error"] == "bad_seq"
    assert (await anna.call("accept", {"chat_id": "x" * 22}))["error"] == "not_found"
    status, text = await scrape(harness.url)
    assert status == 200
    during = parse(text)
    assert during["erstkontakt_queue_length"] == 0
    assert during["erstkontakt_active_chats"] == 1
    assert during['erstkontakt_envelopes_relayed_total{direction="v2c"}'] == 2
    assert during['erstkontakt_envelopes_relayed_total{direction="c2v"}'] == 1
    assert during['erstkontakt_events_refused_total{code="bad_seq"}'] == 1
    assert during['erstkontakt_events_refused_total{code="not_found"}'] == 1
    assert during['erstkontakt_chat_events_total{event="accepted"}'] == 1
    secrets = [visitor.chat_id, visitor.resume_token, anna.token, "anna-4711", "Anna", *sent]
    for secret in secrets:
        assert secret not in text

    assert (await anna.end(visitor.chat_id))["ok"]
    await visitor.expect("ended")
    await visitor.disconnect()
    after = await settled(harness, "erstkontakt_connected_visitors", 0)
    assert after["erstkontakt_active_chats"] == 0
    assert after["erstkontakt_connected_visitors"] == 0
    assert after['erstkontakt_chat_events_total{event="ended"}'] == 1


async def test_a_proxied_request_is_refused_even_from_loopback(harness: Harness) -> None:
    status, text = await scrape(harness.url, {"X-Real-IP": "127.0.0.1"})
    assert status == 403 and "erstkontakt_" not in text
    status, _ = await scrape(harness.url, {"X-Forwarded-For": "127.0.0.1"})
    assert status == 403


def outside_address() -> str | None:
    """A non-loopback address of this machine, if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # no packet is sent for a UDP connect
        except OSError:
            return None
        address = str(s.getsockname()[0])
    return None if address.startswith("127.") else address


@pytest.mark.parametrize("token", [TOKEN, ""], ids=["token-configured", "no-token"])
async def test_other_hosts_need_the_bearer_token(
    make_config: Callable[..., Config], token: str
) -> None:
    address = outside_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address to scrape from")
    server = TestServer(create_app(make_config(metrics_token=token)), host=address)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        assert (await scrape(url))[0] == 403
        assert (await scrape(url, {"Authorization": "Bearer " + "x" * 40}))[0] == 403
        assert (await scrape(url, {"Authorization": "Bearer "}))[0] == 403
        status, text = await scrape(url, {"Authorization": "Bearer " + TOKEN})
        if token:
            assert status == 200 and "erstkontakt_queue_length 0" in text
        else:
            assert status == 403
    finally:
        await server.close()


@pytest.mark.parametrize(("remote", "headers", "expected"), [
    ("127.0.0.1", {}, True),
    ("127.8.9.10", {}, True),
    ("::1", {}, True),
    ("::ffff:127.0.0.1", {}, True),
    ("10.0.0.7", {}, False),
    ("::ffff:10.0.0.7", {}, False),
    ("", {}, False),
    (None, {}, False),
    ("127.0.0.1", {"Forwarded": "for=127.0.0.1"}, False),
    ("10.0.0.7", {"Authorization": f"Bearer {TOKEN}"}, True),
    ("10.0.0.7", {"Authorization": f"bearer {TOKEN} "}, True),
    ("10.0.0.7", {"Authorization": f"Basic {TOKEN}"}, False),
    ("10.0.0.7", {"Authorization": f"Bearer {TOKEN[:-1]}"}, False),
])
def test_access_rule(remote: str | None, headers: dict[str, str], expected: bool) -> None:
    config = load_config({}, metrics_token=TOKEN)
    assert allowed(config, remote, CIMultiDict(headers)) is expected


def test_a_short_metrics_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="CHATSERVER_METRICS_TOKEN"):
        load_config({"CHATSERVER_METRICS_TOKEN": "too-short"})
    assert load_config({"CHATSERVER_METRICS_TOKEN": TOKEN}).metrics_token == TOKEN


async def test_label_values_come_from_fixed_sets() -> None:
    metrics = Metrics()
    # The types say which values may come; these are what a bug upstream could still pass.
    await metrics.on_event(EventRefused(cast(ErrorCode, "<script>")))
    await metrics.on_event(EnvelopeRelayed(cast(Direction, "sideways")))
    page = parse(generate_latest(metrics.registry).decode())
    counters = {name: value for name, value in page.items() if name.endswith("}")}
    assert set(counters) == {
        *(f'erstkontakt_envelopes_relayed_total{{direction="{d}"}}' for d in DIRECTIONS),
        *(f'erstkontakt_events_refused_total{{code="{c}"}}' for c in ERROR_CODES),
        *(f'erstkontakt_chat_events_total{{event="{e}"}}' for e in CHAT_EVENTS),
    }
    assert counters['erstkontakt_events_refused_total{code="other"}'] == 1
    assert sum(counters.values()) == 1


async def test_a_state_that_does_not_answer_shows_as_state_up_0(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def away() -> list[Chat]:
        raise ConnectionError("state away")

    with monkeypatch.context() as patch:
        patch.setattr(harness.app[RELAY].state, "queued", away)
        down = await numbers(harness)
    assert down["erstkontakt_state_up"] == 0
    # No stale numbers for the whole installation; this node's own still show.
    assert not {"erstkontakt_queue_length", "erstkontakt_counsellors_on_duty",
                "erstkontakt_active_chats"} & set(down)
    assert down["erstkontakt_connected_visitors"] == 0
    assert down['erstkontakt_events_refused_total{code="other"}'] == 0
    up = await numbers(harness)
    assert up["erstkontakt_state_up"] == 1 and up["erstkontakt_queue_length"] == 0
