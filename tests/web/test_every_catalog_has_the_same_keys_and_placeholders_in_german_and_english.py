"""One catalog scheme for widget, statistics page and console: flat JSON per language, German
and English with the same keys, no empty text, and per key the same ``{name}`` placeholders
(a placeholder only one language has would show as a bare ``{name}`` or lose a value)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.paths import ROOT

PLACEHOLDER = re.compile(r"\{(\w+)\}")
CATALOGS = {
    "widget": {lang: ROOT / f"widget/static/i18n-{lang}.json" for lang in ("de", "en")},
    "stats": {lang: ROOT / f"counsellor_console/i18n/stats.{lang}.json" for lang in ("de", "en")},
    "console": {lang: ROOT / f"counsellor_console/i18n/console.{lang}.json"
                for lang in ("de", "en")},
}


def flat(path: Path) -> dict[str, str]:
    table = json.loads(path.read_text("utf-8"))
    assert isinstance(table, dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in table.items()), path
    return table


@pytest.mark.parametrize("name", sorted(CATALOGS))
def test_german_and_english_have_the_same_keys_and_placeholders(name: str) -> None:
    de, en = (flat(CATALOGS[name][lang]) for lang in ("de", "en"))
    assert sorted(de) == sorted(en)
    assert len(de) >= 20
    assert [k for k, v in {**de, **en}.items() if not v.strip()] == []
    differ = {key: (sorted(set(PLACEHOLDER.findall(de[key]))),
                    sorted(set(PLACEHOLDER.findall(en[key]))))
              for key in de}
    assert {key: pair for key, pair in differ.items() if pair[0] != pair[1]} == {}


def test_the_offline_texts_have_the_same_placeholders_too() -> None:
    texts = json.loads((ROOT / "widget/static/drops.json").read_text("utf-8"))
    de, en = texts["de"], texts["en"]
    assert sorted(de) == sorted(en)
    assert {key for key in de
            if set(PLACEHOLDER.findall(de[key])) != set(PLACEHOLDER.findall(en[key]))} == set()


def test_the_console_says_one_language_at_a_time() -> None:
    """No text of the console's catalogs is a "German / English" pair any more."""
    for lang in ("de", "en"):
        pairs = [k for k, v in flat(CATALOGS["console"][lang]).items() if " / " in v]
        assert pairs == [], lang
