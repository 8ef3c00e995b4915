"""`dialogdraw chat`: the conversation flow on stdin/stdout, on the embedded default.

Reads one turn per line. When stdin is not a terminal the turns are read to the end (so a
dialogue can be scripted); interactively it shows a prompt. Each reply is printed with the
intent JSON and the paths of new images.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import TextIO

from bot.app import embedded
from bot.conversation import Attachment, JobOutcome
from engine.config import settings_from_flags
from engine.queue import ProgressEvent


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk to DialogDraw in the terminal (embedded default)")
    p.add_argument("--profile", choices=["default", "tiny"], help="model profile (tiny: offline random-weight image models)")
    p.add_argument("--db", help="database URL (default: SQLite in the data directory)")
    p.add_argument("--image", type=Path, help="attach this image file to the first turn")
    p.add_argument("--session", type=int, help="continue a stored session by id")
    p.add_argument("--config", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")
    p.set_defaults(func=run_chat)


async def run_chat(args: argparse.Namespace) -> int:
    settings = settings_from_flags(args.config, profile=args.profile, database_url=args.db)
    return await chat(settings, sys.stdin, sys.stdout, image=args.image, session_id=args.session)


async def chat(settings, stdin: TextIO, stdout: TextIO, *, image: Path | None = None,
               session_id: int | None = None, engine=None) -> int:
    user = getpass.getuser()
    interactive = stdin.isatty()
    async with embedded(settings, engine=engine) as app:
        conv = app.conversation
        if session_id is None:
            session_id = await conv.session_for("terminal", None, user)
        elif not await conv.session_exists(session_id):
            print(f"dialogdraw: there is no session {session_id}", file=sys.stderr)
            return 2
        print(f"session {session_id} (continue it with --session {session_id})", file=stdout, flush=True)
        pending = [Attachment(image.name, image.read_bytes())] if image else []
        while True:
            if interactive:
                print("you> ", end="", file=stdout, flush=True)
            line = await asyncio.to_thread(stdin.readline)
            if not line:
                break
            text = line.rstrip("\n")
            if not text.strip() and not pending:
                continue
            if not interactive:
                print(f"you> {text}", file=stdout)
            receipt = await conv.user_turn(session_id, user, text, pending)
            pending = []
            for n in receipt.attached:
                print(f"  (attached as image #{n})", file=stdout)
            if receipt.job_id is None:
                print(f"bot> {receipt.refusal}", file=stdout, flush=True)
                continue
            outcome = await conv.wait(receipt.job_id, on_progress=_progress_printer(stdout))
            _print_outcome(outcome, stdout)
    return 0


def _progress_printer(stdout: TextIO):
    async def show(event: ProgressEvent) -> None:
        if event.stage == "step" and event.total and stdout.isatty():
            print(f"\r  drawing… step {event.step}/{event.total}", end="", file=stdout, flush=True)
        elif event.stage == "running":
            print(f"  running {event.intent}…", file=stdout, flush=True)

    return show


def _print_outcome(outcome: JobOutcome, stdout: TextIO) -> None:
    if stdout.isatty():
        print("\r", end="", file=stdout)
    if outcome.status != "done":
        print(f"bot> {outcome.error or 'That request was ' + outcome.status + '.'}", file=stdout, flush=True)
        return
    print(f"bot> {outcome.reply}", file=stdout)
    print(f"  intent: {json.dumps(outcome.intent, ensure_ascii=False)}", file=stdout)
    for img in outcome.images:
        print(f"  image #{img.number}: {img.path}", file=stdout)
    if outcome.current_image is not None and not outcome.images:
        print(f"  current image: #{outcome.current_image}", file=stdout)
    stdout.flush()
