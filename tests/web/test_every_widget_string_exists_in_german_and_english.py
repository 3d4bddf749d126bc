"""Every text the widget shows comes from its two string tables, and both tables hold every
key: a key used in the chat page (``data-t``) or in widget.js (``t("…")``, ``setText(…, "…")``)
but missing in one language would show the bare key to that visitor."""

from __future__ import annotations

import json
import re

from tests.support.paths import ROOT

WIDGET = ROOT / "widget"


def table(lang: str) -> dict[str, str]:
    strings: dict[str, str] = json.loads(
        (WIDGET / f"static/i18n-{lang}.json").read_text("utf-8"))
    return strings


def test_both_languages_have_the_same_keys_and_no_empty_text() -> None:
    de, en = table("de"), table("en")
    assert sorted(de) == sorted(en)
    assert [k for k, v in {**de, **en}.items() if not v.strip()] == []


def test_every_key_the_page_and_the_script_use_is_in_both_tables() -> None:
    page = (WIDGET / "templates/frame.html").read_text("utf-8")
    script = (WIDGET / "static/widget.js").read_text("utf-8")
    used = set(re.findall(r'data-t="([a-z_]+)"', page))
    used |= set(re.findall(r'\bt\("([a-z_]+)"', script))
    used |= set(re.findall(r'setText\([^,]+, "([a-z_]+)"\)', script))
    # The scan must see the keys this file is about, or it proves nothing.
    assert {"exit_hint", "consent_title", "withdraw_q", "codename_pending"} <= used
    for lang in ("de", "en"):
        assert sorted(used - set(table(lang))) == [], lang


def test_the_guide_has_every_section_in_both_languages_and_leichte_sprache_in_each() -> None:
    """"Sicher schreiben" (guide-de.json, guide-en.json, loaded when the guide opens): the
    same sections in both, none empty, and the Leichte Sprache introduction (German) in both;
    beside them the texts of reading one's record, also in both."""
    guides = {lang: json.loads((WIDGET / f"static/guide-{lang}.json").read_text("utf-8"))
              for lang in ("de", "en")}
    de, en = guides["de"], guides["en"]
    assert sorted(de) == sorted(en) == ["easy", "easy_title", "record", "sections"]
    assert len(de["sections"]) == len(en["sections"]) >= 6
    assert de["easy"] == en["easy"] and len(de["easy"]) >= 5
    for guide in (de, en):
        texts = [guide["easy_title"], *guide["easy"], *(s for pair in guide["sections"]
                                                       for s in pair)]
        assert all(isinstance(s, str) and s.strip() for s in texts)
        assert "{days}" in guide["sections"][-1][1]
        # The texts of reading one's record (offline.js readRecord), loaded with the guide.
        assert sorted(guide["record"]) == ["code", "none", "title"]
        assert all(isinstance(s, str) and s.strip() for s in guide["record"].values())


def test_the_offline_texts_have_every_key_in_both_languages() -> None:
    """What messages.js says (office hours, messages, threads) is in drops.json, loaded with it:
    the same keys in both languages, none empty, every key the module and the page's offline
    part (``data-o``) use; the schedule's words are never the server's."""
    texts = json.loads((WIDGET / "static/drops.json").read_text("utf-8"))
    assert sorted(texts) == ["de", "en"]
    de, en = texts["de"], texts["en"]
    assert sorted(de) == sorted(en)
    assert [k for k, v in {**de, **en}.items() if not v.strip()] == []
    page = (WIDGET / "templates/frame.html").read_text("utf-8")
    script = (WIDGET / "static/messages.js").read_text("utf-8")
    used = set(re.findall(r'data-o="([a-z_]+)"', page))
    used |= set(re.findall(r'\bc\.([a-z_]+)', script))
    used |= set(re.findall(r'say\(c, "([a-z_]+)"', script))
    assert {"drop_label", "closed_next", "reply_days", "drop_not_ready", "drop_more_label"} <= used
    assert sorted(used - set(de)) == []
    # Singular and plural of the reply time, in both languages.
    assert "{days}" in de["reply_days"] and "{days}" in en["reply_days"]
    assert "{days}" not in de["reply_one"] + en["reply_one"]
