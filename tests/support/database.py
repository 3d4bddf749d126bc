"""The databases the tests look into: a throwaway PostgreSQL database of the test's own, and
every row of an SQLite file, rendered for canary scans."""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def pg_url(name: str) -> str:
    """The URL of database ``name`` on the test PostgreSQL server."""
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


@asynccontextmanager
async def pg_database(prefix: str = "ek_test_") -> AsyncIterator[str]:
    """A uniquely named PostgreSQL database of our own, dropped afterwards (even when a test
    closed it to connections); the test is skipped where no server answers on 127.0.0.1:5432
    (make test starts one)."""
    try:
        admin = await asyncpg.connect(PG_ADMIN, timeout=3)
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432: {type(exc).__name__}")
    name = prefix + secrets.token_hex(6)
    try:
        # The name is our own prefix and random hex, never input.
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def database_rows(path: Path) -> bytes:
    """Every row of every table of the SQLite database at ``path``, rendered as text."""
    out = []
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 (own table names)
                out.append(f"{table}: {row!r}")
    return "\n".join(out).encode()
