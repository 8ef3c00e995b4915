"""`dialogdraw train ...`: DrawnConvos, SFT, preference pairs, DPO, feedback export."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path


class _StepParser(argparse.ArgumentParser):
    """The parser of one `train` step. ``options``: returns the argument dataclass whose fields
    are the step's options (``training.arguments.add_arguments``). It is called only when
    those options are needed — the step's own --help, or a run — because the modules that
    hold the SFT and DPO dataclasses import transformers/torch, which takes seconds."""

    def __init__(self, *args, options: Callable[[], type] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._options = options

    def _add_options(self) -> None:
        if self._options is None:
            return
        load, self._options = self._options, None
        try:
            cls = load()
        except ImportError as err:
            self.exit(1, f"{self.prog}: cannot load its options ({type(err).__name__}: {err})\n")
        from training.arguments import add_arguments

        add_arguments(self, cls)

    def parse_known_args(self, args=None, namespace=None):
        self._add_options()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_options()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_options()
        return super().format_help()


def _sft_arguments() -> type:
    from training.sft import SftArguments

    return SftArguments


def _dpo_arguments() -> type:
    from training.dpo import DpoArguments

    return DpoArguments


def register(sub: argparse._SubParsersAction) -> None:
    """Only the parsers: what a step needs is imported when it runs (the SFT and DPO options
    when they are parsed or shown), so `dialogdraw --help` stays fast."""
    p = sub.add_parser("train", help="make DrawnConvos and train the intent model (SFT, DPO)")
    tsub = p.add_subparsers(dest="train_command", required=True, metavar="STEP", parser_class=_StepParser)

    data = tsub.add_parser("data", help="generate DrawnConvos: sft/rlhf/test JSONL + stats.json")
    data.add_argument("--out", type=Path, required=True, help="output folder")
    data.add_argument("--dialogues", type=int, default=10_000, help="number of dialogues (default 10000)")
    data.add_argument("--seed", type=int, default=0, help="same seed, same files")
    data.add_argument("--config", help="config file (its enabled pipelines are the catalog)")
    data.add_argument(
        "--paraphrase-model",
        help="a chat LM that rewrites SFT/RLHF user turns: 'smollm2', "
        "a hub id or a local path (default: no paraphrase pass)",
    )
    data.add_argument(
        "--paraphrase-share",
        type=float,
        default=0.3,
        help="share of SFT/RLHF user turns offered to the paraphraser (default 0.3)",
    )
    data.set_defaults(func=cmd_data)

    sft = tsub.add_parser("sft", help="LoRA supervised fine-tuning on dialogue files", options=_sft_arguments)
    sft.set_defaults(func=cmd_sft)

    pairs = tsub.add_parser("pairs", help="preference pairs from the RLHF split, sampled from IRPEM(SFT)")
    pairs.add_argument("--data", type=Path, nargs="+", required=True, help="dialogue JSONL (rlhf.jsonl)")
    pairs.add_argument("--adapter", type=Path, required=True, help="the SFT adapter that samples")
    pairs.add_argument("--out", type=Path, required=True, help="pairs JSONL to write")
    pairs.add_argument("--limit", type=int, help="use a random sample of this many assistant turns")
    pairs.add_argument("--seed", type=int, default=0, help="seed of the sample and of sampling")
    pairs.add_argument(
        "--balance",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="spread the --limit sample evenly over gold intents (default: on)",
    )
    pairs.add_argument(
        "--mirror",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="answer each 'intent A over B' pair with a 'B over A' pair from a turn "
        "whose gold is B: DPO then shifts fewer intents wholesale (default: off)",
    )
    pairs.add_argument(
        "--rival",
        type=float,
        metavar="NATS",
        help="also prefer the gold answer over one held to the intent the model scores "
        "next, on turns where that rival is within NATS of the gold intent",
    )
    pairs.add_argument(
        "--rival-balance",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="keep the closest rival pairs such that no intent is rejected more often "
        "than they choose it (default: off)",
    )
    pairs.add_argument("--config", help="config file")
    pairs.set_defaults(func=cmd_pairs)

    dpo = tsub.add_parser("dpo", help="DPO from the SFT adapter on preference pairs", options=_dpo_arguments)
    dpo.set_defaults(func=cmd_dpo)

    export = tsub.add_parser("export-pairs", help="preference pairs from the users' feedback in the store")
    export.add_argument("--db", help="database URL (default: the configured one)")
    export.add_argument("--out", type=Path, required=True, help="pairs JSONL to write")
    export.add_argument("--guild", help="only this server's feedback")
    export.add_argument("--config", help="config file")
    export.set_defaults(func=cmd_export)


def cmd_data(args: argparse.Namespace) -> int:
    from engine.config import load_settings
    from engine.registry import Registry
    from training.drawnconvos import generate

    if args.dialogues < 1:
        print("dialogdraw: --dialogues must be at least 1", file=sys.stderr)
        return 2
    if not 0 < args.paraphrase_share <= 1:
        print("dialogdraw: --paraphrase-share must be in (0, 1]", file=sys.stderr)
        return 2
    settings = load_settings(args.config)
    paraphraser = None
    if args.paraphrase_model:
        from engine.config import IrpemSettings
        from engine.irpem.smollm2 import resolve_base
        from training.drawnconvos.paraphrase import Paraphraser

        paraphraser = Paraphraser(resolve_base(IrpemSettings(base=args.paraphrase_model), settings.data_dir))
    stats = generate(
        Registry.from_settings(settings),
        args.out,
        args.dialogues,
        args.seed,
        paraphraser=paraphraser,
        paraphrase_share=args.paraphrase_share,
    )
    summary = {
        k: stats[k]
        for k in (
            "dialogues",
            "rounds_share",
            "intents",
            "intents_without_template",
            "distinct_2",
            "paraphrase",
            "seconds",
        )
        if k in stats
    }
    print(json.dumps(summary, indent=2))
    print(f"written: {', '.join(str(args.out / f) for f in ('sft.jsonl', 'rlhf.jsonl', 'test.jsonl', 'stats.json'))}")
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    from training.arguments import from_namespace
    from training.sft import SftArguments, run_sft

    run_sft(from_namespace(SftArguments, args))
    return 0


def cmd_pairs(args: argparse.Namespace) -> int:
    from engine.config import load_settings
    from engine.irpem import load_irpem
    from engine.irpem.pairs import write_pairs
    from engine.registry import Registry
    from training.pairs import make_pairs

    settings = load_settings(args.config)
    settings.irpem.adapter = str(args.adapter)
    registry = Registry.from_settings(settings)
    pairs, counts = make_pairs(
        load_irpem(settings, registry),
        registry,
        args.data,
        limit=args.limit,
        seed=args.seed,
        balanced=args.balance,
        mirror=args.mirror,
        rival=args.rival,
        rival_balance=args.rival_balance,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_pairs(args.out, pairs)
    print(json.dumps({"pairs": len(pairs), **counts}))
    return 0


def cmd_dpo(args: argparse.Namespace) -> int:
    from training.arguments import from_namespace
    from training.dpo import DpoArguments, run_dpo

    run_dpo(from_namespace(DpoArguments, args))
    return 0


async def cmd_export(args: argparse.Namespace) -> int:
    from engine.config import load_settings
    from training.export import export_pairs

    url = args.db or load_settings(args.config).db_url
    counts = await export_pairs(url, args.out, args.guild)
    print(json.dumps(counts))
    return 0
