"""Each counsellor's notification settings, kept on the server: read and replaced by the
console (``notifications.js``) through ``/console/api/settings``.

The body of a PUT is the whole set, booleans only: a missing, unknown or non-boolean field is
refused with a 400 that names it, and nothing is kept. One counsellor reads and writes only
their own.
"""

from __future__ import annotations

from dataclasses import asdict, fields

import msgspec
from aiohttp import web

from chatserver.records.accounts import CounsellorSettings, Session
from chatserver.vocabulary import COUNSELLOR_ROLES
from chatserver.web.appkeys import USERS
from counsellor_console.common import console_route

# The wire shape, made from the domain's fields so that the two cannot drift apart.
SettingsBody = msgspec.defstruct(
    "SettingsBody", [(field.name, bool) for field in fields(CounsellorSettings)],
    forbid_unknown_fields=True)
MAX_BODY = 1024


@console_route(COUNSELLOR_ROLES)
async def settings_get(request: web.Request, session: Session) -> web.Response:
    """The signed-in counsellor's settings."""
    chosen = await request.config_dict[USERS].settings(session.user.id)
    return web.json_response(asdict(chosen))


@console_route(COUNSELLOR_ROLES, csrf=True)
async def settings_put(request: web.Request, session: Session) -> web.Response:
    """Replace the signed-in counsellor's settings with the body's; answers what is kept."""
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw),
                                            text="The settings are a small JSON object.")
    try:
        body = msgspec.json.decode(raw, type=SettingsBody)
    except msgspec.DecodeError as exc:
        names = ", ".join(field.name for field in fields(CounsellorSettings))
        raise web.HTTPBadRequest(
            text=f"The settings must be a JSON object of exactly {names}, each true or false: "
                 f"{exc}") from None
    chosen = CounsellorSettings(**msgspec.structs.asdict(body))
    await request.config_dict[USERS].set_settings(session.user.id, chosen)
    return web.json_response(asdict(chosen))


def setup_settings_routes(app: web.Application) -> None:
    app.router.add_get("/api/settings", settings_get)
    app.router.add_put("/api/settings", settings_put)
