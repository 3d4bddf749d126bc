"""Fields that carry a key take canonical base64 of exactly a key: 32 bytes for an X25519 or
Ed25519 public key, 80 for a sealed 32-byte key; anything else is ``invalid`` before the
server acts (socket events) or a 400 (the console's socket-token route)."""

from __future__ import annotations

import base64
import os
import re

import aiohttp
from hypothesis import given
from hypothesis import strategies as st

from chatserver.sockets.schemas import base64_of
from chatserver.web.appkeys import USERS
from tests.support.accounts import console_sign_in
from tests.support.e2e_clients import Pki
from tests.support.harness import Harness, totp_of


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def stray_bits(value: str) -> str:
    """The same bytes with non-zero padding bits: lenient decoders take it, we must not."""
    last = value.rstrip("=")[-1]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    twisted = alphabet[alphabet.index(last) + 1]
    return value.replace(last + "=", twisted + "=", 1)


@given(raw=st.binary(max_size=120), size=st.sampled_from([1, 2, 3, 32, 64, 80]))
def test_the_pattern_takes_exactly_the_encoding_of_size_bytes(raw: bytes, size: int) -> None:
    assert bool(re.search(base64_of(size), b64(raw))) is (len(raw) == size)


@given(data=st.data(), size=st.sampled_from([1, 2, 32, 64, 80]))
def test_whatever_the_pattern_takes_is_canonical(data: st.DataObject, size: int) -> None:
    value = data.draw(st.from_regex(base64_of(size), fullmatch=True))
    raw = base64.b64decode(value, validate=True)
    assert len(raw) == size and b64(raw) == value


def wrong_keys(size: int) -> list[str]:
    good = b64(os.urandom(size))
    url_safe = base64.urlsafe_b64encode(b"\xfb" * size).decode()  # "-_" instead of "+/"
    return [b64(os.urandom(size - 1)), b64(os.urandom(size + 1)), stray_bits(good),
            good.rstrip("="), url_safe, "", "AAAA", " " + good]


async def test_socket_key_fields_refuse_what_is_not_exactly_a_key(harness: Harness) -> None:
    anna = await harness.counsellor("anna", "Anna", on_duty=False)
    visitor = await harness.visitor()
    key, sealed = b64(os.urandom(32)), b64(os.urandom(80))
    body = b64(os.urandom(100))
    registration = Pki().identity("Anna").box_registration(os.urandom(32))
    certificate = registration["certificate"]
    cases = [
        (anna, "keyring_register", registration, "box_pk", 32),
        (anna, "keyring_register", registration, "box_sig", 64),
        (anna, "keyring_init", {"records_pk": key, "sealed": sealed}, "records_pk", 32),
        (anna, "keyring_init", {"records_pk": key, "sealed": sealed}, "sealed", 80),
        (anna, "keyring_grant", {"user_id": "ben", "sealed": sealed}, "sealed", 80),
        (anna, "handoff", {"chat_id": "c" * 22, "consent_version": "v1", "sealed_key": sealed,
                           "body": body}, "sealed_key", 80),
        (anna, "handoff", {"chat_id": "c" * 22, "consent_version": "v1", "sealed_key": sealed,
                           "body": body, "reader_pk": key, "reader_body": body}, "reader_pk", 32),
        (visitor, "drop", {"lookup": key, "sealed_key": sealed, "body": body, "reply_pk": key},
         "reply_pk", 32),
        (visitor, "drop", {"lookup": key, "sealed_key": sealed, "body": body, "reply_pk": key},
         "sealed_key", 80),
        (visitor, "drop", {"lookup": key, "sealed_key": sealed, "body": body, "reply_pk": key},
         "lookup", 32),
        (visitor, "drop_check", {"lookup": key}, "lookup", 32),
    ]
    for client, event, payload, field, size in cases:
        for wrong in wrong_keys(size):
            answer = await client.call(event, {**payload, field: wrong})
            assert answer.get("error") == "invalid" and field in answer["message"], \
                (event, field, wrong, answer)
        # The right length passes the schema (whatever the event then says).
        answer = await client.call(event, payload)
        assert answer.get("error") != "invalid", (event, answer)
    # And the keys inside the certificate a console registers its box key with.
    for field, size in (("key", 32), ("sig", 64)):
        for wrong in wrong_keys(size):
            answer = await anna.call("keyring_register", {
                **registration, "certificate": {**certificate, field: wrong}})
            assert answer.get("error") == "invalid" and f"certificate.{field}" in \
                answer["message"], (field, wrong, answer)


async def test_the_console_takes_only_a_32_byte_identity_key(harness: Harness) -> None:
    uri = await harness.app[USERS].add("akeller", "counsellor", "ein-langes-passwort", "Anna")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        csrf = await console_sign_in(http, harness.url, "akeller", "ein-langes-passwort",
                                     totp_of(uri).now())
        url, headers = harness.url + "/console/api/socket-token", {"X-CSRF-Token": csrf}
        for wrong in [*wrong_keys(32), 32, [b64(os.urandom(32))]]:
            async with http.post(url, json={"identity_pk": wrong}, headers=headers) as resp:
                assert resp.status == 400, wrong
        async with http.post(url, json={"identity_pk": b64(os.urandom(32))},
                             headers=headers) as resp:
            assert resp.status == 200
