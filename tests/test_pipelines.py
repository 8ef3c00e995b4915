"""Every pipeline kind, run for real on tiny random-weight models (profile "tiny")."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance

from engine.config import DEFAULT_CONFIG, PipelineInstance, load_settings
from engine.models import ModelCache
from engine.pipelines import common
from engine.pipelines.adjust import adjusted
from engine.registry import KINDS, Cancelled, IntentError, PipelineOutput, Registry, RunContext

FAST = {
    "text2image": {"prompt": "a red cat", "steps": 3},
    "img2img": {"prompt": "a red cat", "steps": 4, "strength": 0.75},
    "style_anime": {"steps": 4},
    "variation": {"steps": 4},
    "colorize": {"steps": 4},
    "blend": {"image2": "#1", "steps": 4},
    "sketch2image": {"prompt": "a house", "steps": 3},
    "canny2image": {"prompt": "a house", "steps": 3},
    "depth2image": {"prompt": "a house", "steps": 3},
    "instruct_edit": {"instruction": "make it blue", "steps": 3},
    "inpaint": {"target": "the cat", "prompt": "a dog", "steps": 3},
    "replace_object": {"target": "the cat", "prompt": "a dog", "steps": 3},
    "remove_object": {"target": "the cat", "steps": 3},
    "change_background": {"prompt": "a beach", "steps": 3},
    "outpaint": {"steps": 3},
    "pan": {"direction": "left", "steps": 3},
}
DIFFUSION = list(FAST)
# kinds whose output is the input picture's size (the others make a new canvas)
SAME_SIZE = set(DIFFUSION) - {"outpaint", "pan"}


@pytest.fixture(scope="session")
def one_thread():
    # two shared cores: intra-op threads only spin against each other on these tiny tensors
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def settings(tiny_root, one_thread):
    # tiny_root (conftest): one data directory per run, so tiny models are built once
    return load_settings(DEFAULT_CONFIG, profile="tiny", data_dir=tiny_root, device="cpu")


@pytest.fixture(scope="session")
def models(settings):
    return ModelCache(settings)


@pytest.fixture(scope="session")
def registry(settings):
    return Registry.from_settings(settings)


@pytest.fixture(scope="session")
def picture() -> Image.Image:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:64, 0:64]
    base = np.stack([x * 4, y * 4, (x + y) * 2], axis=-1).astype(np.int16)
    noise = rng.integers(-20, 20, size=base.shape)
    return Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), mode="RGB")


def run(
    registry,
    models,
    settings,
    intent: str,
    params: dict[str, Any],
    *,
    image: Image.Image | None = None,
    seed: int = 1,
    instance: PipelineInstance | None = None,
    **ctx: Any,
) -> PipelineOutput:
    """Validate like an IRPEM output, then run the kind as the worker does."""
    valid = registry.validate({"intent": intent, "params": params, "response": ""})
    kind_cls = registry.kind_of(intent)
    kind = kind_cls(instance or settings.instance(intent), models)
    images = {kind_cls.image_fields[0]: image} if kind_cls.image_fields else {}
    images.update(ctx.pop("images", {}))
    return kind(valid.inputs, RunContext(images=images, seed=seed, **ctx))


@pytest.fixture(scope="session")
def stripes() -> Image.Image:
    """A second picture, for the kinds that take two."""
    x = np.arange(64)[None, :].repeat(64, 0)
    band = ((x // 8) % 2 * 200 + 30).astype(np.uint8)
    return Image.fromarray(np.stack([band, 255 - band, band], axis=-1), mode="RGB")


@pytest.fixture
def go(registry, models, settings, picture, stripes):
    def call(intent: str, params: dict[str, Any], **kw: Any) -> PipelineOutput:
        kw.setdefault("image", picture)
        if intent == "blend":
            kw.setdefault("images", {"image2": stripes})
        return run(registry, models, settings, intent, params, **kw)

    return call


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


# ----- the catalog contract -----


# The kinds the engine ships (tests may register their own stand-ins in KINDS).
SHIPPED = sorted({inst.kind for inst in load_settings(DEFAULT_CONFIG).pipelines})


def test_every_kind_of_config_is_registered(registry):
    assert (
        {"text2image", "img2img", "instruct_edit", "inpaint", "upscale", "adjust", "vqa", "chat"}
        <= set(SHIPPED)
        <= set(KINDS)
    )
    for kind in (KINDS[k] for k in SHIPPED):
        assert kind.type in {"generate", "edit", "describe", "chat"}
        assert 20 < len(kind.description) < 250
        assert kind.needs_image == bool(kind.image_fields)
        for field in kind.image_fields:
            assert field in kind.Inputs.model_fields
        if kind.image_fields:  # the first one defaults to the current image
            assert kind.Inputs.model_fields[kind.image_fields[0]].default is None


def _leaves(schema: dict) -> list[tuple[str, dict]]:
    out = []
    for name, prop in schema.get("properties", {}).items():
        for branch in prop.get("anyOf", [prop]):
            out.append((name, branch))
    return out


@pytest.mark.parametrize("kind", SHIPPED)
def test_inputs_are_bounded(kind):
    schema = KINDS[kind].Inputs.model_json_schema()
    for name, leaf in _leaves(schema):
        t = leaf.get("type")
        if "enum" in leaf or "const" in leaf or t == "null":
            continue
        if t == "string":
            assert "maxLength" in leaf, (kind, name)
        elif t in ("integer", "number"):
            assert "minimum" in leaf and "maximum" in leaf, (kind, name)
        else:
            raise AssertionError(f"{kind}.{name}: unexpected schema {leaf}")


@pytest.mark.parametrize(
    "params",
    [
        {"prompt": "x", "steps": 0},
        {"prompt": "x", "steps": 101},
        {"prompt": "x", "width": 65},
        {"prompt": "x", "height": 2048},
        {"prompt": "x", "guidance_scale": 21},
        {"prompt": ""},
        {"prompt": "x" * 301},
        {"prompt": "x", "image": "#1"},
    ],
)
def test_text2image_rejects_out_of_range(registry, params):
    with pytest.raises(IntentError):
        registry.validate({"intent": "text2image", "params": params, "response": ""})


def test_other_bounds(registry):
    bad = [
        ("img2img", {"prompt": "x", "strength": 1.5}),
        ("instruct_edit", {"instruction": "x", "image_guidance": 6}),
        ("instruct_edit", {"instruction": "x", "text_guidance": 0.5}),
        ("upscale", {"scale": 3}),
        ("adjust", {"property": "gamma", "amount": 0.2}),
        ("adjust", {"property": "hue", "amount": -1.5}),
        ("vqa", {"question": "q" * 301}),
        ("inpaint", {"target": "", "prompt": "x"}),
        ("chat", {"prompt": "x"}),
    ]
    for intent, params in bad:
        with pytest.raises(IntentError):
            registry.validate({"intent": intent, "params": params, "response": ""})


# ----- diffusion kinds -----


@pytest.mark.parametrize("intent", DIFFUSION)
def test_diffusion_kind(go, intent, picture):
    steps: list[tuple[int, int]] = []
    out = go(intent, FAST[intent], seed=3, progress=lambda s, t: steps.append((s, t)))
    assert out.text is None and len(out.images) == 1
    image = out.images[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB"
    if intent in SAME_SIZE:
        assert image.size == (64, 64)
    # progress: 1..total, increasing, ending at total
    assert steps and [s for s, _ in steps] == list(range(1, len(steps) + 1))
    assert all(t == steps[-1][1] for _, t in steps) and steps[-1][0] == steps[-1][1]
    # determinism: same seed, same pixels; another seed, other pixels
    again = go(intent, FAST[intent], seed=3).images[0]
    assert np.array_equal(pixels(image), pixels(again))
    other = go(intent, FAST[intent], seed=4).images[0]
    assert not np.array_equal(pixels(image), pixels(other))
    if intent != "text2image":
        assert not np.array_equal(pixels(image), pixels(picture))


@pytest.mark.parametrize("intent", DIFFUSION)
def test_diffusion_cancel(go, intent):
    steps: list[int] = []
    with pytest.raises(Cancelled):
        go(intent, FAST[intent], progress=lambda s, t: steps.append(s), cancelled=lambda: len(steps) >= 1)
    assert steps == [1]  # stopped right after the first step


def test_cancel_before_start(go):
    with pytest.raises(Cancelled):
        go("upscale", {}, cancelled=lambda: True)


def test_text2image_size(go):
    assert go("text2image", {"prompt": "a cat", "steps": 1, "width": 96, "height": 64}).images[0].size == (96, 64)


def test_text2image_fits_output_limit(registry, settings, picture):
    small = settings.model_copy(update={"limits": settings.limits.model_copy(update={"max_output_side": 64})})
    out = run(
        registry,
        ModelCache(small),
        small,
        "text2image",
        {"prompt": "a cat", "steps": 1, "width": 128, "height": 96},
        image=picture,
    )
    assert out.images[0].size == (64, 48)


@pytest.mark.parametrize("intent", sorted(SAME_SIZE - {"text2image"}))
def test_edit_keeps_odd_size(go, picture, intent):
    odd = picture.resize((70, 50))
    assert go(intent, {**FAST[intent], "steps": 2}, image=odd).images[0].size == (70, 50)


def test_img2img_tiny_strength_still_runs(go):
    steps: list[tuple[int, int]] = []
    go("img2img", {"prompt": "x", "strength": 0.05, "steps": 1}, progress=lambda s, t: steps.append((s, t)))
    assert steps == [(1, 1)]


def test_inpaint_preserves_pixels_outside_mask(go, models, picture):
    out = go("inpaint", FAST["inpaint"]).images[0]
    mask = np.asarray(common.text_mask(models, "clipseg", picture, FAST["inpaint"]["target"])) > 0
    assert 0 < mask.sum() < mask.size, "the tiny segmenter should select part of the picture"
    before, after = pixels(picture), pixels(out)
    assert np.array_equal(after[~mask], before[~mask])
    assert not np.array_equal(after[mask], before[mask])


def test_text_mask_nothing_found(models, picture):
    with pytest.raises(common.NothingFound, match="the moon"):
        common.text_mask(models, "clipseg", picture, "the moon", threshold=1.01)


# ----- instance defaults -----


def test_instance_defaults_fill_unset_inputs(go, settings):
    inst = PipelineInstance(id="quick", kind="text2image", defaults={"steps": 2, "negative_prompt": "blur"})
    seen: list[tuple[int, int]] = []
    go("text2image", {"prompt": "a cat"}, instance=inst, progress=lambda s, t: seen.append((s, t)))
    assert seen[-1] == (2, 2)
    seen.clear()
    go("text2image", {"prompt": "a cat", "steps": 1}, instance=inst, progress=lambda s, t: seen.append((s, t)))
    assert seen[-1] == (1, 1)  # what the intent model said wins


@pytest.mark.parametrize("defaults", [{"steps": 500}, {"stepz": 2}])
def test_bad_instance_defaults_are_refused(models, defaults):
    inst = PipelineInstance(id="bad", kind="text2image", defaults=defaults)
    with pytest.raises(ValueError, match="'bad'"):
        KINDS["text2image"](inst, models)


# ----- the other kinds -----


def test_upscale_doubles(go, picture):
    odd = picture.resize((40, 30))
    steps: list[tuple[int, int]] = []
    out = go("upscale", {}, image=odd, progress=lambda s, t: steps.append((s, t))).images[0]
    assert out.mode == "RGB" and out.size == (80, 60)
    assert steps == [(1, 1)]
    assert np.array_equal(pixels(out), pixels(go("upscale", {}, image=odd).images[0]))
    assert go("upscale", {"scale": 4}, image=odd).images[0].size == (160, 120)


def test_upscale_refuses_huge(go, settings):
    huge = Image.new("RGB", (settings.limits.max_output_side + 8, 16))
    with pytest.raises(ValueError, match="too large"):
        go("upscale", {}, image=huge)


@pytest.mark.parametrize(
    "prop,enhancer",
    [
        ("brightness", ImageEnhance.Brightness),
        ("contrast", ImageEnhance.Contrast),
        ("saturation", ImageEnhance.Color),
        ("sharpness", ImageEnhance.Sharpness),
    ],
)
@pytest.mark.parametrize("amount", [-0.5, 0.4])
def test_adjust_matches_pil(go, picture, prop, enhancer, amount):
    out = go("adjust", {"property": prop, "amount": amount}).images[0]
    assert out.mode == "RGB" and out.size == picture.size
    assert np.array_equal(pixels(out), pixels(enhancer(picture).enhance(1 + amount)))


def test_adjust_hue(go):
    red = Image.new("RGB", (16, 8), (255, 0, 0))
    assert go("adjust", {"property": "hue", "amount": 2 / 3}, image=red).images[0].getpixel((0, 0)) == (0, 255, 0)
    assert np.array_equal(pixels(go("adjust", {"property": "hue", "amount": 0}, image=red).images[0]), pixels(red))


def test_adjust_region_only_inside(go, models, picture):
    out = go("adjust", {"property": "brightness", "amount": -0.8, "region": "the sky"}).images[0]
    mask = common.text_mask(models, "clipseg", picture, "the sky")
    weight = np.asarray(common.feather(mask))
    before, after = pixels(picture), pixels(out)
    full = pixels(adjusted(picture, "brightness", -0.8))
    assert 0 < (weight > 0).sum() < weight.size
    assert np.array_equal(after[weight == 0], before[weight == 0])
    assert np.array_equal(after[weight == 255], full[weight == 255])


def test_vqa_answers_text(go):
    out = go("vqa", {"question": "what color is the sky?"})
    assert out.images == [] and isinstance(out.text, str)
    assert go("vqa", {"question": "what color is the sky?"}, seed=99).text == out.text


def test_chat_does_nothing(go):
    out = go("chat", {}, image=None)
    assert out.images == [] and out.text is None
