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
    """Refused events of one connection, counted in fixed windows, in memory only."""

    def __init__(self, limit: int, window_s: float = STRIKE_WINDOW_S) -> None:
        self._limit = limit
        self._window = window_s
        self._count = 0
        self._since = 0.0

    def hit(self, code: ErrorCode) -> bool:
        """Count one refusal with error ``code``; True once the connection should be closed."""
        if code in NOT_STRIKES:
            return False
        now = time.monotonic()
        if not self._count or now - self._since > self._window:
            self._count, self._since = 0, now
        self._count += 1
        return self._count > self._limit
