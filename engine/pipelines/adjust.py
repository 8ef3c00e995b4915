"""adjust: plain photo adjustments (brightness, contrast, saturation, hue, sharpness),
optionally only inside a region named in words (CLIPSeg mask). No diffusion model."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image, ImageEnhance
from pydantic import Field

from engine.pipelines.common import Kind, RegionText, blend_in
from engine.registry import ImageRef, Inputs, PipelineOutput, RunContext, register_kind

Property = Literal["brightness", "contrast", "saturation", "hue", "sharpness"]

_ENHANCERS = {
    "brightness": ImageEnhance.Brightness,
    "contrast": ImageEnhance.Contrast,
    "saturation": ImageEnhance.Color,
    "sharpness": ImageEnhance.Sharpness,
}


class AdjustInputs(Inputs):
    property: Property
    amount: float = Field(
        ge=-1.0,
        le=1.0,
        description="signed change: 0.3 a bit more, -0.3 a bit less; "
        "for hue, the fraction of a half turn of the colour wheel",
    )
    region: RegionText | None = Field(default=None, description="only adjust this part, e.g. 'the sky'")
    image: ImageRef | None = None


def adjusted(image: Image.Image, prop: str, amount: float) -> Image.Image:
    """The whole picture adjusted. For the PIL enhancers the factor is ``1 + amount``
    (-1 removes the property: black, flat grey, greyscale, blurred; +1 doubles it); hue
    turns the colour wheel by ``amount`` x 180 degrees."""
    image = image.convert("RGB")
    if prop == "hue":
        hsv = np.asarray(image.convert("HSV")).copy()
        shift = int(round(amount * 128))
        hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + shift) % 256).astype(np.uint8)
        return Image.fromarray(hsv, mode="HSV").convert("RGB")
    return _ENHANCERS[prop](image).enhance(1.0 + amount)


@register_kind
class Adjust(Kind):
    kind = "adjust"
    type = "edit"
    description = "Change brightness, contrast, saturation, hue or sharpness."
    example = {"property": "brightness", "amount": 0.3}
    Inputs = AdjustInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"segmenter": "clipseg"}

    def run(self, inputs: AdjustInputs, ctx: RunContext) -> PipelineOutput:
        image = self.image(ctx)
        changed = adjusted(image, inputs.property, inputs.amount)
        if inputs.region:
            changed = blend_in(changed, image, self.mask(image, inputs.region))
        ctx.progress(1, 1)
        return PipelineOutput(images=[changed])
