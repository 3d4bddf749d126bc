"""Demo mode pins a local org key, signs a fresh revocation list and certifies on request."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chatserver import crypto
from chatserver.admin import demo, keys
from chatserver.config import Config


def test_demo_prepare_and_certify(make_config: Callable[..., Config]) -> None:
    config = demo.prepare(make_config(demo=True))
    org_pk = crypto.b64decode(config.org_public_key)
    listing = keys.load_revocation_list(Path(config.revocations_file))
    now = int(time.time())
    assert crypto.verify_revocation_list(listing, org_pk, now) == frozenset()
    key_file = demo.demo_dir(config) / keys.KEY_FILE
    assert key_file.stat().st_mode & 0o077 == 0
    # The same key on the next start.
    assert demo.prepare(make_config(demo=True)).org_public_key == config.org_public_key
    identity = crypto.SigningSeed.generate()
    cert = demo.certify(config, identity.public_key, "Anna")
    assert crypto.verify_certificate(cert, org_pk, now)


def test_outside_demo_mode_nothing_is_pinned_or_certified(
    make_config: Callable[..., Config],
) -> None:
    config = make_config()
    assert demo.prepare(config) is config
    with pytest.raises(PermissionError):
        demo.certify(config, crypto.SigningSeed.generate().public_key, "Anna")
