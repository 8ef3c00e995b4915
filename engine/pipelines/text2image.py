"""text2image: a new picture from a text prompt (Stable Diffusion family)."""

from __future__ import annotations

from pydantic import Field

from engine.pipelines.common import Guidance, Kind, NegativePrompt, Steps, fit_size, run_diffusion
from engine.registry import Inputs, PipelineOutput, Prompt, RunContext, register_kind

Side = Field(
    default=None, ge=64, le=1024, multiple_of=8, description="pixels, a multiple of 8; omit for the model's native size"
)


class Text2ImageInputs(Inputs):
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    steps: Steps = 25
    guidance_scale: Guidance = 7.5
    width: int | None = Side
    height: int | None = Side


@register_kind
class Text2Image(Kind):
    kind = "text2image"
    type = "generate"
    description = "Draw a new picture from a description."
    example = {"prompt": "a red fox in the snow"}
    Inputs = Text2ImageInputs
    model_roles = {"sd": "sd"}

    def run(self, inputs: Text2ImageInputs, ctx: RunContext) -> PipelineOutput:
        from diffusers import AutoPipelineForText2Image

        pipe = self.pipeline("sd", AutoPipelineForText2Image)
        native = pipe.unet.config.sample_size * pipe.vae_scale_factor
        width, height = fit_size((inputs.width or native, inputs.height or native), self.max_side)
        image = run_diffusion(
            pipe,
            ctx,
            prompt=inputs.prompt,
            negative_prompt=inputs.negative_prompt,
            num_inference_steps=inputs.steps,
            guidance_scale=inputs.guidance_scale,
            width=width,
            height=height,
        )
        return PipelineOutput(images=[image])
