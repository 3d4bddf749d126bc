"""Message drops as the widget leaves them and the console answers them, in Python: a drop
code made on the visitor's side, its lookup value and reply key, a signed answer, and a
counsellor holding a grant of the records key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chatserver import crypto
from tests.support.clients import VisitorClient, random_ct
from tests.support.e2e_clients import Identity


@dataclass
class LeftDrop:
    """A drop as its visitor knows it: the code (never sent) and what it derives."""

    code: str = field(repr=False)
    keys: crypto.DropKeys = field(repr=False)

    @property
    def lookup(self) -> str:
        return crypto.b64encode(self.keys.lookup)


async def write_drop(visitor: VisitorClient, code: str, round_no: int = 1) -> dict[str, Any]:
    """What the widget does: drop_start (paid for), then the sealed message of round
    ``round_no`` under the lookup value of ``code``; the server's answer."""
    keys = crypto.drop_keys(code)
    assert (await visitor.call("drop_start", {"lang": "de"})) == {"ok": True}
    message = {"lookup": crypto.b64encode(keys.lookup), "sealed_key": random_ct(80),
               "body": random_ct(300), "reply_pk": crypto.b64encode(keys.reply_pk)}
    if round_no > 1:
        message["round"] = round_no
    answer: dict[str, Any] = await visitor.call("drop", message)
    return answer


async def leave_drop(visitor: VisitorClient, code: str | None = None) -> LeftDrop:
    """A new thread under a code made on the visitor's side (round 1)."""
    code = code or crypto.generate_drop_code()
    ack = await write_drop(visitor, code)
    assert ack == {"ok": True}, ack
    return LeftDrop(code, crypto.drop_keys(code))


def signed_answer(identity: Identity, drop: dict[str, Any], text: str,
                  team: str | None = None) -> dict[str, Any]:
    """What the console sends for an opened drop: the answer (naming its round) sealed to its
    reply key and signed for its lookup value, with ``team``, the copy for colleagues."""
    sealed = crypto.seal(crypto.b64decode(drop["reply_pk"]), crypto.encode_payload(
        {"t": "answer", "body": text, "round": drop.get("round", 1)}))
    answer = crypto.sign_drop_answer(identity.signing, identity.certificate,
                                     crypto.b64decode(drop["lookup"]), sealed)
    return answer if team is None else {**answer, "team": team}
