"""Counsellor connection tokens: random bearer secrets, stored hashed in the state with a TTL.

The console issues one after a full login (password and TOTP) and revokes them at logout;
tests issue them with the same function. There is no other way onto ``/counsellor``.
"""

from __future__ import annotations

import secrets

from chatserver.relay.state import Identity, State, secret_key

COUNSELLOR_ROLES = frozenset({"counsellor", "admin"})


async def issue_token(state: State, identity: Identity, ttl: float) -> str:
    """Create a token for ``identity``; only chat-capable roles get one."""
    if identity.role not in COUNSELLOR_ROLES:
        raise ValueError("only counsellors and admins may chat")
    token = secrets.token_urlsafe(32)
    await state.put_token(secret_key(token), identity, ttl)
    return token


async def resolve_token(state: State, token: object) -> Identity | None:
    """The identity behind ``token``, or None if it is unknown, expired or malformed."""
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        return None
    return await state.get_token(secret_key(token))


async def revoke_token(state: State, token: str) -> None:
    """Forget one token (logout)."""
    await state.drop_token(secret_key(token))


async def revoke_all(state: State, counsellor_id: str) -> None:
    """Forget every token of one counsellor (account disabled or reset)."""
    await state.drop_tokens_of(counsellor_id)
