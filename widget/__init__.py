"""The visitor widget: an embed script for the host site and the chat page in an iframe.

The iframe page comes from the chat server's own origin, so no script on the host page can
read the chat; host and iframe speak only versioned ``postMessage`` to named origins.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import jinja2
from aiohttp import web

from chatserver.config import PROJECT_ROOT, Config, emergency_entries
from chatserver.web.assets import NODE_MODULES, Assets, minify_js

HERE = Path(__file__).resolve().parent

WIDGET_ASSETS = web.AppKey("widget_assets", Assets)
WIDGET_CONFIG = web.AppKey("widget_config", Config)
TEMPLATES = web.AppKey("widget_templates", jinja2.Environment)
EMBED = web.AppKey("widget_embed", bytes)


def widget_assets() -> Assets:
    """Everything the chat page loads, each with its SRI hash."""
    assets = Assets("/widget/static")
    # The ES module build of socket.io-client: self-contained and about 2 KB smaller gzipped
    # than the classic one, which counts against the widget's weight budget.
    assets.add("socket.io.esm.min.js",
               NODE_MODULES / "socket.io-client/dist/socket.io.esm.min.js")
    assets.add("nacl.min.js", NODE_MODULES / "tweetnacl/nacl.min.js")
    assets.add("e2e.js", PROJECT_ROOT / "jslib/e2e.js")
    # Loaded only when a visitor leaves or checks a message (widget.js lazy("keys")).
    assets.add("e2e-keys.js", PROJECT_ROOT / "jslib/e2e-keys.js")
    assets.add("relay.js", PROJECT_ROOT / "jslib/relay.js")
    assets.add("reloadstate.js", PROJECT_ROOT / "jslib/reloadstate.js")
    assets.add("pow.js", HERE / "static/pow.js")
    # Not loaded by the page: the proof-of-work worker's script, fetched when the server
    # demands work (a worker takes no integrity hash; pow.js checks its answer).
    assets.add("pow-worker.js", HERE / "static/pow-worker.js")
    assets.add("widget.js", HERE / "static/widget.js")
    # Loaded on demand: leaving or checking a message, withdrawing (widget.js lazy("offline")).
    assets.add("offline.js", HERE / "static/offline.js")
    # Loaded on demand: office hours while closed or nobody is on duty, leaving a message,
    # reading a thread and writing again (widget.js lazy("messages")).
    assets.add("messages.js", HERE / "static/messages.js")
    assets.add("widget.css", HERE / "static/widget.css")
    assets.add("i18n-de.json", HERE / "static/i18n-de.json")
    assets.add("i18n-en.json", HERE / "static/i18n-en.json")
    # The long texts ("Sicher schreiben", what we keep, Leichte Sprache): fetched when the
    # guide opens, never before.
    assets.add("guide-de.json", HERE / "static/guide-de.json")
    assets.add("guide-en.json", HERE / "static/guide-en.json")
    # What offline.js says (office hours, messages, threads), both languages: fetched with it.
    assets.add("drops.json", HERE / "static/drops.json")
    return assets


def embed_body() -> bytes:
    """``embed.js`` as served (minified, like the frame's own scripts)."""
    return minify_js((HERE / "static/embed.js").read_bytes())


def embed_integrity() -> str:
    """The SRI value an organisation puts on its ``<script src=".../embed.js">`` tag."""
    body = embed_body()
    return "sha384-" + base64.b64encode(hashlib.sha384(body).digest()).decode()


INDENT = re.compile(r"\n[ \t]+")


def frame_csp(config: Config) -> str:
    """The iframe page's policy: our own scripts only, framed only by the configured sites.

    Workers too come from our own origin only (the proof-of-work search, ``pow-worker.js``); each
    runs under the policy of its own response, ``default-src 'none'``: no fetch, no import.
    """
    ancestors = " ".join(dict.fromkeys(config.embed_origins))
    return ("default-src 'none'; script-src 'self'; worker-src 'self'; style-src 'self'; "
            "connect-src 'self'; "
            f"img-src 'self'; frame-ancestors 'self' {ancestors}; base-uri 'none'; "
            "form-action 'none'")


async def frame(request: web.Request) -> web.Response:
    """The chat page that runs inside the iframe."""
    config, assets = request.app[WIDGET_CONFIG], request.app[WIDGET_ASSETS]
    lang = "en" if request.query.get("lang") == "en" else "de"
    html = request.app[TEMPLATES].get_template("frame.html").render(
        assets=assets, config=config, lang=lang,
        retention_days=f"{config.record_retention_days:g}",
        emergency=emergency_entries(config.emergency_numbers))
    # The template's indentation is for its readers, not for a visitor's phone (the page has
    # no preformatted text: its text areas start empty).
    html = INDENT.sub("\n", html)
    return web.Response(text=html, content_type="text/html",
                        headers={"Content-Security-Policy": frame_csp(config)})


async def embed(request: web.Request) -> web.Response:
    """The script a host page embeds; it may be loaded cross-origin, by design."""
    return web.Response(body=request.app[EMBED], content_type="text/javascript",
                        charset="utf-8",
                        headers={"Cross-Origin-Resource-Policy": "cross-origin",
                                 "Cache-Control": "no-cache"})


def create_widget_app(config: Config) -> web.Application:
    """The widget sub-application, mounted at ``/widget/``."""
    app = web.Application()
    assets = widget_assets()
    app[WIDGET_ASSETS] = assets
    app[WIDGET_CONFIG] = config
    app[EMBED] = embed_body()
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app.router.add_get("/frame", frame)
    app.router.add_get("/embed.js", embed)
    app.router.add_get("/static/{name}", assets.handler)
    return app


def demo_handler(config: Config) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``/demo``: a plain host page showing the embed snippet in use."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    integrity = embed_integrity()
    # The page's own few rules, allowed by their hash: readable on a phone (390 px), the
    # snippet wrapping instead of widening the page.
    style = ("body{margin:0 auto;max-width:44rem;padding:0 1rem 6rem;"
             "font:1rem/1.5 system-ui,sans-serif}h1{font-size:1.5rem;hyphens:auto}"
             "h1,p{overflow-wrap:break-word}"
             "pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f3f3f3;padding:.5rem}")
    style_hash = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()

    async def demo(request: web.Request) -> web.Response:
        origin = f"{request.scheme}://{request.host}"
        html = env.get_template("demo.html").render(origin=origin, integrity=integrity,
                                                    demo=config.demo, style=style)
        csp = ("default-src 'none'; script-src 'self'; "
               f"style-src 'self' 'sha256-{style_hash}'; "
               "frame-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'none'")
        return web.Response(text=html, content_type="text/html",
                            headers={"Content-Security-Policy": csp})

    return demo
