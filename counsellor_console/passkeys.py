"""Passkeys at the console's edge: the account page, registering, listing, removing, and the
options for signing in with one (:mod:`chatserver.records.passkeys` checks them).

Every body is checked for shape and size before anything else (a clear 400 otherwise). The
browser sends no extension results: what a passkey's PRF gives the console to unlock its keys
stays in the browser, and a body that carries any is refused.
"""

from __future__ import annotations

import re
import secrets
import time
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

from chatserver.records.accounts import ROLES, LoginRefused, LoginThrottled, Session
from chatserver.records.passkeys import Assertion, PasskeyRefused, Problem
from chatserver.web.appkeys import USERS
from counsellor_console.common import (
    CONSOLE_CLIENTS,
    CONSOLE_CONFIG,
    CONSOLE_COOKIES,
    CONSOLE_PASSKEY_STARTS,
    console_route,
    page,
)

T = TypeVar("T")
ALL_ROLES = frozenset(ROLES)
# Passkey sign-ins one client may begin: 10 at once, then one every 6 seconds.
STARTS_BURST = 10
STARTS_PER_S = 1 / 6
STARTS_IDLE_S = 600.0
# A whole ceremony's answer is a few kilobytes; anything near this is not one.
MAX_BODY = 16 * 1024

B64Url = Annotated[str, msgspec.Meta(min_length=1, max_length=8192,
                                     pattern=r"^[A-Za-z0-9_-]+={0,2}$")]
CredentialId = Annotated[str, msgspec.Meta(min_length=16, max_length=1400,
                                           pattern=r"^[A-Za-z0-9_-]+$")]
NoExtensionResults = Annotated[dict[str, Any], msgspec.Meta(max_length=0)]
Attempt = Annotated[str, msgspec.Meta(min_length=16, max_length=128,
                                      pattern=r"^[A-Za-z0-9_-]+$")]
Label = Annotated[str, msgspec.Meta(max_length=64)]
Transport = Annotated[str, msgspec.Meta(max_length=32)]


class AssertionResponse(msgspec.Struct, forbid_unknown_fields=True):
    clientDataJSON: B64Url
    authenticatorData: B64Url
    signature: B64Url
    userHandle: B64Url | None = None


class AssertionJSON(msgspec.Struct, forbid_unknown_fields=True):
    """``PublicKeyCredential.toJSON()`` of an assertion (WebAuthn's names), without extension
    results."""

    id: CredentialId
    rawId: CredentialId
    type: Literal["public-key"]
    response: AssertionResponse
    clientExtensionResults: NoExtensionResults = msgspec.field(default_factory=dict)
    authenticatorAttachment: Literal["platform", "cross-platform"] | None = None


class AttestationResponse(msgspec.Struct, forbid_unknown_fields=True):
    clientDataJSON: B64Url
    attestationObject: B64Url
    transports: Annotated[list[Transport], msgspec.Meta(max_length=8)] = \
        msgspec.field(default_factory=list)


class AttestationJSON(msgspec.Struct, forbid_unknown_fields=True):
    """``PublicKeyCredential.toJSON()`` of a new credential, without extension results."""

    id: CredentialId
    rawId: CredentialId
    type: Literal["public-key"]
    response: AttestationResponse
    clientExtensionResults: NoExtensionResults = msgspec.field(default_factory=dict)
    authenticatorAttachment: Literal["platform", "cross-platform"] | None = None


class ConfirmBody(msgspec.Struct, forbid_unknown_fields=True):
    """The account's current factors, confirmed before a passkey is added: the password and
    either the TOTP code (an account without passkeys) or an assertion of one of its passkeys
    for the attempt ``/console/api/passkeys/confirm`` began (an account that has one)."""

    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
    totp: Annotated[str, msgspec.Meta(max_length=12)] = ""
    attempt: Attempt | None = None
    assertion: AssertionJSON | None = None


class RegisterBody(msgspec.Struct, forbid_unknown_fields=True):
    attempt: Attempt
    credential: AttestationJSON
    label: Label = ""


def decode(raw: bytes, kind: type[T]) -> T:
    """``raw`` as ``kind``, or a 400 that says what is wrong."""
    if len(raw) > MAX_BODY:
        raise web.HTTPBadRequest(text=f"The body must be at most {MAX_BODY} bytes.")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as exc:
        raise web.HTTPBadRequest(text=f"Invalid body: {exc}") from None
    except msgspec.DecodeError:
        raise web.HTTPBadRequest(text="The body must be a JSON object.") from None


async def body_of(request: web.Request, kind: type[T]) -> T:
    if (request.content_length or 0) > MAX_BODY:
        raise web.HTTPBadRequest(text=f"The body must be at most {MAX_BODY} bytes.")
    return decode(await request.read(), kind)


def assertion_from_form(attempt: str, text: str) -> Assertion:
    """The passkey sign-in a login form carries, checked for shape (a 400 otherwise)."""
    parsed = decode(text.encode(), AssertionJSON)
    if parsed.id != parsed.rawId:
        raise web.HTTPBadRequest(text="Invalid body: id and rawId differ")
    try:
        msgspec.convert(attempt, Attempt)
    except msgspec.ValidationError:
        raise web.HTTPBadRequest(text="Invalid body: the passkey attempt is missing or "
                                      "malformed") from None
    return Assertion(attempt, msgspec.to_builtins(parsed))


REFUSALS = {
    Problem.UNAVAILABLE: (409, "Passkeys need a console origin named by a host name "
                               "(CHATSERVER_CONSOLE_ORIGIN)."),
    Problem.STALE: (409, "This passkey attempt is over (used already or too old); start "
                         "again."),
    Problem.INVALID: (400, "The passkey's answer does not verify."),
    Problem.TAKEN: (409, "This passkey is registered already."),
    Problem.TOO_MANY: (409, "This account has as many passkeys as it may."),
    Problem.BUSY: (503, "Too many passkey ceremonies under way; try again shortly."),
    Problem.UNKNOWN: (404, "No such passkey."),
    Problem.REQUIRED: (403, "This account has a passkey: confirm with it."),
}


STATUS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest, 403: web.HTTPForbidden, 404: web.HTTPNotFound, 409: web.HTTPConflict,
    503: web.HTTPServiceUnavailable}


def refused(exc: PasskeyRefused) -> web.HTTPException:
    """The answer to a refused ceremony."""
    status, text = REFUSALS[exc.problem]
    return STATUS[status](text=text)


def _client(request: web.Request) -> str:
    return request.app[CONSOLE_CLIENTS].key_for_peer(request.remote or "",
                                                     request.headers.get("X-Real-IP", ""))


async def sign_in_options(request: web.Request) -> web.Response:
    """A passkey sign-in attempt for the login page: its token and the options.

    Bound to the login page by its CSRF cookie (sent back in ``X-CSRF-Token``); a client that
    failed too often is told to wait, as at the sign-in itself."""
    cookie = request.cookies.get(request.app[CONSOLE_COOKIES].login, "")
    supplied = request.headers.get("X-CSRF-Token", "")
    if not cookie or not secrets.compare_digest(cookie, supplied):
        raise web.HTTPForbidden(text="Missing or wrong CSRF token.")
    users = request.config_dict[USERS]
    now = time.time()
    client = _client(request)
    wait = users.throttle.clients.wait(client, now)
    if wait > 0:
        raise web.HTTPTooManyRequests(text=f"Try again in {wait:.0f} s.",
                                      headers={"Retry-After": str(max(1, round(wait)))})
    starts = request.app[CONSOLE_PASSKEY_STARTS]
    if len(starts) > 10_000:
        starts.prune(STARTS_IDLE_S)
    if not starts.allow(client):
        raise web.HTTPTooManyRequests(text="Too many passkey sign-ins begun from here; try "
                                           "again in a minute.", headers={"Retry-After": "60"})
    try:
        attempt, options = await users.passkeys.begin_sign_in(now)
    except PasskeyRefused as exc:
        raise refused(exc) from None
    return web.json_response({"attempt": attempt, "options": options})


@console_route(ALL_ROLES, page_route=True, without_passkey=True)
async def account_page(request: web.Request, session: Session) -> web.Response:
    """The signed-in person's account: their passkeys for signing in (and, where the policy
    requires one and the account has none, the word that it must register one first)."""
    users = request.config_dict[USERS]
    zone = ZoneInfo(request.app[CONSOLE_CONFIG].stats_timezone)

    def day(at: float | None) -> str:
        return datetime.fromtimestamp(at, zone).strftime("%d.%m.%Y %H:%M") if at else ""

    listed = [{**p, "since": day(p["created"]), "used": day(p["last_used"])}
              for p in await users.passkeys.listing(session.user.id)]
    return page(request, "account.html", session=session, passkeys=listed,
                available=users.passkeys.rp is not None,
                must_register=users.require_passkey and not listed)


@console_route(ALL_ROLES, without_passkey=True)
async def passkey_list(request: web.Request, session: Session) -> web.Response:
    """The account's passkeys (ids, labels, times)."""
    items = await request.config_dict[USERS].passkeys.listing(session.user.id)
    return web.json_response({"passkeys": items})


@console_route(ALL_ROLES, csrf=True, without_passkey=True)
async def confirmation_options(request: web.Request, session: Session) -> web.Response:
    """A ceremony in which the account proves it holds one of its passkeys, before another
    is added: the attempt's token and request options naming exactly its passkeys."""
    users = request.config_dict[USERS]
    try:
        attempt, options = await users.passkeys.begin_confirmation(session.user.id, time.time())
    except PasskeyRefused as exc:
        raise refused(exc) from None
    return web.json_response({"attempt": attempt, "options": options})


@console_route(ALL_ROLES, csrf=True, without_passkey=True)
async def registration_options(request: web.Request, session: Session) -> web.Response:
    """Options for a new passkey, once the password and a second factor are confirmed
    again: one of the account's passkeys if it has one (a TOTP code is then refused), else
    the one-time code."""
    body = await body_of(request, ConfirmBody)
    users = request.config_dict[USERS]
    now = time.time()
    assertion = None
    if body.assertion is not None:
        if body.assertion.id != body.assertion.rawId or body.attempt is None:
            raise web.HTTPBadRequest(text="Invalid body: a passkey confirmation needs its "
                                          "attempt, and id and rawId alike")
        assertion = Assertion(body.attempt, msgspec.to_builtins(body.assertion))
    elif len(body.totp) < 6:
        raise web.HTTPBadRequest(text="Invalid body: a one-time code or a passkey "
                                      "confirmation is required")
    try:
        await users.confirm(session, body.password, body.totp, now, client=_client(request),
                            passkey=assertion)
    except LoginThrottled as exc:
        raise web.HTTPTooManyRequests(
            text=f"Too many failures; try again in {exc.retry_after:.0f} s.",
            headers={"Retry-After": str(max(1, round(exc.retry_after)))}) from None
    except LoginRefused as exc:
        if exc.problem is Problem.REQUIRED:
            raise web.HTTPForbidden(text="This account has a passkey: confirm with one of "
                                         "its passkeys, not the one-time code.") from None
        if exc.problem is Problem.STALE:
            raise refused(PasskeyRefused(Problem.STALE)) from None
        raise web.HTTPForbidden(text="Password or second factor is wrong.") from None
    try:
        attempt, options = await users.passkeys.begin_registration(
            session.user.id, session.user.name, session.user.pseudonym, now)
    except PasskeyRefused as exc:
        raise refused(exc) from None
    return web.json_response({"attempt": attempt, "options": options})


@console_route(ALL_ROLES, csrf=True, without_passkey=True)
async def passkey_add(request: web.Request, session: Session) -> web.Response:
    """Store the passkey the browser made for the registration attempt."""
    body = await body_of(request, RegisterBody)
    if body.credential.id != body.credential.rawId:
        raise web.HTTPBadRequest(text="Invalid body: id and rawId differ")
    label = body.label.strip() or "Passkey"
    if not label.isprintable():
        raise web.HTTPBadRequest(text="Invalid body: the label must be printable")
    try:
        cred_id = await request.config_dict[USERS].passkeys.register(
            session.user.id, body.attempt, msgspec.to_builtins(body.credential), label,
            time.time())
    except PasskeyRefused as exc:
        raise refused(exc) from None
    return web.json_response({"id": cred_id}, status=201)


@console_route(ALL_ROLES, csrf=True, without_passkey=True)
async def passkey_remove(request: web.Request, session: Session) -> web.Response:
    """Remove one of one's own passkeys (404 for any other id)."""
    cred_id = request.match_info["id"]
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,1400}", cred_id):
        raise web.HTTPBadRequest(text="The passkey id must be base64url (16 to 1400 "
                                      "characters).")
    if not await request.config_dict[USERS].passkeys.remove(session.user.id, cred_id):
        raise web.HTTPNotFound(text="No such passkey.")
    return web.json_response({"ok": True})


def setup_passkey_routes(app: web.Application) -> None:
    app.router.add_post("/login/passkey", sign_in_options)
    app.router.add_get("/account", account_page)
    app.router.add_get("/api/passkeys", passkey_list)
    app.router.add_post("/api/passkeys/confirm", confirmation_options)
    app.router.add_post("/api/passkeys/options", registration_options)
    app.router.add_post("/api/passkeys", passkey_add)
    app.router.add_delete("/api/passkeys/{id}", passkey_remove)
