"""Memory cost of the Stable Diffusion pipelines of one base model.

Loads, in a fresh process each, (a) only the text2image pipeline and (b) text2image,
img2img and inpaint as the ModelCache builds them (``from_pipe`` on one base), and prints
what the extra pipelines cost relative to one:

- parameter bytes of the distinct tensors reachable from the pipelines,
- peak resident memory (VmHWM) gained over the process's state just before loading,
- on CUDA, the peak of ``torch.cuda.max_memory_allocated``.

Usage:
    python bench/pipeline_memory.py                     # tiny profile, CPU
    python bench/pipeline_memory.py --profile default   # real weights (GPU machine with hub access)

Target: every ratio < 1.3 (shared components cost next to nothing).
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
SETS = {"one": ["text2image"], "all": ["text2image", "img2img", "inpaint"]}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak_rss() -> bool:
    try:  # writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def child(which: str, profile: str, data_dir: str, device: str) -> dict:
    sys.path.insert(0, str(ROOT))
    import torch
    from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting, AutoPipelineForText2Image

    from engine.config import load_settings
    from engine.models import ModelCache

    classes = {
        "text2image": AutoPipelineForText2Image,
        "img2img": AutoPipelineForImage2Image,
        "inpaint": AutoPipelineForInpainting,
    }
    settings = load_settings(profile=profile, data_dir=data_dir, device=device)
    cache = ModelCache(settings)
    cache.location("sd")  # a no-op here: the parent had the tiny model built beforehand
    if which == "build":
        return {}
    # import the code of every pipeline class in both runs, so that only data is measured
    import transformers.models.clip.modeling_clip  # noqa: F401
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline  # noqa: F401
    from diffusers.pipelines import auto_pipeline  # noqa: F401

    cuda = cache.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    reset = _reset_peak_rss()
    before = _status_kib("VmRSS")
    pipes = [cache.diffusers("sd", classes[name]) for name in SETS[which]]
    peak = _status_kib("VmHWM") if reset else _status_kib("VmRSS")
    seen: set[int] = set()
    param_bytes = 0
    for pipe in pipes:
        for component in pipe.components.values():
            if isinstance(component, torch.nn.Module):
                for tensor in [*component.parameters(), *component.buffers()]:
                    ptr = tensor.untyped_storage().data_ptr()
                    if ptr not in seen:
                        seen.add(ptr)
                        param_bytes += tensor.untyped_storage().nbytes()
    return {
        "pipelines": [type(p).__name__ for p in pipes],
        "param_bytes": param_bytes,
        "rss_gain_bytes": (peak - before) * 1024,
        "cuda_peak_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "device": cache.device,
    }


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:10.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", choices=["tiny", "default"], default="tiny")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--data-dir", default=None, help="default: a temporary directory (tiny) / data")
    ap.add_argument("--child", choices=["build", *SETS], help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        print(json.dumps(child(args.child, args.profile, args.data_dir, args.device)))
        return

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or (tmp if args.profile == "tiny" else "data")
        env = child_env(args.profile)
        rows = {}
        # "build" first: a tiny model built inside a measured process would distort it
        for which in ["build", *SETS]:
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
            ]
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                sys.exit(f"{which}: child failed\n{out.stderr[-3000:]}")
            rows[which] = json.loads(out.stdout.strip().splitlines()[-1])
        rows.pop("build")

    one, all_ = rows["one"], rows["all"]
    print(f"profile={args.profile} device={one['device']}")
    print(f"{'':34}{'params MiB':>12}{'peak RSS gain MiB':>20}{'CUDA peak MiB':>16}")
    for which, row in rows.items():
        label = f"{which}: " + "+".join(SETS[which])
        print(
            f"{label:34}{_mib(row['param_bytes']):>12}{_mib(row['rss_gain_bytes']):>20}"
            f"{_mib(row['cuda_peak_bytes']):>16}"
        )
    ratios = {
        "params": all_["param_bytes"] / one["param_bytes"],
        "rss_gain": all_["rss_gain_bytes"] / max(one["rss_gain_bytes"], 1),
    }
    if one["cuda_peak_bytes"]:
        ratios["cuda_peak"] = all_["cuda_peak_bytes"] / one["cuda_peak_bytes"]
    print("ratio all/one: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()) + "   (target < 1.3)")


if __name__ == "__main__":
    main()
