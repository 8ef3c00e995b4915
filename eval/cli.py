"""`dialogdraw eval ...`: measure a deployment the way the paper does."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from engine.config import load_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="benchmark the intent model and the system")
    esub = p.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    irpem = esub.add_parser("irpem", help="intent metrics (ISA, parameter accuracy, structure) on a dialogue file")
    irpem.add_argument("--data", type=Path, required=True, help="dialogue JSONL (e.g. DrawnConvos test.jsonl)")
    irpem.add_argument("--adapter", help="LoRA adapter to evaluate (default: the configured one)")
    irpem.add_argument("--out", type=Path, required=True, help="folder for report.md, report.json and plots")
    irpem.add_argument("--limit", type=int, help="score a random subset of this many assistant turns")
    irpem.add_argument("--seed", type=int, default=0, help="seed of the --limit subset")
    irpem.add_argument("--config", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")
    irpem.set_defaults(func=eval_irpem)


def eval_irpem(args: argparse.Namespace) -> int:
    from engine.registry import Registry
    from eval.run import run_irpem_eval

    settings = load_settings(args.config)
    if args.adapter:
        settings.irpem.adapter = args.adapter
    if not args.data.is_file():
        print(f"dialogdraw: no such dialogue file: {args.data}", file=sys.stderr)
        return 2
    report = run_irpem_eval(settings, Registry.from_settings(settings), args.data, args.out,
                            limit=args.limit, seed=args.seed)
    summary = {k: report[k] for k in ("n", "isa", "parameter_accuracy", "structural_conformity")}
    print(json.dumps(summary, indent=2))
    print(f"report: {args.out / 'report.md'}")
    return 0
