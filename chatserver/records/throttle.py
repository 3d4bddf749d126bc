"""Growing delays after failed console sign-ins, per account name and per client, in memory.

Nothing here is stored or logged: names are kept as keyed hashes (HMAC under a secret made at
every start), clients as the opaque keys the edge makes of their addresses. Every name typed
is throttled the same way whether or not such an account exists, so the delays tell nobody
which accounts exist. The memory is per process: a restart forgets it, and each node of a
cluster keeps its own.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Policy:
    """How the delay grows: ``free`` failures in a row cost nothing, then ``base_s`` seconds,
    doubling with each further failure up to ``cap_s``; ``forget_s`` after the last failure
    the count starts over."""

    free: int
    base_s: float
    cap_s: float
    forget_s: float = 3600.0

    def delay(self, failures: int) -> float:
        """Seconds before the next try after ``failures`` failures in a row."""
        if failures < self.free:
            return 0.0
        # min() on the exponent first: 2 ** a huge count would overflow a float.
        return min(self.cap_s, self.base_s * 2.0 ** min(failures - self.free, 64))


# The account's delay holds a sign-in back but never refuses it, so nobody can lock an
# account against its owner: whoever has the password and the code is in after at most cap_s.
ACCOUNT_POLICY = Policy(free=3, base_s=1.0, cap_s=15.0)
# The client's delay refuses: it stops one source of guesses and hurts nobody else.
CLIENT_POLICY = Policy(free=5, base_s=1.0, cap_s=900.0)
MAX_KEYS = 100_000


@dataclass
class _Failures:
    count: int
    last: float


class Throttle:
    """Failures in a row per key and the delay they impose, with a bounded memory."""

    def __init__(self, policy: Policy, max_keys: int = MAX_KEYS) -> None:
        self.policy = policy
        self._max = max_keys
        self._failures: dict[str, _Failures] = {}

    def _current(self, key: str, now: float) -> _Failures | None:
        entry = self._failures.get(key)
        if entry is not None and now - entry.last > self.policy.forget_s:
            del self._failures[key]
            return None
        return entry

    def wait(self, key: str, now: float) -> float:
        """Seconds ``key`` must still wait before its next try (0: it may try now)."""
        entry = self._current(key, now)
        if entry is None:
            return 0.0
        return max(0.0, entry.last + self.policy.delay(entry.count) - now)

    def failed(self, key: str, now: float) -> int:
        """Count a failure; returns the failures in a row."""
        entry = self._current(key, now)
        if entry is None:
            if len(self._failures) >= self._max:
                self._prune(now)
            entry = self._failures[key] = _Failures(0, now)
        entry.count += 1
        entry.last = now
        return entry.count

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _prune(self, now: float) -> None:
        """Forget what has expired; if that is not enough, the oldest tenth as well (a flood
        of made-up names must not grow the memory without bound)."""
        for key in [k for k, e in self._failures.items()
                    if now - e.last > self.policy.forget_s]:
            del self._failures[key]
        if len(self._failures) >= self._max:
            oldest = sorted(self._failures, key=lambda k: self._failures[k].last)
            for key in oldest[: max(1, self._max // 10)]:
                del self._failures[key]

    def __len__(self) -> int:
        return len(self._failures)


class SignInThrottle:
    """The two throttles of the console sign-in: by the name typed and by the client."""

    def __init__(self, account: Policy = ACCOUNT_POLICY, client: Policy = CLIENT_POLICY) -> None:
        self._secret = os.urandom(32)
        self.accounts = Throttle(account)
        self.clients = Throttle(client)

    def name_key(self, name: str) -> str:
        """The keyed hash a typed name is kept under (it may be a password typed in the wrong
        field, so never the name itself)."""
        return hmac.new(self._secret, name.encode(), hashlib.sha256).hexdigest()[:32]
