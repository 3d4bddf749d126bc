"""``chatserver user``: console accounts from the command line (add, list, certify, ...).

``disable`` and ``reset`` take effect at once: in the database they end the account's console
sessions and its records grant, which every node checks its open sockets against within a
second; with Redis configured they also revoke the account's socket tokens there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from chatserver import crypto
from chatserver.config import Config, load_config
from chatserver.records.accounts import ROLES, Users
from chatserver.records.db import migrate, open_engine
from chatserver.records.kdf import KDF_COSTS
from chatserver.records.store import Keyring
from chatserver.relay.state.redis import RedisState
from chatserver.relay.tokens import Tokens

# How long the command waits for Redis before it leaves the tokens to the nodes' check.
REDIS_WAIT_S = 5.0


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``chatserver user add|list|disable|enable|reset|certify``."""
    user = subparsers.add_parser("user", help="manage console accounts")
    sub = user.add_subparsers(dest="user_command", required=True)
    add = sub.add_parser("add", help="create an account (password from stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="counsellor")
    add.add_argument("--pseudonym", required=True,
                     help="the name visitors see (required; not the login name)")
    sub.add_parser("list", help="list accounts: name, role, pseudonym, how many passkeys and "
                                "when one was last used (UTC), active or disabled")
    cert = sub.add_parser("certify", help="install a certificate made by `chatserver keys certify`")
    cert.add_argument("name")
    cert.add_argument("certificate", help="the certificate JSON file")
    helps = {
        "disable": "disable an account: its sessions, socket tokens and records grant end now",
        "enable": "enable a disabled account again (it signs in and is granted anew)",
        "reset": "new password (from stdin) and TOTP secret: sessions, socket tokens and "
                 "records grant end now",
    }
    for verb, text in helps.items():
        sub.add_parser(verb, help=text).add_argument("name")
    user.set_defaults(func=_run)


def check_certificate(config: Config, certificate: object) -> None:
    """Refuse a certificate the nodes would hand to consoles in vain: with the organisation
    key pinned, one it did not sign or that is not valid now (ValueError says which); clients
    verify it again, with the revocation list."""
    if not config.org_public_key:
        return
    try:
        crypto.verify_certificate(certificate, crypto.b64decode(config.org_public_key),
                                  int(time.time()))
    except crypto.CryptoError as exc:
        raise ValueError(f"the certificate does not verify under CHATSERVER_ORG_PUBLIC_KEY "
                         f"({exc})") from None


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_run_async(args))


async def revoke_tokens(config: Config, user_id: str) -> bool:
    """Revoke every socket token of ``user_id`` in the configured state; False if it could not
    be reached. Without Redis the state lives inside the server process, out of reach: there
    the nodes' own check against the database does it."""
    if not config.uses_redis:
        return False
    state = RedisState(config.redis_url)
    try:
        await asyncio.wait_for(Tokens(state).revoke_all(user_id), REDIS_WAIT_S)
        return True
    except Exception:  # unreachable Redis: the database check still ends every token
        return False
    finally:
        await state.close()


async def _shut(config: Config, accounts: Users, keyring: Keyring, name: str,
                password: str | None) -> str:
    """Disable (``password`` None) or reset an account; returns what to print."""
    user = await accounts.find(name)
    if user is None:
        raise KeyError(name)
    holders = await keyring.holders()
    if password is None:
        await accounts.set_disabled(name, True)
        out = ""
    else:
        out = await accounts.reset(name, password)
    if not await revoke_tokens(config, user.id):
        reason = ("the state lives in the server process" if not config.uses_redis
                  else "Redis did not answer")
        print(f"note: socket tokens not revoked in the state ({reason}); every node refuses "
              "them within a second anyway, since their console sessions are gone",
              file=sys.stderr)
    if password is None and user.id in holders:
        print("note: this account held the records key; if its owner leaves the team, an "
              "administrator rotates the key now (docs/operations.md, \"Someone leaves\")",
              file=sys.stderr)
    if holders == [user.id]:
        print("warning: this account held the only grant of the team's records key; until "
              "it is granted again nobody can open case records or drops", file=sys.stderr)
    return out


async def _run_async(args: argparse.Namespace) -> int:
    config = load_config()
    engine = open_engine(config)
    try:
        await migrate(engine)
        ops, mem = KDF_COSTS[config.kdf_cost]
        accounts = Users(engine, ops, mem)
        cmd = args.user_command
        if cmd == "list":
            for row in await accounts.list_users():
                state = "disabled" if row["disabled"] else "active"
                used = row["passkey_used"]
                last = (datetime.fromtimestamp(used, UTC).strftime("%Y-%m-%dT%H:%MZ")
                        if used else "never")
                print(f"{row['name']}\t{row['role']}\t{row['pseudonym']}\t"
                      f"passkeys={row['passkeys']}\tpasskey-last-used={last}\t{state}")
        elif cmd == "certify":
            text = await asyncio.to_thread(Path(args.certificate).read_text, "utf-8")
            check_certificate(config, json.loads(text))
            await accounts.set_certificate(args.name, text)
        elif cmd == "add":
            password = sys.stdin.readline().rstrip("\n")
            print(await accounts.add(args.name, args.role, password, args.pseudonym,
                                     one_time=True))
        elif cmd == "reset":
            password = sys.stdin.readline().rstrip("\n")
            print(await _shut(config, accounts, Keyring(engine), args.name, password))
        elif cmd == "disable":
            await _shut(config, accounts, Keyring(engine), args.name, None)
        else:
            await accounts.set_disabled(args.name, False)
        return 0
    except (KeyError, ValueError, sa.exc.IntegrityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
