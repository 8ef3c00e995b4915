"""`dialogdraw pipelines ...`: what the engine offers."""

from __future__ import annotations

import argparse
import json

from engine.config import load_settings
from engine.registry import Registry


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pipelines", help="the pipeline catalog")
    psub = p.add_subparsers(dest="pipelines_command", required=True, metavar="ACTION")
    lst = psub.add_parser("list", help="print the enabled catalog")
    lst.add_argument("--json", action="store_true", help="machine-readable: id, kind, type, description, inputs schema")
    lst.add_argument("--config", help="config file (default: config.toml or $DIALOGDRAW_CONFIG)")
    lst.set_defaults(func=list_pipelines)


def list_pipelines(args: argparse.Namespace) -> int:
    registry = Registry.from_settings(load_settings(args.config))
    rows = registry.catalog()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(r["id"]) for r in rows), default=2)
    for r in rows:
        print(f"{r['id']:<{width}}  {r['type']:<8}  {r['description']}")
    return 0
