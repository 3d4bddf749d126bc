"""``deploy/`` as its tools read it: the compose clients on this machine, and the compose file
as they resolve it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any

import pytest

from tests.support.paths import ROOT

DEPLOY = ROOT / "deploy"


def compose_commands() -> list[list[str]]:
    """Every compose client on this machine: the docker plugin and/or docker-compose 1.x."""
    found = []
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 check=False).returncode == 0:
        found.append([docker, "compose"])
    legacy = shutil.which("docker-compose")
    if legacy:
        found.append([legacy])
    return found


def bare_env(**extra: str) -> dict[str, str]:
    """No CHATSERVER_* or POSTGRES_* from the test run leaks into compose's substitution."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    env.update(extra)
    return env


def normalized_compose() -> dict[str, Any]:
    """The compose file as the client resolves it (anchors merged), parsed by PyYAML."""
    commands = compose_commands()
    if not commands:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    text = subprocess.run([*commands[-1], "-f", str(DEPLOY / "compose.yaml"), "config"],
                          capture_output=True, text=True, check=True,
                          env=bare_env(POSTGRES_PASSWORD="x" * 24)).stdout
    # PyYAML is not a dependency of ours; docker-compose brings it to the system Python.
    system_python = shutil.which("python3", path="/usr/bin:/bin")
    if system_python is None:
        pytest.skip("no system python3 to parse the YAML with")
    to_json = "import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"
    parsed = subprocess.run([system_python, "-c", to_json], input=text, capture_output=True,
                            text=True, check=False)
    if parsed.returncode != 0:
        pytest.skip("PyYAML is not available to the system python3")
    result: dict[str, Any] = json.loads(parsed.stdout)
    return result
