"""URL wiring of the core application."""

from __future__ import annotations

from aiohttp import web

from chatserver.web import metrics, views


def setup_routes(app: web.Application) -> None:
    """Register the core's HTTP routes."""
    app.router.add_get("/healthz", views.healthz)
    app.router.add_get("/metrics", metrics.metrics_view)
    app.router.add_get("/api/availability", views.availability)
    app.router.add_get("/api/revocations.json", views.revocations)
    app.router.add_get("/api/records-key", views.records_key)
