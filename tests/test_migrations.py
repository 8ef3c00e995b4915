"""Alembic migrations on a real SQLite file: up, down to base, up again; the migrated schema
is exactly the ORM's (autogenerate finds no difference); the `db` subcommands work."""

from __future__ import annotations

import argparse

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from bot.store import cli as store_cli
from bot.store.db import Database, current_revision, downgrade, upgrade
from bot.store.models import Base

TABLES = {"sessions", "turns", "images", "jobs", "feedback", "guild_settings"}


def tables(path) -> set[str]:
    engine = create_engine(f"sqlite:///{path}")
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def schema_diff(path) -> list:
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            return compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(tmp_path):
    path = tmp_path / "nested" / "dir" / "db.sqlite"  # the directory is created
    url = f"sqlite+aiosqlite:///{path}"
    upgrade(url)
    assert TABLES <= tables(path)
    assert current_revision(url) == "0002"
    assert schema_diff(path) == []

    upgrade(url)  # already at head: nothing to do
    downgrade(url, "base")
    assert tables(path) & TABLES == set()
    assert current_revision(url) is None
    kinds = {d[0] for d in schema_diff(path)}  # the comparison does see what is missing
    assert "add_table" in kinds and kinds <= {"add_table", "add_index"}

    upgrade(url.replace("+aiosqlite", ""))  # a plain (sync-driver) URL works too
    assert TABLES <= tables(path)
    assert schema_diff(path) == []

    engine = create_engine(f"sqlite:///{path}")  # a drifted schema is noticed
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_jobs_user_id_claim_seq")
    engine.dispose()
    assert [d[0] for d in schema_diff(path)] == ["add_index"]


async def test_upgrade_from_a_running_event_loop(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await db.upgrade()
        assert await db.revision() == "0002"
        await db.downgrade("base")
        assert await db.revision() is None
        await db.upgrade()
    finally:
        await db.dispose()
    assert TABLES <= tables(tmp_path / "db.sqlite")


def test_db_cli(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    store_cli.register(parser.add_subparsers(dest="command", required=True))
    path = tmp_path / "cli.db"
    url = f"sqlite+aiosqlite:///{path}"

    args = parser.parse_args(["db", "upgrade", "--db", url])
    assert args.func(args) == 0
    assert TABLES <= tables(path)
    args = parser.parse_args(["db", "current", "--db", url])
    args.func(args)
    args = parser.parse_args(["db", "downgrade", "--to", "base", "--db", url])
    assert args.func(args) == 0
    assert tables(path) & TABLES == set()
    assert capsys.readouterr().out.split() == ["database", "at", "0002", "0002", "database", "at", "base"]


def test_db_cli_reads_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("DIALOGDRAW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DIALOGDRAW_DATABASE_URL", raising=False)
    parser = argparse.ArgumentParser()
    store_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["db", "upgrade"])
    assert args.func(args) == 0
    assert TABLES <= tables(tmp_path / "data" / "dialogdraw.db")


async def test_0002_keeps_existing_rows_and_downgrades(tmp_path):
    """A database made by 0001 gains the bot's columns with its rows intact, and back."""
    from bot.store import repository as repo

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await db.upgrade("0001")
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO sessions (platform, channel_id, owner_id, created_at, image_count) "
                "VALUES ('discord', '42', 'u1', '2025-01-01 00:00:00', 0)")
        await db.upgrade()
        assert await db.revision() == "0002"
        session = await repo.session_by_channel(db, "discord", "42")
        assert session.owner_id == "u1"
        await db.downgrade("0001")
        assert await db.revision() == "0001"
        async with db.engine.connect() as conn:
            cols = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("turns")})
        assert "context" not in cols and "candidates" not in cols
    finally:
        await db.dispose()
