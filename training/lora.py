"""What SFT and DPO share about the adapter they train: where it starts (an existing
adapter, whose base, prompt mode and dialogue window the run keeps, or a new LoRA), the
LoRA shape and the number precision of the run.

Two settings exist for CPU runs. ``lora_layers`` puts LoRA on the last N decoder layers
only: the frozen layers below need no backward pass, which is most of a step's cost.
``precision = "auto"`` trains under bfloat16 autocast where the hardware has bf16 units
(CUDA, or a CPU with AVX512-BF16/AMX); the weights and the adapter stay float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

from engine.irpem.adapter import read_training_config


@dataclass(kw_only=True)
class LoraArguments:
    lora_r: int = field(default=16, metadata={"help": "LoRA rank"})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha"})
    lora_dropout: float = field(
        default=0.0, metadata={"help": "LoRA dropout (costs ~10% of a CPU step; runs here stay under an epoch)"}
    )
    target_modules: str = field(
        default="all-linear", metadata={"help": "peft target_modules ('all-linear' or comma list)"}
    )
    lora_layers: int | None = field(
        default=None,
        metadata={"help": "LoRA on the last N decoder layers only (no backward pass below them); default: all"},
    )
    precision: Literal["auto", "bf16", "fp32"] = field(
        default="auto", metadata={"help": "'auto': bfloat16 autocast where the hardware has bf16 units, else float32"}
    )


def bf16_supported() -> bool:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def use_bf16(args: LoraArguments) -> bool:
    if args.precision == "auto":
        return bf16_supported()
    return args.precision == "bf16"


def _linear_names(model: Any) -> list[str]:
    """The Linear module names inside the decoder layers (what peft's "all-linear" means),
    spelled out because peft's ``layers_to_transform`` needs an explicit list."""
    import torch

    names = {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and ".layers." in name
    }
    return sorted(names)


def lora_config(args: LoraArguments, model: Any) -> Any:
    from peft import LoraConfig

    targets: Any = (
        args.target_modules
        if args.target_modules == "all-linear"
        else [m.strip() for m in args.target_modules.split(",") if m.strip()]
    )
    layers = None
    if args.lora_layers:
        total = model.config.num_hidden_layers
        if not 0 < args.lora_layers <= total:
            raise ValueError(f"--lora-layers must be between 1 and {total} for this base")
        layers = list(range(total - args.lora_layers, total))
        if targets == "all-linear":
            targets = _linear_names(model)
    return LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=targets,
        layers_to_transform=layers,
        task_type="CAUSAL_LM",
    )


class RunShape(NamedTuple):
    base: str
    prompt: str
    dialogue_turns: int
    start_record: dict[str, Any]  # training.json of the adapter the run starts from ({} if none)


def run_shape(start: Path | None, args: Any, settings: Any) -> RunShape:
    """Base, prompt mode and dialogue turns of a run: those the adapter it starts from was
    trained with (it must keep seeing the prompts it learned), else the run's arguments,
    else the config. Checked first, so a wrong adapter path fails before the base loads."""
    if start is not None and not (start / "adapter_config.json").is_file():
        raise FileNotFoundError(f"no peft adapter in {start}")
    trained = read_training_config(start)
    return RunShape(
        trained.get("base") or args.base or settings.irpem.base,
        trained.get("prompt") or args.prompt,
        trained.get("dialogue_turns") or args.dialogue_turns or settings.irpem.dialogue_turns,
        trained,
    )


def start_adapter(model: Any, args: LoraArguments, start: Path | None) -> tuple[Any, Any]:
    """(model, peft_config) to hand to a trl trainer: the adapter in ``start`` loaded
    trainable, or the bare model and a new LoRA shaped by ``args``."""
    if start is None:
        return model, lora_config(args, model)
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(start), is_trainable=True), None
