"""The ``alembic`` command works from the checkout with only ``pyproject.toml``: ``check``
passes on a database at head and fails when it differs from ``schema.py``; ``--sql`` prints
the DDL without a database; ``revision --autogenerate`` writes a revision that passes ruff.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from chatserver.config import Config
from chatserver.records.db import head_revision, migrate, open_engine
from tests.support.paths import ROOT


def alembic(database_url: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATSERVER_")}
    env["CHATSERVER_DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "alembic", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


async def test_alembic_check_passes_at_head_and_fails_on_a_difference(
        make_config: Callable[..., Config]) -> None:
    config = make_config()
    engine = open_engine(config)
    try:
        await migrate(engine)
        check = alembic(config.database_url, "check")
        assert check.returncode == 0, check.stderr
        assert "No new upgrade operations detected" in check.stdout
        current = alembic(config.database_url, "current")
        assert current.stdout.split() == [head_revision(), "(head)"], current.stderr
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP INDEX ix_drops_expires"))
        check = alembic(config.database_url, "check")
        assert check.returncode != 0
        assert "ix_drops_expires" in check.stdout + check.stderr
    finally:
        await engine.dispose()


def test_alembic_prints_the_postgresql_ddl_without_a_database() -> None:
    # Nothing listens there: --sql must not connect.
    sql = alembic("postgresql://nobody@127.0.0.1:9/nowhere", "upgrade", "head", "--sql")
    assert sql.returncode == 0, sql.stderr
    assert "CREATE TABLE records (" in sql.stdout
    assert "ON DELETE CASCADE" in sql.stdout
    assert "version_num='" + head_revision() + "'" in sql.stdout


async def test_a_new_revision_is_written_from_the_template_and_passes_ruff(
        make_config: Callable[..., Config], tmp_path: Path) -> None:
    # The checkout's Alembic set-up, copied, so that the new file lands in tmp_path (and no
    # copy of the chatserver package shadows the real one).
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert pyproject.count('"%(here)s/chatserver/records/migrations"') == 1
    (tmp_path / "pyproject.toml").write_text(pyproject.replace(
        '"%(here)s/chatserver/records/migrations"', '"%(here)s/migrations"'))
    shutil.copytree(ROOT / "chatserver" / "records" / "migrations", tmp_path / "migrations",
                    ignore=shutil.ignore_patterns("__pycache__"))
    config = make_config()
    engine = open_engine(config)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(sa.text("DROP INDEX ix_drops_expires"))
    finally:
        await engine.dispose()
    made = alembic(config.database_url, "revision", "--autogenerate", "--rev-id", "9001",
                   "-m", "index drops by expiry", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    new = tmp_path / "migrations" / "versions" / "9001_index_drops_by_expiry.py"
    text = new.read_text()
    assert f"down_revision: str | Sequence[str] | None = {head_revision()!r}" in text
    assert "batch_op.create_index(batch_op.f('ix_drops_expires'), ['expires']" in text
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(new)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert lint.returncode == 0, lint.stdout
