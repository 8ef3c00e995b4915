"""Alembic migrations on a real SQLite file: up, down to base, up again; the migrated schema
is exactly the ORM's (autogenerate finds no difference); the `db` subcommands work."""

from __future__ import annotations

import argparse
import json

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
    assert current_revision(url) == "0004"
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
        assert await db.revision() == "0004"
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
    assert capsys.readouterr().out.split() == ["database", "at", "0004", "0004", "database", "at", "base"]


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
    from bot.store import sessions

    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    try:
        await db.upgrade("0001")
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO sessions (platform, channel_id, owner_id, created_at, image_count) "
                "VALUES ('discord', '42', 'u1', '2025-01-01 00:00:00', 0)"
            )
        await db.upgrade()
        assert await db.revision() == "0004"
        session, _ = (await sessions.sessions_by_channel(db, "discord", ["42"]))["42"]
        assert session.owner_id == "u1" and session.image_history == []
        await db.downgrade("0001")
        assert await db.revision() == "0001"
        async with db.engine.connect() as conn:
            cols = await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("turns")})
        assert "context" not in cols and "candidates" not in cols
    finally:
        await db.dispose()


async def test_0003_repairs_a_database_made_before_0001_had_replaced_number(tmp_path):
    """Such a database (this column dropped by hand: SQLite's DROP COLUMN) gets it back with
    its images intact; one that has it is left alone."""

    path = tmp_path / "old.sqlite"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await db.upgrade("0002")
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql("ALTER TABLE images DROP COLUMN replaced_number")
            await conn.exec_driver_sql(
                "INSERT INTO sessions (id, platform, channel_id, owner_id, created_at, image_count) "
                "VALUES (1, 'discord', '42', 'u1', '2025-01-01 00:00:00', 1)"
            )
            await conn.exec_driver_sql(
                "INSERT INTO turns (id, session_id, role, author_id, text, created_at) "
                "VALUES (1, 1, 'user', 'u1', 'a fox', '2025-01-01 00:00:00')"
            )
            await conn.exec_driver_sql(
                "INSERT INTO images (session_id, number, sha256, size, width, height, format, turn_id, created_at) "
                "VALUES (1, 1, 'ab', 10, 8, 8, 'png', 1, '2025-01-01 00:00:00')"
            )
        await db.upgrade("0003")
        async with db.engine.connect() as conn:
            rows = (await conn.exec_driver_sql("SELECT number, replaced_number FROM images")).all()
        assert [tuple(r) for r in rows] == [(1, None)]
        await db.upgrade()
        assert await db.revision() == "0004"
    finally:
        await db.dispose()
    assert schema_diff(path) == []

    fresh = Database(f"sqlite+aiosqlite:///{tmp_path / 'fresh.sqlite'}")
    try:
        await fresh.upgrade("0002")
        await fresh.upgrade()  # the column is already there: nothing added, no error
        await fresh.downgrade("0002")
        await fresh.upgrade()
    finally:
        await fresh.dispose()
    assert schema_diff(tmp_path / "fresh.sqlite") == []


async def test_0004_gives_old_sessions_the_undo_history_the_old_rule_walked(tmp_path):
    """A session whose images replaced each other 1 <- 3 <- 4 (the old undo chain; #2 was an
    A/B take never chosen) gets the history [1, 3, 4], so its next undo goes to #3 as it
    did before; an A/B result's addresses move beside its numbers; and all of it back."""
    from bot.store import jobs, sessions

    path = tmp_path / "old.sqlite"
    db = Database(f"sqlite+aiosqlite:///{path}")
    ab = {
        "intent": {"intent": "img2img"},
        "reply": "A",
        "images": ["a" * 64],
        "numbers": [2, 3],
        "candidates": [
            {"intent": {"intent": "img2img"}, "reply": "A", "numbers": [2], "images": ["a" * 64]},
            {"intent": {"intent": "vary"}, "reply": "B", "numbers": [3], "images": ["b" * 64]},
        ],
    }
    try:
        await db.upgrade("0003")
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(
                "INSERT INTO sessions (id, platform, owner_id, created_at, image_count, current_image_number) "
                "VALUES (1, 'terminal', 'u1', '2025-01-01 00:00:00', 4, 4), "
                "(2, 'terminal', 'u1', '2025-01-01 00:00:00', 0, NULL)"
            )
            await conn.exec_driver_sql(
                "INSERT INTO turns (id, session_id, role, text, created_at) "
                "VALUES (1, 1, 'assistant', 'x', '2025-01-01 00:00:00')"
            )
            for number, replaced in ((1, None), (2, 1), (3, 1), (4, 3)):
                await conn.exec_driver_sql(
                    "INSERT INTO images (session_id, number, sha256, size, width, height, format, turn_id, "
                    f"replaced_number, created_at) VALUES (1, {number}, 'ab', 1, 1, 1, 'png', 1, "
                    f"{'NULL' if replaced is None else replaced}, '2025-01-01 00:00:00')"
                )
            await conn.exec_driver_sql(
                "INSERT INTO jobs (id, session_id, turn_id, user_id, status, payload, result, attempts, created_at, "
                "available_at) VALUES (1, 1, 1, 'u1', 'done', '{}', ?, 1, '2025-01-01 00:00:00', "
                "'2025-01-01 00:00:00')",
                (json.dumps(ab),),
            )
        await db.upgrade()
        old, _ = await sessions.session_with_guild(db, 1)
        assert old.image_history == [1, 3, 4] and old.images.undo().state.current == 3
        assert (await sessions.session_with_guild(db, 2))[0].image_history == []
        result = jobs.StoredResult.from_dict((await jobs.get_job(db, 1)).result)
        assert result.addresses == {2: "a" * 64, 3: "b" * 64}
        await db.downgrade("0003")
        async with db.engine.connect() as conn:
            rows = (await conn.exec_driver_sql("SELECT number, replaced_number FROM images ORDER BY number")).all()
            (stored,) = (await conn.exec_driver_sql("SELECT result FROM jobs")).one()
        assert [tuple(r) for r in rows] == [(1, None), (2, None), (3, 1), (4, 3)]
        assert json.loads(stored)["candidates"][1]["images"] == ["b" * 64]
        assert json.loads(stored)["images"] == ["a" * 64]
        await db.upgrade()
    finally:
        await db.dispose()
    assert schema_diff(path) == []
