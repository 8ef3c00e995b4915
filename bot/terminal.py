"""`dialogdraw chat`: a drawing session on stdin/stdout, on the embedded default.

One turn per line. Free text is a turn for the intent model; a line starting with ``/`` is
a command that calls the same door as Discord's buttons (``/help`` lists them). When stdin
is not a terminal the lines are read to the end, so a dialogue can be scripted;
interactively it shows a prompt. Each reply is printed with the intent JSON, the paths of
new images and the current image. While a request runs, ``/cancel`` stops it; other lines
wait their turn.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from bot.conversation import Conversation, JobOutcome, TurnReceipt
    from engine.config import Settings
    from engine.queue import ProgressEvent

PLATFORM = "terminal"
HELP = """Say what to draw or change, in your own words. Commands:
  /undo          undo the last change of the current image
  /revert N      make image #N current again
  /reroll        draw the current image again (same request, new seed)
  /upscale       upscale the current image
  /vary          a variation of the current image
  /good, /bad    tell me the last answer was good or bad
  /choose A|B    pick one of two takes
  /cancel        stop the request that is running
  /help          this list"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("chat", help="talk to DialogDraw in the terminal (embedded default)")
    p.add_argument(
        "--profile", choices=["default", "tiny"], help="model profile (tiny: offline random-weight image models)"
    )
    p.add_argument("--db", help="database URL (default: SQLite in the data directory)")
    p.add_argument("--image", type=Path, help="attach this image file to the first turn")
    p.add_argument("--session", type=int, help="continue a stored session by id")
    p.add_argument(
        "--ab",
        type=float,
        default=0.0,
        metavar="P",
        help="share of turns answered with two takes to choose from (0 to 1)",
    )
    p.add_argument("--config", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")
    p.set_defaults(func=run_chat)


async def run_chat(args: argparse.Namespace) -> int:
    from engine.config import settings_from_flags

    if not 0.0 <= args.ab <= 1.0:
        print("dialogdraw chat: --ab must be between 0 and 1", file=sys.stderr)
        return 2
    if args.image is not None and not args.image.is_file():
        print(f"dialogdraw chat: cannot read the image {args.image}", file=sys.stderr)
        return 2
    settings = settings_from_flags(args.config, profile=args.profile, database_url=args.db)
    return await chat(settings, sys.stdin, sys.stdout, image=args.image, session_id=args.session, ab=args.ab)


async def chat(
    settings: Settings,
    stdin: TextIO,
    stdout: TextIO,
    *,
    image: Path | None = None,
    session_id: int | None = None,
    engine=None,
    ab: float = 0.0,
) -> int:
    from bot.app import embedded
    from bot.conversation import Attachment

    user = getpass.getuser()
    async with embedded(settings, engine=engine) as app:
        conv = app.conversation
        if session_id is None:
            session_id = await conv.open_session(PLATFORM, None, user)
        elif not await _exists(conv, session_id):
            print(f"dialogdraw: there is no session {session_id}", file=sys.stderr)
            return 2
        print(
            f"session {session_id} (continue it with --session {session_id}; /help lists commands)",
            file=stdout,
            flush=True,
        )
        pending = [Attachment(image.name, image.read_bytes())] if image else []
        term = Terminal(conv, session_id, user, stdin, stdout, ab)
        lines = term.lines()
        async for text in lines:
            if not text.strip() and not pending:
                continue
            await term.handle(text, pending)
            pending = []
        await lines.aclose()
    return 0


async def _exists(conv: Conversation, session_id: int) -> bool:
    from bot.conversation import Refusal

    try:
        await conv.session(session_id)
    except Refusal:
        return False
    return True


@dataclass
class Terminal:
    conv: Conversation
    session_id: int
    user: str
    stdin: TextIO
    stdout: TextIO
    ab: float = 0.0

    def __post_init__(self) -> None:
        self.interactive = self.stdin.isatty()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._reader: asyncio.Task | None = None
        self._running: int | None = None  # the job being waited for

    def say(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    async def lines(self):
        """Lines of stdin as they come; ``/cancel`` is acted on at once while a job runs."""
        self._reader = asyncio.create_task(self._read(), name="terminal-stdin")
        try:
            while True:
                if self.interactive:
                    print("you> ", end="", file=self.stdout, flush=True)
                line = await self._lines.get()
                if line is None:
                    return
                if not self.interactive:
                    self.say(f"you> {line}")
                yield line
        finally:
            self._reader.cancel()

    async def _read(self) -> None:
        while True:
            line = await asyncio.to_thread(self.stdin.readline)
            if not line:
                await self._lines.put(None)
                return
            line = line.rstrip("\n")
            if line.strip() == "/cancel" and self._running is not None:
                await self._cancel(self._running)
                continue
            await self._lines.put(line)

    async def handle(self, text: str, attachments) -> None:
        from bot.conversation import Refusal

        try:
            if text.startswith("/"):
                await self.command(text)
            else:
                await self.turn(
                    self.conv.user_turn(self.session_id, self.user, text, attachments, ab_probability=self.ab)
                )
        except Refusal as err:
            self.say(f"bot> {err}")
            await self.show_current()

    async def command(self, line: str) -> None:
        from bot.conversation import Refusal

        name, _, arg = line[1:].strip().partition(" ")
        name, arg = name.lower(), arg.strip()
        conv, sid, user = self.conv, self.session_id, self.user
        if name == "help":
            self.say(HELP)
        elif name == "undo":
            await self.turn(conv.act_on_current(sid, user, "undo"))
        elif name in ("reroll", "upscale", "vary"):
            await self.turn(conv.act_on_current(sid, user, name))
        elif name == "revert":
            number = arg.lstrip("#")
            if not number.isdigit():
                raise Refusal("Say which image: /revert N (for example /revert 1).")
            await self.turn(conv.revert(sid, user, int(number)))
        elif name in ("good", "bad"):
            turn_id = await conv.latest_answer(sid)
            if turn_id is None:
                raise Refusal("There is no answer to rate yet.")
            await conv.vote(turn_id, user, up=name == "good")
            self.say("bot> Thanks — noted 👍" if name == "good" else "bot> Thanks — noted 👎. Tell me what to change.")
        elif name == "choose":
            if arg.upper() not in ("A", "B"):
                raise Refusal("Say which take: /choose A or /choose B.")
            turn_id = await conv.latest_answer(sid, choice=True)
            if turn_id is None:
                raise Refusal("There is no choice to make.")
            chosen = await conv.choose(turn_id, user, arg.upper())
            self.say(f"bot> {chosen.label} it is{': ' + chosen.reply if chosen.reply else '.'}")
            await self.show_current()
        elif name == "cancel":
            self.say("bot> Nothing is running.")
        else:
            raise Refusal(f"There is no command /{name}; /help lists them.")

    async def turn(self, started) -> None:
        """Wait for a turn's job and print its outcome (or why it has none)."""
        receipt: TurnReceipt = await started
        for n in receipt.attached:
            self.say(f"  (attached as image #{n})")
        if receipt.job_id is None:
            self.say(f"bot> {receipt.refusal}")
            await self.show_current()
            return
        self._running = receipt.job_id
        try:
            outcome = await self.conv.wait(receipt.job_id, on_progress=self._progress)
        finally:
            self._running = None
        self._print(outcome)

    async def _cancel(self, job_id: int) -> None:
        from bot.conversation import Refusal

        try:
            cancelled = await self.conv.cancel(job_id, self.user)
        except Refusal as err:
            self.say(f"bot> {err}")
            return
        if not cancelled:
            self.say("bot> That request has already finished.")

    async def _progress(self, event: ProgressEvent) -> None:
        if event.stage == "step" and event.total and self.stdout.isatty():
            print(f"\r  drawing… step {event.step}/{event.total}", end="", file=self.stdout, flush=True)
        elif event.stage == "running":
            self.say(f"  running {event.intent}…")

    def _print(self, outcome: JobOutcome) -> None:
        if self.stdout.isatty():
            print("\r", end="", file=self.stdout)
        if outcome.status == "cancelled":
            self.say("bot> Cancelled.")
        elif outcome.status != "done":
            self.say(f"bot> {outcome.error or 'That request failed.'}")
        elif len(outcome.candidates) >= 2:
            self.say("bot> Two takes — /choose A or /choose B:")
            for label, cand in zip("AB", outcome.candidates):
                self.say(f"  {label}: {cand.reply or cand.intent.get('intent')}")
                self.say(f"     intent: {json.dumps(cand.intent, ensure_ascii=False)}")
                for img in cand.images:
                    self.say(f"     image #{img.number}: {img.path}")
        else:
            self.say(f"bot> {outcome.reply}")
            self.say(f"  intent: {json.dumps(outcome.intent, ensure_ascii=False)}")
            for img in outcome.images:
                self.say(f"  image #{img.number}: {img.path}")
        if outcome.current_image is not None:
            self.say(f"  current image: #{outcome.current_image}")

    async def show_current(self) -> None:
        current = (await self.conv.session(self.session_id)).current_image
        if current is not None:
            self.say(f"  current image: #{current}")
