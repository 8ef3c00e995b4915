"""img2img: a restyled version or variation of an existing picture (Stable Diffusion
family, sharing the text2image model's weights)."""

from __future__ import annotations

import math

from pydantic import Field

from engine.pipelines.common import (
    Guidance,
    Kind,
    NegativePrompt,
    Steps,
    back_to,
    for_diffusion,
    run_diffusion,
)
from engine.registry import ImageRef, Inputs, PipelineOutput, Prompt, RunContext, register_kind


class Img2ImgInputs(Inputs):
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    image: ImageRef | None = None
    strength: float = Field(default=0.6, ge=0.05, le=1.0,
                            description="how much to change: 0.05 barely, 1 ignores the picture")
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


@register_kind
class Img2Img(Kind):
    kind = "img2img"
    type = "edit"
    description = ("Redraw a whole existing picture in a new style or as a variation, guided by "
                   "a description of the result (e.g. 'as a watercolor', 'at night'); strength "
                   "sets how far it may move from the original.")
    Inputs = Img2ImgInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"sd": "sd"}

    def run(self, inputs: Img2ImgInputs, ctx: RunContext) -> PipelineOutput:
        from diffusers import AutoPipelineForImage2Image

        pipe = self.models.diffusers(self.model_name("sd"), AutoPipelineForImage2Image)
        source, work = for_diffusion(self.image(ctx), pipe, self.max_side)
        # diffusers runs int(steps * strength) steps; make that at least one
        steps = max(inputs.steps, math.ceil(1 / inputs.strength))
        image = run_diffusion(
            pipe, ctx,
            prompt=inputs.prompt,
            negative_prompt=inputs.negative_prompt,
            image=work,
            strength=inputs.strength,
            num_inference_steps=steps,
            guidance_scale=inputs.guidance_scale,
        )
        return PipelineOutput(images=[back_to(image, source)])
