"""sketch2image, canny2image, depth2image: a new picture from a prompt whose structure
follows the given image, through a ControlNet on the text2image model (``common.controlled``).

Each kind makes its control image here (``preprocess``): a scribble map of a drawing, the
Canny edges of a picture, or the depth map of a scene.
"""

from __future__ import annotations

from typing import Any

from PIL import Image
from pydantic import Field

from engine.pipelines import preprocess
from engine.pipelines.common import (
    ControlStrength,
    Guidance,
    Kind,
    NegativePrompt,
    Steps,
    back_to,
    controlled,
    fit,
    working_size,
)
from engine.registry import ImageRef, Inputs, PipelineOutput, Prompt, RunContext, register_kind


class ControlInputs(Inputs):
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    image: ImageRef | None = None
    control_strength: ControlStrength = 1.0
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


class CannyInputs(ControlInputs):
    detail: float = Field(
        default=0.5, ge=0.0, le=1.0, description="how many edges to keep: 0 only the strongest, 1 all"
    )


class _Controlled(Kind):
    """Base of the ControlNet kinds: ``control`` makes the control image."""

    type = "generate"
    image_fields = ("image",)
    needs_image = True

    def control(self, image: Image.Image, inputs: Any) -> Image.Image:
        raise NotImplementedError

    def run(self, inputs: ControlInputs, ctx: RunContext) -> PipelineOutput:
        # the result has the input's size (capped); the model works at a nearby multiple of 8
        source = fit(self.image(ctx), self.max_side)
        work = source.resize(working_size(source.size), Image.LANCZOS)
        result = controlled(
            self,
            ctx,
            self.control(work, inputs),
            prompt=inputs.prompt,
            negative_prompt=inputs.negative_prompt,
            steps=inputs.steps,
            guidance_scale=inputs.guidance_scale,
            control_strength=inputs.control_strength,
        )
        return PipelineOutput(images=[back_to(result, source)])


@register_kind
class Sketch2Image(_Controlled):
    kind = "sketch2image"
    description = "Turn a sketch or doodle into a finished picture."
    example = {"prompt": "a house on a hill"}
    Inputs = ControlInputs
    model_roles = {"sd": "sd", "control": "cn_scribble"}

    def control(self, image, inputs):
        return preprocess.scribble(image)


@register_kind
class Canny2Image(_Controlled):
    kind = "canny2image"
    description = "New picture with the image's outlines."
    example = {"prompt": "a house at night"}
    Inputs = CannyInputs
    model_roles = {"sd": "sd", "control": "cn_canny"}

    def control(self, image, inputs):
        # detail 0.5 gives OpenCV's customary (100, 200); 1 keeps faint edges, 0 the boldest
        high = round(300 - 200 * inputs.detail)
        return preprocess.canny(image, low=high // 2, high=high)


@register_kind
class Depth2Image(_Controlled):
    kind = "depth2image"
    description = "New picture with the image's 3D layout."
    example = {"prompt": "a stone castle"}
    Inputs = ControlInputs
    model_roles = {"sd": "sd", "control": "cn_depth", "depth": "depth"}

    def control(self, image, inputs):
        return preprocess.depth_map(self.models, self.model_name("depth"), image)
