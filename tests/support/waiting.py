"""Waiting on conditions, never on the clock: :func:`eventually` polls a condition until it
holds or a bounded time has passed, and says what it waited for when it gives up.

``eventually_blocking`` is the same for code that runs outside the event loop (starting
subprocesses from synchronous fixtures, or in a thread).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")

TIMEOUT_S = 10.0
INTERVAL_S = 0.05


class _Tries:
    """The bookkeeping of one wait: what the last try saw, and the message when time is up."""

    def __init__(self, condition: Callable[[], object], what: str, timeout: float,
                 ignoring: tuple[type[BaseException], ...]) -> None:
        self.what = what or getattr(condition, "__qualname__", "the condition")
        self.timeout = timeout
        self.ignoring = ignoring
        self.count = 0
        self.last = "nothing yet"

    def saw(self, result: object) -> None:
        self.count += 1
        # Short on purpose: results may hold ciphertext, which has no place in test output.
        self.last = f"it returned {repr(result)[:80]}"

    def failed(self, exc: BaseException) -> None:
        self.count += 1
        self.last = f"it raised {type(exc).__name__}"

    def expired(self) -> AssertionError:
        return AssertionError(f"waited {self.timeout:g} s ({self.count} tries) for {self.what}; "
                              f"last time {self.last}")


async def eventually(condition: Callable[[], T | Awaitable[T]], *, what: str = "",
                     until: Callable[[T], object] = bool, timeout: float = TIMEOUT_S,
                     interval: float = INTERVAL_S,
                     ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """Call ``condition`` (awaiting what it returns, if awaitable) until ``until`` holds for
    the result (by default: until it is truthy), and return that result.

    An exception of a type in ``ignoring`` counts as "not yet"; any other exception, a failed
    ``assert`` inside the condition included, ends the wait at once: a condition may check
    what must never happen on the way. After ``timeout`` seconds an AssertionError names
    ``what`` and what the last try saw.
    """
    tries = _Tries(condition, what, timeout, ignoring)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
        except tries.ignoring as exc:
            tries.failed(exc)
        else:
            if until(cast(T, result)):
                return cast(T, result)
            tries.saw(result)
        if loop.time() >= deadline:
            raise tries.expired()
        await asyncio.sleep(interval)


def eventually_blocking(condition: Callable[[], T], *, what: str = "",
                        until: Callable[[T], object] = bool, timeout: float = TIMEOUT_S,
                        interval: float = INTERVAL_S,
                        ignoring: tuple[type[BaseException], ...] = ()) -> T:
    """:func:`eventually` for synchronous code: blocks the calling thread between tries."""
    tries = _Tries(condition, what, timeout, ignoring)
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = condition()
        except tries.ignoring as exc:
            tries.failed(exc)
        else:
            if until(result):
                return result
            tries.saw(result)
        if time.monotonic() >= deadline:
            raise tries.expired()
        time.sleep(interval)
