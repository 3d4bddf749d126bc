"""``chatserver user``: console accounts from the command line (add, list, certify, ...)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import sqlalchemy as sa

from chatserver.config import load_config
from chatserver.records.accounts import ROLES, Users
from chatserver.records.db import migrate, open_engine
from chatserver.records.kdf import KDF_COSTS


def register_cli(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``chatserver user add|list|disable|enable|reset``."""
    user = subparsers.add_parser("user", help="manage console accounts")
    sub = user.add_subparsers(dest="user_command", required=True)
    add = sub.add_parser("add", help="create an account (password from stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="counsellor")
    add.add_argument("--pseudonym", default="", help="the name visitors see")
    sub.add_parser("list", help="list accounts")
    cert = sub.add_parser("certify", help="install a certificate made by `chatserver keys certify`")
    cert.add_argument("name")
    cert.add_argument("certificate", help="the certificate JSON file")
    for verb in ("disable", "enable", "reset"):
        p = sub.add_parser(verb, help=f"{verb} an account" + (" (password from stdin)"
                                                            if verb == "reset" else ""))
        p.add_argument("name")
    user.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(_run_async(args))


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
                print(f"{row['name']}\t{row['role']}\t{row['pseudonym']}\t{state}")
        elif cmd == "certify":
            text = await asyncio.to_thread(Path(args.certificate).read_text, "utf-8")
            json.loads(text)  # refuse what is not JSON; clients verify the signature
            await accounts.set_certificate(args.name, text)
        elif cmd in ("add", "reset"):
            password = sys.stdin.readline().rstrip("\n")
            if cmd == "add":
                uri = await accounts.add(args.name, args.role, password, args.pseudonym)
            else:
                uri = await accounts.reset(args.name, password)
            print(uri)
        else:
            await accounts.set_disabled(args.name, cmd == "disable")
        return 0
    except (KeyError, ValueError, sa.exc.IntegrityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await engine.dispose()
