"""Engine, sessions and schema migrations of the session store.

The same code serves SQLite (the embedded default, through aiosqlite) and PostgreSQL
(asyncpg). Migrations run through Alembic's programmatic API on an async engine, the
"connection sharing with asyncio" recipe of the Alembic cookbook: the connection is
handed to ``migrations/env.py`` in ``Config.attributes``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, make_url, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 10_000


def _sqlite_file(url: URL) -> Path | None:
    db = url.database
    if url.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


# A URL given with a synchronous (or no) driver gets the async driver of its database.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+pysqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
}


def async_url(url: str | URL) -> URL:
    url = make_url(url)
    driver = ASYNC_DRIVERS.get(url.drivername)
    return url.set(drivername=driver) if driver else url


def make_engine(url: str | URL, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``. For SQLite: the file's directory is created, and every
    connection gets WAL journaling, enforced foreign keys and a busy timeout (so concurrent
    writers wait for each other instead of failing at once)."""
    url = async_url(url)
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            if path is not None:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cur.close()

    return engine


class NestedWrite(RuntimeError):
    """A task asked for a write transaction while it already holds one."""


class Database:
    """The engine and its session factory. Sessions do not expire objects on commit, so the
    rows the store functions return stay readable after their transaction ends.

    Reads use ``session()``; every transaction that writes uses ``write()``."""

    def __init__(self, url: str | URL, engine: AsyncEngine | None = None) -> None:
        self.url = async_url(url)
        self.engine = engine or make_engine(self.url)
        self.sessionmaker: async_sessionmaker[AsyncSession] = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one write lock per file, and a writer that finds it taken sleeps in the
        # busy handler (up to 100 ms a try) while holding a pooled connection. Writers of this
        # process therefore queue here instead, in order, and take the file's lock at once
        # (BEGIN IMMEDIATE) so a writer of another process makes them wait at the start of
        # the transaction, never fail halfway with SQLITE_BUSY. PostgreSQL needs neither.
        self._sqlite = self.engine.dialect.name == "sqlite"
        self._write_lock = asyncio.Lock() if self._sqlite else None
        self._writer: asyncio.Task | None = None

    def session(self) -> AsyncSession:
        """A session for reads: ``async with db.session() as s: ...``"""
        return self.sessionmaker()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One write transaction: ``async with db.write() as s: ...`` commits at the end of
        the block, or rolls back if it raises. Reads on other sessions may happen inside;
        another ``write()`` in the same task may not (it would wait for itself): it raises
        ``NestedWrite``."""
        if self._write_lock is None:
            async with self.sessionmaker() as s, s.begin():
                yield s
            return
        task = asyncio.current_task()
        if task is not None and self._writer is task:
            raise NestedWrite("a write transaction inside another one of the same task")
        async with self._write_lock:
            self._writer = task
            try:
                async with self.sessionmaker() as s, s.begin():
                    await s.execute(text("BEGIN IMMEDIATE"))
                    yield s
            finally:
                self._writer = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def upgrade(self, revision: str = "head") -> None:
        """Apply migrations up to ``revision`` on this database's engine."""
        await migrate(self.engine, "upgrade", revision)

    async def downgrade(self, revision: str) -> None:
        await migrate(self.engine, "downgrade", revision)

    async def revision(self) -> str | None:
        """The revision the database is at (None: no migration applied)."""
        async with self.engine.connect() as conn:
            return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(url: str | URL | None = None) -> Config:
    """The Alembic configuration, built in code (there is no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        # ConfigParser interpolation: a literal % must be doubled.
        text = make_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", text.replace("%", "%%"))
    return cfg


async def migrate(target: str | URL | AsyncEngine, action: str, revision: str) -> None:
    """Run ``alembic <action> <revision>`` (upgrade/downgrade) against an engine or URL."""
    if action not in ("upgrade", "downgrade"):
        raise ValueError(f"unknown migration action {action!r}")
    engine = target if isinstance(target, AsyncEngine) else make_engine(target)
    try:
        async with engine.connect() as conn:
            sqlite = engine.dialect.name == "sqlite"
            if sqlite:
                # Batch migrations copy and rename tables; Alembic's advice is to switch
                # foreign keys off meanwhile (the pragma is a no-op inside a transaction).
                await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            try:
                await conn.run_sync(_run_alembic, engine.url, action, revision)
                await conn.commit()
            finally:
                if sqlite:
                    await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
    finally:
        if engine is not target:
            await engine.dispose()


def _run_alembic(conn: Connection, url: URL, action: str, revision: str) -> None:
    cfg = alembic_config(url)
    cfg.attributes["connection"] = conn
    getattr(command, action)(cfg, revision)


def upgrade(url: str | URL, revision: str = "head") -> None:
    """Migrate the database at ``url`` (async or sync driver URL) up to ``revision``.
    Synchronous: call it from a thread (``asyncio.to_thread``) or before the event loop."""
    asyncio.run(migrate(url, "upgrade", revision))


def downgrade(url: str | URL, revision: str) -> None:
    """Migrate down to ``revision`` ("base" removes every table)."""
    asyncio.run(migrate(url, "downgrade", revision))


def current_revision(url: str | URL) -> str | None:
    async def _get() -> str | None:
        db = Database(url)
        try:
            return await db.revision()
        finally:
            await db.dispose()

    return asyncio.run(_get())
