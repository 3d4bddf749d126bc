"""Strikes: a connection refused too often within a window is closed."""

from __future__ import annotations

import time

from chatserver.errors import ErrorCode

# A connection refused ``CHATSERVER_STRIKE_LIMIT`` times within the window is closed: a flood
# then costs the sender a reconnect, which is limited per address, instead of only an answer.
STRIKE_WINDOW_S = 10.0
# Our own faults are not the client's doing.
NOT_STRIKES = frozenset({ErrorCode.INTERNAL, ErrorCode.UNAVAILABLE})


class Strikes:
    """Refused events per connection, counted in fixed windows, in memory only."""

    def __init__(self, limit: int, window_s: float = STRIKE_WINDOW_S) -> None:
        self._limit = limit
        self._window = window_s
        self._count: dict[str, tuple[int, float]] = {}

    def hit(self, sid: str, code: ErrorCode) -> bool:
        """Count one refusal with error ``code``; True once the connection should be closed."""
        if code in NOT_STRIKES:
            return False
        now = time.monotonic()
        count, since = self._count.get(sid, (0, now))
        if now - since > self._window:
            count, since = 0, now
        self._count[sid] = (count + 1, since)
        return count + 1 > self._limit

    def forget(self, sid: str) -> None:
        """The connection closed."""
        self._count.pop(sid, None)
