"""The team's records key reaches counsellors only as grants sealed to their own box keys."""

from __future__ import annotations

import json
import os

import aiohttp
import nacl.bindings as sodium
import nacl.secret

from chatserver import crypto
from chatserver.web.appkeys import CONFIG
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness


def keypair() -> tuple[bytes, bytes]:
    sk = os.urandom(32)
    return sk, sodium.crypto_scalarmult_base(sk)


async def test_records_key_flows_through_sealed_grants_and_opens_a_record(
    harness: Harness,
) -> None:
    anna = await harness.counsellor("anna", "Anna")
    ben = await harness.counsellor("ben", "Ben")
    anna_sk, anna_pk = keypair()
    ben_sk, ben_pk = keypair()
    records_sk, records_pk = keypair()
    pki = Pki()
    anna_id, ben_id = pki.identity("Anna"), pki.identity("Ben")

    url = harness.url + "/api/records-key"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 404

    not_yet = crypto.b64encode(os.urandom(80))
    assert (await anna.call("keyring_init", {"records_pk": crypto.b64encode(records_pk),
                                             "sealed": not_yet}))["error"] == "bad_state"
    assert (await anna.call("keyring_register", anna_id.box_registration(anna_pk)))["ok"]
    grant = crypto.b64encode(crypto.seal(anna_pk, records_sk))
    assert (await anna.call("keyring_init", {"records_pk": crypto.b64encode(records_pk),
                                             "sealed": grant}))["ok"]
    assert (await anna.call("keyring_init", {"records_pk": crypto.b64encode(records_pk),
                                             "sealed": grant}))["error"] == "conflict"

    # Ben registers; he is pending until a holder grants; he cannot grant himself. The list
    # carries what Anna's console checks before it seals anything to his box key.
    assert (await ben.call("keyring_register", ben_id.box_registration(ben_pk)))["ok"]
    status = await ben.call("keyring", {})
    assert status["me"] == {"box_pk": crypto.b64encode(ben_pk), "sealed": ""}
    assert status["pending"] == [{"user_id": "ben", "pseudonym": "Ben",
                                  **ben_id.box_registration(ben_pk)}]
    (waiting,) = status["pending"]
    assert crypto.verify_box_key(waiting["certificate"], waiting["box_pk"], waiting["box_sig"],
                                 pki.org_public_key, pki.now).pseudonym == "Ben"
    forged = crypto.b64encode(crypto.seal(ben_pk, os.urandom(32)))
    assert (await ben.call("keyring_grant", {"user_id": "ben", "sealed": forged}))["error"] == \
        "forbidden"

    # Anna opens her grant and seals the key to Ben's box key.
    mine = (await anna.call("keyring", {}))["me"]["sealed"]
    opened = crypto.open_sealed(anna_sk, anna_pk, crypto.b64decode(mine))
    assert opened == records_sk
    sealed_for_ben = crypto.b64encode(crypto.seal(ben_pk, opened))
    assert (await anna.call("keyring_grant", {"user_id": "ben", "sealed": sealed_for_ben}))["ok"]
    bens = (await ben.call("keyring", {}))["me"]["sealed"]
    assert crypto.open_sealed(ben_sk, ben_pk, crypto.b64decode(bens)) == records_sk

    # The widget learns the public half; a record sealed to it opens with Ben's copy.
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert (await resp.json()) == {"records_pk": crypto.b64encode(records_pk),
                                       "certificate": None}
    record_key = os.urandom(32)
    body = nacl.secret.SecretBox(record_key).encrypt(json.dumps({"t": "x"}).encode())
    sealed_key = crypto.seal(records_pk, record_key)
    assert crypto.open_sealed(records_sk, records_pk, sealed_key) == record_key
    assert nacl.secret.SecretBox(record_key).decrypt(body) == b'{"t": "x"}'

    # Nothing the server stores would open without a counsellor's box secret.
    path = harness.app[CONFIG].sqlite_path
    assert path is not None
    stored = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert records_sk not in stored and crypto.b64encode(records_sk).encode() not in stored
