"""instruct_edit: change a picture by following a written instruction (InstructPix2Pix,
with DialogPaint's two guidance scales)."""

from __future__ import annotations

from pydantic import Field

from engine.pipelines.common import Kind, Steps, back_to, for_diffusion, run_diffusion
from engine.registry import TUNING, ImageRef, Inputs, PipelineOutput, Prompt, RunContext, register_kind


class InstructEditInputs(Inputs):
    instruction: Prompt
    image: ImageRef | None = None
    image_guidance: float = Field(
        default=1.5,
        ge=1.0,
        le=5.0,
        description="s_I: higher keeps closer to the original picture",
        json_schema_extra=TUNING,
    )
    text_guidance: float = Field(
        default=7.5,
        ge=1.0,
        le=15.0,
        description="s_T: higher follows the instruction more strongly",
        json_schema_extra=TUNING,
    )
    steps: Steps = 25


@register_kind
class InstructEdit(Kind):
    kind = "instruct_edit"
    type = "edit"
    description = "Edit by instruction ('add snow', 'make it night')."
    example = {"instruction": "make it snowy"}
    Inputs = InstructEditInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"ip2p": "ip2p"}

    def run(self, inputs: InstructEditInputs, ctx: RunContext) -> PipelineOutput:
        from diffusers import StableDiffusionInstructPix2PixPipeline

        pipe = self.pipeline("ip2p", StableDiffusionInstructPix2PixPipeline)
        source, work = for_diffusion(self.image(ctx), pipe, self.max_side)
        image = run_diffusion(
            pipe,
            ctx,
            prompt=inputs.instruction,
            image=work,
            num_inference_steps=inputs.steps,
            guidance_scale=inputs.text_guidance,
            image_guidance_scale=inputs.image_guidance,
        )
        return PipelineOutput(images=[back_to(image, source)])
