"""Every server refusal has words in the console: each ErrorCode is a key of the console's
catalog (``ERRORS`` in console-i18n.js), and every entry says it in German and in English."""

from __future__ import annotations

import re

from chatserver.errors import ErrorCode
from tests.support.paths import ROOT

SOURCE = (ROOT / "counsellor_console/static/console-i18n.js").read_text("utf-8")


def catalog() -> dict[str, str]:
    block = re.search(r"^(?:export )?const ERRORS = \{\n(.*?)^\};", SOURCE, re.S | re.M)
    assert block, "console-i18n.js has no ERRORS catalog"
    entries = re.findall(r'^  (\w+): ((?:"[^"\n]*"(?: \+\n    )?)+),$', block.group(1), re.M)
    return {key: "".join(re.findall(r'"([^"\n]*)"', text)) for key, text in entries}


def test_every_error_code_has_a_translation() -> None:
    texts = catalog()
    assert set(texts) == {code.value for code in ErrorCode}


def test_every_translation_speaks_german_and_english() -> None:
    for code, text in catalog().items():
        assert " / " in text, code
        german, english = text.split(" / ", 1)
        assert german.strip() and english.strip(), code
