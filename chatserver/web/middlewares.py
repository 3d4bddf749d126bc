"""Security headers on every response, error pages that never show a traceback, and the
console kept to its own origin."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

# A handler that serves a page sets its own CSP (widget, console); everything else, including
# socket.io's polling responses and error pages, gets this one.
DEFAULT_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
    "microphone=(), payment=(), usb=(), interest-cohort=(), browsing-topics=()"
)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare`` hook: set the headers every response must carry."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", DEFAULT_CSP)
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["Permissions-Policy"] = PERMISSIONS_POLICY
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cache-Control", "no-store")
    if request.secure:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    headers.popall("Server", None)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Plain, short answers for errors; JSON under ``/api/``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        return web.json_response({"error": exc.reason.lower().replace(" ", "_"),
                                  "message": exc.text or exc.reason}, status=exc.status)
    except Exception:
        # aiohttp would log the traceback with request details; we answer blandly instead.
        if request.path.startswith("/api/"):
            return web.json_response({"error": "internal", "message": "Server error."},
                                     status=500)
        return web.Response(status=500, text="Server error.")


def console_only_on(host: str) -> Middleware:
    """A middleware that answers 404 for ``/console`` on any host but ``host`` (the netloc of
    ``CHATSERVER_CONSOLE_ORIGIN``): a site or onion that is not the console's does not even
    show that a console exists. The Host header only routes here; it grants nothing."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if ((path == "/console" or path.startswith("/console/"))
                and request.host.lower() != host):
            raise web.HTTPNotFound(text="Not found.")
        return await handler(request)

    return guard
