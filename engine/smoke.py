"""Run every enabled pipeline instance once on a small input: does each one load and work,
how long does it take, how much memory does it need. Used by `dialogdraw pipelines smoke`
and bench/pipelines_smoke.py.

Each instance gets its kind's ``example`` params (diffusion kinds with few steps) on a
small synthetic picture: a gradient with a ball on it, and a second picture for ``blend``.
Instances run in catalog order in one process, so models shared by several instances are
loaded by the first and reused by the rest, as in the worker; the peak memory column is
the peak gain while that instance ran (its loads included).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

if TYPE_CHECKING:
    from engine.config import Settings

from engine.models import MIB, ModelCache, PeakMemory
from engine.registry import Registry, RunContext


@dataclass
class SmokeRow:
    instance: str
    kind: str
    ok: bool
    seconds: float
    peak_bytes: int
    loaded_bytes: int
    note: str = ""


def sample_pictures(size: int = 64) -> list[Image.Image]:
    """Two small pictures: a gradient with a dark ball, and a striped one."""
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 255 // size, y * 255 // size, np.full_like(x, 160)], axis=-1).astype(np.uint8)
    first = Image.fromarray(base, mode="RGB")
    r = size // 4
    ImageDraw.Draw(first).ellipse((size // 2 - r, size // 2 - r, size // 2 + r, size // 2 + r), fill=(30, 30, 40))
    stripes = ((x // max(1, size // 8)) % 2 * 200 + 30).astype(np.uint8)
    second = Image.fromarray(np.stack([stripes, 255 - stripes, stripes], axis=-1), mode="RGB")
    return [first, second]


def run_instance(
    registry: Registry, models: ModelCache, instance_id: str, pictures: list[Image.Image], steps: int = 2, seed: int = 0
):
    """Run one instance as the worker would, on its kind's example params."""
    kind_cls = registry.kind_of(instance_id)
    params = dict(kind_cls.example)
    valid = registry.validate({"intent": instance_id, "params": params, "response": ""})
    kind = kind_cls(registry.instances[instance_id], models)
    images = {}
    for i, name in enumerate(kind_cls.image_fields):
        if i == 0 or getattr(valid.inputs, name, None) is not None:
            images[name] = pictures[min(i, len(pictures) - 1)]
    overrides = {"steps": steps} if "steps" in kind_cls.Inputs.model_fields else {}
    return kind(valid.inputs, RunContext(images=images, seed=seed, overrides=overrides))


def smoke(settings: Settings, instances: list[str] | None = None, steps: int = 2, size: int = 64) -> list[SmokeRow]:
    registry = Registry.from_settings(settings)
    models = ModelCache(settings)
    pictures = sample_pictures(size)
    rows = []
    for instance_id in instances or registry.enabled_ids():
        started = time.perf_counter()
        note, ok = "", True
        with PeakMemory(models.device) as peak:
            try:
                out = run_instance(registry, models, instance_id, pictures, steps=steps)
                note = ", ".join(f"{im.mode} {im.width}x{im.height}" for im in out.images) or (
                    repr(out.text[:40]) if out.text else "-"
                )
            except Exception as err:  # noqa: BLE001 - a smoke test reports, it does not stop
                ok = False
                note = f"{type(err).__name__}: {str(err).splitlines()[0][:80] if str(err) else ''}"
                traceback.print_exc()
        rows.append(
            SmokeRow(
                instance_id,
                registry.instances[instance_id].kind,
                ok,
                time.perf_counter() - started,
                peak.peak_bytes,
                models.loaded_bytes(),
                note,
            )
        )
    return rows


def format_table(rows: list[SmokeRow]) -> str:
    header = f"{'instance':<20}{'kind':<19}{'result':<8}{'seconds':>8}{'peak MiB':>10}{'loaded MiB':>12}  output"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.instance:<20}{r.kind:<19}{'ok' if r.ok else 'FAILED':<8}{r.seconds:>8.2f}"
            f"{r.peak_bytes / MIB:>10.1f}{r.loaded_bytes / MIB:>12.1f}  {r.note}"
        )
    failed = sum(not r.ok for r in rows)
    lines.append(f"{len(rows) - failed}/{len(rows)} ok, {sum(r.seconds for r in rows):.1f} s in all")
    return "\n".join(lines)
