"""Small HTTP handlers of the core: health and availability."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from chatserver.web.appkeys import CONFIG, RECORDS, RELAY


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: 200 when state answers, 503 otherwise (no details)."""
    relay = request.app[RELAY]
    try:
        await relay.on_duty_count()
    except Exception:
        return web.json_response({"status": "unavailable"}, status=503)
    return web.json_response({"status": "ok"})


async def availability(request: web.Request) -> web.Response:
    """Whether anyone is on duty now, and the office hours to show when not."""
    config = request.app[CONFIG]
    on_duty = await request.app[RELAY].on_duty_count()
    return web.json_response({
        "available": on_duty > 0,
        "office_hours": {"de": config.office_hours_de, "en": config.office_hours_en},
    })


async def revocations(request: web.Request) -> web.Response:
    """The organisation's signed revocation list, as the offline key ceremony produced it.

    The server only passes it on: clients check the signature against the pinned org key
    and refuse a list that is too old, so a server cannot forge or silently freeze it.
    """
    path = request.app[CONFIG].revocations_file
    if not path:
        raise web.HTTPNotFound(text="No revocation list is configured.")
    try:
        body = await asyncio.to_thread(Path(path).read_bytes)
    except OSError:
        raise web.HTTPServiceUnavailable(text="The revocation list cannot be read.") from None
    return web.Response(body=body, content_type="application/json",
                        headers={"Cache-Control": "no-cache"})


async def records_key(request: web.Request) -> web.Response:
    """The team's records public key, to which the widget seals anonymous messages, with the
    organisation's certificate of it (null until the admin installed one). The widget seals
    only to a key whose certificate it verified against the pinned org key."""
    key, certificate = await request.app[RECORDS].keyring.records_key()
    if not key:
        raise web.HTTPNotFound(text="The team has not created its records key yet.")
    return web.json_response({"records_pk": key, "certificate": certificate})
