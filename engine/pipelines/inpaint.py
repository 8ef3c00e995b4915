"""inpaint: replace one thing in a picture, found by its name, with something new.

CLIPSeg turns ``target`` into a mask (see ``common.text_mask`` for the threshold and the
dilation); the Stable Diffusion inpainting pipeline, sharing the text2image model's weights,
repaints inside it; the original pixels are pasted back outside the (dilated) mask, so
nothing outside it changes.
"""

from __future__ import annotations

from engine.pipelines.common import (
    Guidance,
    Kind,
    NegativePrompt,
    RegionText,
    Steps,
    back_to,
    blend_in,
    for_diffusion,
    run_diffusion,
    text_mask,
)
from engine.registry import ImageRef, Inputs, PipelineOutput, Prompt, RunContext, register_kind


class InpaintInputs(Inputs):
    target: RegionText
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    image: ImageRef | None = None
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


@register_kind
class Inpaint(Kind):
    kind = "inpaint"
    type = "edit"
    description = ("Replace one named thing in the picture with something else (e.g. target "
                   "'the dog', prompt 'a red fox'), leaving everything around it untouched.")
    Inputs = InpaintInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"sd": "sd", "segmenter": "clipseg"}

    def run(self, inputs: InpaintInputs, ctx: RunContext) -> PipelineOutput:
        from diffusers import AutoPipelineForInpainting

        pipe = self.models.diffusers(self.model_name("sd"), AutoPipelineForInpainting)
        source, work = for_diffusion(self.image(ctx), pipe, self.max_side)
        mask = text_mask(self.models, self.model_name("segmenter"), source, inputs.target)
        work_mask = mask if mask.size == work.size else mask.resize(work.size)
        painted = run_diffusion(
            pipe, ctx,
            prompt=inputs.prompt,
            negative_prompt=inputs.negative_prompt,
            image=work,
            mask_image=work_mask,
            width=work.width,
            height=work.height,
            num_inference_steps=inputs.steps,
            guidance_scale=inputs.guidance_scale,
        )
        return PipelineOutput(images=[blend_in(back_to(painted, source), source, mask)])
