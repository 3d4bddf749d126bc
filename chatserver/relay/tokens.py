"""Counsellor connection tokens: random bearer secrets, stored hashed in the state with a TTL.

The console issues one after a full login (password and TOTP), bound to its console session
(``Identity.session``), and revokes them at logout; ``chatserver user disable`` and ``reset``
revoke them where they can reach the state. The socket edge also checks the session in the
database, so a token is good only while its session is. There is no other way onto
``/counsellor``.
"""

from __future__ import annotations

import secrets

from chatserver.relay.state import Identity, State, secret_key
from chatserver.vocabulary import COUNSELLOR_ROLES


class Tokens:
    """Issue, resolve and revoke socket tokens in the relay's state."""

    def __init__(self, state: State) -> None:
        self._state = state

    async def issue(self, identity: Identity, ttl: float) -> str:
        """Create a token for ``identity``; only chat-capable roles get one."""
        if identity.role not in COUNSELLOR_ROLES:
            raise ValueError("only counsellors and admins may chat")
        token = secrets.token_urlsafe(32)
        await self._state.put_token(secret_key(token), identity, ttl)
        return token

    async def resolve(self, token: object) -> Identity | None:
        """The identity behind ``token``, or None if it is unknown, expired or malformed."""
        if not isinstance(token, str) or not 16 <= len(token) <= 128:
            return None
        return await self._state.get_token(secret_key(token))

    async def revoke_all(self, counsellor_id: str) -> None:
        """Forget every token of one counsellor (at logout, disable and reset)."""
        await self._state.drop_tokens_of(counsellor_id)
