"""Token buckets per connection, and per client address held only as a keyed hash in memory."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """A bucket per key refilling at ``rate`` per second up to ``burst``."""

    def __init__(self, rate: float, burst: float) -> None:
        self._rate = rate
        self._burst = burst
        self._buckets: dict[str, _Bucket] = {}

    def allow(self, key: str, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket if it has them."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._burst, now)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.stamp) * self._rate)
        bucket.stamp = now
        if bucket.tokens < cost:
            return False
        bucket.tokens -= cost
        return True

    def forget(self, key: str) -> None:
        """Drop ``key``'s bucket (the connection closed)."""
        self._buckets.pop(key, None)

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
        if address in self._trusted:
            # Behind our own reverse proxy the client's address arrives in X-Real-IP.
            forwarded = str(environ.get("HTTP_X_REAL_IP") or "").strip()
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
