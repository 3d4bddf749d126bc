"""The audit trail of case records and grants, for administrators only: a page and its JSON.

Each entry names the account by id (with its login name and pseudonym where the account still
exists), the action, the record or the account a grant went to, the time, and whether the
access was refused. Nothing of any record's content and nothing of the visitor is in it
(:mod:`chatserver.records.store`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from chatserver.records.accounts import Session, User
from chatserver.records.store import AuditEntry
from chatserver.vocabulary import AUDIT_ROLES
from chatserver.web.appkeys import RECORDS, USERS
from counsellor_console.common import CONSOLE_CONFIG, console_route, page

PAGE_SIZE = 200
MAX_PAGE = 1000
REFUSED = "Only administrators read the audit trail."


def _number(request: web.Request, name: str, default: int | None, upper: int) -> int | None:
    """A positive whole number from the query string, or a clear 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 0 < int(raw) <= upper:
        raise web.HTTPBadRequest(text=f"{name} must be a whole number from 1 to {upper}.")
    return int(raw)


async def _entries(request: web.Request) -> tuple[list[AuditEntry], dict[str, User], int]:
    limit = _number(request, "limit", PAGE_SIZE, MAX_PAGE) or PAGE_SIZE
    before = _number(request, "before", None, 2**62)
    entries = await request.config_dict[RECORDS].audit_log(limit, before)
    return entries, await request.config_dict[USERS].by_id(), limit


def _as_json(entry: AuditEntry, accounts: dict[str, User]) -> dict[str, Any]:
    who, subject = accounts.get(entry.user_id), accounts.get(entry.subject_id or "")
    return {
        "id": entry.id, "at": entry.at, "user_id": entry.user_id,
        "name": who.name if who else None, "pseudonym": who.pseudonym if who else None,
        "action": entry.action, "record_id": entry.record_id, "subject_id": entry.subject_id,
        "subject_name": subject.name if subject else None, "refused": entry.refused,
    }


@console_route(AUDIT_ROLES, refused=REFUSED)
async def audit_json(request: web.Request, session: Session) -> web.Response:
    """The newest entries (``limit``, at most 1000), older than entry ``before`` if given."""
    entries, accounts, _ = await _entries(request)
    return web.json_response({"items": [_as_json(e, accounts) for e in entries]})


@console_route(AUDIT_ROLES, page_route=True, refused=REFUSED)
async def audit_page(request: web.Request, session: Session) -> web.Response:
    """The same entries as a table, in the statistics' time zone."""
    entries, accounts, limit = await _entries(request)
    zone = ZoneInfo(request.app[CONSOLE_CONFIG].stats_timezone)
    rows = [{**_as_json(e, accounts),
             "when": datetime.fromtimestamp(e.at, zone).strftime("%Y-%m-%d %H:%M:%S")}
            for e in entries]
    # A full page may have older entries behind it.
    return page(request, "audit.html", session=session, rows=rows, limit=limit,
                older=entries[-1].id if entries and len(entries) == limit else None)


def setup_audit_routes(app: web.Application) -> None:
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/api/audit", audit_json)
