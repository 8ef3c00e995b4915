"""Loading open_clip image encoders for the image metrics, and a tiny random-weight one.

A CLIP location is one of (see ``parse_clip_location``):

- ``"hf-hub:laion/CLIP-ViT-B-32-laion2B-s34B-b79K"``: an open_clip model on the Hugging Face
  hub (config and weights from there);
- ``"local-dir:/path"`` or a path to an existing directory: a folder holding
  ``open_clip_config.json`` (``{"model_cfg": ..., "preprocess_cfg": ...}``) and the weights
  (``open_clip_model.safetensors``), the layout open_clip itself reads;
- ``"ViT-B-32:laion2b_s34b_b79k"``: an open_clip built-in architecture name and its
  pretrained tag (or a checkpoint file path) after the first colon.

The tiny profile's stand-in (``engine.tiny_models``, family "open-clip") is a real open_clip
``CLIP`` with very small dimensions, written in the ``local-dir`` layout and loaded back
through ``open_clip.create_model_and_transforms`` like any other local model.
"""

from __future__ import annotations

from pathlib import Path


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
        name,
        pretrained=pretrained,
        device=device,
        require_pretrained=name.startswith("local-dir:") or pretrained is not None,
    )
    return model.eval(), preprocess
