"""Token buckets per connection, and per client address held only as a keyed hash in memory."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class TokenBucket:
    """One bucket refilling at ``rate`` per second up to ``burst``, starting full."""

    rate: float
    burst: float
    tokens: float = -1.0
    stamp: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def allow(self, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens if the bucket has them."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


class RateLimiter:
    """A bucket per key (a keyed address hash) refilling at ``rate`` per second up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._buckets: dict[str, TokenBucket] = {}

    def bucket(self) -> TokenBucket:
        """A fresh bucket with this limiter's rate, for one connection."""
        return TokenBucket(self._rate, self._burst)

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket if it has them."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = self.bucket()
        return bucket.allow(cost)

    def prune(self, idle_s: float) -> None:
        """Drop buckets untouched for ``idle_s`` seconds (they would be full again anyway)."""
        cutoff = time.monotonic() - idle_s
        for key in [k for k, b in self._buckets.items() if b.stamp < cutoff]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class AddressKeys:
    """Turns a client address into an opaque key: HMAC under a random per-process secret.

    The secret never leaves memory and changes at every start, so the keys cannot be
    reversed or linked across restarts; nothing derived from an address is ever stored.
    """

    def __init__(self, trusted_proxies: tuple[str, ...] = ()) -> None:
        self._secret = os.urandom(32)
        self._trusted = frozenset(trusted_proxies)

    def key_for(self, environ: dict[str, Any]) -> str:
        """The keyed hash of the client's address as seen in a socket.io connect environ."""
        # python-engineio's aiohttp driver always writes 127.0.0.1 into REMOTE_ADDR; the real
        # peer is the remote of the aiohttp request it passes along.
        request = environ.get("aiohttp.request")
        address = str(getattr(request, "remote", None) or environ.get("REMOTE_ADDR") or "")
        return self.key_for_peer(address, str(environ.get("HTTP_X_REAL_IP") or ""))

    def key_for_peer(self, address: str, real_ip: str = "") -> str:
        """The keyed hash of a client: the peer ``address``, or ``real_ip`` (the X-Real-IP
        header) when the peer is a trusted proxy."""
        if address in self._trusted:
            # Behind our own reverse proxy the client's address arrives in X-Real-IP.
            forwarded = real_ip.strip()
            if forwarded:
                address = forwarded
        try:
            network = ipaddress.ip_network(address)
        except ValueError:
            network = None
        if network is not None and network.version == 6:
            # One IPv6 client usually owns a whole /64.
            address = str(ipaddress.ip_network(f"{address}/64", strict=False))
        digest = hmac.new(self._secret, address.encode(), hashlib.sha256).hexdigest()
        return digest[:32]
