"""`dialogdraw db ...`: schema migrations of the session store.

    dialogdraw db upgrade [--to REV]      apply migrations (default: to the newest, "head")
    dialogdraw db downgrade --to REV      undo migrations down to REV ("base": drop everything)
    dialogdraw db current                 print the revision the database is at

Each reads the database URL from the settings (``database_url`` or SQLite in ``data_dir``);
``--db URL`` overrides it, ``--config PATH`` picks the config file.
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Only the parsers: sqlalchemy and alembic are imported when a command runs."""
    parser = subparsers.add_parser("db", help="database migrations (upgrade, downgrade, current)")
    sub = parser.add_subparsers(dest="db_command", required=True, metavar="ACTION")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", metavar="URL", help="database URL (default: from the settings)")
        p.add_argument("--config", metavar="PATH", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")

    up = sub.add_parser("upgrade", help="apply migrations up to a revision (default: head)")
    up.add_argument("--to", default="head", metavar="REV", help="target revision (default: head)")
    common(up)
    up.set_defaults(func=run_upgrade)

    down = sub.add_parser("downgrade", help="revert migrations down to a revision")
    down.add_argument("--to", required=True, metavar="REV", help='target revision ("base" removes every table)')
    common(down)
    down.set_defaults(func=run_downgrade)

    cur = sub.add_parser("current", help="print the revision the database is at")
    common(cur)
    cur.set_defaults(func=run_current)


def database_url(args: argparse.Namespace) -> str:
    if args.db:
        return args.db
    from engine.config import load_settings

    return load_settings(args.config).db_url


def run_upgrade(args: argparse.Namespace) -> int:
    from bot.store import db as store_db

    url = database_url(args)
    store_db.upgrade(url, args.to)
    print(f"database at {store_db.current_revision(url) or 'base'}")
    return 0


def run_downgrade(args: argparse.Namespace) -> int:
    from bot.store import db as store_db

    url = database_url(args)
    store_db.downgrade(url, args.to)
    print(f"database at {store_db.current_revision(url) or 'base'}")
    return 0


def run_current(args: argparse.Namespace) -> int:
    from bot.store import db as store_db

    print(store_db.current_revision(database_url(args)) or "base")
    return 0
