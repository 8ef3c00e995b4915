"""Engine overhead: a text2image job through conversation -> DB queue -> worker -> store,
divided by the bare diffusers call on the same tiny pipeline, in one run.

The job's intent is forced (as the reroll button does), so the IRPEM is not in the
measurement: this is the cost of the engine around the pipeline. Runs alternate between
the two paths so drift on a shared machine hits both alike.

    python bench/engine_overhead.py [--steps 20] [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402
from diffusers import AutoPipelineForText2Image  # noqa: E402

from bot.app import embedded  # noqa: E402
from engine.config import DEFAULT_CONFIG, load_settings  # noqa: E402
from engine.runtime import Engine  # noqa: E402

PROMPT = "a fox in a snowy forest"


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


async def main(steps: int, runs: int, data_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            DEFAULT_CONFIG, profile="tiny", data_dir=data_dir, database_url=f"sqlite+aiosqlite:///{tmp}/bench.db"
        )
        engine = Engine(settings)
        pipe = engine.models.diffusers("sd", AutoPipelineForText2Image)  # loading only; no torch compute here
        forced = {"intent": "text2image", "params": {"prompt": PROMPT, "steps": steps}, "response": ""}

        def bare(seed: int) -> None:
            pipe(PROMPT, num_inference_steps=steps, generator=torch.Generator().manual_seed(seed))

        bare_s: list[float] = []
        system_s: list[float] = []
        async with embedded(settings, engine=engine) as app:
            conv = app.conversation
            sid = await conv.open_session("terminal", None, "bench")

            async def through_system() -> None:
                receipt = await conv.user_turn(sid, "bench", PROMPT, forced_intent=forced)
                outcome = await conv.wait(receipt.job_id)
                assert outcome.status == "done", outcome.error

            # The bare call runs on the worker's model thread too: torch from a second thread
            # would bring a second OpenMP pool and slow both paths (see Worker.in_model_thread).
            await app.worker.in_model_thread(bare, 0)  # warm-up: first calls allocate
            await through_system()
            for i in range(runs):
                t = time.perf_counter()
                await app.worker.in_model_thread(bare, i)
                bare_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                await through_system()
                system_s.append(time.perf_counter() - t)

    print(f"engine overhead, tiny text2image, {steps} steps, {runs} runs each (interleaved)")
    print(f"{'':22}{'p50 ms':>10}{'p95 ms':>10}")
    for name, vals in (("bare diffusers call", bare_s), ("job through engine", system_s)):
        print(f"{name:22}{pct(vals, 0.5) * 1e3:10.1f}{pct(vals, 0.95) * 1e3:10.1f}")
    ratios = [s / b for s, b in zip(system_s, bare_s)]
    print(
        f"ratio engine/bare: p50 {statistics.median(system_s) / statistics.median(bare_s):.3f}"
        f"  (per-pair p50 {pct(ratios, 0.5):.3f}, p95 {pct(ratios, 0.95):.3f}; target < 1.05)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--data-dir", type=Path, default=Path("data"))
    args = parser.parse_args()
    asyncio.run(main(args.steps, args.runs, args.data_dir))
