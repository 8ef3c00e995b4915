"""Bot-side overhead of the Discord front end, with a no-op pipeline.

50 threads post at once (MESSAGE_CREATE events fed to the real discord.py client, whose
HTTP goes to the recording fake of Discord used by the tests), for several rounds. Measured
per turn, in the bot's process:

- message in -> job queued: from feeding the event to the job row being committed;
- job done -> reply sent: from the worker's result being recorded to the final edit of
  the status message reaching the (fake) HTTP transport;
- the largest event-loop stall while jobs run (a 5 ms ticker's worst lateness).

The pipeline returns a 64x64 picture at once, so the reply still uploads a file. The
IRPEM is a constant answer. Targets: p99 under 50 ms, no stall over 100 ms.

    python bench/bot_overhead.py [--threads 50] [--rounds 4] [--spread 0]

``--spread 0`` (default) is the worst case, 50 messages in the same instant: the turns then
queue behind each other's database transactions, so "message in -> job queued" measures
the burst's throughput more than one turn's cost; ``--spread 2`` posts the 50 over 2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402

from bot.app import embedded, settle_heap  # noqa: E402
from bot.discordbot.client import DialogDrawBot  # noqa: E402
from bot.store import sessions as repo  # noqa: E402
from engine.config import DEFAULT_CONFIG, PipelineInstance, load_settings  # noqa: E402
from engine.registry import KINDS, Inputs, PipelineKind, PipelineOutput, Registry, register_kind  # noqa: E402
from engine.runtime import Engine  # noqa: E402
from tests.discord_recorder import FakeDiscord  # noqa: E402


class NoopInputs(Inputs):
    prompt: str = ""


class Noop(PipelineKind):
    kind = "noop"
    type = "generate"
    description = "Return a small picture at once (benchmark)."
    Inputs = NoopInputs

    def __call__(self, inputs, ctx) -> PipelineOutput:
        return PipelineOutput(images=[Image.new("RGB", (64, 64), (ctx.seed % 255, 90, 120))])


if "noop" not in KINDS:
    register_kind(Noop)


class ConstantIrpem:
    answer = json.dumps({"intent": "noop", "params": {"prompt": "x"}, "response": "Done."})

    def propose(self, *args, **kwargs) -> str:
        return self.answer

    def propose_candidates(self, *args, n: int = 2, **kwargs) -> list[str]:
        return [self.answer] * n


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def ticker(stop: asyncio.Event, stalls: list[float], period: float = 0.005) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(period)
        stalls.append(time.perf_counter() - start - period)


async def run(threads: int, rounds: int, tmp: Path, spread: float = 0.0) -> dict[str, list[float]]:
    settings = load_settings(
        DEFAULT_CONFIG, profile="tiny", data_dir=tmp, database_url=f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    )
    settings = settings.model_copy(
        update={
            "pipelines": [PipelineInstance(id="noop", kind="noop")],
            "bot": settings.bot.model_copy(update={"status_interval_seconds": 1.5}),
        }
    )
    engine = Engine(settings, Registry.from_settings(settings), irpem=ConstantIrpem())

    queued_at: dict[int, float] = {}  # job id -> committed
    done_at: dict[int, float] = {}  # job id -> result recorded
    job_of_thread: dict[int, int] = {}
    sent_at: dict[int, float] = {}  # job id -> final edit sent
    fed_at: dict[int, float] = {}  # thread -> message fed
    in_lat: list[float] = []
    out_lat: list[float] = []

    # The job row is committed when the store's turn transaction returns (turns arriving
    # together share one: see bot.batching).
    original_add_turns = repo.add_turns

    async def timed_add_turns(db, items, *args, **kwargs):
        stored = await original_add_turns(db, items, *args, **kwargs)
        now = time.perf_counter()
        for item, out in zip(items, stored):
            if out.job is not None:
                queued_at[out.job.id] = now
                job_of_thread[thread_of_session[item.session_id]] = out.job.id
        return stored

    repo.add_turns = timed_add_turns
    async with embedded(settings, engine=engine) as app:
        original_complete = app.queue.complete

        async def timed_complete(job_id, result):
            recorded = await original_complete(job_id, result)
            done_at[job_id] = time.perf_counter()
            return recorded

        app.queue.complete = timed_complete
        fake = FakeDiscord()

        def on_request(req) -> None:
            if req.method == "PATCH" and isinstance(req.json, dict) and "components" in req.json:
                thread = int(req.path.split("/")[2])
                sent_at[job_of_thread[thread]] = req.at

        fake.on_request = on_request
        bot = DialogDrawBot(app, guild_ready_timeout=0.01)
        settle_heap()  # as `dialogdraw bot` does before it connects
        await fake.connect(bot)
        users = [fake.user(f"user{i}") for i in range(threads)]
        thread_ids = [fake.snowflake() for _ in range(threads)]
        thread_of_session = {}
        for user, thread in zip(users, thread_ids):
            sid = await app.conversation.open_session("discord", str(thread), user["id"], str(fake.guild_id))
            thread_of_session[sid] = thread

        stop = asyncio.Event()
        stalls: list[float] = []
        tick = asyncio.create_task(ticker(stop, stalls))
        try:
            for round_ in range(rounds):
                first = len(sent_at)
                for user, thread in zip(users, thread_ids):
                    fed_at[thread] = time.perf_counter()
                    fake.send_message(user, f"draw something #{round_}", channel_id=thread)
                    if spread:
                        await asyncio.sleep(spread / threads)
                deadline = time.monotonic() + 120
                while len(sent_at) < first + threads:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"round {round_}: {len(sent_at) - first}/{threads} replies")
                    await asyncio.sleep(0.01)
                for thread in thread_ids:
                    job = job_of_thread[thread]
                    in_lat.append(queued_at[job] - fed_at[thread])
                    out_lat.append(sent_at[job] - done_at[job])
        finally:
            stop.set()
            await tick
            await bot.close()
            repo.add_turns = original_add_turns
    return {"in": in_lat, "out": out_lat, "stalls": stalls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        help="seconds over which each round's messages arrive (0: all at once, a burst)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        res = asyncio.run(run(args.threads, args.rounds, Path(tmp), args.spread))
    n = len(res["in"])
    how = f"spread over {args.spread:g} s" if args.spread else "all at once"
    print(
        f"{args.threads} threads x {args.rounds} rounds = {n} turns, each round's messages {how} "
        f"(no-op pipeline, fake Discord HTTP)"
    )
    for key, label in (("in", "message in -> job queued"), ("out", "job done -> reply sent  ")):
        ms = [v * 1000 for v in res[key]]
        print(f"  {label}: p50 {pct(ms, 0.5):7.1f} ms   p99 {pct(ms, 0.99):7.1f} ms   max {max(ms):7.1f} ms")
    print(
        f"  largest event-loop stall while jobs ran: {max(res['stalls']) * 1000:.1f} ms "
        f"(p99 {pct(res['stalls'], 0.99) * 1000:.1f} ms over {len(res['stalls'])} ticks)"
    )
    print("  targets: p99 < 50 ms, no stall > 100 ms")


if __name__ == "__main__":
    main()
