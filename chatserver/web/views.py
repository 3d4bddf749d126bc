"""Small HTTP handlers of the core: health and availability."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web

from chatserver import hours
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
    """Whether a chat can start now (someone is on duty), what the office hours say, and,
    when no chat can start, whether a message can be left (docs/operations.md, "Office
    hours"). Structured, never text: the widget words it in the visitor's language."""
    config, relay = request.app[CONFIG], request.app[RELAY]
    now = relay.clock()
    state = hours.availability(config.schedule, await relay.on_duty_count(), now)
    body: dict[str, Any] = {
        "available": state.chat, "open": state.open, "next_open": state.next_open,
        "hours": config.schedule.weekly(), "tz": config.office_timezone,
        "reply_days": config.drop_reply_days,
        "office_hours": {"de": config.office_hours_de, "en": config.office_hours_en},
    }
    if not state.chat:
        body["drops"] = await _drops_ready(request)
    return web.json_response(body)


async def _drops_ready(request: web.Request) -> str:
    """Whether the widget can seal a message: ``ready`` once the team's records key has the
    organisation's certificate (the widget still checks it), ``no_key`` before the first
    console sign-in made the key, ``uncertified`` before the key ceremony; ``unknown`` while
    the database does not answer (availability itself never needs it)."""
    try:
        key, certificate = await request.app[RECORDS].keyring.records_key()
    except Exception:
        return "unknown"
    if not key:
        return "no_key"
    return "ready" if certificate else "uncertified"


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
