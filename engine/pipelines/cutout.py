"""remove_background: the main subject cut out onto a transparent background (RGBA).

The subject is found by CLIPSeg from words ("the main subject" unless the user names it);
its mask, feathered at the edge, becomes the alpha channel. Fully transparent pixels are
made white, so that a viewer that drops the alpha shows the subject on white.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine.pipelines.common import Kind, RegionText, feather
from engine.registry import ImageRef, Inputs, PipelineOutput, RunContext, register_kind


class RemoveBackgroundInputs(Inputs):
    subject: RegionText = "the main subject"
    image: ImageRef | None = None


def cut_out(image: Image.Image, mask: Image.Image) -> Image.Image:
    """RGBA: ``image`` with alpha = ``mask`` feathered (0 outside the mask)."""
    alpha = feather(mask)
    rgb = np.asarray(image.convert("RGB")).copy()
    rgb[np.asarray(alpha) == 0] = 255
    out = Image.fromarray(rgb, mode="RGB")
    out.putalpha(alpha)
    return out


@register_kind
class RemoveBackground(Kind):
    kind = "remove_background"
    type = "edit"
    description = "Cut out the subject onto a transparent background."
    example = {}
    Inputs = RemoveBackgroundInputs
    image_fields = ("image",)
    needs_image = True
    model_roles = {"segmenter": "clipseg"}

    def run(self, inputs: RemoveBackgroundInputs, ctx: RunContext) -> PipelineOutput:
        image = self.image(ctx)
        out = cut_out(image, self.mask(image, inputs.subject))
        ctx.progress(1, 1)
        return PipelineOutput(images=[out])
