"""The team view for supervisors and administrators: live counts, never a chat or a visitor.

Waiting requests, the longest wait, counsellors on duty and active chats, from
:meth:`chatserver.relay.relay.Relay.team_counts`; the page polls its JSON.
"""

from __future__ import annotations

from aiohttp import web

from chatserver.records.accounts import Session
from chatserver.vocabulary import STATS_ROLES
from chatserver.web.appkeys import RELAY
from counsellor_console.common import console_route, page

REFUSED = "Only supervisors and administrators see the team view."


@console_route(STATS_ROLES, refused=REFUSED)
async def team_json(request: web.Request, session: Session) -> web.Response:
    """The four counts, as JSON."""
    counts = await request.config_dict[RELAY].team_counts()
    return web.json_response(counts, headers={"Cache-Control": "no-store"})


@console_route(STATS_ROLES, page_route=True, refused=REFUSED)
async def team_page(request: web.Request, session: Session) -> web.Response:
    """The counts as a page, drawn at once and then refreshed by ``team.js``."""
    counts = await request.config_dict[RELAY].team_counts()
    return page(request, "team.html", session=session, counts=counts)


def setup_team_routes(app: web.Application) -> None:
    app.router.add_get("/team", team_page)
    app.router.add_get("/api/team", team_json)
