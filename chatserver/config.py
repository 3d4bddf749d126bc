"""Configuration: one frozen dataclass from ``CHATSERVER_*`` variables, validated once."""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chatserver.hours import Schedule, parse_holidays, parse_hours, parse_zone, schedule

PREFIX = "CHATSERVER_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
# What counsellors may tick when a chat ends (docs/statistics.md, "Topics"): ``id=German|English``.
DEFAULT_TOPICS = (
    "exit_steps=Ausstieg und erste Schritte|Exit and first steps",
    "safety=Sicherheit und Bedrohung|Safety and threats",
    "family=Familie und Angehörige|Family and relatives",
    "work=Arbeit und Ausbildung|Work and training",
    "justice=Justiz und Bewährung|Courts and probation",
    "scene=Kontakte zur Szene lösen|Leaving contacts in the scene",
    "mental_health=Psychische Belastung|Mental strain",
    "other=Sonstiges|Other",
)
MAX_TOPICS = 30
TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]{0,23}$")
MAX_TOPIC_LABEL = 60


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class Topic:
    """One topic a counsellor may pick at the end of a chat; only ``id`` is ever counted."""

    id: str
    de: str
    en: str


def parse_topics(items: tuple[str, ...]) -> tuple[Topic, ...]:
    """The topics of ``id=German label|English label`` items; ValueError names the bad one."""
    topics: list[Topic] = []
    for item in items:
        ident, eq, labels = item.partition("=")
        de, bar, en = labels.partition("|")
        ident, de, en = ident.strip(), de.strip(), en.strip()
        if not eq or not bar:
            raise ValueError(f"{item!r} is not like id=German label|English label")
        if not TOPIC_ID.match(ident):
            raise ValueError(f"{ident!r}: an id is 1 to 24 of a-z, 0-9 and _, "
                             "starting with a letter")
        for label in (de, en):
            if not 0 < len(label) <= MAX_TOPIC_LABEL or not label.isprintable() or "|" in label:
                raise ValueError(f"{ident}: a label is 1 to {MAX_TOPIC_LABEL} printable "
                                 "characters without |")
        if any(t.id == ident for t in topics):
            raise ValueError(f"{ident!r} appears twice")
        topics.append(Topic(ident, de, en))
    if len(topics) > MAX_TOPICS:
        raise ValueError(f"at most {MAX_TOPICS} topics")
    return tuple(topics)


@dataclass(frozen=True)
class Config:
    """Every setting of the chat server. Field names map to ``CHATSERVER_<NAME>``."""

    host: str = "127.0.0.1"
    port: int = 8080
    # Unset: embedded in-memory state (single process). Set: Redis state and fan-out, on one
    # Redis (redis://, rediss://, unix://) or on the primary that Redis Sentinel names
    # (redis+sentinel://, parse_sentinel_url).
    redis_url: str = ""
    database_url: str = field(
        default_factory=lambda: f"sqlite:///{PROJECT_ROOT / 'var' / 'erstkontakt.sqlite3'}"
    )
    # Public origin(s) under which this server is reached (widget, console, socket.io).
    # Unset: what host and port serve (served_origins), filled in by load_config.
    public_origins: tuple[str, ...] = ()
    # The console's own origin (one of the public origins): set, the console and the
    # counsellors' socket answer only there (every other host gets 404 for /console), and its
    # cookies and the passkeys' relying party are bound to it. Unset: every public origin.
    console_origin: str = ""
    # Passkeys as the only second factor: an account with a passkey no longer signs in with a
    # TOTP code, and one without is sent to register one before anything else.
    require_passkey: bool = False
    # Host sites allowed to embed the widget iframe and to receive its postMessage.
    # Unset: the same as the public origins, so the /demo page can embed the widget.
    embed_origins: tuple[str, ...] = ()
    # Where quick exit sends the visitor.
    exit_url: str = "https://www.wetter.com/"
    # Office hours (chatserver/hours.py): weekly windows, holidays closed all day, in this
    # time zone. Empty hours: no schedule, and the widget shows the free text below instead.
    office_hours: str = "mon-fri 09:00-17:00"
    holidays: tuple[str, ...] = ()
    office_timezone: str = "Europe/Berlin"
    # Free text shown in the widget when nobody is on duty, only while office_hours is empty.
    office_hours_de: str = "Mo–Fr 9–17 Uhr"
    office_hours_en: str = "Mon–Fri 9 am–5 pm"
    max_chats_per_counsellor: int = 3
    queue_cap: int = 200
    visitor_grace_s: float = 120.0
    envelope_ttl_s: float = 600.0
    chat_idle_ttl_s: float = 6 * 3600.0
    max_envelope_bytes: int = 16384
    # Wait estimate until the first real wait was seen: seconds per queue position per
    # on-duty counsellor (afterwards the estimate follows recent waits, see Relay.place_info).
    wait_estimate_per_position_s: float = 300.0
    msg_rate_per_s: float = 5.0
    msg_burst: int = 30
    chat_requests_per_min: float = 3.0
    # Per client address (kept only as a keyed hash in memory, forgotten when idle).
    addr_connects_per_min: float = 60.0
    addr_requests_per_min: float = 10.0
    addr_msgs_per_s: float = 20.0
    # Proof-of-work bits before a visitor may queue or look up a codename (0: off; keep it off
    # until the widget solves the puzzle, issue 17).
    challenge_bits: int = 0
    # Refused events within 10 s after which a socket is closed (per connection).
    strike_limit: int = 40
    # Reverse proxies whose X-Real-IP header is believed (nginx in deploy/).
    trusted_proxies: tuple[str, ...] = ()
    counsellor_token_ttl_s: float = 12 * 3600.0
    reaper_interval_s: float = 5.0
    # A counsellor whose last console connection has been gone this long goes off duty, and
    # their chats go back to the front of the queue.
    duty_grace_s: float = 60.0
    # Case records and anonymous message drops.
    record_retention_days: float = 365.0
    # A record its owner or an administrator deleted can be restored for this many days; the
    # hourly purge then deletes it for good.
    record_recovery_days: float = 30.0
    # A message thread is deleted this many days after its last message or answer.
    drop_ttl_days: float = 30.0
    # The reply time the widget states when a message is left, in working days.
    drop_reply_days: int = 3
    # The consent text the widget shows; records are filed, and extended by later lines, only
    # under this version. v2: the text that promises continuity (later lines and codename
    # returns are kept); records filed under v1 keep only the chat up to the yes.
    consent_version: str = "v2"
    # What the consent text and the widget's privacy note name (docs/privacy.md): the
    # organisation responsible for the data (controller), with its postal address, and the
    # address of its privacy notice. Set both before going live.
    controller: str = ""
    privacy_url: str = ""
    # Local help lines the widget's emergency panel lists after 110/112 and the
    # Telefonseelsorge, as "Name: number" entries separated by commas.
    emergency_numbers: tuple[str, ...] = ()
    # Argon2id cost for codename hashes and console passwords (chatserver/records/kdf.py):
    # "moderate" in production, "min" only for tests.
    kdf_cost: str = "moderate"
    # Pinned organisation Ed25519 public key (base64) and its signed revocation list.
    org_public_key: str = ""
    revocations_file: str = ""
    demo: bool = False
    # Demo mode prints sign-in secrets and keeps its organisation key next to the server, so it
    # listens on loopback only; this forces it onto another address (a closed test network).
    demo_any_address: bool = False
    # The console's cookies as __Host- cookies with Secure (browsers keep them over https
    # only). Unset: on, unless every public origin is plain http on loopback (make run).
    secure_cookies: bool = True
    # Bearer token for /metrics from other hosts ("": loopback only).
    metrics_token: str = ""
    # Statistics: counts from 1 to threshold-1 are withheld (at least 3); days, weeks and
    # the hour-of-week profile are those of this time zone; seconds between roll-ups into
    # the database.
    stats_threshold: int = 5
    stats_timezone: str = "Europe/Berlin"
    stats_rollup_interval_s: float = 300.0
    # Topics a counsellor may tick when ending a chat, counted per topic only (parse_topics).
    topics: tuple[str, ...] = DEFAULT_TOPICS

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

    @functools.cached_property
    def schedule(self) -> Schedule:
        """The office hours, holidays and their time zone, parsed."""
        return schedule(self.office_hours, self.holidays, self.office_timezone)

    @property
    def console_host(self) -> str:
        """The host (and port) the console answers on, as browsers send it; "" for any."""
        return urlsplit(self.console_origin).netloc if self.console_origin else ""

    @property
    def passkey_rp_id(self) -> str:
        """The WebAuthn relying party of the console's passkeys: the console origin's host
        name, else the first public origin named by a host name (addresses cannot be relying
        parties); "" when there is none. Never taken from a request."""
        for origin in (self.console_origin,) if self.console_origin else self.public_origins:
            host = urlsplit(origin).hostname or ""
            try:
                ipaddress.ip_address(host)
            except ValueError:
                return host
        return ""

    @property
    def passkey_origins(self) -> tuple[str, ...]:
        """The origins a passkey ceremony of the console may come from (those of the relying
        party's host)."""
        rp_id = self.passkey_rp_id
        origins = (self.console_origin,) if self.console_origin else self.public_origins
        return tuple(o for o in origins if rp_id and urlsplit(o).hostname == rp_id)

    @property
    def topic_list(self) -> tuple[Topic, ...]:
        """The configured topics, in the order the console shows them."""
        return parse_topics(self.topics)


SENTINEL_SCHEME = "redis+sentinel://"
SENTINEL_FORM = "redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/SERVICE[/DB]"
_SERVICE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


@dataclass(frozen=True)
class SentinelTarget:
    """What a ``redis+sentinel://`` URL names: the sentinels to ask, the service (the name the
    sentinels monitor the primary under), and the database and credentials on that primary."""

    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str = ""
    password: str = ""


def parse_sentinel_url(url: str) -> SentinelTarget:
    """Read a Sentinel URL (``SENTINEL_FORM``); ConfigError says what is wrong, never the URL
    itself (it may hold a password)."""

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{why}; expected {SENTINEL_FORM}")

    if not url.startswith(SENTINEL_SCHEME):
        raise bad(f"is not a {SENTINEL_SCHEME} URL")
    rest = url.removeprefix(SENTINEL_SCHEME)
    if "?" in rest or "#" in rest:
        raise bad("allows no query or fragment")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = ""
    if at:
        if ":" not in userinfo:
            raise bad("needs the credentials before the @ as [USER]:PASSWORD")
        user, _, secret = userinfo.partition(":")
        username, password = unquote(user), unquote(secret)
    sentinels = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise bad("needs every sentinel as HOST:PORT, separated by commas")
        sentinels.append((host, int(port)))
    parts = path.split("/")
    service = parts[0]
    if not service or not set(service) <= _SERVICE_CHARS:
        raise bad("needs the service name (letters, digits, '.', '_', '-') after the sentinels")
    if len(parts) > 2 or (len(parts) == 2 and not parts[1].isdigit()):
        raise bad("allows only a database number after the service name")
    db = int(parts[1]) if len(parts) == 2 else 0
    return SentinelTarget(tuple(sentinels), service, db, username, password)


# Listening on one of these means a browser on this machine reaches us under its loopback names.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0", "::", "")  # noqa: S104 - compared


def served_origins(host: str, port: int) -> tuple[str, ...]:
    """The origins a browser sends for this server when nothing sits in front of it.

    Written the way browsers write the ``Origin`` header (lower case, IPv6 in brackets, no
    ``:80``), because socket.io compares them as strings.
    """
    host = host.strip().strip("[]").lower()
    if host in LOCAL_HOSTS:
        # The first is the one to print: on an IPv6 host, 127.0.0.1 may not answer.
        names = (["[::1]"] if ":" in host else []) + ["127.0.0.1", "localhost"]
    else:
        names = [f"[{host}]" if ":" in host else host]
    suffix = "" if port == 80 else f":{port}"
    return tuple(f"http://{name}{suffix}" for name in names)


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost" or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def plain_loopback(origins: tuple[str, ...]) -> bool:
    """True when every origin is plain http on a loopback name (a browser on this machine)."""
    return all(urlsplit(o).scheme == "http" and _is_loopback(urlsplit(o).hostname or "")
               for o in origins)


def _origin_problem(origin: str) -> str | None:
    """Why ``origin`` is not written the way browsers send it (so it never matches), or None."""
    if not origin.startswith(("http://", "https://")):
        return ""
    try:
        parts = urlsplit(origin)
        port = parts.port
    except ValueError:
        return ""
    if parts.path or parts.query or parts.fragment or "@" in parts.netloc or not parts.hostname:
        return " (scheme://host[:port], no path, not even a trailing slash)"
    if parts.netloc != parts.netloc.lower():
        return " (browsers send the host in lower case)"
    if port == {"http": 80, "https": 443}[parts.scheme]:
        return f" (browsers leave out the default port {port})"
    return None


def _unreachable(cfg: Config) -> str | None:
    """Why the public origins can only be wrong (all on this machine, none on our port), or None.

    Behind a proxy the public origins rightly differ from host and port (nginx on
    https://chat.example.org in front of 127.0.0.1:8080, Tor in front of nginx). A proxy
    shows itself as a trusted proxy, an https origin (this server speaks plain http) or a
    host name we cannot judge from here. Without any of these, every origin is plain http
    on a loopback name, where only our own port can serve the widget and the console.
    """
    if cfg.trusted_proxies:
        return None
    ports = set()
    for origin in cfg.public_origins:
        parts = urlsplit(origin)
        if parts.scheme != "http" or not _is_loopback(parts.hostname or ""):
            return None
        ports.add(parts.port or 80)
    if cfg.port in ports:
        return None
    served = served_origins(cfg.host, cfg.port)[0]
    return (f"{', '.join(cfg.public_origins)} cannot reach this server, which listens on "
            f"port {cfg.port}; socket.io would refuse the widget and the console served from "
            f"{served}. Add {served}, or leave {PREFIX}PUBLIC_ORIGINS and "
            f"{PREFIX}EMBED_ORIGINS unset to follow {PREFIX}HOST and {PREFIX}PORT; if a proxy "
            f"on this machine forwards to this server, set {PREFIX}TRUSTED_PROXIES to its "
            "address")


PHONE_CHARS = frozenset("+0123456789 ()/-")


def emergency_entries(numbers: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """Each ``Name: number`` entry as (name, number as written, number for a tel: link)."""
    out = []
    for item in numbers:
        name, _, number = item.rpartition(":")
        name, number = name.strip(), number.strip()
        digits = "".join(c for c in number if c.isdigit() or c == "+")
        if (not name or len(name) > 80 or not set(number) <= PHONE_CHARS
                or not 3 <= len(digits) <= 20 or "+" in digits[1:]):
            raise ValueError(f"{item!r} is not an entry like 'Opferberatung Kiel: 0431 123456'")
        out.append((name, number, digits))
    return out


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
    if cfg.redis_url.startswith(SENTINEL_SCHEME):
        try:
            parse_sentinel_url(cfg.redis_url)
        except ConfigError as exc:
            raise bad("redis_url", str(exc)) from None
    elif cfg.redis_url and not cfg.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise bad("redis_url",
                  f"must start with redis://, rediss://, unix:// or {SENTINEL_SCHEME}")
    if not cfg.database_url.startswith(("sqlite:///", "postgresql://")):
        raise bad("database_url", "must start with sqlite:/// or postgresql://")
    if cfg.console_origin:
        problem = _origin_problem(cfg.console_origin)
        if problem is not None:
            raise bad("console_origin", f"{cfg.console_origin!r} is not an origin like "
                      f"https://console.example.org{problem}")
        if cfg.console_origin not in cfg.public_origins:
            raise bad("console_origin", f"must also be one of {PREFIX}PUBLIC_ORIGINS (the "
                      "console's socket connects from it)")
    for name in ("public_origins", "embed_origins"):
        origins = getattr(cfg, name)
        if not origins:
            raise bad(name, "needs at least one origin")
        for origin in origins:
            problem = _origin_problem(origin)
            if problem is not None:
                raise bad(name, f"{origin!r} is not an origin like https://example.org{problem}")
    if cfg.require_passkey and not cfg.passkey_rp_id:
        raise bad("require_passkey", "passkeys need a console origin named by a host name "
                  f"(set {PREFIX}CONSOLE_ORIGIN, e.g. https://console.example.org); with "
                  "none, nobody could sign in")
    unreachable = _unreachable(cfg)
    if unreachable:
        raise bad("public_origins", unreachable)
    if not cfg.exit_url.startswith("https://") and not cfg.exit_url.startswith("http://"):
        raise bad("exit_url", "must be an http(s) URL")
    positive = (
        "max_chats_per_counsellor", "queue_cap", "visitor_grace_s", "envelope_ttl_s",
        "chat_idle_ttl_s", "max_envelope_bytes", "msg_rate_per_s", "msg_burst",
        "chat_requests_per_min", "counsellor_token_ttl_s", "reaper_interval_s",
        "wait_estimate_per_position_s", "addr_connects_per_min", "addr_requests_per_min",
        "addr_msgs_per_s", "record_retention_days", "record_recovery_days", "drop_ttl_days",
        "strike_limit", "stats_rollup_interval_s", "duty_grace_s",
    )
    for name in positive:
        if getattr(cfg, name) <= 0:
            raise bad(name, "must be greater than zero")
    # Each node renews its counsellors' presence once per reaper pass: a shorter grace would
    # take a connected counsellor off duty between two passes.
    if cfg.duty_grace_s < 2 * cfg.reaper_interval_s:
        raise bad("duty_grace_s",
                  f"must be at least twice {PREFIX}REAPER_INTERVAL_S ({cfg.reaper_interval_s:g})")
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
    for name, parse in (("office_hours", parse_hours), ("holidays", parse_holidays),
                        ("office_timezone", parse_zone)):
        try:
            parse(getattr(cfg, name))
        except ValueError as exc:
            raise bad(name, str(exc)) from None
    if not 1 <= cfg.drop_reply_days <= 60:
        raise bad("drop_reply_days", "must be between 1 and 60 (working days)")
    try:
        parse_topics(cfg.topics)
    except ValueError as exc:
        raise bad("topics", str(exc)) from None
    if cfg.demo and not cfg.demo_any_address and not _is_loopback(cfg.host.strip("[]")):
        raise bad("host", f"{cfg.host!r} is not a loopback address, and demo mode prints "
                  "passwords and TOTP secrets and keeps its organisation key next to the "
                  f"server: listen on 127.0.0.1 or ::1, or set {PREFIX}DEMO_ANY_ADDRESS=true "
                  "to force it (never in production)")
    if len(cfg.controller) > 300 or any(ord(c) < 32 for c in cfg.controller):
        raise bad("controller", "must be one line of at most 300 characters (name and address)")
    if cfg.privacy_url and (not cfg.privacy_url.startswith(("https://", "http://"))
                            or any(c.isspace() or c in "\"'<>" for c in cfg.privacy_url)):
        raise bad("privacy_url", "must be an http(s) URL like https://example.org/datenschutz")
    try:
        emergency_entries(cfg.emergency_numbers)
    except ValueError as exc:
        raise bad("emergency_numbers", str(exc)) from None
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
    if "public_origins" not in values:
        values["public_origins"] = served_origins(str(values.get("host", Config.host)),
                                                  int(values.get("port", Config.port)))
    values.setdefault("embed_origins", values["public_origins"])
    values.setdefault("secure_cookies", not plain_loopback(tuple(values["public_origins"])))
    cfg = Config(**values)
    _validate(cfg)
    return cfg
