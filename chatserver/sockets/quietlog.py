"""The socket libraries' loggers, kept quiet: no client-made text ever reaches a log.

python-socketio and python-engineio interpolate session ids, origins and event names the
client chose into their log lines; only fixed texts about server-side faults are kept.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

# Library messages about server-side faults (Redis, the pub/sub listener, the service task):
# fixed texts worth keeping. Everything else those libraries log is caused by a client.
SERVER_FAULTS = (
    "Cannot publish to redis",
    "Cannot receive from redis",
    "pubsub listen() exited",
    "Handler error in pubsub",
    "Unexpected Error in pubsub",
    "service task exception",
    "The WebSocket transport is not available",
)
CLIENT_NOTE_INTERVAL_S = 60.0


class QuietLog:
    """Logger for python-socketio and python-engineio that never writes client-made text.

    Server-side faults keep their fixed text and the exception type; anything a client
    provoked becomes one fixed, rate-limited note. Never a traceback, never an argument.
    """

    def __init__(self, name: str = "chatserver.socketio") -> None:
        self._log = logging.getLogger(name)
        self._client_events = 0
        self._noted_at = -CLIENT_NOTE_INTERVAL_S

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Dropped: library debug lines carry session ids and payloads."""

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Dropped, like debug."""

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Library warnings are all about what a client did."""
        self._client()

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """A server fault keeps its fixed text; anything else is a client's doing."""
        self._emit(msg, None)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Like error, with only the type of the exception being handled."""
        exc = sys.exc_info()[1]
        self._emit(msg, type(exc).__name__ if exc is not None else None)

    def _emit(self, msg: object, exc_type: str | None) -> None:
        text = msg if isinstance(msg, str) else ""
        if text.startswith(SERVER_FAULTS):
            # The fixed prefix only: some of these texts end with library-formatted numbers.
            fault = next(p for p in SERVER_FAULTS if text.startswith(p))
            self._log.error("socket.io: %s (%s)", fault, exc_type or "no exception")
        else:
            self._client()

    def _client(self) -> None:
        self._client_events += 1
        now = time.monotonic()
        if now - self._noted_at >= CLIENT_NOTE_INTERVAL_S:
            self._log.warning("socket.io refused %d malformed or unexpected client requests",
                              self._client_events)
            self._client_events = 0
            self._noted_at = now
