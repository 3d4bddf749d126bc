"""The ``chatserver`` command: ``serve`` plus admin subcommands registered by their modules."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from aiohttp import web

from chatserver.admin import demo, keys, users
from chatserver.config import ConfigError, load_config, served_origins
from chatserver.main import create_app


def _serve(args: argparse.Namespace) -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    config = demo.prepare(config)
    # Where a browser on this machine reaches us: never 0.0.0.0, which socket.io refuses.
    base = served_origins(config.host, config.port)[0]
    print(f"Erstkontakt chat server on {base}")
    print(f"  health:      {base}/healthz")
    print(f"  widget demo: {base}/demo")
    print(f"  console:     {base}/console/")
    print(f"  state: {'redis' if config.uses_redis else 'in-memory'}", flush=True)
    # access_log=None: no request lines, so no addresses or user agents in any log.
    web.run_app(create_app(config), host=config.host, port=config.port, access_log=None,
                print=None, shutdown_timeout=10.0, loop=new_event_loop())
    return 0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (Linux, macOS): less CPU per relayed message and a far
    shorter latency tail under load (docs/benchmarks.md); asyncio's own loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="chatserver", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the chat server")
    serve.set_defaults(func=_serve)
    for register in _registrars():
        register(sub)
    return parser


def _registrars() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    registrars: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
        keys.register_cli,
        users.register_cli,
    ]
    return registrars


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``chatserver`` command."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # aiohttp's access logger would record client addresses; keep it silent everywhere.
    logging.getLogger("aiohttp.access").disabled = True
    args = build_parser().parse_args(argv)
    sys.exit(args.func(args))
