"""`dialogdraw bot`: run the Discord bot on the embedded default (or with remote workers)."""

from __future__ import annotations

import argparse
import os
import sys

TOKEN_VARIABLE = "DISCORD_TOKEN"
TOKEN_HELP = f"""dialogdraw bot: the Discord bot token is not set.
Create a bot at https://discord.com/developers/applications (Bot -> Reset Token), enable the
Message Content intent there, and put the token in the environment:

    export {TOKEN_VARIABLE}=...   # then: dialogdraw bot

The token is read only from {TOKEN_VARIABLE}, never from a file, and never logged."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bot", help=f"run the Discord bot (token from ${TOKEN_VARIABLE})")
    p.add_argument("--config", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")
    p.add_argument("--profile", choices=["default", "tiny"], help="model profile")
    p.add_argument("--db", help="database URL (default: SQLite in the data directory)")
    # a service: its operators want INFO on stderr without -v (interactive commands stay quiet)
    p.set_defaults(func=run_bot, log_level="INFO")


async def run_bot(args: argparse.Namespace) -> int:
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        print(TOKEN_HELP, file=sys.stderr)
        return 2
    from bot.app import embedded, settle_heap
    from bot.discordbot.client import DialogDrawBot
    from engine.config import settings_from_flags

    settings = settings_from_flags(args.config, profile=args.profile, database_url=args.db)
    # embedded(): migrations, recovery of unfinished jobs, and the in-process worker unless
    # [queue] mode = "remote".
    async with embedded(settings) as app:
        async with DialogDrawBot(app) as bot:
            settle_heap()
            await bot.start(token)
    return 0
