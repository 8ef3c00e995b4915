"""outpaint and pan: grow the canvas and paint the new area, keeping the original pixels.

``outpaint`` zooms out (the picture stays in the middle, new surroundings on every side);
``pan`` extends one side. The new area is pre-filled with the picture stretched and
blurred, which gives the inpainting model the right colours to continue, then repainted
by ``common.repaint``; the original pixels are pasted back exactly.
"""

from __future__ import annotations

from typing import Literal

from PIL import Image, ImageFilter
from pydantic import Field

from engine.pipelines.common import Guidance, Kind, NegativePrompt, Steps, fit, repaint
from engine.registry import ImageRef, Inputs, PipelineOutput, RunContext, register_kind

ScenePrompt = Field(
    default=None, min_length=1, max_length=300, description="what the new area shows; omit to continue the scene"
)
CONTINUE_PROMPT = "a seamless continuation of the scene"


class OutpaintInputs(Inputs):
    zoom: float = Field(default=1.5, ge=1.1, le=3.0, description="new size / old size per side")
    prompt: str | None = ScenePrompt
    negative_prompt: NegativePrompt | None = None
    image: ImageRef | None = None
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


class PanInputs(Inputs):
    direction: Literal["left", "right", "up", "down"]
    amount: float = Field(default=0.5, ge=0.1, le=1.0, description="added length / old length")
    prompt: str | None = ScenePrompt
    negative_prompt: NegativePrompt | None = None
    image: ImageRef | None = None
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


def extend(image: Image.Image, left: int, top: int, right: int, bottom: int) -> tuple[Image.Image, Image.Image]:
    """(canvas, mask): ``image`` on a canvas grown by the given margins, the margins
    pre-filled with the picture stretched and blurred; mask 255 on the margins only."""
    w, h = image.size
    size = (w + left + right, h + top + bottom)
    radius = max(2, max(size) // 16)
    canvas = image.resize(size, Image.BILINEAR).filter(ImageFilter.GaussianBlur(radius))
    canvas.paste(image, (left, top))
    mask = Image.new("L", size, 255)
    mask.paste(0, (left, top, left + w, top + h))
    return canvas, mask


class _Extend(Kind):
    type = "edit"
    image_fields = ("image",)
    needs_image = True
    model_roles = {"sd": "sd"}

    def margins(self, size: tuple[int, int], inputs) -> tuple[int, int, int, int]:
        raise NotImplementedError

    def run(self, inputs, ctx: RunContext) -> PipelineOutput:
        image = self.image(ctx)
        # shrink the picture first so that the grown canvas fits the output limit
        left, top, right, bottom = self.margins(image.size, inputs)
        grown = max(image.width + left + right, image.height + top + bottom)
        if grown > self.max_side:
            image = fit(image, max(8, image.width * self.max_side // grown))
            left, top, right, bottom = self.margins(image.size, inputs)
        canvas, mask = extend(image, left, top, right, bottom)
        result = repaint(
            self,
            ctx,
            canvas,
            mask,
            prompt=inputs.prompt or CONTINUE_PROMPT,
            negative_prompt=inputs.negative_prompt,
            steps=inputs.steps,
            guidance_scale=inputs.guidance_scale,
        )
        return PipelineOutput(images=[result])


@register_kind
class Outpaint(_Extend):
    kind = "outpaint"
    description = "Zoom out: extend the picture on all sides."
    example = {"zoom": 1.5}
    Inputs = OutpaintInputs

    def margins(self, size, inputs):
        w, h = size
        dx, dy = round(w * (inputs.zoom - 1) / 2), round(h * (inputs.zoom - 1) / 2)
        return dx, dy, dx, dy


@register_kind
class Pan(_Extend):
    kind = "pan"
    description = "Extend the picture on one side."
    example = {"direction": "right"}
    Inputs = PanInputs

    def margins(self, size, inputs):
        w, h = size
        dx, dy = round(w * inputs.amount), round(h * inputs.amount)
        return {"left": (dx, 0, 0, 0), "right": (0, 0, dx, 0), "up": (0, dy, 0, 0), "down": (0, 0, 0, dy)}[
            inputs.direction
        ]
