"""Prometheus metrics at ``/metrics``: counts only, never an id, an address or any content.

Counters are per node and fed by the relay's lifecycle events; gauges of the queue, the duty
roster and the chats come from the shared state and so read the same on every node. The page
is served only to loopback clients that did not come through a proxy, or to a scraper with
the bearer token ``CHATSERVER_METRICS_TOKEN``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import Counter
from typing import Any

import socketio
from aiohttp import web

from chatserver.config import Config
from chatserver.errors import ErrorCode
from chatserver.relay.events import EnvelopeRelayed, EventRefused, LifecycleEvent
from chatserver.relay.relay import Relay
from chatserver.sockets.outbound import COUNSELLOR_NS, VISITOR_NS
from chatserver.stats.counters import EVENT_NAMES
from chatserver.vocabulary import DIRECTIONS
from chatserver.web.appkeys import RELAY, SIO

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Label values come only from these fixed sets, so no client-made text can become a label.
CHAT_EVENTS = tuple(EVENT_NAMES.values())
ERROR_CODES = (*(code.value for code in ErrorCode), "other")
# Headers a reverse proxy adds: a request carrying one did not come straight from loopback.
PROXY_HEADERS = ("X-Real-IP", "X-Forwarded-For", "Forwarded")


class Metrics:
    """This node's counters; a relay listener, so it sees only aggregate-safe fields."""

    def __init__(self) -> None:
        self.chat_events: Counter[str] = Counter()
        self.relayed: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    async def on_event(self, event: LifecycleEvent) -> None:
        """Count one relay event (subscribed with :meth:`Relay.subscribe`)."""
        match event:
            case EnvelopeRelayed(direction=direction) if direction in DIRECTIONS:
                self.relayed[direction] += 1
            case EventRefused(code=code):
                self.refused[code if code in ERROR_CODES else "other"] += 1
            case _:
                name = EVENT_NAMES.get(type(event))
                if name is not None:
                    self.chat_events[name] += 1


METRICS = web.AppKey("metrics", Metrics)


def setup_metrics(app: web.Application, relay: Relay) -> Metrics:
    """Create this node's counters and subscribe them to ``relay``."""
    metrics = Metrics()
    relay.subscribe(metrics.on_event)
    app[METRICS] = metrics
    return metrics


def allowed(config: Config, remote: str | None, headers: Any) -> bool:
    """True for the bearer token, or for a loopback peer that no proxy stands in front of."""
    if config.metrics_token:
        scheme, _, given = str(headers.get("Authorization", "")).partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), config.metrics_token.encode()
        ):
            return True
    if any(name in headers for name in PROXY_HEADERS):
        return False
    try:
        address = ipaddress.ip_address(remote or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _connected(sio: socketio.AsyncServer, namespace: str) -> int:
    return sum(1 for _ in sio.manager.get_participants(namespace, None))


def _family(lines: list[str], name: str, kind: str, help_text: str,
            samples: list[tuple[str, int]]) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")
    for labels, value in samples:
        lines.append(f"{name}{labels} {value}")


async def render(metrics: Metrics, relay: Relay, sio: socketio.AsyncServer) -> str:
    """The exposition text of this node's metrics."""
    lines: list[str] = []
    _family(lines, "erstkontakt_connected_visitors", "gauge",
            "Visitor sockets connected to this node.",
            [("", _connected(sio, VISITOR_NS))])
    _family(lines, "erstkontakt_connected_counsellors", "gauge",
            "Counsellor sockets connected to this node.",
            [("", _connected(sio, COUNSELLOR_NS))])
    try:
        shared: dict[str, int] | None = await relay.counts()
    except Exception:  # state away: say so instead of failing the scrape
        shared = None
    _family(lines, "erstkontakt_state_up", "gauge",
            "1 if the shared state answered this scrape, else 0.",
            [("", 0 if shared is None else 1)])
    if shared is not None:
        _family(lines, "erstkontakt_queue_length", "gauge",
                "Chats waiting for a counsellor (whole installation).",
                [("", shared["queue"])])
        _family(lines, "erstkontakt_counsellors_on_duty", "gauge",
                "Counsellors on duty (whole installation).", [("", shared["on_duty"])])
        _family(lines, "erstkontakt_active_chats", "gauge",
                "Chats a counsellor has accepted and not yet ended (whole installation).",
                [("", shared["active"])])
    _family(lines, "erstkontakt_envelopes_relayed_total", "counter",
            "Envelopes accepted for relay by this node, by direction.",
            [(f'{{direction="{d}"}}', metrics.relayed[d]) for d in DIRECTIONS])
    _family(lines, "erstkontakt_events_refused_total", "counter",
            "Socket events this node answered with an error, by error code.",
            [(f'{{code="{c}"}}', metrics.refused[c]) for c in ERROR_CODES])
    _family(lines, "erstkontakt_chat_events_total", "counter",
            "Chat lifecycle events seen by this node, by event.",
            [(f'{{event="{e}"}}', metrics.chat_events[e]) for e in CHAT_EVENTS])
    return "\n".join(lines) + "\n"


async def metrics_view(request: web.Request) -> web.Response:
    """``GET /metrics`` for loopback or the bearer token; 403 for everyone else."""
    relay = request.app[RELAY]
    if not allowed(relay.config, request.remote, request.headers):
        raise web.HTTPForbidden(text="Metrics are served to loopback or with the token only.")
    text = await render(request.app[METRICS], relay, request.app[SIO])
    return web.Response(text=text, headers={"Content-Type": CONTENT_TYPE})
