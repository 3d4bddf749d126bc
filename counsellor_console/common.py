"""What every console route shares: app keys, the session, CSRF, pages under a strict CSP."""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from chatserver.config import Config
from chatserver.records.accounts import Session
from chatserver.sockets.ratelimit import AddressKeys, RateLimiter
from chatserver.web.appkeys import USERS
from chatserver.web.assets import Assets
from counsellor_console.language import CATALOGS, Words, language_of

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "ek_console"
LOGIN_COOKIE = "ek_login"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
# The workspace alone also shows images the page drew itself: the favicon with the unread
# count (notifications.js), a canvas turned into a blob: URL, which only this page's own
# scripts can make. Not data:, which markup alone could bring in.
WORKSPACE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                 "img-src 'self' blob:; frame-ancestors 'none'; form-action 'self'; "
                 "base-uri 'none'")

CONSOLE_CONFIG = web.AppKey("console_config", Config)
CONSOLE_ASSETS = web.AppKey("console_assets", Assets)
CONSOLE_TEMPLATES = web.AppKey("console_templates", jinja2.Environment)
CONSOLE_CLIENTS = web.AppKey("console_clients", AddressKeys)
# Passkey sign-ins begun per client (keyed address hash), so nobody fills the pending
# challenges for everyone.
CONSOLE_PASSKEY_STARTS = web.AppKey("console_passkey_starts", RateLimiter)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SessionHandler = Callable[[web.Request, Session], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Cookies:
    """The console's cookies, from configuration (never from the request's Host header).

    With ``secure_cookies`` (the default behind TLS): ``__Host-`` names, which browsers accept
    only with ``Secure``, path ``/`` and no domain, so no other host or path can set or
    shadow them. Without (``make run`` on plain http://127.0.0.1): plain names under
    ``/console/``. Always HttpOnly and SameSite=Strict.
    """

    session: str
    login: str
    path: str
    secure: bool

    @classmethod
    def for_config(cls, config: Config) -> Cookies:
        if config.secure_cookies:
            return cls("__Host-" + SESSION_COOKIE, "__Host-" + LOGIN_COOKIE, "/", True)
        return cls(SESSION_COOKIE, LOGIN_COOKIE, "/console/", False)

    def set(self, response: web.StreamResponse, name: str, value: str,
            max_age: int | None = None) -> None:
        response.set_cookie(name, value, httponly=True, samesite="Strict", path=self.path,
                            secure=self.secure, max_age=max_age)

    def delete(self, response: web.StreamResponse, name: str) -> None:
        # The same attributes as when set: browsers refuse a __Host- cookie without them,
        # even one that only expires the old.
        response.del_cookie(name, path=self.path, secure=self.secure, httponly=True,
                            samesite="Strict")


CONSOLE_COOKIES = web.AppKey("console_cookies", Cookies)


def page(request: web.Request, template: str, status: int = 200, csp: str = CSP,
         **context: Any) -> web.Response:
    """A console page in one language: ``lang`` if the context has it (the statistics page's
    own ``?lang=``), else the one :func:`language_of` the request and its session."""
    env = request.app[CONSOLE_TEMPLATES]
    lang = context.pop("lang", None) or language_of(request, context.get("session"))
    t = Words(lang, request.app[CATALOGS][lang])
    html = env.get_template(template).render(assets=request.app[CONSOLE_ASSETS],
                                             config=request.app[CONSOLE_CONFIG], t=t, lang=lang,
                                             here=request.rel_url.path_qs, **context)
    return web.Response(text=html, content_type="text/html", status=status,
                        headers={"Content-Security-Policy": csp})


async def current_session(request: web.Request) -> Session | None:
    token = request.cookies.get(request.app[CONSOLE_COOKIES].session)
    if not token:
        return None
    return await request.config_dict[USERS].session(token, time.time())


async def json_body(request: web.Request) -> Any:
    """The request body as JSON, or a clear 400."""
    try:
        return await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="The body must be JSON.") from None


def check_csrf(session: Session, supplied: str | None) -> None:
    if not supplied or not secrets.compare_digest(supplied, session.csrf):
        raise web.HTTPForbidden(text="Missing or wrong CSRF token.")


def console_route(roles: frozenset[str], *, csrf: bool = False, page_route: bool = False,
                  anonymous: type[web.HTTPException] = web.HTTPForbidden,
                  refused: str = "Not allowed.",
                  without_passkey: bool = False) -> Callable[[SessionHandler], Handler]:
    """Wrap a console handler: a session, one of ``roles`` and, with ``csrf``, the token.

    A page answers a visitor without a session with the login page; an API route with
    ``anonymous`` (403 unless said otherwise). The CSRF token comes in the ``X-CSRF-Token``
    header. Where ``CHATSERVER_REQUIRE_PASSKEY`` asks for a passkey the account has not
    registered yet, only routes marked ``without_passkey`` (the account page and its passkey
    routes) answer; a page sends the account there, an API route answers 403. The handler gets
    the checked session as its second argument.
    """

    def wrap(handler: SessionHandler) -> Handler:
        @functools.wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            session = await current_session(request)
            if session is None:
                if page_route:
                    raise web.HTTPSeeOther("/console/login")
                raise anonymous(text="Not signed in.")
            if session.password_once:
                # An administrator's password opens nothing but the page to replace it.
                if page_route:
                    raise web.HTTPSeeOther("/console/password")
                raise web.HTTPForbidden(text="Choose your own password first.")
            if csrf:
                check_csrf(session, request.headers.get("X-CSRF-Token"))
            if session.user.role not in roles:
                raise web.HTTPForbidden(text=refused)
            if not without_passkey and \
                    await request.config_dict[USERS].passkey_missing(session.user.id):
                if page_route:
                    raise web.HTTPSeeOther("/console/account")
                raise web.HTTPForbidden(text="A passkey is required: register one on the "
                                             "account page first.")
            return await handler(request, session)

        return checked

    return wrap
