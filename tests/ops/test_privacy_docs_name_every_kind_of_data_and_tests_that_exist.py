"""docs/privacy.md keeps its promise to be checkable: the deletion concept has a row for every
kind of data the service holds, each row names a test, and every test file it names exists;
the accessibility statement names only tests that exist."""

from __future__ import annotations

import re

from tests.support.paths import ROOT

KINDS = ("Chat envelopes", "Resume tokens", "Statistics counters", "Case records",
         "Notes on records", "Anonymous messages", "Audit trail", "Counsellor accounts",
         "Reload state on devices")


def test_the_deletion_concept_has_every_kind_of_data_and_a_test_for_each() -> None:
    text = (ROOT / "docs/privacy.md").read_text("utf-8")
    for heading in ("## DSFA outline", "## Deletion concept", "## Processor checklist"):
        assert heading in text
    rows = {row.split("|")[1].strip(): row for row in text.splitlines()
            if row.startswith("| ") and not row.startswith("| Data")}
    for kind in KINDS:
        (row,) = [r for name, r in rows.items() if name.startswith(kind)]
        assert re.search(r"`tests/[\w/]+\.py`", row.split("|")[4]), kind


def test_every_test_the_privacy_and_accessibility_docs_name_exists() -> None:
    for doc in ("privacy.md", "accessibility.md"):
        text = (ROOT / "docs" / doc).read_text("utf-8")
        named = set(re.findall(r"(tests/[\w/]+\.py)", text))
        assert len(named) >= 3, doc
        assert sorted(p for p in named if not (ROOT / p).is_file()) == [], doc
        for path in named:
            source = (ROOT / path).read_text("utf-8")
            for test in re.findall(rf"{re.escape(path)}` \(([^)]*)\)", text):
                for name in re.findall(r"`(test_\w+)`", test):
                    assert f"def {name}(" in source, (path, name)
