"""`dialogdraw eval system`: run whole dialogues through DialogDraw (IRPEM + pipelines +
store, the embedded default) and score the pictures: M-VQA, M-CLIP and IEC.

Only the user turns of each dialogue are replayed; the system answers them itself. A user
turn that carries images (``"images": [n]``) attaches a neutral placeholder picture per
number (mid-grey, 256x256), since dialogue files hold numbers, not pixels. Each round's
type comes from the pipeline the system chose; built-ins and failed turns add no round.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image
from tqdm import tqdm

from bot.app import embedded
from bot.conversation import Attachment
from engine.imageio import encode_png
from eval.dialogues import read_dialogues, subset
from eval.metrics.image import ClipEmbedder, Round, VqaScorer, aggregate, score_dialogue
from eval.report import write_system_report

if TYPE_CHECKING:
    from engine.config import Settings
    from engine.runtime import Engine

PLACEHOLDER = encode_png(Image.new("RGB", (256, 256), (128, 128, 128)))


def load_dialogues(data: Path, limit: int | None = None, seed: int = 0) -> list[dict[str, Any]]:
    return subset(list(read_dialogues(data)), limit, seed)


async def run_system_eval(
    settings: Settings, data: Path, out: Path, *, engine: Engine | None = None, limit: int | None = None, seed: int = 0
) -> dict[str, Any]:
    started = time.perf_counter()
    per_dialogue: list[dict[str, Any]] = []
    scored = []
    failures = 0
    async with embedded(settings, engine=engine) as app:
        registry = app.conversation.registry
        run = app.worker.in_model_thread  # scorers are torch work: the model thread's alone
        vqa = await run(VqaScorer.from_cache, app.engine.models)
        clip = await run(ClipEmbedder.from_cache, app.engine.models)
        for dialogue in tqdm(load_dialogues(data, limit, seed), desc="system eval", unit="dialogue"):
            conv = app.conversation
            sid = await conv.open_session("eval", None, "eval")
            pictures: dict[int, Image.Image] = {}
            rounds: list[Round] = []
            for turn in dialogue["turns"]:
                if turn["role"] != "user":
                    continue
                attachments = [Attachment(f"image{n}.png", PLACEHOLDER) for n in turn.get("images", [])]
                receipt = await conv.user_turn(sid, "eval", turn["text"], attachments)
                for n in receipt.attached:
                    pictures[n] = Image.open(io.BytesIO(PLACEHOLDER)).convert("RGB")
                if receipt.job_id is None:
                    failures += 1
                    continue
                outcome = await conv.wait(receipt.job_id)
                if outcome.status != "done":
                    failures += 1
                    continue
                for img in outcome.images:
                    pictures[img.number] = Image.open(img.path).convert("RGB")
                intent = outcome.intent["intent"]
                if intent not in registry.instances:
                    continue  # clarify / undo / revert: no picture to score
                kind_type = registry.kind_of(intent).type
                image = pictures[outcome.images[-1].number] if outcome.images else None
                if kind_type in ("generate", "edit") and image is None:
                    continue
                rounds.append(Round(kind_type, turn["text"], image, pictures.get(outcome.parent_image)))
            scores = await run(score_dialogue, rounds, vqa, clip)
            scored.append(scores)
            per_dialogue.append(
                {"id": dialogue["id"], **scores.as_dict(), "rounds": [r.__dict__ for r in scores.rounds]}
            )
    report = {
        **aggregate(scored),
        "dialogues": len(per_dialogue),
        "failed_turns": failures,
        "data": str(data),
        "seed": seed,
        "limit": limit,
        "profile": settings.profile,
        "seconds": round(time.perf_counter() - started, 1),
        "per_dialogue": per_dialogue,
    }
    write_system_report(report, out)
    return report
