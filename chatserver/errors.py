"""Domain errors and the one error shape every socket event and API answers with."""

from __future__ import annotations

from typing import Any


class ChatError(Exception):
    """A refused request; ``code`` is stable and documented, ``message`` is for humans."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code)
        self.code = code
        self.message = message

    def as_payload(self) -> dict[str, Any]:
        """The documented error shape ``{"error": code, "message": text}``."""
        return {"error": self.code, "message": self.message}


def invalid(message: str) -> ChatError:
    return ChatError("invalid", message)


def not_found(message: str = "No such chat.") -> ChatError:
    return ChatError("not_found", message)


def forbidden(message: str = "Not allowed.") -> ChatError:
    return ChatError("forbidden", message)


def rate_limited(message: str = "Too many requests, slow down.") -> ChatError:
    return ChatError("rate_limited", message)


def conflict(message: str) -> ChatError:
    return ChatError("conflict", message)


INTERNAL = {"error": "internal", "message": "Something went wrong on the server; try again."}
