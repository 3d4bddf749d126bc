"""When the organisation's signed material lapses: the revocation list and the counsellors'
certificates, and when to warn.

Widgets refuse a revocation list older than 30 days, and so every chat, and a certificate past
its end, and so that counsellor's chats; either happens silently. :func:`assess` says from a
given clock how close each is, for the ``/metrics`` gauges and the console's banner 14 days
ahead; it is pure. :func:`read` gathers what it needs: the configured list, checked against
the pinned organisation key, and the certificates installed for accounts that chat.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from chatserver import crypto
from chatserver.config import Config
from chatserver.records.accounts import Users

DAY_S = 86400
# The widget's limit (jslib/e2e.js, chatserver/crypto.py), and how long before it we warn.
REVOCATION_MAX_AGE_S = crypto.DEFAULT_REVOCATION_MAX_AGE_S
WARN_AHEAD_S = 14 * DAY_S


class Lapse(StrEnum):
    """How a piece of signed material stands (the metric labels come from this set)."""

    VALID = "valid"
    EXPIRING = "expiring"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Material:
    """What :func:`assess` judges: the list's issue time (None if it is missing, unreadable
    or not signed by the pinned key) and the installed certificates' ends."""

    revocations_issued: float | None
    certificate_expiries: tuple[float, ...] = ()


@dataclass(frozen=True)
class Expiry:
    """How the list and the earliest certificate stand at ``now``."""

    now: float
    revocations_issued: float | None
    certificate_expiries: tuple[float, ...]

    @property
    def revocations_age_s(self) -> float | None:
        """Seconds since the list was signed, or None without a valid list."""
        return None if self.revocations_issued is None else self.now - self.revocations_issued

    @property
    def revocations_lapse_at(self) -> float | None:
        """When widgets start refusing the list."""
        issued = self.revocations_issued
        return None if issued is None else issued + REVOCATION_MAX_AGE_S

    @property
    def revocations(self) -> Lapse:
        """A missing or forged list is as good as expired: widgets refuse it."""
        return _lapse(self.revocations_lapse_at, self.now)

    @property
    def earliest_certificate_expiry(self) -> float | None:
        """The end of the certificate that ends first, or None without certificates."""
        return min(self.certificate_expiries, default=None)

    def certificate_ends(self, lapse: Lapse) -> list[float]:
        """The ends of the certificates that stand as ``lapse``, earliest first."""
        return [end for end in self.certificate_expiries if _lapse(end, self.now) == lapse]

    def certificates(self, lapse: Lapse) -> int:
        """How many certificates stand as ``lapse``."""
        return len(self.certificate_ends(lapse))

    @property
    def warn(self) -> bool:
        """True when the console should warn: anything lapsed or lapsing within 14 days."""
        return (self.revocations != Lapse.VALID
                or any(self.certificates(lapse) for lapse in (Lapse.EXPIRING, Lapse.EXPIRED)))


def _lapse(at: float | None, now: float) -> Lapse:
    if at is None or now > at:
        return Lapse.EXPIRED
    return Lapse.EXPIRING if at - now < WARN_AHEAD_S else Lapse.VALID


def assess(material: Material, now: float) -> Expiry:
    """How ``material`` stands at ``now``."""
    return Expiry(now, material.revocations_issued, tuple(sorted(material.certificate_expiries)))


def revocations_issued(config: Config, data: Any) -> float | None:
    """The list's issue time if the pinned organisation key signed it, else None."""
    try:
        crypto.verify_revocation_list(data, crypto.b64decode(config.org_public_key), 0,
                                      max_age=2**62)
    except (crypto.CryptoError, ValueError):
        return None
    return float(data["issued"])


def certificate_expiry(text: str) -> float | None:
    """The end a certificate states (widgets check its signature), or None if unreadable."""
    try:
        expires = json.loads(text).get("expires")
    except (ValueError, AttributeError):
        return None
    return float(expires) if isinstance(expires, int) and not isinstance(expires, bool) else None


async def read(config: Config, users: Users) -> Material:
    """The configured revocation list and the certificates of the accounts that chat."""
    issued = None
    if config.revocations_file and config.org_public_key:
        try:
            text = await asyncio.to_thread(Path(config.revocations_file).read_text, "utf-8")
            issued = revocations_issued(config, json.loads(text))
        except (OSError, ValueError):
            issued = None
    ends = (certificate_expiry(cert) for cert in await users.certificates())
    return Material(issued, tuple(end for end in ends if end is not None))
