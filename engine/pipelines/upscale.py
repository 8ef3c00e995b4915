"""upscale: enlarge a picture with a super-resolution model (Swin2SR)."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import Field

from engine.pipelines.common import Kind
from engine.registry import Cancelled, ImageRef, Inputs, PipelineOutput, RunContext, register_kind


class UpscaleInputs(Inputs):
    image: ImageRef | None = None
    scale: Literal[2, 4] = Field(default=2, description="2 doubles each side; 4 runs the 2x model twice")


@register_kind
class Upscale(Kind):
    kind = "upscale"
    type = "edit"
    description = "Enlarge the picture (super-resolution)."
    example = {}
    Inputs = UpscaleInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"sr": "swin2sr"}

    def run(self, inputs: UpscaleInputs, ctx: RunContext) -> PipelineOutput:
        from transformers import Swin2SRForImageSuperResolution, Swin2SRImageProcessor

        name = self.model_name("sr")
        model = self.models.transformers(name, Swin2SRForImageSuperResolution)
        processor = self.models.transformers(name, Swin2SRImageProcessor)
        factor = int(model.config.upscale)
        passes = round(math.log(inputs.scale, factor)) if factor > 1 else 0
        if factor**passes != inputs.scale:
            raise ValueError(f"the {factor}x upscaling model cannot scale by {inputs.scale}")
        image = self.image(ctx)
        if max(image.size) > self.max_side:
            raise ValueError(
                f"the picture is too large to upscale (longest side {max(image.size)} px, at most {self.max_side} px)"
            )
        for done in range(passes):
            if ctx.cancelled():
                raise Cancelled()
            image = _upscale_once(model, processor, image, factor)
            ctx.progress(done + 1, passes)
        return PipelineOutput(images=[image])


def _upscale_once(model, processor, image: Image.Image, factor: int) -> Image.Image:
    import torch

    batch = processor(images=image, return_tensors="pt")
    pixels = batch["pixel_values"].to(model.device, model.dtype)
    with torch.inference_mode():
        out = model(pixel_values=pixels).reconstruction
    # the processor pads the bottom/right edges; keep the part that maps to the picture
    out = out[0, :, : image.height * factor, : image.width * factor]
    array = (out.float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255.0).round()
    return Image.fromarray(array.astype(np.uint8), mode="RGB")
