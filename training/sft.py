"""Stage 1: LoRA supervised fine-tuning of the IRPEM on DrawnConvos (trl ``SFTTrainer``).

Each assistant turn of the SFT split is one example: the prompt the IRPEM would see
(``training.examples``) and the gold answer as canonical JSON. The loss is on the answer
tokens only (``completion_mask`` + ``completion_only_loss``). The adapter is saved with
``training.json``: the arguments, the prompt mode (the backend reads it), sequence lengths,
step times and losses.
"""

from __future__ import annotations

import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from engine.irpem.adapter import examples_seen, write_training_config
from engine.irpem.prompt import system_prefix_ids
from training.arguments import as_record, trainer_kwargs
from training.examples import PromptBuilder, length_summary, load_cases
from training.lora import LoraArguments, run_shape, start_adapter
from training.model import library_versions, load_base


@dataclass(kw_only=True)
class SftArguments(LoraArguments):
    data: list[Path] = field(metadata={"help": "dialogue JSONL files (DrawnConvos sft.jsonl)"})
    out: Path = field(metadata={"help": "folder for the LoRA adapter"})
    base: str | None = field(default=None, metadata={"help": "IRPEM base; default: [irpem] base of the config"})
    prompt: Literal["short", "full"] = field(
        default="short", metadata={"help": "prompt mode trained (and used at inference)"}
    )
    max_dialogues: int | None = field(default=None, metadata={"help": "use only the first N dialogues"})
    init_adapter: Path | None = field(
        default=None,
        metadata={
            "help": "continue training this SFT adapter, so a CPU budget can be spread over several runs; its "
            "LoRA shape, base, prompt mode and dialogue turns win over the options here"
        },
    )
    epochs: float = field(default=1.0, metadata={"help": "passes over the data"})
    max_steps: int = field(default=-1, metadata={"help": "stop after this many optimizer steps (-1: epochs decide)"})
    batch_size: int = field(default=8, metadata={"help": "examples per step"})
    grad_accum: int = field(default=1, metadata={"help": "gradient accumulation steps"})
    learning_rate: float = field(default=2e-4, metadata={"help": "peak learning rate"})
    warmup_ratio: float = field(default=0.03, metadata={"help": "share of steps of linear warm-up"})
    shared_prefix: bool = field(
        default=False,
        metadata={
            "help": "run the system prefix once per step without gradient and let the batch attend to its KV "
            "(as inference does), instead of in every example: what makes the long 'full' prompt "
            "affordable on a CPU"
        },
    )
    max_length: int = field(default=1024, metadata={"help": "longest example in tokens (longer ones are dropped)"})
    dialogue_turns: int | None = field(
        default=None, metadata={"help": "turns shown to the model; default: [irpem] dialogue_turns"}
    )
    seed: int = field(default=0, metadata={"help": "seed of shuffling, LoRA init and dropout"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads"})
    logging_steps: int = field(default=10, metadata={"help": "log loss every N steps"})
    config: str | None = field(
        default=None, metadata={"help": "config file (default: config.toml or $DIALOGDRAW_CONFIG)"}
    )


def answer_loss(
    model: Any, inputs: dict[str, Any], num_items_in_batch: Any = None, prefix_ids: list[int] | None = None
) -> Any:
    """Token-mean cross-entropy of the labelled (answer) positions, with the LM head applied
    to those positions only.

    trl's fused head scores only the labelled positions on Triton devices; elsewhere it
    scores every position (plus entropy) in float32, which was half of a CPU step here.
    Answers are ~20% of an example's tokens, so this head is ~5x cheaper; the loss is the
    one the model's own ``labels=`` forward computes (tested).

    ``prefix_ids``: the system prefix every example starts with, left out of ``inputs``. It
    is run once per step, without gradient, and the batch attends to its KV, as the
    backend's cached prefix does at inference. The loss is the same as on the whole
    examples; only no gradient flows through the prefix's own activations.
    """
    import torch

    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    backbone = getattr(causal_lm, causal_lm.base_model_prefix)
    attention = inputs.get("attention_mask")
    cache = None
    if prefix_ids:
        cache = _prefix_cache(backbone, prefix_ids, inputs["input_ids"])
        if attention is None:
            attention = torch.ones_like(inputs["input_ids"])
        attention = torch.cat([attention.new_ones(attention.shape[0], len(prefix_ids)), attention], dim=1)
    hidden = backbone(
        input_ids=inputs["input_ids"], attention_mask=attention, past_key_values=cache, use_cache=cache is not None
    ).last_hidden_state
    labels = inputs["labels"][:, 1:]
    mask = labels != -100
    logits = causal_lm.get_output_embeddings()(hidden[:, :-1][mask]).float()
    loss = torch.nn.functional.cross_entropy(logits, labels[mask], reduction="sum")
    return loss / (num_items_in_batch if num_items_in_batch is not None else mask.sum().clamp(min=1))


def _prefix_cache(backbone: Any, prefix_ids: list[int], batch_ids: Any) -> Any:
    """The KV of ``prefix_ids`` (no gradient), repeated for each example of the batch."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=backbone.config)
    with torch.no_grad():
        backbone(input_ids=torch.tensor([prefix_ids], device=batch_ids.device), past_key_values=cache, use_cache=True)
    cache.batch_repeat_interleave(batch_ids.shape[0])
    return cache


def answer_only_trainer(prefix_ids: list[int] | None = None) -> type:
    """trl's ``SFTTrainer`` with ``answer_loss`` (no entropy/accuracy metrics, loss only);
    ``prefix_ids``: the shared system prefix the dataset's examples leave out."""
    from trl import SFTTrainer

    class AnswerOnlySFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            # accelerate autocasts by wrapping model.forward; answer_loss calls the backbone
            # directly, so without this context a bf16 run silently trained in float32
            with self.accelerator.autocast():
                loss = answer_loss(model, inputs, num_items_in_batch, prefix_ids)
            return (loss, {}) if return_outputs else loss

    return AnswerOnlySFTTrainer


def run_sft(args: SftArguments, settings: Any = None, registry: Any = None) -> dict[str, Any]:
    from datasets import Dataset
    from transformers import set_seed
    from trl import SFTConfig

    from engine.config import load_settings
    from engine.registry import Registry

    settings = settings or load_settings(args.config)
    registry = registry or Registry.from_settings(settings)
    set_seed(args.seed)
    base, mode, turns, start_record = run_shape(args.init_adapter, args, settings)
    model, tokenizer, base_path = load_base(base, settings.data_dir, args.threads)
    model, peft_config = start_adapter(model, args, args.init_adapter)
    builder = PromptBuilder(tokenizer, registry, mode, turns)

    started = time.perf_counter()
    examples = [builder.sft_example(c) for c in load_cases(args.data, args.max_dialogues)]
    too_long = [e for e in examples if len(e["input_ids"]) > args.max_length]
    examples = [e for e in examples if len(e["input_ids"]) <= args.max_length]
    if not examples:
        raise ValueError(f"no training example in {', '.join(map(str, args.data))}")
    prefix = system_prefix_ids(tokenizer, registry, mode=mode) if args.shared_prefix else []
    if prefix:
        examples = [_without_prefix(e, prefix) for e in examples]
    random.Random(args.seed).shuffle(examples)
    lengths = [len(e["input_ids"]) for e in examples]
    answer_lengths = [sum(e["completion_mask"]) for e in examples]
    print(
        f"{len(examples)} examples ({len(too_long)} longer than {args.max_length} dropped) "
        f"built in {time.perf_counter() - started:.1f} s; tokens/example {length_summary(lengths)}"
        + (f" after a shared prefix of {len(prefix)}" if prefix else "")
    )
    dataset = Dataset.from_list([{k: e[k] for k in ("input_ids", "completion_mask")} for e in examples])

    args.out.mkdir(parents=True, exist_ok=True)
    config = SFTConfig(
        **trainer_kwargs(args, model),
        warmup_steps=args.warmup_ratio,  # a float below 1 is a share of the steps
        lr_scheduler_type="cosine",
        completion_only_loss=True,
        dataset_num_proc=None,
        disable_tqdm=False,
    )
    from training.timing import StepTimer  # imports transformers' Trainer: not for --help

    timer = StepTimer()
    trainer = answer_only_trainer(prefix)(
        model=model,
        args=config,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[timer],
    )
    result = trainer.train()
    trainer.model.save_pretrained(str(args.out))
    shutil.rmtree(args.out / "checkpoints", ignore_errors=True)  # save_strategy "no": nothing in it
    record = {
        "stage": "sft",
        "init_adapter": str(args.init_adapter) if args.init_adapter else None,
        # examples seen over this run and the runs it continues
        "seen_examples": result.global_step * args.batch_size * args.grad_accum
        + (examples_seen(start_record) if start_record else 0),
        "prompt": mode,
        "dialogue_turns": turns,
        "base": base,
        "base_path": str(base_path),
        "arguments": as_record(args),
        "examples": len(examples),
        "dropped_too_long": len(too_long),
        "shared_prefix_tokens": len(prefix),
        "sequence_tokens": length_summary(lengths),
        "answer_tokens": length_summary(answer_lengths),
        "step_seconds": timer.summary(),
        "train_loss": round(result.training_loss, 4),
        "log": [h for h in trainer.state.log_history if "loss" in h],
        "versions": library_versions(),
    }
    write_training_config(args.out, record)
    print(f"adapter saved to {args.out} (steps {timer.summary()}, loss {result.training_loss:.4f})")
    return record


def _without_prefix(example: dict[str, Any], prefix: list[int]) -> dict[str, Any]:
    if example["input_ids"][: len(prefix)] != prefix:
        raise ValueError("an example does not start with the shared system prefix")
    return {
        **example,
        "input_ids": example["input_ids"][len(prefix) :],
        "completion_mask": example["completion_mask"][len(prefix) :],
    }
