"""describe: a prompt that would recreate the picture (like Midjourney's /describe).

A BLIP captioning model says what the picture shows; a few measured traits of the pixels
(orientation, light, colourfulness) are appended as prompt words, so the prompt also
carries the look that a caption leaves out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from engine.pipelines.common import Kind
from engine.registry import ImageRef, Inputs, PipelineOutput, RunContext, register_kind

if TYPE_CHECKING:
    from engine.models import ModelCache

CAPTION_TOKENS = 30


class DescribeInputs(Inputs):
    image: ImageRef | None = None


def caption(models: ModelCache, model_name: str, image: Image.Image) -> str:
    """What the picture shows, in a short phrase (greedy decoding: same picture, same words)."""
    import torch
    from transformers import BlipForConditionalGeneration, BlipProcessor

    model = models.transformers(model_name, BlipForConditionalGeneration)
    processor = models.transformers(model_name, BlipProcessor)
    batch = processor(images=image.convert("RGB"), return_tensors="pt")
    pixels = batch["pixel_values"].to(model.device, model.dtype)
    with torch.inference_mode():
        ids = model.generate(pixel_values=pixels, max_new_tokens=CAPTION_TOKENS, do_sample=False)
    return processor.decode(ids[0], skip_special_tokens=True).strip()


def traits(image: Image.Image) -> list[str]:
    """Prompt words for what the pixels measurably are."""
    w, h = image.size
    words = ["square format" if 0.9 <= w / h <= 1.1 else "landscape format" if w > h else "portrait format"]
    hsv = np.asarray(image.convert("RGB").convert("HSV"), dtype=np.float32)
    brightness, saturation = hsv[..., 2].mean(), hsv[..., 1].mean()
    if saturation < 20:
        words.append("black and white")
    elif saturation > 120:
        words.append("vivid colours")
    else:
        words.append("muted colours")
    if brightness < 70:
        words.append("low-key dark lighting")
    elif brightness > 190:
        words.append("bright high-key lighting")
    return words


@register_kind
class Describe(Kind):
    kind = "describe"
    type = "describe"
    description = "A text prompt that would recreate the picture."
    example = {}
    Inputs = DescribeInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"captioner": "blip_caption"}

    def run(self, inputs: DescribeInputs, ctx: RunContext) -> PipelineOutput:
        image = self.image(ctx)
        words = [caption(self.models, self.model_name("captioner"), image), *traits(image)]
        ctx.progress(1, 1)
        return PipelineOutput(text=", ".join(w for w in words if w))
