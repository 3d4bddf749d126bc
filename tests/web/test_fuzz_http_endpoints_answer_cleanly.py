"""Every HTTP route the app registers (and some it does not), with arbitrary methods, query
strings, headers and bodies: the answer is a clean 2xx-4xx with the security headers, never a
500 or a traceback, JSON errors under ``/api/`` keep the error shape, and a healthy chat goes on.

Routes are read from the running app's router, so pages and APIs added later are fuzzed too.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from tests.support.fuzzing import FUZZ, json_scalars, json_values
from tests.support.hardening import INSIDES, HealthyChat, assert_quiet_logs
from tests.support.harness import Harness

pytestmark = pytest.mark.hardening

MARK = "Ht4Zp"
# Methods the HTTP parser knows; an unknown one is refused by aiohttp's protocol layer with a
# bare 400 before the app runs (see docs/security.md: nginx answers those in deployment).
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "PROPFIND"]


def route_paths(app: web.Application) -> list[str]:
    """Every registered path, with ``{param}`` placeholders left for the fuzzer to fill."""
    paths = set()
    for resource in app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or info.get("prefix")
        if path:
            paths.add(str(path))
    return sorted(paths)


segments = st.one_of(
    st.text(alphabet="abcXYZ019-_.~", max_size=20),
    st.sampled_from(["..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%00", "a" * 300, MARK,
                     "index.html", ".git", ".env", "%ZZ", "x?y", "@"]),
)
queries = st.lists(
    st.tuples(st.sampled_from(["EIO", "transport", "sid", "j", "t", "lang", "next", "q", MARK])
              | st.text(alphabet="abcxyz", max_size=6),
              st.text(max_size=30) | st.sampled_from(["4", "3", "polling", "websocket", "1"])),
    max_size=4,
)
json_any = json_values(json_scalars(MARK))
bodies = st.one_of(
    st.none(),
    json_any.map(lambda v: ("application/json", json.dumps(v).encode())),
    st.binary(max_size=200).map(lambda b: ("application/octet-stream", b)),
    st.dictionaries(st.text(alphabet="abcdefghij_", min_size=1, max_size=10),
                    st.text(max_size=30), max_size=5)
    .map(lambda d: ("application/x-www-form-urlencoded",
                    "&".join(f"{k}={v}" for k, v in d.items()).encode("utf-8", "replace"))),
    st.integers(60_000, 70_000).map(lambda n: ("application/json", Big(n))),
    st.just(("text/plain; charset=utf-9", b"\xff\xfe" + MARK.encode())),
)
extra_headers = st.dictionaries(
    st.sampled_from(["Origin", "Cookie", "X-Forwarded-For", "X-Real-IP", "X-Forwarded-Proto",
                     "Referer", "Accept", "Accept-Language", "If-None-Match", "Range"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789:/.=;-_ ", max_size=60)
    | st.sampled_from(["https://evil.example", "null", "bytes=0-1,5-", MARK]),
    max_size=3,
)


@dataclass(frozen=True)
class Big:
    """A JSON string body of ``size`` bytes, built only when sent."""

    size: int

    def build(self) -> bytes:
        return b'"' + b"A" * self.size + b'"'


@st.composite
def requests(draw: st.DrawFn, paths: list[str]) -> dict[str, Any]:
    base = draw(st.sampled_from([*paths, "/", "/nope", "/api/nope", "/socket.io/"]))
    path = re.sub(r"\{[^}]*\}", lambda _: draw(segments), base)
    if draw(st.booleans()):
        path = path.rstrip("/") + "/" + draw(segments)
    return {
        "method": draw(st.sampled_from(METHODS)),
        "path": path,
        "query": draw(queries),
        "headers": draw(extra_headers),
        "body": draw(bodies),
    }


def test_every_registered_route_is_in_the_fuzz() -> None:
    from chatserver.config import load_config
    from chatserver.main import create_app

    paths = route_paths(create_app(load_config({})))
    assert "/healthz" in paths and "/api/availability" in paths and "/socket.io/" in paths


@FUZZ
@given(data=st.data())
async def test_http_routes_fuzzed(
    harness: Harness, healthy_chat: HealthyChat, caplog: pytest.LogCaptureFixture,
    data: st.DataObject,
) -> None:
    caplog.set_level(logging.INFO)
    req = data.draw(requests(route_paths(harness.app)))
    headers = dict(req["headers"])
    body = None
    if req["body"] is not None:
        headers["Content-Type"], body = req["body"]
        body = body.build() if isinstance(body, Big) else body
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.request(req["method"], harness.url + req["path"], params=req["query"], data=body,
                     headers=headers, allow_redirects=False) as resp,
    ):
        check_response(req, resp, await resp.read())
    await healthy_chat.round_trip()
    assert_quiet_logs(caplog.records, [MARK])


def check_response(req: dict[str, Any], resp: aiohttp.ClientResponse, body: bytes) -> None:
    where = f"{req['method']} {req['path'][:60]}"
    assert resp.status < 500, (where, resp.status)
    text = body.decode("utf-8", "replace")
    assert not any(word in text for word in INSIDES), (where, text[:200])
    assert resp.headers.get("X-Content-Type-Options") == "nosniff", where
    assert resp.headers.get("Referrer-Policy") == "no-referrer", where
    assert "frame-ancestors" in resp.headers.get("Content-Security-Policy", ""), where
    assert resp.headers.get("Permissions-Policy"), where
    assert "Server" not in resp.headers, where
    if not req["path"].startswith("/console"):
        assert "Set-Cookie" not in resp.headers, where
    if req["path"].startswith("/api/") and resp.status >= 400 and req["method"] != "HEAD":
        answer = json.loads(body)
        assert set(answer) == {"error", "message"}, where
        assert all(isinstance(v, str) for v in answer.values()), where
