"""Loading open_clip image encoders for the image metrics, and a tiny random-weight one.

A CLIP location is one of (see ``parse_clip_location``):

- ``"hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"``: an open_clip model on the Hugging Face
  hub (config and weights from there);
- ``"local-dir:/path"`` or a path to an existing directory: a folder holding
  ``open_clip_config.json`` (``{"model_cfg": ..., "preprocess_cfg": ...}``) and the weights
  (``open_clip_model.safetensors``), the layout open_clip itself reads;
- ``"ViT-B-32:laion2b_s34b_b79k"``: an open_clip built-in architecture name and its
  pretrained tag (or a checkpoint file path) after the first colon.

The tiny model (``build_tiny_open_clip``) is a real open_clip ``CLIP`` with very small
dimensions and seeded random weights, written in the ``local-dir`` layout and loaded back
through ``open_clip.create_model_and_transforms`` like any other local model.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.cachedir import build_once

# Bump when the tiny builder changes: cached copies of another version are rebuilt.
TINY_OPEN_CLIP_VERSION = "1"
TINY_OPEN_CLIP_IMAGE_SIZE = 32

TINY_OPEN_CLIP_CONFIG = {
    "model_cfg": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": TINY_OPEN_CLIP_IMAGE_SIZE, "layers": 1, "width": 16,
                       "head_width": 8, "patch_size": 8},
        # the default open_clip tokenizer's vocabulary, so text encoding works as well
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 16, "heads": 2,
                     "layers": 1},
    },
    "preprocess_cfg": {"size": TINY_OPEN_CLIP_IMAGE_SIZE},
}


def parse_clip_location(location: str) -> tuple[str, str | None]:
    """``(model_name, pretrained)`` for ``open_clip.create_model_and_transforms``."""
    location = str(location)
    if location.startswith(("hf-hub:", "local-dir:")):
        return location, None
    if Path(location).is_dir():
        return f"local-dir:{location}", None
    name, sep, pretrained = location.partition(":")
    return name, (pretrained or None) if sep else None


def load_open_clip(location: str, device: str = "cpu"):
    """``(model, preprocess)``: the open_clip model in eval mode on ``device`` and its
    evaluation image transform."""
    import open_clip

    name, pretrained = parse_clip_location(location)
    model, _, preprocess = open_clip.create_model_and_transforms(
        name, pretrained=pretrained, device=device,
        require_pretrained=name.startswith("local-dir:") or pretrained is not None,
    )
    return model.eval(), preprocess


def build_tiny_open_clip(out: Path, seed: int = 5) -> None:
    """Write a tiny random-weight open_clip CLIP into ``out`` (local-dir layout)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "open_clip_config.json").write_text(json.dumps(TINY_OPEN_CLIP_CONFIG, indent=1))
    torch.manual_seed(seed)
    model = open_clip.model.CLIP(**TINY_OPEN_CLIP_CONFIG["model_cfg"])
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(out / "open_clip_model.safetensors"))


def ensure_tiny_open_clip(root: Path) -> Path:
    """``root/open-clip``, built once (atomically) by ``build_tiny_open_clip``."""
    return build_once(Path(root) / "open-clip", TINY_OPEN_CLIP_VERSION, build_tiny_open_clip,
                      "tiny open_clip model")
