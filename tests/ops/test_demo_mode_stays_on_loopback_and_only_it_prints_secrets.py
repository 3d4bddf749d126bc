"""Demo mode prints sign-in secrets and keeps its organisation key next to the server, so it
listens on loopback only unless forced; outside demo mode the server prints no secret."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chatserver.config import ConfigError, load_config
from tests.support.nodes import Node
from tests.support.paths import ROOT
from tests.support.redis_server import free_port


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "chat.example.org", ""])  # noqa: S104
def test_demo_mode_refuses_an_address_beyond_loopback(host: str) -> None:
    with pytest.raises(ConfigError, match=r"^CHATSERVER_HOST: .*DEMO_ANY_ADDRESS"):
        load_config({"CHATSERVER_DEMO": "true", "CHATSERVER_HOST": host,
                     "CHATSERVER_PUBLIC_ORIGINS": "https://chat.example.org"})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.5", "::1", "[::1]", "localhost"])
def test_demo_mode_listens_on_loopback(host: str) -> None:
    assert load_config({"CHATSERVER_DEMO": "true", "CHATSERVER_HOST": host}).demo


def test_demo_mode_can_be_forced_onto_another_address() -> None:
    config = load_config({"CHATSERVER_DEMO": "true", "CHATSERVER_HOST": "0.0.0.0",  # noqa: S104
                          "CHATSERVER_DEMO_ANY_ADDRESS": "true"})
    assert config.demo and config.demo_any_address
    # Outside demo mode the setting changes nothing.
    assert load_config({"CHATSERVER_HOST": "0.0.0.0"}).host == "0.0.0.0"  # noqa: S104


def test_the_command_stops_with_the_reason(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSERVER_")}
    env.update(CHATSERVER_DEMO="true", CHATSERVER_HOST="0.0.0.0",  # noqa: S104
               CHATSERVER_PORT=str(free_port()),
               CHATSERVER_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    done = subprocess.run([sys.executable, "-m", "chatserver", "serve"], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=60)
    assert done.returncode == 2
    assert "configuration error: CHATSERVER_HOST:" in done.stderr
    assert "password" not in done.stdout


@pytest.mark.parametrize("demo", [False, True])
def test_only_demo_mode_prints_sign_in_secrets(tmp_path: Path, demo: bool) -> None:
    node = Node({"CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                 "CHATSERVER_KDF_COST": "min", "CHATSERVER_DEMO": str(demo).lower()},
                tmp_path / "node.log")
    node.start()
    node.stop()
    out = node.output().decode()
    secrets = [r"otpauth://", r"[Pp]assword", r"secret=", r"TOTP"]
    found = [s for s in secrets if re.search(s, out)]
    if demo:
        assert found == secrets, out  # the positive control: demo mode does print them
    else:
        assert found == [], out
