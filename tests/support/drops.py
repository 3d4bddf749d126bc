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


async def leave_drop(visitor: VisitorClient, code: str | None = None) -> LeftDrop:
    """What the widget does: drop_start (paid for), then the sealed message under the lookup
    value of a code it made itself."""
    code = code or crypto.generate_drop_code()
    keys = crypto.drop_keys(code)
    assert (await visitor.call("drop_start", {"lang": "de"})) == {"ok": True}
    ack = await visitor.call("drop", {"lookup": crypto.b64encode(keys.lookup),
                                      "sealed_key": random_ct(80), "body": random_ct(300),
                                      "reply_pk": crypto.b64encode(keys.reply_pk)})
    assert ack == {"ok": True}, ack
    return LeftDrop(code, keys)


def signed_answer(identity: Identity, drop: dict[str, Any], text: str) -> dict[str, Any]:
    """What the console sends for an opened drop: the answer sealed to its reply key and
    signed for its lookup value."""
    sealed = crypto.seal(crypto.b64decode(drop["reply_pk"]),
                         crypto.encode_payload({"t": "answer", "body": text}))
    return crypto.sign_drop_answer(identity.signing, identity.certificate,
                                   crypto.b64decode(drop["lookup"]), sealed)
