"""Prometheus metrics at ``/metrics``: counts only, never an id, an address or any content.

Counters are per node and fed by the relay's lifecycle events; gauges of the queue, the duty
roster and the chats come from the shared state and so read the same on every node; those of
the revocation list and the certificates come from the configured file and the database, read
on the app's clock at each scrape. Each app keeps its metrics in a ``prometheus_client``
registry of its own. The page is served only to
loopback clients that did not come through a proxy, or to a scraper with the bearer token
``CHATSERVER_METRICS_TOKEN``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from typing import Any

import socketio
from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from chatserver.admin import expiry
from chatserver.config import Config
from chatserver.errors import ErrorCode
from chatserver.relay.events import EnvelopeRelayed, EventRefused, LifecycleEvent
from chatserver.relay.relay import Relay
from chatserver.sockets.outbound import COUNSELLOR_NS, VISITOR_NS
from chatserver.stats.counters import EVENT_NAMES
from chatserver.vocabulary import DIRECTIONS
from chatserver.web.appkeys import CLOCK, RELAY, SIO, USERS

# The text format generate_latest writes (not every prometheus_client release names it).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Label values come only from these fixed sets, so no client-made text can become a label.
CHAT_EVENTS = tuple(EVENT_NAMES.values())
ERROR_CODES = (*(code.value for code in ErrorCode), "other")
# Headers a reverse proxy adds: a request carrying one did not come straight from loopback.
PROXY_HEADERS = ("X-Real-IP", "X-Forwarded-For", "Forwarded")
# The gauges read from the shared state: (metric, key of Relay.counts(), help).
SHARED_GAUGES = (
    ("erstkontakt_queue_length", "queue",
     "Chats waiting for a counsellor (whole installation)."),
    ("erstkontakt_counsellors_on_duty", "on_duty", "Counsellors on duty (whole installation)."),
    ("erstkontakt_active_chats", "active",
     "Chats a counsellor has accepted and not yet ended (whole installation)."),
)


class ScrapeGauges:
    """The gauges: :meth:`Metrics.render` sets their values right before each exposition."""

    def __init__(self) -> None:
        self.visitors = 0
        self.counsellors = 0
        self.shared: dict[str, int] | None = None  # None: the state did not answer
        self.expiry: expiry.Expiry | None = None  # None: the database did not answer

    def collect(self) -> Iterator[Metric]:
        """The prometheus_client collector hook."""
        yield GaugeMetricFamily("erstkontakt_connected_visitors",
                                "Visitor sockets connected to this node.", value=self.visitors)
        yield GaugeMetricFamily("erstkontakt_connected_counsellors",
                                "Counsellor sockets connected to this node.",
                                value=self.counsellors)
        yield GaugeMetricFamily("erstkontakt_state_up",
                                "1 if the shared state answered this scrape, else 0.",
                                value=0 if self.shared is None else 1)
        if self.shared is not None:
            for name, key, help_text in SHARED_GAUGES:
                yield GaugeMetricFamily(name, help_text, value=self.shared[key])
        if self.expiry is not None:
            yield from _expiry_gauges(self.expiry)


def _expiry_gauges(signed: expiry.Expiry) -> Iterator[Metric]:
    """How long the signed material has left: widgets refuse what has lapsed, silently."""
    age = signed.revocations_age_s
    yield GaugeMetricFamily(
        "erstkontakt_revocation_list_valid",
        "1 if the configured revocation list is signed by the pinned organisation key, else 0 "
        "(widgets then refuse every chat).", value=0 if age is None else 1)
    if age is not None:
        yield GaugeMetricFamily(
            "erstkontakt_revocation_list_age_seconds",
            "Seconds since the revocation list was signed; widgets refuse it past "
            f"{expiry.REVOCATION_MAX_AGE_S}.", value=int(age))
    earliest = signed.earliest_certificate_expiry
    if earliest is not None:
        yield GaugeMetricFamily(
            "erstkontakt_counsellor_certificate_expiry_seconds",
            "Seconds until the first certificate of an enabled account that chats ends "
            "(negative once ended).", value=int(earliest - signed.now))
    by_state = GaugeMetricFamily(
        "erstkontakt_counsellor_certificates",
        "Certificates of enabled accounts that chat: valid, ending within 14 days, ended.",
        labels=["state"])
    for lapse in expiry.Lapse:
        by_state.add_metric([lapse.value], signed.certificates(lapse))
    yield by_state


class Metrics:
    """This node's metrics; a relay listener, so it sees only aggregate-safe fields."""

    def __init__(self) -> None:
        # A creation timestamp per series is not a count. The switch is process-wide; every
        # app in a process wants the same.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
        # Never the global default registry: several apps may share one process (tests).
        self.registry = CollectorRegistry()
        self.gauges = ScrapeGauges()
        self.registry.register(self.gauges)
        self.relayed = Counter("erstkontakt_envelopes_relayed",
                               "Envelopes accepted for relay by this node, by direction.",
                               ["direction"], registry=self.registry)
        self.refused = Counter("erstkontakt_events_refused",
                               "Socket events this node answered with an error, by error code.",
                               ["code"], registry=self.registry)
        self.chat_events = Counter("erstkontakt_chat_events",
                                   "Chat lifecycle events seen by this node, by event.",
                                   ["event"], registry=self.registry)
        # Every label value is listed from the start, with 0 until it first happens.
        for direction in DIRECTIONS:
            self.relayed.labels(direction=direction)
        for code in ERROR_CODES:
            self.refused.labels(code=code)
        for name in CHAT_EVENTS:
            self.chat_events.labels(event=name)

    async def on_event(self, event: LifecycleEvent) -> None:
        """Count one relay event (subscribed with :meth:`Relay.subscribe`)."""
        match event:
            case EnvelopeRelayed(direction=direction) if direction in DIRECTIONS:
                self.relayed.labels(direction=direction).inc()
            case EventRefused(code=code):
                self.refused.labels(code=str(code) if code in ERROR_CODES else "other").inc()
            case _:
                name = EVENT_NAMES.get(type(event))
                if name is not None:
                    self.chat_events.labels(event=name).inc()

    async def render(self, relay: Relay, sio: socketio.AsyncServer,
                     signed: expiry.Expiry | None = None) -> bytes:
        """The exposition text of this node's metrics, the gauges read now (``signed``: how
        the revocation list and the certificates stand, if known)."""
        try:
            shared: dict[str, int] | None = await relay.counts()
        except Exception:  # state away: say so instead of failing the scrape
            shared = None
        # No await from here on, so a concurrent scrape cannot mix its readings into ours.
        self.gauges.visitors = _connected(sio, VISITOR_NS)
        self.gauges.counsellors = _connected(sio, COUNSELLOR_NS)
        self.gauges.shared = shared
        self.gauges.expiry = signed
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)


def setup_metrics(app: web.Application, relay: Relay) -> Metrics:
    """Create this node's metrics and subscribe them to ``relay``."""
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


async def metrics_view(request: web.Request) -> web.Response:
    """``GET /metrics`` for loopback or the bearer token; 403 for everyone else."""
    relay = request.app[RELAY]
    if not allowed(relay.config, request.remote, request.headers):
        raise web.HTTPForbidden(text="Metrics are served to loopback or with the token only.")
    try:
        signed: expiry.Expiry | None = expiry.assess(
            await expiry.read(relay.config, request.app[USERS]), request.app[CLOCK]())
    except Exception:  # the database away: the other gauges still tell
        signed = None
    body = await request.app[METRICS].render(relay, request.app[SIO], signed)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})
