"""img2img, variation, colorize, blend: the whole picture redrawn by the Stable Diffusion
image-to-image pipeline (sharing the text2image model's weights), starting from a noised
version of the input so that its composition survives.

- ``img2img`` restyles: ``prompt`` says what it shows, ``style`` how it looks. Style
  instances (anime, watercolor, ...) are img2img instances whose config sets ``style``.
- ``variation`` keeps the content (captioned by the describe model when no prompt is given)
  and lets the details change.
- ``colorize`` paints colours onto a black-and-white picture, then keeps the original
  brightness of every pixel, so only the colour is new.
- ``blend`` mixes two or three pictures: their VAE latents are averaged and denoised into
  one coherent picture.
"""

from __future__ import annotations

import math
from typing import Any

from PIL import Image
from pydantic import Field, model_validator

from engine.pipelines.common import (
    Guidance,
    Kind,
    NegativePrompt,
    Steps,
    Strength,
    back_to,
    for_diffusion,
    run_diffusion,
)
from engine.registry import ImageRef, Inputs, PipelineOutput, Prompt, RunContext, register_kind

StyleText = Field(
    default=None, min_length=1, max_length=120, description="the look, e.g. 'watercolor painting', 'anime'"
)


class Img2ImgInputs(Inputs):
    prompt: Prompt | None = None
    style: str | None = StyleText
    negative_prompt: NegativePrompt | None = None
    image: ImageRef | None = None
    strength: Strength = 0.6
    steps: Steps = 25
    guidance_scale: Guidance = 7.5

    @model_validator(mode="after")
    def _prompt_or_style(self):
        if self.prompt is None and self.style is None:
            raise ValueError("give a prompt or a style")
        return self


class _Redraw(Kind):
    """Base of the kinds here: one img2img run from ``work`` (a picture at a size the VAE
    accepts, or 4-channel latents)."""

    type = "edit"
    image_fields = ("image",)
    needs_image = True
    model_roles = {"sd": "sd"}

    def redraw(
        self,
        ctx: RunContext,
        work: Any,
        *,
        prompt: str,
        strength: float,
        steps: int,
        guidance_scale: float,
        negative_prompt: str | None = None,
    ) -> Image.Image:
        from diffusers import AutoPipelineForImage2Image

        pipe = self.pipeline("sd", AutoPipelineForImage2Image)
        # diffusers runs int(steps * strength) steps; make that at least one
        steps = max(steps, math.ceil(1 / strength))
        return run_diffusion(
            pipe,
            ctx,
            prompt=prompt,
            negative_prompt=negative_prompt,
            image=work,
            strength=strength,
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
        )

    def source(self, ctx: RunContext, field: str | None = None) -> tuple[Image.Image, Image.Image]:
        """(source, work) of an image field: see ``common.for_diffusion``."""
        from diffusers import AutoPipelineForImage2Image

        pipe = self.models.diffusers(self.model_name("sd"), AutoPipelineForImage2Image)
        return for_diffusion(self.image(ctx, field), pipe, self.max_side)


@register_kind
class Img2Img(_Redraw):
    kind = "img2img"
    description = "Redraw the picture in another style."
    example = {"style": "oil painting"}
    Inputs = Img2ImgInputs

    def run(self, inputs: Img2ImgInputs, ctx: RunContext) -> PipelineOutput:
        source, work = self.source(ctx)
        prompt = ", ".join(p for p in (inputs.prompt, inputs.style) if p)
        image = self.redraw(
            ctx,
            work,
            prompt=prompt,
            negative_prompt=inputs.negative_prompt,
            strength=inputs.strength,
            steps=inputs.steps,
            guidance_scale=inputs.guidance_scale,
        )
        return PipelineOutput(images=[back_to(image, source)])


class VariationInputs(Inputs):
    prompt: Prompt | None = Field(default=None, description="omit to keep what the picture shows")
    image: ImageRef | None = None
    strength: Strength = 0.5
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


@register_kind
class Variation(_Redraw):
    kind = "variation"
    description = "A similar picture with different details."
    example = {}
    Inputs = VariationInputs
    model_roles = {"sd": "sd", "captioner": "blip_caption"}

    def run(self, inputs: VariationInputs, ctx: RunContext) -> PipelineOutput:
        from engine.pipelines.describe import caption

        source, work = self.source(ctx)
        prompt = inputs.prompt or caption(self.models, self.model_name("captioner"), source)
        image = self.redraw(
            ctx, work, prompt=prompt, strength=inputs.strength, steps=inputs.steps, guidance_scale=inputs.guidance_scale
        )
        return PipelineOutput(images=[back_to(image, source)])


class ColorizeInputs(Inputs):
    prompt: Prompt = Field(
        default="a natural colour photograph", description="hints at the colours, e.g. 'a red car, blue sky'"
    )
    image: ImageRef | None = None
    strength: Strength = 0.7
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


@register_kind
class Colorize(_Redraw):
    kind = "colorize"
    description = "Colour a black-and-white picture."
    example = {}
    Inputs = ColorizeInputs

    def run(self, inputs: ColorizeInputs, ctx: RunContext) -> PipelineOutput:
        source, work = self.source(ctx)
        grey_work = work.convert("L").convert("RGB")
        painted = back_to(
            self.redraw(
                ctx,
                grey_work,
                prompt=inputs.prompt,
                strength=inputs.strength,
                steps=inputs.steps,
                guidance_scale=inputs.guidance_scale,
            ),
            source,
        )
        return PipelineOutput(images=[with_luma(painted, source)])


def with_luma(colours: Image.Image, luma_of: Image.Image) -> Image.Image:
    """``colours``' chroma (YCbCr Cb, Cr) under ``luma_of``'s brightness (Y)."""
    _, cb, cr = colours.convert("YCbCr").split()
    y = luma_of.convert("YCbCr").split()[0]
    return Image.merge("YCbCr", (y, cb, cr)).convert("RGB")


class BlendInputs(Inputs):
    image2: ImageRef
    image3: ImageRef | None = None
    image: ImageRef | None = None
    mix: float = Field(default=0.5, ge=0.0, le=1.0, description="share of image2 (and image3) against image")
    prompt: Prompt | None = Field(default=None, description="what the blend shows; optional")
    strength: Strength = 0.6
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


@register_kind
class Blend(_Redraw):
    kind = "blend"
    type = "generate"
    description = "Mix two or three pictures into one."
    example = {"image2": "#2"}
    Inputs = BlendInputs
    image_fields = ("image", "image2", "image3")

    def run(self, inputs: BlendInputs, ctx: RunContext) -> PipelineOutput:
        import torch

        source, work = self.source(ctx)
        fields = ["image2", *(["image3"] if "image3" in ctx.images else [])]
        others = [self.image(ctx, f).resize(work.size, Image.LANCZOS) for f in fields]
        weights = [1.0 - inputs.mix] + [inputs.mix / len(others)] * len(others)
        from diffusers import AutoPipelineForImage2Image

        pipe = self.pipeline("sd", AutoPipelineForImage2Image)
        with torch.inference_mode():
            latents = sum(w * encode(pipe, im) for w, im in zip(weights, [work, *others]))
        image = self.redraw(
            ctx,
            latents,
            prompt=inputs.prompt or "",
            strength=inputs.strength,
            steps=inputs.steps,
            guidance_scale=inputs.guidance_scale,
        )
        return PipelineOutput(images=[back_to(image, source)])


def encode(pipe: Any, image: Image.Image) -> Any:
    """The VAE latents of ``image`` (the mean, scaled as the UNet expects them)."""
    pixels = pipe.image_processor.preprocess(image).to(pipe.vae.device, pipe.vae.dtype)
    return pipe.vae.encode(pixels).latent_dist.mean * pipe.vae.config.scaling_factor
