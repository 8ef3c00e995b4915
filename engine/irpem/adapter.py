"""What a trained IRPEM adapter records about its training, next to the peft files.

``training.json`` in the adapter folder holds the exact training arguments and, above all,
the prompt mode the adapter was trained with: the backend must build its prompts the same
way, or the adapter sees text it never learned from.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

TRAINING_CONFIG = "training.json"


def write_training_config(adapter_dir: str | Path, config: dict[str, Any]) -> Path:
    path = Path(adapter_dir) / TRAINING_CONFIG
    path.write_text(json.dumps(config, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def examples_seen(record: dict[str, Any]) -> int:
    """Training examples an SFT adapter has seen over all its runs (``train sft
    --init-adapter`` adds up); records from before ``seen_examples`` existed give steps x
    batch x accumulation of their one run."""
    if "seen_examples" in record:
        return int(record["seen_examples"])
    args = record.get("arguments", {})
    return int((args.get("max_steps") or 0) * (args.get("batch_size") or 0) * (args.get("grad_accum") or 1))


def sft_schedule(records: list[dict[str, Any]]) -> str:
    """An SFT made in one or more runs (each later one ``train sft --init-adapter`` the one
    before), oldest first, in words: "700 steps at lr 0.001 (seed 0), then 300 at lr 0.0005
    (seed 1)"."""
    parts = []
    for i, record in enumerate(records):
        args = record.get("arguments", {})
        parts.append(
            f"{args.get('max_steps')}{' steps' if i == 0 else ''} at lr {args.get('learning_rate')} "
            f"(seed {args.get('seed')})"
        )
    return ", then ".join(parts)


def lora_span(record: dict[str, Any]) -> str:
    """Which decoder layers the adapter's LoRA covers, in words: "all decoder layers" or
    "the last 15 decoder layers" (``train sft --lora-layers``)."""
    n = record.get("arguments", {}).get("lora_layers")
    return f"the last {n} decoder layers" if n else "all decoder layers"


def read_training_config(adapter_dir: str | Path | None) -> dict[str, Any]:
    """The adapter's training record, or {} (no adapter, or one trained elsewhere)."""
    if not adapter_dir:
        return {}
    path = Path(adapter_dir) / TRAINING_CONFIG
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))
