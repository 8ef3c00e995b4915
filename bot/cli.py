"""The `dialogdraw` command. Each package registers its own subcommands here; this module
only assembles them and runs the chosen one."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import sys

from engine.config import ConfigError


def build_parser() -> argparse.ArgumentParser:
    from bot import terminal
    from bot.discordbot import cli as discord_cli
    from bot.store import cli as store_cli
    from engine import cli as engine_cli
    from eval import cli as eval_cli
    from training import cli as training_cli

    parser = argparse.ArgumentParser(prog="dialogdraw", description="Draw and edit images by talking.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    terminal.register(sub)
    discord_cli.register(sub)
    store_cli.register(sub)
    engine_cli.register(sub)
    eval_cli.register(sub)
    training_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "urllib3", "aiosqlite", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        result = args.func(args)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    except ConfigError as err:
        print(f"dialogdraw: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
