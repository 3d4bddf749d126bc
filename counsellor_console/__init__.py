"""The counsellor console: login with password and a TOTP code or a passkey, then chats in
the browser.

A password an administrator set signs in once, to choose the counsellor's own. Signing in
unlocks nothing: the console's keys are unwrapped in the browser with what only the
counsellor holds (a passkey's PRF output or a key passphrase), which is never sent here.

A separate sub-application with its own cookies, templates and CSP (``frame-ancestors
'none'``). Every route checks the session and the role on the server; every state-changing
request carries the session's CSRF token. Chat content only ever exists decrypted in the
counsellor's browser.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from chatserver import crypto
from chatserver.admin import demo, expiry
from chatserver.config import PROJECT_ROOT, Config
from chatserver.records.accounts import (
    MIN_PASSWORD,
    KeyWrapRefused,
    LoginRefused,
    LoginThrottled,
    Session,
)
from chatserver.relay.outbound import OffDutyReason
from chatserver.relay.state import Identity
from chatserver.sockets.ratelimit import AddressKeys, RateLimiter
from chatserver.vocabulary import AUDIT_ROLES, COUNSELLOR_ROLES, STATS_ROLES, Lang
from chatserver.web.appkeys import CLOCK, RELAY, USERS
from chatserver.web.assets import NOBLE_SCRYPT, NODE_MODULES, Assets
from counsellor_console import banner
from counsellor_console.audit import setup_audit_routes
from counsellor_console.common import (
    CONSOLE_ASSETS,
    CONSOLE_CLIENTS,
    CONSOLE_CONFIG,
    CONSOLE_COOKIES,
    CONSOLE_PASSKEY_STARTS,
    CONSOLE_TEMPLATES,
    HERE,
    WORKSPACE_CSP,
    Cookies,
    check_csrf,
    console_route,
    current_session,
    json_body,
    page,
)
from counsellor_console.language import CATALOGS, LANGS, load_catalogs
from counsellor_console.passkeys import (
    STARTS_BURST,
    STARTS_PER_S,
    assertion_from_form,
    setup_passkey_routes,
)
from counsellor_console.settings import setup_settings_routes
from counsellor_console.stats import setup_stats_routes
from counsellor_console.team import setup_team_routes


def _login_page(request: web.Request, status: int = 200, error: bool = False,
                wait: int = 0, problem: str = "", detail: str = "") -> web.Response:
    """The login page; its CSRF token is bound to a short-lived cookie. ``problem``: what was
    wrong with a passkey (its own trouble only), or "malformed" with ``detail``."""
    csrf = secrets.token_urlsafe(32)
    # A language asked for by the switch (?lang=) stays with the form; else the browser's.
    asked = request.query.get("lang", "")
    response = page(request, "login.html", status=status, csrf=csrf, error=error, wait=wait,
                    asked=asked if asked in LANGS else "",
                    problem=problem, detail=detail,
                    passkeys=request.config_dict[USERS].passkeys.rp is not None)
    cookies = request.app[CONSOLE_COOKIES]
    cookies.set(response, cookies.login, csrf, max_age=900)
    return response


async def login_form(request: web.Request) -> web.Response:
    """The login page."""
    return _login_page(request)


async def login(request: web.Request) -> web.StreamResponse:
    """Password and the second factor (a TOTP code, or a passkey's assertion for the attempt
    ``/console/login/passkey`` began) in one step; a fresh session id on success.

    A failure answers the same whatever failed about the account; only a passkey's own
    trouble (the attempt is used up or old, no account has the credential) is named. A client
    that failed too often is told to wait (429) before anything is checked. The client is
    known here only as a keyed hash of its address, in memory.
    """
    form = await request.post()
    cookies = request.app[CONSOLE_COOKIES]
    cookie = request.cookies.get(cookies.login, "")
    supplied = str(form.get("csrf", ""))
    if not cookie or not secrets.compare_digest(cookie, supplied):
        raise web.HTTPForbidden(text="Missing or wrong CSRF token.")
    client = request.app[CONSOLE_CLIENTS].key_for_peer(request.remote or "",
                                                       request.headers.get("X-Real-IP", ""))
    passkey = None
    if form.get("assertion"):
        try:
            passkey = assertion_from_form(str(form.get("attempt", "")),
                                          str(form.get("assertion", "")))
        except web.HTTPBadRequest as exc:
            return _login_page(request, status=400, error=True, problem="malformed",
                               detail=exc.text or "")
    try:
        session = await request.config_dict[USERS].login(
            str(form.get("name", ""))[:64], str(form.get("password", ""))[:256],
            str(form.get("totp", ""))[:12], time.time(), client=client, passkey=passkey)
    except LoginThrottled as exc:
        wait = max(1, math.ceil(exc.retry_after))
        response = _login_page(request, status=429, error=True, wait=wait)
        response.headers["Retry-After"] = str(wait)
        return response
    except LoginRefused as exc:
        return _login_page(request, status=401, error=True,
                           problem=exc.problem.value if exc.problem else "")
    response = web.HTTPSeeOther("/console/password" if session.password_once else "/console/")
    cookies.set(response, cookies.session, session.key)
    cookies.delete(response, cookies.login)
    raise response


async def password_form(request: web.Request) -> web.StreamResponse:
    """Choosing one's own password (required after an administrator set one)."""
    session = await current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/console/login")
    return page(request, "password.html", session=session, minimum=MIN_PASSWORD, refused="")


async def password_change(request: web.Request) -> web.StreamResponse:
    """Set the signed-in counsellor's own password; the one-time password is then void."""
    session = await current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/console/login")
    form = await request.post()
    check_csrf(session, str(form.get("csrf", "")))
    new, again = str(form.get("password", ""))[:256], str(form.get("again", ""))[:256]
    # Each refusal by its own catalog key: the accounts module's message is for logs.
    refused = ""
    if new != again:
        refused = "password.differ"
    elif len(new) < MIN_PASSWORD:
        refused = "password.too_short"
    else:
        try:
            await request.config_dict[USERS].change_password(session, new)
        except ValueError:
            # What is left after the checks above: the password the administrator gave.
            refused = "password.same"
    if refused:
        return page(request, "password.html", status=400, session=session,
                    minimum=MIN_PASSWORD, refused=refused)
    raise web.HTTPSeeOther("/console/")


async def logout(request: web.Request) -> web.StreamResponse:
    """End the session, every socket token of the account and the counsellor's duty."""
    session = await current_session(request)
    if session is not None:
        form = await request.post()
        check_csrf(session, str(form.get("csrf", "")))
        await request.config_dict[USERS].logout(session.key)
        relay = request.config_dict[RELAY]
        await relay.tokens.revoke_all(session.user.id)
        # Signing out ends duty at once: nobody waits for a counsellor who has left.
        await relay.end_duty(session.user.id, OffDutyReason.SIGNED_OUT)
    response = web.HTTPSeeOther("/console/login")
    cookies = request.app[CONSOLE_COOKIES]
    cookies.delete(response, cookies.session)
    raise response


def _back(target: str) -> str:
    """Where the language switch sends the counsellor back to: a console page, nothing else."""
    if re.fullmatch(r"/console/[A-Za-z0-9_/-]{0,64}(\?[A-Za-z0-9_=&.-]{0,200})?", target):
        return target
    return "/console/"


async def set_language(request: web.Request) -> web.StreamResponse:
    """Remember the signed-in counsellor's language (a form with the CSRF token), then back
    to the page the switch was on."""
    session = await current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/console/login")
    form = await request.post()
    check_csrf(session, str(form.get("csrf", "")))
    lang = str(form.get("lang", ""))
    if lang not in LANGS:
        raise web.HTTPBadRequest(text="Unknown language.")
    await request.config_dict[USERS].set_language(session.user.id, Lang(lang))
    raise web.HTTPSeeOther(_back(str(form.get("next", ""))))


async def home(request: web.Request) -> web.StreamResponse:
    """The console for counsellors; supervisors see no chats, they land on the statistics."""
    session = await current_session(request)
    if session is None:
        raise web.HTTPSeeOther("/console/login")
    if session.password_once:
        raise web.HTTPSeeOther("/console/password")
    if await request.config_dict[USERS].passkey_missing(session.user.id):
        # CHATSERVER_REQUIRE_PASSKEY: nothing but registering one until the account has one.
        raise web.HTTPSeeOther("/console/account")
    if session.user.role not in COUNSELLOR_ROLES:
        raise web.HTTPSeeOther("/console/stats")
    config = request.app[CONSOLE_CONFIG]
    signed = expiry.assess(await expiry.read(config, request.config_dict[USERS]),
                           request.config_dict[CLOCK]())
    return page(request, "console.html", csp=WORKSPACE_CSP, session=session, can_chat=True,
                can_see_stats=session.user.role in STATS_ROLES,
                can_read_audit=session.user.role in AUDIT_ROLES,
                lapsing=banner.lines(signed, ZoneInfo(config.stats_timezone)),
                topics=config.topic_list, console_modules=CONSOLE_MODULES)


def _is_key(value: object) -> bool:
    """True for canonical standard base64 of exactly 32 bytes (an Ed25519 public key)."""
    if not isinstance(value, str):
        return False
    try:
        raw = crypto.b64decode(value)
    except crypto.CryptoError:
        return False
    # One key, one spelling: the certificate installed for it is compared as text.
    return len(raw) == 32 and crypto.b64encode(raw) == value


@console_route(COUNSELLOR_ROLES, csrf=True, anonymous=web.HTTPUnauthorized,
               refused="This role does not chat.")
async def socket_token(request: web.Request, session: Session) -> web.Response:
    """A token for the ``/counsellor`` socket (counsellors and admins only).

    The token is bound to this console session: it is good only while the session is (not
    logged out, idle, older than its cap, nor its account disabled or reset), and its own
    lifetime ends with the session's cap at the latest.
    """
    config = request.app[CONSOLE_CONFIG]
    body = await json_body(request) if request.can_read_body else {}
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="The body must be a JSON object.")
    identity_pk = body.get("identity_pk")
    if identity_pk is not None and not _is_key(identity_pk):
        raise web.HTTPBadRequest(text="identity_pk must be base64 of a 32-byte Ed25519 key")
    certificate = None
    if config.demo and isinstance(identity_pk, str):
        certificate = demo.certify(config, crypto.b64decode(identity_pk),
                                   session.user.pseudonym)
    elif isinstance(identity_pk, str):
        # Outside demo mode: the certificate the admin installed for this account, if it is
        # for the key this browser unwrapped (the visitor verifies the signature anyway).
        stored = await request.config_dict[USERS].certificate(session.user.id)
        if stored:
            cert = json.loads(stored)
            if cert.get("key") == identity_pk:
                certificate = cert
    ttl = min(config.counsellor_token_ttl_s, session.remaining(time.time()))
    if ttl <= 1:
        raise web.HTTPUnauthorized(text="The session is at its end; please sign in again.")
    user = session.user
    token = await request.config_dict[RELAY].tokens.issue(
        Identity(user.id, user.pseudonym, user.role, session=session.ref), ttl)
    return web.json_response({"token": token, "certificate": certificate})


@console_route(COUNSELLOR_ROLES)
async def keys_get(request: web.Request, session: Session) -> web.Response:
    """The signed-in counsellor's key wraps, and the one from before revision 0007 (wrapped
    under the sign-in password), all opaque to the server."""
    users = request.config_dict[USERS]
    return web.json_response({"wraps": await users.key_wraps(session.user.id),
                              "legacy": await users.keys_blob(session.user.id)})


def _is_wrap_id(value: object) -> bool:
    return (isinstance(value, str) and 16 <= len(value) <= 32
            and all(ch in "0123456789abcdef" for ch in value))


@console_route(COUNSELLOR_ROLES, csrf=True)
async def keys_add(request: web.Request, session: Session) -> web.Response:
    """Add a key wrap; an existing one is never replaced (409)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="The body must be a JSON object.")
    wrap_id, blob = body.get("id"), body.get("blob")
    if not _is_wrap_id(wrap_id):
        raise web.HTTPBadRequest(text="id must be 16 to 32 lower-case hex digits")
    if not isinstance(blob, str) or not 40 <= len(blob) <= 4000:
        raise web.HTTPBadRequest(text="blob must be the wrapped keys (40 to 4000 characters)")
    try:
        await request.config_dict[USERS].add_key_wrap(session.user.id, str(wrap_id), blob)
    except KeyWrapRefused as exc:
        raise web.HTTPConflict(text=str(exc)) from None
    return web.json_response({"ok": True}, status=201)


@console_route(COUNSELLOR_ROLES)
async def canned_list(request: web.Request, session: Session) -> web.Response:
    """The team's canned replies."""
    return web.json_response({"items": await request.config_dict[USERS].canned()})


async def _canned_fields(request: web.Request) -> tuple[str, str]:
    """A canned reply's title and text from the request body, or a clear 400."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="The body must be a JSON object.")
    title, text = body.get("title"), body.get("body")
    if not (isinstance(title, str) and isinstance(text, str) and 0 < len(title) <= 120
            and 0 < len(text) <= 4000):
        raise web.HTTPBadRequest(text="title (≤ 120) and body (≤ 4000) are required")
    return title, text


def _canned_id(request: web.Request) -> str:
    reply_id = request.match_info["reply_id"]
    if not re.fullmatch(r"[0-9a-f]{16}", reply_id):
        raise web.HTTPNotFound(text="No such canned reply.")
    return reply_id


@console_route(COUNSELLOR_ROLES, csrf=True)
async def canned_add(request: web.Request, session: Session) -> web.Response:
    """Add a canned reply."""
    title, text = await _canned_fields(request)
    reply_id = await request.config_dict[USERS].add_canned(title, text)
    return web.json_response({"id": reply_id}, status=201)


@console_route(COUNSELLOR_ROLES, csrf=True)
async def canned_update(request: web.Request, session: Session) -> web.Response:
    """Change a canned reply (any counsellor: they are the team's, like the list)."""
    reply_id = _canned_id(request)
    title, text = await _canned_fields(request)
    if not await request.config_dict[USERS].update_canned(reply_id, title, text):
        raise web.HTTPNotFound(text="No such canned reply.")
    return web.json_response({"ok": True})


@console_route(COUNSELLOR_ROLES, csrf=True)
async def canned_delete(request: web.Request, session: Session) -> web.Response:
    """Delete a canned reply."""
    if not await request.config_dict[USERS].delete_canned(_canned_id(request)):
        raise web.HTTPNotFound(text="No such canned reply.")
    return web.json_response({"ok": True})


async def to_console(request: web.Request) -> web.StreamResponse:
    """``/console`` (typed or bookmarked without the slash) is the console at ``/console/``.

    Permanent: the console lives at ``/console/`` for good, because its cookies are scoped
    to that path and would never reach ``/console`` anyway.
    """
    raise web.HTTPMovedPermanently(
        request.rel_url.with_path("/console/").with_query(request.rel_url.query))


# The console's own ES modules, the ones imported first first; console.js wires them.
CONSOLE_MODULES = (
    "console-e2e.js", "console-page.js", "console-i18n.js", "console-socket.js",
    "console-state.js", "console-keyring.js", "console-views.js", "console-queue.js",
    "console-records.js", "console-chats.js", "console-canned.js", "console-messages.js",
    "console-shortcuts.js", "notifications.js", "console-notify.js", "rotation.js", "console.js",
)


def console_assets() -> Assets:
    assets = Assets("/console/static")
    assets.add("socket.io.min.js", NODE_MODULES / "socket.io-client/dist/socket.io.min.js")
    assets.add("nacl.min.js", NODE_MODULES / "tweetnacl/nacl.min.js")
    assets.add("e2e.js", PROJECT_ROOT / "jslib/e2e.js")
    assets.add("e2e-keys.js", PROJECT_ROOT / "jslib/e2e-keys.js")
    assets.add("e2e-counsellor.js", PROJECT_ROOT / "jslib/e2e-counsellor.js")
    assets.add("e2e-epochs.js", PROJECT_ROOT / "jslib/e2e-epochs.js")
    assets.add("relay.js", PROJECT_ROOT / "jslib/relay.js")
    assets.add("reloadstate.js", PROJECT_ROOT / "jslib/reloadstate.js")
    assets.add("i18n.js", HERE / "static/i18n.js")
    for lang in LANGS:
        assets.add(f"console.{lang}.json", HERE / "i18n" / f"console.{lang}.json")
    assets.add("noble-scrypt.js", NOBLE_SCRYPT)
    assets.add("kdf.js", HERE / "static/kdf.js")
    assets.add("keys.js", HERE / "static/keys.js")
    # The console is ES modules, one job each (docs/console.md); each is listed in console.html
    # with its integrity, so that the browser imports none without its hash checked.
    for name in CONSOLE_MODULES:
        assets.add(name, HERE / "static" / name)
    assets.add("console.css", HERE / "static/console.css")
    assets.add("login.js", HERE / "static/login.js")
    assets.add("passkey.js", HERE / "static/passkey.js")
    assets.add("account.js", HERE / "static/account.js")
    assets.add("team.js", HERE / "static/team.js")
    return assets


def create_console_app(config: Config) -> web.Application:
    """The console sub-application, mounted at ``/console/``."""
    app = web.Application()
    app[CONSOLE_CONFIG] = config
    app[CATALOGS] = load_catalogs()
    assets = console_assets()
    app[CONSOLE_ASSETS] = assets
    app[CONSOLE_COOKIES] = Cookies.for_config(config)
    # Its own secret: console clients cannot be linked to visitor sockets even in memory.
    app[CONSOLE_CLIENTS] = AddressKeys(config.trusted_proxies)
    app[CONSOLE_PASSKEY_STARTS] = RateLimiter(STARTS_PER_S, STARTS_BURST)
    app[CONSOLE_TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    app.router.add_get("/", home)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_post("/language", set_language)
    app.router.add_get("/password", password_form)
    app.router.add_post("/password", password_change)
    app.router.add_post("/api/socket-token", socket_token)
    app.router.add_get("/api/keys", keys_get)
    app.router.add_post("/api/keys", keys_add)
    app.router.add_get("/api/canned", canned_list)
    app.router.add_post("/api/canned", canned_add)
    app.router.add_put("/api/canned/{reply_id}", canned_update)
    app.router.add_delete("/api/canned/{reply_id}", canned_delete)
    app.router.add_get("/static/{name}", assets.handler)
    setup_stats_routes(app)
    setup_audit_routes(app)
    setup_team_routes(app)
    setup_passkey_routes(app)
    setup_settings_routes(app)
    return app
