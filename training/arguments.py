"""Argument dataclasses as argparse options (the trl example scripts' style, inside the
`dialogdraw train` subcommands): each field is one ``--option``, its metadata["help"] the
help text, so the dataclass is the one list of what a run can be told."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

from training.lora import use_bf16

T = TypeVar("T")

PAD_TO_MULTIPLE_OF = 16


def _base_type(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0]
    return annotation


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        kind = _base_type(hints[f.name])
        flag = "--" + f.name.replace("_", "-")
        help_text = f.metadata.get("help", "").replace("%", "%%")  # argparse formats help with %
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if kind is bool:
            parser.add_argument(
                flag, dest=f.name, action=argparse.BooleanOptionalAction, default=f.default, help=help_text
            )
            continue
        if typing.get_origin(kind) is list:
            parser.add_argument(
                flag,
                dest=f.name,
                nargs="+",
                type=typing.get_args(kind)[0],
                required=required,
                help=help_text,
                default=None if required else f.default_factory(),
            )
            continue
        choices = list(typing.get_args(kind)) if typing.get_origin(kind) is typing.Literal else None
        parser.add_argument(
            flag,
            dest=f.name,
            type=str if choices else kind,
            choices=choices,
            required=required,
            default=None if required else f.default,
            help=help_text + ("" if required else f" (default: {f.default})"),
        )


def trainer_kwargs(args: Any, model: Any) -> dict[str, Any]:
    """The TrainingArguments that SFT and DPO runs share, from their argument dataclasses:
    no checkpoints (the adapter is saved once, at the end), no trackers, one seed for
    everything, and no activation recomputation — it costs ~30% per step on a CPU and a
    135M model fits anyway."""
    import torch

    return dict(
        output_dir=str(args.out / "checkpoints"),
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        learning_rate=args.learning_rate,
        max_length=args.max_length,
        logging_steps=args.logging_steps,
        save_strategy="no",
        report_to="none",
        seed=args.seed,
        data_seed=args.seed,
        activation_checkpointing=False,  # transformers 5 name; trl defaults the old alias to True
        # few distinct batch shapes: oneDNN builds bf16 kernels per shape, and with every
        # length its own, SFT steps slowed from 2.7 to 3.9 s over a 950-step run
        pad_to_multiple_of=PAD_TO_MULTIPLE_OF,
        bf16=str(model.dtype) == "torch.bfloat16" or use_bf16(args),
        use_cpu=not torch.cuda.is_available(),  # also what lets accelerate autocast bf16 on a CPU
    )


def from_namespace(cls: type[T], args: argparse.Namespace) -> T:
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})


def as_record(obj: Any) -> dict[str, Any]:
    """A dataclass as JSON-ready values (paths as strings)."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(obj).items()}
