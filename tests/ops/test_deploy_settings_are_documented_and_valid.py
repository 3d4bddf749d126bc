"""Every setting is in the operations guide, and every settings file in ``deploy/`` is one the
server accepts: no typo that would stop a node (unknown ``CHATSERVER_*`` names are errors).
"""

from __future__ import annotations

import dataclasses
import re

import pytest

from chatserver.config import PREFIX, Config, load_config
from tests.support.deploy import DEPLOY, normalized_compose
from tests.support.paths import ROOT

GUIDE = ROOT / "docs" / "operations.md"


def settings() -> list[str]:
    return [PREFIX + f.name.upper() for f in dataclasses.fields(Config)]


def test_the_guide_documents_every_setting() -> None:
    rows = {m.group(1) for m in re.finditer(r"`(CHATSERVER_[A-Z0-9_]+)`", GUIDE.read_text())}
    missing = [name for name in settings() if name not in rows]
    assert not missing, f"add these to docs/operations.md, Configuration reference: {missing}"
    unknown = sorted(rows - set(settings()))
    assert not unknown, f"docs/operations.md names settings that do not exist: {unknown}"


def env_file(path: str) -> dict[str, str]:
    values = {}
    for line in (DEPLOY / path).read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


@pytest.mark.parametrize("path", ["env.example", "systemd/erstkontakt.env.example"])
def test_example_settings_load(path: str) -> None:
    """As written, with the placeholders an operator fills in left empty."""
    chatserver = {k: v for k, v in env_file(path).items() if k.startswith(PREFIX)}
    assert chatserver, path
    load_config(chatserver)


def test_compose_node_settings_load() -> None:
    services = normalized_compose()["services"]
    for name in ("chatserver-1", "chatserver-2"):
        env = {k: str(v) for k, v in services[name]["environment"].items()}
        config = load_config({k: v for k, v in env.items() if k.startswith(PREFIX)})
        assert config.uses_redis and config.database_url.startswith("postgresql://")
        assert config.trusted_proxies and not config.demo
