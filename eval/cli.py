"""`dialogdraw eval ...`: measure a deployment the way the paper does."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Only the parsers: what a command needs is imported when it runs, so --help stays fast."""
    p = sub.add_parser("eval", help="benchmark the intent model and the system")
    esub = p.add_subparsers(dest="eval_command", required=True, metavar="WHAT")
    irpem = esub.add_parser("irpem", help="intent metrics (ISA, parameter accuracy, structure) on a dialogue file")
    irpem.add_argument("--data", type=Path, required=True, help="dialogue JSONL (e.g. DrawnConvos test.jsonl)")
    irpem.add_argument(
        "--adapter", help="LoRA adapter to evaluate (default: the configured one; 'none': the bare base)"
    )
    irpem.add_argument(
        "--quantize", choices=["int8", "none"], help="CPU int8 linears or not (default: [irpem] quantize)"
    )
    irpem.add_argument("--out", type=Path, required=True, help="folder for report.md, report.json and plots")
    irpem.add_argument("--limit", type=int, help="score a random subset of this many assistant turns")
    irpem.add_argument("--seed", type=int, default=0, help="seed of the --limit subset")
    irpem.add_argument("--config", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")
    irpem.set_defaults(func=eval_irpem)

    system = esub.add_parser(
        "system", help="image metrics (M-VQA, M-CLIP, IEC) of whole dialogues run through the system"
    )
    system.add_argument("--data", type=Path, required=True, help="dialogue JSONL; only its user turns are replayed")
    system.add_argument("--out", type=Path, required=True, help="folder for report.md, report.json and plots")
    system.add_argument("--profile", choices=["default", "tiny"], help="model profile")
    system.add_argument("--db", help="database URL (default: a fresh SQLite file in --out)")
    system.add_argument("--limit", type=int, help="run a random subset of this many dialogues")
    system.add_argument("--seed", type=int, default=0, help="seed of the --limit subset")
    system.add_argument("--config", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")
    system.set_defaults(func=eval_system)

    cmp = esub.add_parser("compare", help="put two or more runs side by side (e.g. SFT vs SFT+DPO)")
    cmp.add_argument(
        "runs",
        type=Path,
        nargs="+",
        metavar="RUN_DIR",
        help="--out folders of earlier eval runs; the first is the baseline",
    )
    cmp.add_argument("--names", nargs="+", help="a label per run (default: the folder names)")
    cmp.add_argument("--out", type=Path, required=True, help="folder for report.md, report.json and the plot")
    cmp.set_defaults(func=eval_compare)

    merge = esub.add_parser("merge", help="one report from `eval irpem` runs over disjoint parts of a file")
    merge.add_argument("runs", type=Path, nargs="+", metavar="RUN_DIR", help="--out folders of the parts")
    merge.add_argument("--out", type=Path, required=True, help="folder for the merged report.json, report.md and plots")
    merge.set_defaults(func=eval_merge)


def eval_compare(args: argparse.Namespace) -> int:
    from eval.compare import CompareError, compare, load_runs, write_comparison

    try:
        runs = load_runs(args.runs, args.names)
        result = compare(runs)
    except CompareError as err:
        print(f"dialogdraw: {err}", file=sys.stderr)
        return 2
    write_comparison(result, runs, args.out)
    print((args.out / "report.md").read_text())
    return 0


def eval_merge(args: argparse.Namespace) -> int:
    from eval.merge import MergeError, load_reports, merge_intent_reports
    from eval.report import write_intent_report

    try:
        report = merge_intent_reports(load_reports(args.runs))
    except MergeError as err:
        print(f"dialogdraw: {err}", file=sys.stderr)
        return 2
    write_intent_report(report, args.out)
    print(json.dumps({k: report[k] for k in ("n", "isa", "parameter_accuracy", "structural_conformity")}, indent=2))
    print(f"report: {args.out / 'report.md'}")
    return 0


async def eval_system(args: argparse.Namespace) -> int:
    from engine.config import settings_from_flags
    from eval.system import run_system_eval

    if _missing(args.data):
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    settings = settings_from_flags(
        args.config,
        profile=args.profile,
        database_url=args.db or f"sqlite+aiosqlite:///{(args.out / 'eval.db').resolve()}",
    )
    if settings.queue.mode != "inprocess":
        print('dialogdraw: eval system runs the in-process worker; set queue.mode = "inprocess"', file=sys.stderr)
        return 2
    report = await run_system_eval(settings, args.data, args.out, limit=args.limit, seed=args.seed)
    print(json.dumps({k: report[k] for k in ("dialogues", "failed_turns", "m_vqa", "m_clip", "iec")}, indent=2))
    print(f"report: {args.out / 'report.md'}")
    return 0


def eval_irpem(args: argparse.Namespace) -> int:
    from engine.config import load_settings
    from engine.registry import Registry
    from eval.run import run_irpem_eval

    settings = load_settings(args.config)
    if args.adapter:
        settings.irpem.adapter = None if args.adapter == "none" else args.adapter
    if args.quantize:
        settings.irpem.quantize = args.quantize
    if _missing(args.data):
        return 2
    report = run_irpem_eval(
        settings, Registry.from_settings(settings), args.data, args.out, limit=args.limit, seed=args.seed
    )
    summary = {k: report[k] for k in ("n", "isa", "parameter_accuracy", "structural_conformity")}
    print(json.dumps(summary, indent=2))
    print(f"report: {args.out / 'report.md'}")
    return 0


def _missing(data: Path) -> bool:
    if data.is_file():
        return False
    print(f"dialogdraw: no such dialogue file: {data}", file=sys.stderr)
    return True
