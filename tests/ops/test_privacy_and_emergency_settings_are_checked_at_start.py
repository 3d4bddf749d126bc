"""``CHATSERVER_CONTROLLER``, ``CHATSERVER_PRIVACY_URL`` and ``CHATSERVER_EMERGENCY_NUMBERS``
are read once, at start: the emergency lines become tel: links, and a bad value stops the
node with an error naming the setting."""

from __future__ import annotations

import pytest

from chatserver.config import ConfigError, emergency_entries, load_config


def test_emergency_lines_become_names_numbers_and_tel_links() -> None:
    config = load_config({
        "CHATSERVER_EMERGENCY_NUMBERS": "Opferberatung Kiel: 0431 123456, Hilfe: +49 (0)30/12-34",
        "CHATSERVER_CONTROLLER": "KAST e. V., Musterstraße 1, 24103 Kiel",
        "CHATSERVER_PRIVACY_URL": "https://example.org/datenschutz",
    })
    assert emergency_entries(config.emergency_numbers) == [
        ("Opferberatung Kiel", "0431 123456", "0431123456"),
        ("Hilfe", "+49 (0)30/12-34", "+4903012" + "34"),
    ]
    assert config.controller == "KAST e. V., Musterstraße 1, 24103 Kiel"


@pytest.mark.parametrize(("name", "value"), [
    ("EMERGENCY_NUMBERS", "0431 123456"),
    ("EMERGENCY_NUMBERS", "Kiel: call us"),
    ("EMERGENCY_NUMBERS", "Kiel: 12"),
    ("EMERGENCY_NUMBERS", "Kiel: 0431+123456"),
    ("EMERGENCY_NUMBERS", "Kiel: javascript:alert(1)"),
    ("PRIVACY_URL", "javascript:alert(1)"),
    ("PRIVACY_URL", "https://example.org/a b"),
    ("PRIVACY_URL", 'https://example.org/"onclick'),
    ("CONTROLLER", "KAST e. V.\nMusterstraße 1"),
    ("CONTROLLER", "x" * 301),
])
def test_a_bad_value_stops_the_start_naming_the_setting(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"^CHATSERVER_{name}:"):
        load_config({f"CHATSERVER_{name}": value})
