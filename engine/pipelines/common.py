"""What the pipeline kinds share: the ``Kind`` base (instance defaults, cancel check,
out-of-memory handling), bounded input field types, seeded generators, the diffusers step
callback, image sizing, masks selected by text with CLIPSeg, and the two diffusion
workflows several kinds are made of: repainting inside a mask (``repaint``) and generating
under a ControlNet (``controlled``)."""

from __future__ import annotations

import threading
import weakref
from abc import abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from PIL import Image, ImageFilter
from pydantic import Field, TypeAdapter, ValidationError

from engine.registry import TUNING, Cancelled, Inputs, IntentError, PipelineKind, PipelineOutput, RunContext

if TYPE_CHECKING:
    import torch

    from engine.config import PipelineInstance
    from engine.models import ModelCache

# ----- bounded input types shared by several kinds -----

NegativePrompt = Annotated[
    str, Field(max_length=300, description="what the picture should not show", json_schema_extra=TUNING)
]
Steps = Annotated[
    int, Field(ge=1, le=100, description="denoising steps: more is slower and finer", json_schema_extra=TUNING)
]
Guidance = Annotated[
    float, Field(ge=0.0, le=20.0, description="how strictly to follow the prompt", json_schema_extra=TUNING)
]
RegionText = Annotated[str, Field(min_length=1, max_length=120)]
Strength = Annotated[
    float,
    Field(
        ge=0.05, le=1.0, description="how much to change: 0.05 barely, 1 ignores the picture", json_schema_extra=TUNING
    ),
]

# A CLIPSeg pixel belongs to a text-selected region when its probability (sigmoid of the
# logit, upsampled to the picture's size) is at least this. Lower selects more of the
# surroundings, higher only the most certain core of the object; the dilation below then
# widens whatever was selected.
MASK_THRESHOLD = 0.4
# The selected region is grown by this fraction of the image's longer side (at least 1 px)
# before use, so that seams fall outside the object. Pixels outside the grown mask are
# returned unchanged by the kinds that use masks.
MASK_DILATION = 0.015


class NothingFound(IntentError):
    """The text-selected region is empty: nothing in the picture matched the words."""


class Kind(PipelineKind):
    """Base of the kinds of this package. Checks the instance's ``defaults`` once, applies
    them and the guild's overrides to every call (for inputs the intent model left unset),
    checks for a cancel before starting, and runs ``run``."""

    def __init__(self, instance: PipelineInstance, models: ModelCache) -> None:
        super().__init__(instance, models)
        check_defaults(type(self).Inputs, instance.defaults, instance.id)

    def __call__(self, inputs: Inputs | dict[str, Any], ctx: RunContext) -> PipelineOutput:
        """Run the kind on ``inputs`` (validated, with the instance's and the guild's
        defaults filled in). Raises Cancelled when ``ctx.cancelled()`` turns true, and
        OutOfMemory (after unloading the cache) when the device runs out of memory."""
        from engine.models import OUT_OF_MEMORY_MESSAGE, OutOfMemory, is_out_of_memory

        if ctx.cancelled():
            raise Cancelled()
        defaults = {**self.instance.defaults, **ctx.overrides}
        try:
            return self.run(with_defaults(type(self).Inputs, inputs, defaults), ctx)
        except RuntimeError as err:
            if not is_out_of_memory(err):
                raise
        # outside the except block, so the traceback's frames (holding the activations
        # that filled the device) are gone before the memory is released
        self.models.recover_from_oom()
        raise OutOfMemory(OUT_OF_MEMORY_MESSAGE)

    @abstractmethod
    def run(self, inputs: Any, ctx: RunContext) -> PipelineOutput: ...

    # convenience for kinds
    def image(self, ctx: RunContext, field: str | None = None) -> Image.Image:
        """The decoded picture of image field ``field`` (default: the first), in RGB."""
        field = field or self.image_fields[0]
        try:
            return ctx.images[field].convert("RGB")
        except KeyError:
            raise ValueError(f"{self.kind}: no image was given for '{field}'") from None

    @property
    def max_side(self) -> int:
        return self.models.settings.limits.max_output_side

    def pipeline(self, role: str, pipeline_cls: Any, **models: str) -> Any:
        """The diffusers pipeline of class ``pipeline_cls`` on this instance's model for
        ``role``, with extra component models by role (``controlnet="control"``), ready to
        run (CPU offload hooks in place where configured)."""
        pipe = self.models.diffusers(
            self.model_name(role), pipeline_cls, **{k: self.model_name(v) for k, v in models.items()}
        )
        self.models.prepare(pipe)
        return pipe

    def mask(self, image: Image.Image, text: str) -> Image.Image:
        """Binary mask of the region of ``image`` that shows ``text`` (see ``text_mask``),
        found with this instance's segmenter."""
        return text_mask(self.models, self.model_name("segmenter"), image, text)


def check_defaults(model: type[Inputs], defaults: dict[str, Any], where: str) -> None:
    """Validate an instance's ``defaults`` field by field; raise ValueError naming the key."""
    for key, value in defaults.items():
        if key not in model.model_fields:
            raise ValueError(
                f"pipeline {where!r}: default for unknown input {key!r} (inputs: {', '.join(model.model_fields)})"
            )
        info = model.model_fields[key]
        try:  # the field alone: rules across fields are checked when a call is complete
            annotation = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
            TypeAdapter(annotation).validate_python(value)
        except ValidationError as err:
            raise ValueError(
                f"pipeline {where!r}: bad default for {key!r}: {err.errors()[0]['msg']} (got {value!r})"
            ) from None


def with_defaults(model: type[Inputs], inputs: Inputs | dict[str, Any], defaults: dict[str, Any]) -> Any:
    """``inputs`` with the instance's defaults filled in where the caller set nothing."""
    given = inputs.model_dump(exclude_unset=True) if isinstance(inputs, Inputs) else dict(inputs)
    if not defaults and isinstance(inputs, model):
        return inputs
    return model.model_validate({**defaults, **given})


# ----- diffusion helpers -----


def generator(ctx: RunContext) -> torch.Generator:
    """The seeded generator of a run: same seed, same pixels (on one device type)."""
    import torch

    return torch.Generator(device="cpu").manual_seed(ctx.seed)


def step_callback(ctx: RunContext) -> Callable[..., dict]:
    """A diffusers ``callback_on_step_end`` that reports progress and stops on cancel."""

    def callback(pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        if ctx.cancelled():
            raise Cancelled()
        ctx.progress(step + 1, int(getattr(pipe, "num_timesteps", 0) or step + 1))
        return tensors

    return callback


_run_locks: weakref.WeakKeyDictionary[Any, threading.Lock] = weakref.WeakKeyDictionary()
_run_locks_guard = threading.Lock()


def _run_lock(pipe: Any) -> threading.Lock:
    with _run_locks_guard:
        lock = _run_locks.get(pipe)
        if lock is None:
            lock = _run_locks[pipe] = threading.Lock()
        return lock


def run_diffusion(pipe: Any, ctx: RunContext, **kwargs: Any) -> Image.Image:
    """Call a diffusers pipeline with the run's generator, progress and cancel, and return
    its single RGB image. Runs of one pipeline object are serialized (its scheduler keeps
    per-run state); pipelines derived from one base each have their own scheduler."""
    import torch

    pipe.set_progress_bar_config(disable=True)
    with _run_lock(pipe), torch.inference_mode():
        result = pipe(
            generator=generator(ctx),
            callback_on_step_end=step_callback(ctx),
            output_type="pil",
            num_images_per_prompt=1,
            **kwargs,
        )
    return result.images[0].convert("RGB")


def fit(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` scaled down (never up) so its longer side is at most ``max_side``."""
    w, h = image.size
    scale = max_side / max(w, h)
    if scale >= 1:
        return image
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)


def fit_size(size: tuple[int, int], max_side: int, multiple: int = 8) -> tuple[int, int]:
    """``size`` scaled down (never up) to fit ``max_side``, each side a multiple of
    ``multiple``."""
    scale = min(1.0, max_side / max(size))
    return tuple(max(multiple, int(s * scale) // multiple * multiple) for s in size)  # type: ignore[return-value]


def working_size(size: tuple[int, int], multiple: int = 8, minimum: int = 64) -> tuple[int, int]:
    """The nearest size a diffusion model can work at: each side a multiple of
    ``multiple`` (the VAE factor) and at least ``minimum``."""
    return tuple(max(minimum, round(s / multiple) * multiple) for s in size)  # type: ignore[return-value]


def for_diffusion(image: Image.Image, pipe: Any, max_side: int) -> tuple[Image.Image, Image.Image]:
    """Return (source, work): the input capped to ``max_side`` — the size of the result —
    and the same picture resized to a size the pipeline's VAE accepts."""
    source = fit(image.convert("RGB"), max_side)
    size = working_size(source.size, multiple=int(getattr(pipe, "vae_scale_factor", 8)))
    work = source if size == source.size else source.resize(size, Image.LANCZOS)
    return source, work


def back_to(result: Image.Image, source: Image.Image) -> Image.Image:
    """A result made at the working size, resized back to the size of its source."""
    return result if result.size == source.size else result.resize(source.size, Image.LANCZOS)


# ----- masks -----


def text_probabilities(models: ModelCache, model_name: str, image: Image.Image, text: str) -> np.ndarray:
    """CLIPSeg probability, per pixel of ``image`` (H x W, float32 in [0, 1]), that the
    pixel shows ``text``."""
    import torch
    from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

    model = models.transformers(model_name, CLIPSegForImageSegmentation)
    processor = models.transformers(model_name, CLIPSegProcessor)
    batch = processor(text=[text], images=[image.convert("RGB")], padding=True, return_tensors="pt")
    batch = {
        k: (v.to(model.device, model.dtype) if v.is_floating_point() else v.to(model.device)) for k, v in batch.items()
    }
    with torch.inference_mode():
        logits = model(**batch).logits
    logits = logits.reshape(-1, *logits.shape[-2:])[:1, None].float()  # 1 x 1 x h x w
    probs = torch.nn.functional.interpolate(
        logits, size=(image.height, image.width), mode="bilinear", align_corners=False
    ).sigmoid()
    return probs[0, 0].cpu().numpy()


def dilate(mask: Image.Image, fraction: float = MASK_DILATION) -> Image.Image:
    """Grow a binary "L" mask by ``fraction`` of the image's longer side (at least 1 px)."""
    radius = max(1, round(max(mask.size) * fraction))
    return mask.filter(ImageFilter.MaxFilter(2 * radius + 1))


def text_mask(
    models: ModelCache, model_name: str, image: Image.Image, text: str, threshold: float = MASK_THRESHOLD
) -> Image.Image:
    """Binary "L" mask (255 = selected) of the region of ``image`` that shows ``text``,
    dilated by ``MASK_DILATION``. Raises NothingFound when no pixel reaches ``threshold``."""
    probs = text_probabilities(models, model_name, image, text)
    selected = probs >= threshold
    if not selected.any():
        raise NothingFound(f"could not find {text!r} in the image")
    return dilate(Image.fromarray(np.where(selected, 255, 0).astype(np.uint8), mode="L"))


def feather(mask: Image.Image) -> Image.Image:
    """Soft edges inside a binary mask: blurred, then cut to the mask, so that every pixel
    outside it keeps weight 0 (the original stays untouched there)."""
    radius = max(1.0, max(mask.size) * MASK_DILATION / 2)
    soft = np.asarray(mask.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32)
    hard = np.asarray(mask, dtype=np.float32)
    return Image.fromarray(np.minimum(soft, hard).astype(np.uint8), mode="L")


def blend_in(changed: Image.Image, original: Image.Image, mask: Image.Image) -> Image.Image:
    """``changed`` inside ``mask`` (feathered), ``original`` everywhere else."""
    return Image.composite(changed.convert("RGB"), original.convert("RGB"), feather(mask))


# ----- workflows shared by several kinds -----


def repaint(
    kind: Kind,
    ctx: RunContext,
    source: Image.Image,
    mask: Image.Image,
    *,
    prompt: str,
    negative_prompt: str | None = None,
    steps: int = 25,
    guidance_scale: float = 7.5,
) -> Image.Image:
    """``source`` repainted inside ``mask`` ("L", 255 = repaint) from ``prompt`` by the
    Stable Diffusion inpainting pipeline of the kind's "sd" model; every pixel outside the
    mask is the source's own (see ``blend_in``). ``source`` must already fit the output
    limit; the result has its size."""
    from diffusers import AutoPipelineForInpainting

    pipe = kind.pipeline("sd", AutoPipelineForInpainting)
    _, work = for_diffusion(source, pipe, max(source.size))
    work_mask = mask if mask.size == work.size else mask.resize(work.size)
    painted = run_diffusion(
        pipe,
        ctx,
        prompt=prompt,
        negative_prompt=negative_prompt,
        image=work,
        mask_image=work_mask,
        width=work.width,
        height=work.height,
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
    )
    return blend_in(back_to(painted, source), source, mask)


ControlStrength = Annotated[
    float, Field(ge=0.0, le=2.0, description="how strictly to follow the structure", json_schema_extra=TUNING)
]


def controlled(
    kind: Kind,
    ctx: RunContext,
    control: Image.Image,
    *,
    prompt: str,
    negative_prompt: str | None = None,
    steps: int = 25,
    guidance_scale: float = 7.5,
    control_strength: float = 1.0,
) -> Image.Image:
    """A new picture from ``prompt`` whose structure follows ``control`` (an edge map, a
    scribble, a depth map), made by the kind's "sd" model under its "control" ControlNet.
    The result has the control image's size, which must be a multiple of 8."""
    from diffusers import StableDiffusionControlNetPipeline

    pipe = kind.pipeline("sd", StableDiffusionControlNetPipeline, controlnet="control")
    return run_diffusion(
        pipe,
        ctx,
        prompt=prompt,
        negative_prompt=negative_prompt,
        image=control.convert("RGB"),
        width=control.width,
        height=control.height,
        num_inference_steps=steps,
        guidance_scale=guidance_scale,
        controlnet_conditioning_scale=control_strength,
    )
