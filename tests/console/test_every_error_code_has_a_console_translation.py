"""Every server refusal has words in the console: each ErrorCode is a key ``error.<code>`` of
the console's catalogs (counsellor_console/i18n/console.<lang>.json), said in German and in
English, and console-i18n.js knows every code (an unknown one would show as a bare code)."""

from __future__ import annotations

import json
import re

from chatserver.errors import ErrorCode
from tests.support.paths import ROOT

CATALOGS = {lang: json.loads((ROOT / f"counsellor_console/i18n/console.{lang}.json")
                             .read_text("utf-8")) for lang in ("de", "en")}
SOURCE = (ROOT / "counsellor_console/static/console-i18n.js").read_text("utf-8")


def test_every_error_code_has_a_translation_in_both_languages() -> None:
    for lang, catalog in CATALOGS.items():
        texts = {key.removeprefix("error."): text for key, text in catalog.items()
                 if key.startswith("error.")}
        assert set(texts) == {code.value for code in ErrorCode}, lang
        assert all(text.strip() for text in texts.values()), lang


def test_the_two_languages_say_different_things_one_language_each() -> None:
    for code in ErrorCode:
        german, english = (CATALOGS[lang]["error." + code.value] for lang in ("de", "en"))
        assert german != english, code
        assert " / " not in german and " / " not in english, code


def test_the_console_script_knows_every_code() -> None:
    known = re.search(r"^const KNOWN = \[(.*?)\];", SOURCE, re.S | re.M)
    assert known, "console-i18n.js has no list of known codes"
    assert set(re.findall(r'"(\w+)"', known.group(1))) == {code.value for code in ErrorCode}
