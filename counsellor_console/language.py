"""The console's language: German first, English beside it, one at a time.

Every console page and the console's scripts speak from one catalog per language,
``i18n/console.<lang>.json``: flat keys, ``{name}`` placeholders, the scheme of the widget's
catalogs and the statistics page's. A signed-in counsellor's choice is kept with the account
(``console_users.language``) and set by a CSRF-protected form; before sign-in the login page
follows ``?lang=`` and then the browser's Accept-Language.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup, escape

from chatserver.records.accounts import Session
from chatserver.vocabulary import Lang

CATALOG_DIR = Path(__file__).resolve().parent / "i18n"

LANGS = tuple(lang.value for lang in Lang)
DEFAULT = Lang.DE.value
CATALOGS = web.AppKey("console_catalogs", dict)
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def load_catalogs() -> dict[str, dict[str, str]]:
    """The console's strings by language, German first."""
    return {lang: json.loads((CATALOG_DIR / f"console.{lang}.json").read_text("utf-8"))
            for lang in LANGS}


class Words:
    """One language's catalog, called as ``t(key, name=value)`` in the templates."""

    def __init__(self, lang: str, catalog: dict[str, str]) -> None:
        self.lang = lang
        self.other = Lang.EN.value if lang == Lang.DE.value else Lang.DE.value
        self.catalog = catalog

    def __call__(self, key: str, **values: Any) -> str:
        text = self.catalog[key]
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text) if values else text

    def html(self, key: str, **values: str) -> Markup:
        """The text escaped, with each value in its place escaped unless it is markup already
        (code names in ``<code>``)."""
        return escape(self.catalog[key]).format(**values)



def _accepted(header: str) -> str | None:
    """The first of our languages in an Accept-Language header, by its weight."""
    best: tuple[float, str] | None = None
    for part in header.split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        lang = tag.strip().lower()[:2]
        if lang not in LANGS:
            continue
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                continue
        if weight > 0 and (best is None or weight > best[0]):
            best = (weight, lang)
    return best[1] if best else None


def language_of(request: web.Request, session: Session | None) -> str:
    """The language to answer in: the account's own choice once signed in, else ``?lang=``,
    else the browser's Accept-Language, else German."""
    if session is not None and session.user.language in LANGS:
        return session.user.language
    asked = request.query.get("lang", "")
    if asked in LANGS:
        return asked
    return _accepted(request.headers.get("Accept-Language", "")) or DEFAULT


def words(request: web.Request, lang: str) -> Words:
    return Words(lang, request.app[CATALOGS][lang])
