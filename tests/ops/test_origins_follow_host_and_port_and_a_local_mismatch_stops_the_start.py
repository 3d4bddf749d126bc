"""Unset, the public and embed origins are what host and port serve; set by hand, origins that
can only be wrong stop the start with the setting's name, and proxied set-ups stay valid."""

from __future__ import annotations

import pytest

from chatserver import cli
from chatserver.config import ConfigError, load_config

LOCAL = ("http://127.0.0.1:8080", "http://localhost:8080")
ANY = "0.0.0.0"  # noqa: S104 - a setting under test, nothing binds here


@pytest.mark.parametrize(("env", "origins"), [
    ({}, LOCAL),
    ({"CHATSERVER_PORT": "9123"}, ("http://127.0.0.1:9123", "http://localhost:9123")),
    ({"CHATSERVER_HOST": "localhost", "CHATSERVER_PORT": "9123"},
     ("http://127.0.0.1:9123", "http://localhost:9123")),
    ({"CHATSERVER_HOST": ANY}, LOCAL),
    ({"CHATSERVER_HOST": "::1"}, ("http://[::1]:8080", *LOCAL)),
    ({"CHATSERVER_HOST": "::", "CHATSERVER_PORT": "9000"},
     ("http://[::1]:9000", "http://127.0.0.1:9000", "http://localhost:9000")),
    # Browsers leave out the default port, and socket.io compares strings.
    ({"CHATSERVER_PORT": "80"}, ("http://127.0.0.1", "http://localhost")),
    ({"CHATSERVER_HOST": "Chat.Internal", "CHATSERVER_PORT": "8443"},
     ("http://chat.internal:8443",)),
    ({"CHATSERVER_HOST": "10.1.2.3"}, ("http://10.1.2.3:8080",)),
    ({"CHATSERVER_HOST": "fd00::5"}, ("http://[fd00::5]:8080",)),
], ids=["default", "port", "localhost", "any-ipv4", "ipv6-loopback", "any-ipv6", "port-80",
        "name", "address", "ipv6-address"])
def test_unset_origins_are_what_host_and_port_serve(
    env: dict[str, str], origins: tuple[str, ...]
) -> None:
    config = load_config(env)
    assert config.public_origins == origins
    assert config.embed_origins == origins


def test_overrides_move_the_origins_too() -> None:
    config = load_config({}, port=9321)
    assert config.public_origins == ("http://127.0.0.1:9321", "http://localhost:9321")


def test_unset_embed_origins_follow_the_public_origins() -> None:
    config = load_config({"CHATSERVER_PUBLIC_ORIGINS": "https://chat.example.org"})
    assert config.embed_origins == ("https://chat.example.org",)
    config = load_config({"CHATSERVER_PUBLIC_ORIGINS": "https://chat.example.org",
                          "CHATSERVER_EMBED_ORIGINS": "https://www.example.org"})
    assert config.embed_origins == ("https://www.example.org",)


@pytest.mark.parametrize("env", [
    {"CHATSERVER_PORT": "9000", "CHATSERVER_PUBLIC_ORIGINS": "http://localhost:8080"},
    {"CHATSERVER_PORT": "9000",
     "CHATSERVER_PUBLIC_ORIGINS": "http://127.0.0.1:8080,http://localhost:8080"},
    {"CHATSERVER_HOST": ANY, "CHATSERVER_PORT": "9000",
     "CHATSERVER_PUBLIC_ORIGINS": "http://[::1]:8080"},
    {"CHATSERVER_PUBLIC_ORIGINS": "http://localhost"},
], ids=["other-port", "old-defaults", "ipv6", "port-80"])
def test_local_origins_on_another_port_stop_the_start(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(env)
    message = str(caught.value)
    assert message.startswith("CHATSERVER_PUBLIC_ORIGINS:")
    assert "CHATSERVER_TRUSTED_PROXIES" in message
    port = env.get("CHATSERVER_PORT", "8080")
    assert f"http://127.0.0.1:{port}" in message


@pytest.mark.parametrize("env", [
    # nginx with TLS in front of a node on loopback (deploy/systemd).
    {"CHATSERVER_PORT": "8081", "CHATSERVER_PUBLIC_ORIGINS": "https://chat.example.org",
     "CHATSERVER_TRUSTED_PROXIES": "127.0.0.1"},
    # The same without the trusted proxy set: https means something else speaks TLS.
    {"CHATSERVER_PUBLIC_ORIGINS": "https://chat.example.org"},
    # Containers (deploy/compose.yaml).
    {"CHATSERVER_HOST": ANY, "CHATSERVER_PUBLIC_ORIGINS": "https://chat.example.org",
     "CHATSERVER_TRUSTED_PROXIES": "172.31.238.10"},
    # Tor to nginx to the node; the onion name is not one we can judge.
    {"CHATSERVER_PUBLIC_ORIGINS": "https://chat.example.org,http://abcdefgh.onion"},
    {"CHATSERVER_PUBLIC_ORIGINS": "http://chat.internal"},
    # A local plain-http proxy on another port, declared as such.
    {"CHATSERVER_PORT": "9000", "CHATSERVER_PUBLIC_ORIGINS": "http://127.0.0.1:8080",
     "CHATSERVER_TRUSTED_PROXIES": "127.0.0.1"},
    # One of several reaches us directly.
    {"CHATSERVER_PORT": "9000",
     "CHATSERVER_PUBLIC_ORIGINS": "http://localhost:8080,http://localhost:9000"},
    {"CHATSERVER_PORT": "80", "CHATSERVER_PUBLIC_ORIGINS": "http://localhost"},
], ids=["nginx-host", "https-without-proxy-setting", "compose", "onion", "name",
        "local-proxy", "one-matches", "port-80"])
def test_proxied_and_matching_origins_are_accepted(env: dict[str, str]) -> None:
    load_config(env)


@pytest.mark.parametrize("origin", [
    "https://chat.example.org/", "https://chat.example.org/chat", "https://Chat.example.org",
    "https://chat.example.org:443", "http://chat.example.org:80", "chat.example.org", "*",
    "https://user@chat.example.org", "http://localhost:99999",
])
def test_origins_a_browser_never_sends_are_refused(origin: str) -> None:
    for name in ("CHATSERVER_PUBLIC_ORIGINS", "CHATSERVER_EMBED_ORIGINS"):
        with pytest.raises(ConfigError, match=f"^{name}: "):
            load_config({name: origin})


def test_serve_refuses_to_start_and_names_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATSERVER_PORT", "9000")
    monkeypatch.setenv("CHATSERVER_PUBLIC_ORIGINS", "http://localhost:8080")
    args = cli.build_parser().parse_args(["serve"])
    assert args.func(args) == 2
    assert "configuration error: CHATSERVER_PUBLIC_ORIGINS:" in capsys.readouterr().err
