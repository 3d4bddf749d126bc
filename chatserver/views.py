"""Small HTTP handlers of the core: health and availability."""

from __future__ import annotations

from aiohttp import web

from chatserver.appkeys import CONFIG, RELAY


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: 200 when state answers, 503 otherwise (no details)."""
    relay = request.app[RELAY]
    try:
        await relay.state.roster()
    except Exception:
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


async def availability(request: web.Request) -> web.Response:
    """Whether anyone is on duty now, and the office hours to show when not."""
    config = request.app[CONFIG]
    roster = await request.app[RELAY].state.roster()
    return web.json_response({
        "available": bool(roster),
        "office_hours": {"de": config.office_hours_de, "en": config.office_hours_en},
    })
