"""add_text: write text on the picture, as a meme (bold white letters with a black outline
over the picture) or as a caption (black letters on a white band added below or above it).

The font is DejaVu Sans Bold, which ships with matplotlib (a dependency), so the result
is the same on every machine. Text is wrapped at word boundaries and sized to fill the
width, up to a third of the picture's height.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont
from pydantic import Field

from engine.pipelines.common import Kind
from engine.registry import ImageRef, Inputs, PipelineOutput, RunContext, register_kind

MARGIN = 0.04  # of the picture's width, on each side of the text


class AddTextInputs(Inputs):
    text: str = Field(min_length=1, max_length=120)
    position: Literal["top", "bottom", "center"] = "bottom"
    style: Literal["meme", "caption"] = "meme"
    image: ImageRef | None = None


def font_path() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"


@lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path()), size)


def layout(text: str, width: int, max_height: int) -> tuple[ImageFont.FreeTypeFont, str]:
    """The largest font (and the text wrapped for it) whose block fits ``width`` x
    ``max_height``; at the smallest size, whatever wraps."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    for size in range(max(8, max_height), 7, -1):
        f = font(size)
        lines: list[str] = []
        for word in text.split():
            candidate = f"{lines[-1]} {word}" if lines else word
            if lines and probe.textlength(candidate, font=f) <= width:
                lines[-1] = candidate
            else:
                lines.append(word)
        wrapped = "\n".join(lines)
        left, top, right, bottom = probe.multiline_textbbox((0, 0), wrapped, font=f, align="center")
        if right - left <= width and bottom - top <= max_height:
            return f, wrapped
    return font(8), wrapped


def draw_text(image: Image.Image, text: str, position: str, style: str) -> Image.Image:
    """``image`` with ``text`` written on it (see the module doc)."""
    image = image.convert("RGB")
    w, h = image.size
    margin = max(1, round(w * MARGIN))
    if style == "meme":
        text = text.upper()
    f, wrapped = layout(text, w - 2 * margin, max(8, h // 3 - 2 * margin))
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox((0, 0), wrapped, font=f, align="center")
    tw, th = right - left, bottom - top
    x = (w - tw) // 2 - left
    if style == "caption":
        band = th + 2 * margin
        out = Image.new("RGB", (w, h + band), "white")
        at_top = position == "top"
        out.paste(image, (0, band if at_top else 0))
        y = (0 if at_top else h) + margin - top
        ImageDraw.Draw(out).multiline_text((x, y), wrapped, font=f, fill="black", align="center")
        return out
    y = {"top": margin, "bottom": h - margin - th, "center": (h - th) // 2}[position] - top
    out = image.copy()
    stroke = max(1, f.size // 12)
    ImageDraw.Draw(out).multiline_text(
        (x, y), wrapped, font=f, fill="white", align="center", stroke_width=stroke, stroke_fill="black"
    )
    return out


@register_kind
class AddText(Kind):
    kind = "add_text"
    type = "edit"
    description = "Put caption or meme text on the picture."
    example = {"text": "hello world"}
    Inputs = AddTextInputs
    image_fields = ("image",)
    needs_image = True

    def run(self, inputs: AddTextInputs, ctx: RunContext) -> PipelineOutput:
        out = draw_text(self.image(ctx), inputs.text, inputs.position, inputs.style)
        ctx.progress(1, 1)
        return PipelineOutput(images=[out])
