"""Stage 2: Direct Preference Optimization from the SFT adapter (trl ``DPOTrainer``).

The SFT adapter is loaded trainable; trl keeps a frozen copy of it as the reference (its
"ref" adapter), so no second model is held in memory. Pairs come from any mix of sources in
the ``engine.irpem.pairs`` format (DrawnConvos RLHF pairs, user feedback exports). Prompts
are rebuilt from each pair's context with the SFT adapter's prompt mode, and answers are the
canonical JSON, exactly as in SFT.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.irpem.adapter import write_training_config
from engine.irpem.pairs import dedupe, read_pairs
from training.arguments import as_record, trainer_kwargs
from training.examples import PromptBuilder, length_summary
from training.lora import LoraArguments, run_shape, start_adapter
from training.model import library_versions, load_base


@dataclass(kw_only=True)
class DpoArguments(LoraArguments):
    pairs: list[Path] = field(metadata={"help": "preference-pair JSONL files"})
    out: Path = field(metadata={"help": "folder for the DPO adapter"})
    sft_adapter: Path | None = field(
        default=None,
        metadata={
            "help": "the SFT adapter to start from and stay close to; none: a new LoRA on the bare base "
            "(the ablation's 'DPO only'), shaped by the --lora-* options"
        },
    )
    base: str | None = field(default=None, metadata={"help": "without --sft-adapter: the base; default: [irpem] base"})
    prompt: Literal["short", "full"] = field(
        default="short",
        metadata={"help": "without --sft-adapter: the prompt mode (with one, the adapter's mode is used)"},
    )
    dialogue_turns: int | None = field(
        default=None, metadata={"help": "without --sft-adapter: turns shown; default: [irpem] dialogue_turns"}
    )
    epochs: float = field(default=1.0, metadata={"help": "passes over the pairs"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many optimizer steps (-1: epochs decide)"})
    max_pairs: int | None = field(default=None, metadata={"help": "use only N pairs (a seeded sample)"})
    batch_size: int = field(default=4, metadata={"help": "pairs per step"})
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    learning_rate: float = field(default=5e-5, metadata={"help": "peak learning rate"})
    beta: float = field(default=0.1, metadata={"help": "DPO beta: how far from the reference the policy may move"})
    sft_weight: float = field(
        default=0.0,
        metadata={
            "help": "weight of an added NLL loss on the chosen answer (RPO); chosen answers are often gold, "
            "and the term keeps DPO from lowering their likelihood along with the rejected one's"
        },
    )
    max_length: int = field(default=1024, metadata={"help": "longest prompt + answer in tokens"})
    seed: int = field(default=0, metadata={"help": "seed of shuffling and dropout"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads"})
    logging_steps: int = field(default=10, metadata={"help": "log loss every N steps"})
    config: str | None = field(
        default=None, metadata={"help": "config file (default: config.toml or $DIALOGDRAW_CONFIG)"}
    )


def run_dpo(args: DpoArguments, settings: Any = None, registry: Any = None) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import set_seed
    from trl import DPOConfig, DPOTrainer

    from engine.config import load_settings
    from engine.registry import Registry

    settings = settings or load_settings(args.config)
    registry = registry or Registry.from_settings(settings)
    set_seed(args.seed)
    base, mode, turns, sft = run_shape(args.sft_adapter, args, settings)
    model, tokenizer, base_path = load_base(base, settings.data_dir, args.threads)
    # without an SFT adapter trl wraps the base; the reference is the base, adapter off
    model, peft_config = start_adapter(model, args, args.sft_adapter)
    builder = PromptBuilder(tokenizer, registry, mode, turns)

    pairs = dedupe(p for path in args.pairs for p in read_pairs(path))
    random.Random(args.seed).shuffle(pairs)
    if args.max_pairs is not None:
        pairs = pairs[: args.max_pairs]
    if not pairs:
        raise ValueError(f"no preference pair in {', '.join(map(str, args.pairs))}")
    rows = []
    for p in pairs:
        ctx = p.context
        rows.append(
            {
                "prompt": builder.prompt_text(ctx.dialogue, ctx.current_image, ctx.enabled),
                "chosen": builder.answer_text(p.chosen) + tokenizer.eos_token,
                "rejected": builder.answer_text(p.rejected) + tokenizer.eos_token,
            }
        )
    lengths = [
        len(builder.prompt_ids(p.context.dialogue, p.context.current_image, p.context.enabled))
        + max(len(builder.answer_ids(p.chosen)), len(builder.answer_ids(p.rejected)))
        for p in pairs
    ]
    sources: dict[str, int] = {}
    for p in pairs:
        sources[p.source] = sources.get(p.source, 0) + 1
    print(f"{len(pairs)} pairs {sources}; tokens/pair (prompt + longer answer) {length_summary(lengths)}")

    args.out.mkdir(parents=True, exist_ok=True)
    losses: dict[str, Any] = {}
    if args.sft_weight > 0:
        losses = {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, args.sft_weight]}
    config = DPOConfig(**trainer_kwargs(args, model), beta=args.beta, **losses)
    from training.timing import StepTimer  # imports transformers' Trainer: not for --help

    timer = StepTimer()
    started = time.perf_counter()
    trainer = DPOTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[timer],
    )
    result = trainer.train()
    # only the trained adapter: trl's frozen "ref" copy is the SFT adapter, already on disk
    trainer.model.save_pretrained(str(args.out), selected_adapters=["default"])
    shutil.rmtree(args.out / "checkpoints", ignore_errors=True)
    record = {
        "stage": "dpo",
        "prompt": mode,
        "dialogue_turns": turns,
        "base": base,
        "base_path": str(base_path),
        "sft_adapter": str(args.sft_adapter) if args.sft_adapter else None,
        "sft": {k: sft.get(k) for k in ("arguments", "examples", "train_loss")},
        "arguments": as_record(args),
        "pairs": len(pairs),
        "sources": sources,
        "sequence_tokens": length_summary(lengths),
        "step_seconds": timer.summary(),
        "train_loss": round(result.training_loss, 4),
        "seconds": round(time.perf_counter() - started, 1),
        "log": [h for h in trainer.state.log_history if "loss" in h],
        "versions": library_versions(),
    }
    write_training_config(args.out, record)
    print(f"DPO adapter saved to {args.out} (steps {timer.summary()}, loss {result.training_loss:.4f})")
    return record
