"""inpaint, replace_object, remove_object, change_background: repaint a region of the
picture chosen by words, leaving every pixel outside it as it was.

CLIPSeg turns the words into a mask (see ``common.text_mask`` for the threshold and the
dilation); ``common.repaint`` runs the Stable Diffusion inpainting pipeline (sharing the
text2image model's weights) inside it and pastes the original back outside. The kinds
differ only in which mask they paint and with which prompt:

- ``inpaint`` repaints the object's own shape (new material, colour, pattern);
- ``replace_object`` repaints the object's bounding box, so that a replacement of another
  silhouette fits;
- ``remove_object`` fills the object's box with background;
- ``change_background`` repaints everything except the subject.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.pipelines.common import (
    Guidance,
    Kind,
    NegativePrompt,
    RegionText,
    Steps,
    dilate,
    fit,
    repaint,
)
from engine.registry import ImageRef, Inputs, PipelineOutput, Prompt, RunContext, register_kind


class InpaintInputs(Inputs):
    target: RegionText
    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    image: ImageRef | None = None
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


class _Repaint(Kind):
    """Base of the kinds here: ``region`` picks the mask, ``fill`` the prompt."""

    type = "edit"
    image_fields = ("image",)
    needs_image = True
    model_roles = {"sd": "sd", "segmenter": "clipseg"}

    def region(self, image: Image.Image, inputs) -> Image.Image:
        return self.mask(image, inputs.target)

    def fill(self, inputs) -> tuple[str, str | None]:
        """(prompt, negative prompt) to paint the region with."""
        return inputs.prompt, inputs.negative_prompt

    def run(self, inputs, ctx: RunContext) -> PipelineOutput:
        source = fit(self.image(ctx), self.max_side)
        prompt, negative = self.fill(inputs)
        image = repaint(
            self,
            ctx,
            source,
            self.region(source, inputs),
            prompt=prompt,
            negative_prompt=negative,
            steps=inputs.steps,
            guidance_scale=inputs.guidance_scale,
        )
        return PipelineOutput(images=[image])


@register_kind
class Inpaint(_Repaint):
    kind = "inpaint"
    description = "Repaint a named part in its shape ('the shirt' -> 'red silk')."
    example = {"target": "the ball", "prompt": "a red apple"}
    Inputs = InpaintInputs


@register_kind
class ReplaceObject(_Repaint):
    kind = "replace_object"
    description = "Swap a named object for another ('the dog' -> 'a fox')."
    example = {"target": "the ball", "prompt": "a cat"}
    Inputs = InpaintInputs

    def region(self, image: Image.Image, inputs) -> Image.Image:
        return box_of(self.mask(image, inputs.target))


class RemoveObjectInputs(Inputs):
    target: RegionText
    image: ImageRef | None = None
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


@register_kind
class RemoveObject(_Repaint):
    kind = "remove_object"
    description = "Erase a named object, fill the gap."
    example = {"target": "the ball"}
    Inputs = RemoveObjectInputs
    # what the gap is painted with: nothing that could be the erased object again
    FILL_PROMPT = "empty background, seamless continuation of the surroundings"
    FILL_NEGATIVE = "object, person, animal, text, watermark"

    def region(self, image: Image.Image, inputs) -> Image.Image:
        return box_of(self.mask(image, inputs.target))

    def fill(self, inputs) -> tuple[str, str | None]:
        return self.FILL_PROMPT, self.FILL_NEGATIVE


class ChangeBackgroundInputs(Inputs):
    prompt: Prompt
    subject: RegionText = "the main subject"
    negative_prompt: NegativePrompt | None = None
    image: ImageRef | None = None
    steps: Steps = 25
    guidance_scale: Guidance = 7.5


@register_kind
class ChangeBackground(_Repaint):
    kind = "change_background"
    description = "New background behind the main subject."
    example = {"prompt": "a sunny beach"}
    Inputs = ChangeBackgroundInputs

    def region(self, image: Image.Image, inputs) -> Image.Image:
        subject = np.asarray(self.mask(image, inputs.subject)) > 0
        return Image.fromarray(np.where(subject, 0, 255).astype(np.uint8), mode="L")


def box_of(mask: Image.Image) -> Image.Image:
    """The bounding box of a mask's selected pixels, as a mask, slightly dilated."""
    box = Image.new("L", mask.size, 0)
    bbox = mask.getbbox()
    if bbox:
        box.paste(255, bbox)
    return dilate(box)
