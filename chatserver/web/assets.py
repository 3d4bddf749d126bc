"""Browser assets served from memory with Subresource Integrity.

Files come from this repository (widget, console, ``jslib``) or from ``node_modules`` as the
install step fetched them from npm; nothing is copied into the repository. Each is read once
at start, hashed (SHA-384) and served with that hash available to templates. Our own
JavaScript, stylesheets and catalogs are served minified (esbuild from npm for JavaScript, with
local names shortened; rCSSmin; compact JSON): their comments, layout and long names are for
the repository, not for a visitor's phone. What npm ships is served as it came.
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import re
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import rcssmin
from aiohttp import web

from chatserver.config import PROJECT_ROOT

NODE_MODULES = PROJECT_ROOT / "node_modules"
ESBUILD = NODE_MODULES / ".bin" / "esbuild"
# scrypt from @noble/hashes, which ships no browser bundle: the Makefile's install step bundles
# it from node_modules with the pinned esbuild (nothing of it is in the repository).
NOBLE_SCRYPT = NODE_MODULES / ".bundles" / "noble-scrypt.js"
# An ES module (imports or exports at the start of a line): its top-level names are its own, so
# esbuild may shorten them too; a classic script's top-level names are globals and stay.
_MODULE = re.compile(rb"^(?:import|export)\b", re.MULTILINE)


def minify(name: str, source: bytes) -> bytes:
    """One of our own files as served, by its kind; anything else as it is."""
    if name.endswith(".js"):
        return minify_js(source)
    if name.endswith(".css"):
        css: str = rcssmin.cssmin(source.decode("utf-8"))
        return css.encode("utf-8") + b"\n"
    if name.endswith(".json"):
        return json.dumps(json.loads(source), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
    return source


@cache
def minify_js(source: bytes) -> bytes:
    """One of our own scripts as served: comments, layout and long local names gone, behaviour
    the same (esbuild, which parses the script; the syntax is left as written). Once per
    source and process: every app of a test run serves the same files."""
    if not ESBUILD.is_file():
        raise FileNotFoundError(f"{ESBUILD} is missing: run `make setup` (npm ci)")
    module = ["--format=esm"] if _MODULE.search(source) else []
    # A fixed program from the install step, fixed arguments; the script goes in on stdin.
    run = subprocess.run([str(ESBUILD), "--minify", "--legal-comments=none",  # noqa: S603
                          "--log-level=error", "--charset=utf8", *module], input=source,
                         capture_output=True, timeout=120, check=False)
    if run.returncode != 0:
        raise RuntimeError("esbuild could not minify a script: "
                           + run.stderr.decode("utf-8", "replace")[-2000:])
    return run.stdout


@dataclass(frozen=True)
class Asset:
    """One file as served: its bytes, content type and SRI value."""

    url: str
    body: bytes
    content_type: str
    integrity: str


class Assets:
    """A set of assets mounted under one URL prefix."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip("/") + "/"
        self._by_name: dict[str, Asset] = {}

    def add(self, name: str, path: Path) -> Asset:
        """Serve ``path`` as ``<prefix><name>``; fails loudly if the install step did not run."""
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run `make setup` (npm ci)")
        body = path.read_bytes()
        if NODE_MODULES not in path.parents:
            body = minify(name, body)
        digest = base64.b64encode(hashlib.sha384(body).digest()).decode()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        if name.endswith((".js", ".mjs")):
            kind = "text/javascript"
        asset = Asset(self.prefix + name, body, kind, "sha384-" + digest)
        self._by_name[name] = asset
        return asset

    def __getitem__(self, name: str) -> Asset:
        return self._by_name[name]

    def __iter__(self) -> object:
        return iter(self._by_name.values())

    def names(self) -> list[str]:
        return sorted(self._by_name)

    async def handler(self, request: web.Request) -> web.Response:
        """Serve one asset by the ``name`` in the route; 404 for anything unknown."""
        asset = self._by_name.get(request.match_info["name"])
        if asset is None:
            raise web.HTTPNotFound()
        charset = "utf-8" if asset.content_type.startswith(("text/", "application/json")) else None
        return web.Response(body=asset.body, content_type=asset.content_type, charset=charset,
                            headers={"Cache-Control": "no-cache",
                                     "Cross-Origin-Resource-Policy": "same-origin"})
