"""What every console route shares: app keys, the session, CSRF, pages under a strict CSP."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from chatserver.config import Config
from chatserver.records.accounts import Session
from chatserver.web.appkeys import USERS
from chatserver.web.assets import Assets

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "ek_console"
LOGIN_COOKIE = "ek_login"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")

CONSOLE_CONFIG = web.AppKey("console_config", Config)
CONSOLE_ASSETS = web.AppKey("console_assets", Assets)
CONSOLE_TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
PARENT = web.AppKey("console_parent", web.Application)


def secure(request: web.Request) -> bool:
    host = (request.host or "").split(":")[0]
    return request.secure or host not in ("127.0.0.1", "localhost", "[::1]")


def page(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    env = request.app[CONSOLE_TEMPLATES]
    html = env.get_template(template).render(assets=request.app[CONSOLE_ASSETS],
                                             config=request.app[CONSOLE_CONFIG], **context)
    return web.Response(text=html, content_type="text/html", status=status,
                        headers={"Content-Security-Policy": CSP})


async def current_session(request: web.Request) -> Session | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await request.app[PARENT][USERS].session(token, time.time())


async def json_body(request: web.Request) -> Any:
    """The request body as JSON, or a clear 400."""
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="The body must be JSON.") from None


def check_csrf(session: Session, supplied: str | None) -> None:
    if not supplied or not secrets.compare_digest(supplied, session.csrf):
        raise web.HTTPForbidden(text="Missing or wrong CSRF token.")
