"""Configuration: one frozen dataclass from ``CHATSERVER_*`` variables, validated once."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PREFIX = "CHATSERVER_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Config:
    """Every setting of the chat server. Field names map to ``CHATSERVER_<NAME>``."""

    host: str = "127.0.0.1"
    port: int = 8080
    # Unset: embedded in-memory state (single process). Set: Redis state and fan-out.
    redis_url: str = ""
    database_url: str = field(
        default_factory=lambda: f"sqlite:///{PROJECT_ROOT / 'var' / 'erstkontakt.sqlite3'}"
    )
    # Public origin(s) under which this server is reached (widget, console, socket.io).
    public_origins: tuple[str, ...] = ("http://127.0.0.1:8080", "http://localhost:8080")
    # Host sites allowed to embed the widget iframe and to receive its postMessage.
    embed_origins: tuple[str, ...] = ("http://127.0.0.1:8080", "http://localhost:8080")
    # Where quick exit sends the visitor.
    exit_url: str = "https://www.wetter.com/"
    # Free text shown in the widget when nobody is on duty.
    office_hours_de: str = "Mo–Fr 9–17 Uhr"
    office_hours_en: str = "Mon–Fri 9 am–5 pm"
    max_chats_per_counsellor: int = 3
    queue_cap: int = 200
    visitor_grace_s: float = 120.0
    envelope_ttl_s: float = 600.0
    chat_idle_ttl_s: float = 6 * 3600.0
    max_envelope_bytes: int = 16384
    # Naive wait estimate: seconds per queue position per on-duty counsellor.
    wait_estimate_per_position_s: float = 300.0
    msg_rate_per_s: float = 5.0
    msg_burst: int = 30
    chat_requests_per_min: float = 3.0
    # Per client address (kept only as a keyed hash in memory, forgotten when idle).
    addr_connects_per_min: float = 60.0
    addr_requests_per_min: float = 10.0
    addr_msgs_per_s: float = 20.0
    # Proof-of-work bits before a visitor may queue or look up a codename (0: off).
    challenge_bits: int = 0
    # Refused events within 10 s after which a socket is closed (per connection).
    strike_limit: int = 40
    # Reverse proxies whose X-Real-IP header is believed (nginx in deploy/).
    trusted_proxies: tuple[str, ...] = ()
    counsellor_token_ttl_s: float = 12 * 3600.0
    reaper_interval_s: float = 5.0
    # Case records and anonymous message drops.
    record_retention_days: float = 365.0
    drop_ttl_days: float = 30.0
    consent_version: str = "v1"
    # Argon2id cost for codename hashes: "moderate" in production, "min" only for tests.
    kdf_cost: str = "moderate"
    # Pinned organisation Ed25519 public key (base64) and its signed revocation list.
    org_public_key: str = ""
    revocations_file: str = ""
    demo: bool = False
    # Bearer token for /metrics from other hosts ("": loopback only).
    metrics_token: str = ""
    # Statistics: counts from 1 to threshold-1 are withheld (at least 3); days, weeks and
    # the hour-of-week profile are those of this time zone; seconds between roll-ups into
    # the database.
    stats_threshold: int = 5
    stats_timezone: str = "Europe/Berlin"
    stats_rollup_interval_s: float = 300.0

    @property
    def uses_redis(self) -> bool:
        """True when state and fan-out go through Redis."""
        return bool(self.redis_url)

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file of the database URL, or None for another database."""
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


def _parse(name: str, kind: Any, raw: str) -> Any:
    env = PREFIX + name.upper()
    raw = raw.strip()
    try:
        if kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError("expected true or false")
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        if kind == tuple[str, ...]:
            return tuple(item.strip() for item in raw.split(",") if item.strip())
        return raw
    except ValueError as exc:
        raise ConfigError(f"{env}: {exc}") from None


def _validate(cfg: Config) -> None:
    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"{PREFIX}{name.upper()}: {why}")

    if not 0 < cfg.port < 65536:
        raise bad("port", "must be between 1 and 65535")
    if cfg.redis_url and not cfg.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise bad("redis_url", "must start with redis://, rediss:// or unix://")
    if not cfg.database_url.startswith(("sqlite:///", "postgresql://")):
        raise bad("database_url", "must start with sqlite:/// or postgresql://")
    for name in ("public_origins", "embed_origins"):
        origins = getattr(cfg, name)
        if not origins:
            raise bad(name, "needs at least one origin")
        for origin in origins:
            if origin == "*" or not origin.startswith(("http://", "https://")):
                raise bad(name, f"{origin!r} is not an origin like https://example.org")
    if not cfg.exit_url.startswith("https://") and not cfg.exit_url.startswith("http://"):
        raise bad("exit_url", "must be an http(s) URL")
    positive = (
        "max_chats_per_counsellor", "queue_cap", "visitor_grace_s", "envelope_ttl_s",
        "chat_idle_ttl_s", "max_envelope_bytes", "msg_rate_per_s", "msg_burst",
        "chat_requests_per_min", "counsellor_token_ttl_s", "reaper_interval_s",
        "wait_estimate_per_position_s", "addr_connects_per_min", "addr_requests_per_min",
        "addr_msgs_per_s", "record_retention_days", "drop_ttl_days", "strike_limit",
        "stats_rollup_interval_s",
    )
    for name in positive:
        if getattr(cfg, name) <= 0:
            raise bad(name, "must be greater than zero")
    if cfg.kdf_cost not in ("min", "interactive", "moderate", "sensitive"):
        raise bad("kdf_cost", "must be min, interactive, moderate or sensitive")
    if not 0 <= cfg.challenge_bits <= 28:
        raise bad("challenge_bits", "must be between 0 and 28")
    if cfg.max_envelope_bytes > 256 * 1024:
        raise bad("max_envelope_bytes", "must be at most 262144")
    if cfg.stats_threshold < 3:
        raise bad("stats_threshold", "must be at least 3")
    try:
        ZoneInfo(cfg.stats_timezone)
    except (ValueError, ZoneInfoNotFoundError):
        raise bad("stats_timezone", "must be a time zone like Europe/Berlin") from None
    if cfg.metrics_token and len(cfg.metrics_token) < 32:
        raise bad("metrics_token", "must be at least 32 characters (openssl rand -hex 32)")


def load_config(environ: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Build the config from ``CHATSERVER_*`` variables, then apply ``overrides``; validate."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    hints = {f.name: f.type for f in dataclasses.fields(Config)}
    kinds = {
        "str": str, "int": int, "float": float, "bool": bool,
        "tuple[str, ...]": tuple[str, ...],
    }
    for name, hint in hints.items():
        env = PREFIX + name.upper()
        if env in environ:
            values[name] = _parse(name, kinds[str(hint)], environ[env])
    known = {PREFIX + name.upper() for name in hints}
    unknown = sorted(k for k in environ if k.startswith(PREFIX) and k not in known)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    values.update(overrides)
    cfg = Config(**values)
    _validate(cfg)
    return cfg
