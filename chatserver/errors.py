"""The one domain error type and its codes, and the one error shape every edge answers with.

Every layer raises :class:`DomainError` with an :class:`ErrorCode`; the socket edge and the
console's JSON routes turn it into ``{"error": code, "message": text}`` through
:meth:`DomainError.as_payload`, and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable, documented error codes (docs/architecture.md); metrics label refusals by them."""

    INVALID = "invalid"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    RATE_LIMITED = "rate_limited"
    QUEUE_FULL = "queue_full"
    TAKEN = "taken"
    LIMIT = "limit"
    BAD_SEQ = "bad_seq"
    BAD_STATE = "bad_state"
    RESERVED = "reserved"
    CONFLICT = "conflict"
    CHALLENGE = "challenge"
    NO_CONSENT = "no_consent"
    # Case records need a grant of the team's records key (docs/protocol.md, "Who may do what").
    NO_GRANT = "no_grant"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class DomainError(Exception):
    """A refused request; ``code`` is stable and documented, ``message`` is for humans."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(code.value)
        self.code = code
        self.message = message

    def as_payload(self) -> dict[str, Any]:
        """The documented error shape ``{"error": code, "message": text}``."""
        return {"error": self.code.value, "message": self.message}


def invalid(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID, message)


def not_found(message: str = "No such chat.") -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, message)


def forbidden(message: str = "Not allowed.") -> DomainError:
    return DomainError(ErrorCode.FORBIDDEN, message)


def rate_limited(message: str = "Too many requests, slow down.") -> DomainError:
    return DomainError(ErrorCode.RATE_LIMITED, message)


INTERNAL = DomainError(ErrorCode.INTERNAL, "Something went wrong on the server; try again.")
