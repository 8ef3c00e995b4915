"""transform: crop, resize, rotate or flip the picture. Plain geometry, no model, except
that a crop may be aimed at a thing named in words (its CLIPSeg bounding box)."""

from __future__ import annotations

from typing import Literal

from PIL import Image
from pydantic import Field, model_validator

from engine.pipelines.common import Kind, RegionText
from engine.registry import ImageRef, Inputs, IntentError, PipelineOutput, RunContext, register_kind

Operation = Literal["rotate", "flip_horizontal", "flip_vertical", "resize", "crop"]
Aspect = Literal["1:1", "4:3", "3:4", "3:2", "2:3", "16:9", "9:16"]


class TransformInputs(Inputs):
    operation: Operation
    angle: float = Field(
        default=90.0, ge=-360.0, le=360.0, description="rotate: degrees, positive turns counterclockwise"
    )
    scale: float = Field(default=0.5, ge=0.1, le=4.0, description="resize: new size / old size")
    aspect: Aspect | None = Field(default=None, description="crop: keep the centre at this aspect")
    region: RegionText | None = Field(default=None, description="crop: keep only this, e.g. 'the cat'")
    image: ImageRef | None = None

    @model_validator(mode="after")
    def _crop_needs_a_target(self):
        if self.operation == "crop" and not (self.aspect or self.region):
            raise ValueError("crop needs an aspect or a region")
        return self


def rotated(image: Image.Image, angle: float) -> Image.Image:
    """Turned by ``angle`` degrees counterclockwise on a canvas grown to hold all of it;
    the uncovered corners are white."""
    if angle % 90 == 0:  # exact, no resampling
        turns = int(angle // 90) % 4
        return (
            image
            if turns == 0
            else image.transpose(
                (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)[turns - 1]
            )
        )
    return image.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=(255, 255, 255))


def center_crop(image: Image.Image, aspect: str) -> Image.Image:
    """The largest centred part of ``image`` with width:height = ``aspect``."""
    aw, ah = (int(x) for x in aspect.split(":"))
    w, h = image.size
    cw, ch = (w, round(w * ah / aw)) if w * ah <= h * aw else (round(h * aw / ah), h)
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch))


@register_kind
class Transform(Kind):
    kind = "transform"
    type = "edit"
    description = "Crop, resize, rotate or flip the picture."
    example = {"operation": "rotate", "angle": 90}
    Inputs = TransformInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"segmenter": "clipseg"}

    def run(self, inputs: TransformInputs, ctx: RunContext) -> PipelineOutput:
        image = self.image(ctx)
        op = inputs.operation
        if op == "rotate":
            out = rotated(image, inputs.angle)
        elif op == "flip_horizontal":
            out = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        elif op == "flip_vertical":
            out = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
        elif op == "resize":
            size = (max(1, round(image.width * inputs.scale)), max(1, round(image.height * inputs.scale)))
            out = image.resize(size, Image.LANCZOS)
        elif inputs.region:
            out = image.crop(self.mask(image, inputs.region).getbbox())
        else:
            out = center_crop(image, inputs.aspect)
        if max(out.size) > self.max_side:
            raise IntentError(
                f"the result would be {out.width}x{out.height} pixels; the limit is {self.max_side} px per side"
            )
        ctx.progress(1, 1)
        return PipelineOutput(images=[out])
