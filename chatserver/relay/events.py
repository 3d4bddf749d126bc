"""Typed lifecycle events: what happened, for statistics and metrics, without who or what.

The relay (and the hand-off) publish these to listeners. They carry only aggregate-safe
fields: an entry type, a language, a bucketable duration, a time. Never an id or content.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from chatserver.errors import ErrorCode
from chatserver.vocabulary import Direction


@dataclass(frozen=True, slots=True)
class ChatRequested:
    """A visitor joined the queue."""

    entry: str
    lang: str
    at: float


@dataclass(frozen=True, slots=True)
class UrgentRequested:
    """A visitor joining the queue said it is urgent (counted alone: no entry, no language)."""

    at: float


@dataclass(frozen=True, slots=True)
class ChatRefused:
    """A visitor could not join the queue (full, closed)."""

    entry: str
    lang: str


@dataclass(frozen=True, slots=True)
class ChatAccepted:
    """A counsellor took a waiting chat after ``wait_s`` seconds."""

    entry: str
    lang: str
    wait_s: float
    at: float


@dataclass(frozen=True, slots=True)
class ChatAbandoned:
    """A waiting chat ended before anyone took it."""

    entry: str
    lang: str
    wait_s: float
    at: float


@dataclass(frozen=True, slots=True)
class ChatEnded:
    """An accepted chat ended after ``duration_s`` seconds."""

    entry: str
    lang: str
    reason: str
    duration_s: float
    at: float


@dataclass(frozen=True, slots=True)
class TopicsChosen:
    """The counsellor who ended a chat named what it was about (configured topic ids)."""

    topics: tuple[str, ...]
    at: float


@dataclass(frozen=True, slots=True)
class ChatTransferred:
    """A chat moved to a colleague."""

    entry: str
    lang: str


@dataclass(frozen=True, slots=True)
class ChatHandedOff:
    """A chat became a case record with the visitor's consent."""

    entry: str
    lang: str
    at: float


@dataclass(frozen=True, slots=True)
class DropLeft:
    """An anonymous message was left while nobody was on duty."""

    lang: str
    at: float


@dataclass(frozen=True, slots=True)
class DropAnswered:
    """A counsellor answered an anonymous message."""

    at: float


@dataclass(frozen=True, slots=True)
class EnvelopeRelayed:
    """One envelope was accepted for relay."""

    direction: Direction


@dataclass(frozen=True, slots=True)
class EventRefused:
    """A socket event was answered with an error."""

    code: ErrorCode


LifecycleEvent = (
    ChatRequested | UrgentRequested | ChatRefused | ChatAccepted | ChatAbandoned | ChatEnded
    | ChatTransferred | ChatHandedOff | DropLeft | DropAnswered | EnvelopeRelayed | EventRefused
    | TopicsChosen
)
Listener = Callable[[LifecycleEvent], Awaitable[None]]
