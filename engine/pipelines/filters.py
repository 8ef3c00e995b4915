"""filter: classic photo filters (grayscale, sepia, blur, sharpen, invert, posterize) on the
whole picture or on a region named in words. No diffusion model."""

from __future__ import annotations

from typing import Literal

import numpy as np
from PIL import Image, ImageFilter, ImageOps
from pydantic import Field

from engine.pipelines.common import Kind, RegionText, blend_in
from engine.registry import ImageRef, Inputs, PipelineOutput, RunContext, register_kind

FilterName = Literal["grayscale", "sepia", "blur", "sharpen", "invert", "posterize"]

# The classic sepia tone matrix (rows: output R, G, B; columns: input R, G, B).
SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32)


class FilterInputs(Inputs):
    filter: FilterName
    strength: float = Field(default=0.5, ge=0.0, le=1.0, description="blur radius, sharpening or posterize coarseness")
    region: RegionText | None = Field(default=None, description="only filter this part, e.g. 'the background'")
    image: ImageRef | None = None


def filtered(image: Image.Image, name: str, strength: float = 0.5) -> Image.Image:
    """``image`` (RGB) through filter ``name``. ``strength`` sets the blur radius (0.5 to
    10.5 px), the unsharp-mask percent (50 to 350) and the posterize levels (from 64 at 0
    down to 2 at 1); grayscale, sepia and invert have none."""
    image = image.convert("RGB")
    if name == "grayscale":
        return ImageOps.grayscale(image).convert("RGB")
    if name == "sepia":
        toned = np.asarray(image, dtype=np.float32) @ SEPIA.T
        return Image.fromarray(np.clip(toned, 0, 255).round().astype(np.uint8), mode="RGB")
    if name == "blur":
        return image.filter(ImageFilter.GaussianBlur(0.5 + 10 * strength))
    if name == "sharpen":
        return image.filter(ImageFilter.UnsharpMask(radius=2, percent=round(50 + 300 * strength), threshold=2))
    if name == "invert":
        return ImageOps.invert(image)
    if name == "posterize":
        return ImageOps.posterize(image, bits=6 - round(5 * strength))
    raise ValueError(f"unknown filter {name!r}")


@register_kind
class Filter(Kind):
    kind = "filter"
    type = "edit"
    description = "Grayscale, sepia, blur, sharpen, invert or posterize."
    example = {"filter": "sepia"}
    Inputs = FilterInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"segmenter": "clipseg"}

    def run(self, inputs: FilterInputs, ctx: RunContext) -> PipelineOutput:
        image = self.image(ctx)
        out = filtered(image, inputs.filter, inputs.strength)
        if inputs.region:
            out = blend_in(out, image, self.mask(image, inputs.region))
        ctx.progress(1, 1)
        return PipelineOutput(images=[out])
