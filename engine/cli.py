"""`dialogdraw pipelines ...`: what the engine offers."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    """Only the parsers: what a command needs is imported when it runs, so --help stays fast."""
    p = sub.add_parser("pipelines", help="the pipeline catalog")
    psub = p.add_subparsers(dest="pipelines_command", required=True, metavar="ACTION")
    lst = psub.add_parser("list", help="print the enabled catalog")
    lst.add_argument("--json", action="store_true", help="machine-readable: id, kind, type, description, inputs schema")
    lst.add_argument("--config", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")
    lst.set_defaults(func=list_pipelines)
    smk = psub.add_parser("smoke", help="run every enabled instance once on a small input")
    smk.add_argument("--profile", choices=["default", "tiny"], help="override the config's profile")
    smk.add_argument("--config", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")
    smk.add_argument("--only", nargs="+", metavar="ID", help="just these instances")
    smk.add_argument("--steps", type=int, default=2, help="denoising steps of diffusion kinds (default 2)")
    smk.add_argument("--size", type=int, default=64, help="side of the input pictures in pixels (default 64)")
    smk.set_defaults(func=smoke_pipelines)


def list_pipelines(args: argparse.Namespace) -> int:
    from engine.config import load_settings
    from engine.registry import Registry

    registry = Registry.from_settings(load_settings(args.config))
    rows = registry.catalog()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["id"]) for r in rows), default=2)
    for r in rows:
        print(f"{r['id']:<{width}}  {r['type']:<8}  {r['description']}")
    return 0


def smoke_pipelines(args: argparse.Namespace) -> int:
    """Exit status 0 when every instance worked, 1 otherwise."""
    from engine.config import settings_from_flags
    from engine.registry import Registry
    from engine.smoke import format_table, smoke

    settings = settings_from_flags(args.config, profile=args.profile)
    registry = Registry.from_settings(settings)
    unknown = [i for i in args.only or [] if i not in registry.instances]
    if unknown:
        print(f"dialogdraw: unknown pipeline instance(s): {', '.join(unknown)}")
        return 2
    rows = smoke(settings, args.only, steps=args.steps, size=args.size)
    print(f"profile={settings.profile}")
    print(format_table(rows))
    return 0 if all(r.ok for r in rows) else 1
