"""The `pipelines smoke` table, and what all instances of one base model cost in memory
compared with one of them.

1. Runs every enabled instance once (``engine.smoke``) and prints the table: instance,
   kind, ok/failed, seconds, peak memory gain while it ran, weights loaded after it.
2. In fresh processes, runs (a) the text2image instance alone and (b) every enabled
   instance whose only model is the "sd" base (text2image, img2img and its style
   instances, blend, colorize, outpaint, pan: different diffusers pipeline classes made
   with ``from_pipe``), and prints peak memory and loaded weights of (b) over (a).

Usage:
    python bench/pipelines_smoke.py                     # tiny profile, CPU
    python bench/pipelines_smoke.py --profile default   # real weights (GPU machine with hub access)

Target: ratio all/one < 1.3.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from child_env import child_env  # bench/ itself is on sys.path when run as a script

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_base_instances(settings) -> list[str]:
    from engine.registry import Registry

    registry = Registry.from_settings(settings)
    ids = []
    for i in registry.enabled_ids():
        kind = registry.kind_of(i)
        roles = {role: registry.instances[i].models.get(role) or name for role, name in kind.model_roles.items()}
        if roles == {"sd": "sd"}:
            ids.append(i)
    return ids


def child(which: str, profile: str, data_dir: str, device: str, steps: int) -> dict:
    from engine.config import load_settings
    from engine.models import PeakMemory
    from engine.smoke import smoke

    settings = load_settings(profile=profile, data_dir=data_dir, device=device)
    ids = ["text2image"] if which == "one" else one_base_instances(settings)
    # imports and one-time set-up before measuring, so that the peak is the pipelines' own
    import diffusers.pipelines.auto_pipeline  # noqa: F401
    import transformers.models.clip.modeling_clip  # noqa: F401
    from diffusers import (  # noqa: F401
        StableDiffusionImg2ImgPipeline,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
    )

    from engine.models import ModelCache

    ModelCache(settings).location("sd")
    with PeakMemory(ModelCache(settings).device) as peak:
        rows = smoke(settings, ids, steps=steps)
    return {
        "instances": ids,
        "ok": all(r.ok for r in rows),
        "peak_bytes": peak.peak_bytes,
        "loaded_bytes": rows[-1].loaded_bytes,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=["tiny", "default"], default="tiny")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--data-dir", default=None, help="default: a temporary directory (tiny) / data")
    ap.add_argument("--child", choices=["one", "all"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.profile, args.data_dir, args.device, args.steps)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or (tmp if args.profile == "tiny" else "data")
        env = child_env(args.profile)
        table = subprocess.run(
            [
                sys.executable,
                "-m",
                "bot.cli",
                "pipelines",
                "smoke",
                "--profile",
                args.profile,
                "--steps",
                str(args.steps),
            ],
            env={**env, "DIALOGDRAW_DATA_DIR": data_dir, "DIALOGDRAW_DEVICE": args.device},
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        print(table.stdout)
        if table.returncode not in (0, 1):
            sys.exit(table.stderr[-3000:])
        rows = {}
        for which in ("one", "all"):
            cmd = [
                sys.executable,
                __file__,
                "--child",
                which,
                "--profile",
                args.profile,
                "--device",
                args.device,
                "--data-dir",
                data_dir,
                "--steps",
                str(args.steps),
            ]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{which}: child failed\n{out.stderr[-3000:]}")
            rows[which] = json.loads(out.stdout.strip().splitlines()[-1])

    one, all_ = rows["one"], rows["all"]
    mib = 2**20
    print(f"instances of the 'sd' base: {', '.join(all_['instances'])}")
    print(f"{'':10}{'instances':>10}{'peak MiB':>12}{'loaded MiB':>12}")
    for which, row in rows.items():
        print(
            f"{which:10}{len(row['instances']):>10}{row['peak_bytes'] / mib:>12.1f}{row['loaded_bytes'] / mib:>12.2f}"
        )
    print(
        f"ratio all/one: peak {all_['peak_bytes'] / max(one['peak_bytes'], 1):.3f}, "
        f"loaded weights {all_['loaded_bytes'] / max(one['loaded_bytes'], 1):.3f}   (target < 1.3)"
    )


if __name__ == "__main__":
    main()
