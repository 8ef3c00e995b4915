"""The kinds of the full catalog, beyond what every diffusion kind shares (tested in
test_pipelines.py): what each one promises about its pixels, checked against PIL/numpy
references on the tiny profile."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from engine.config import DEFAULT_CONFIG, PipelineInstance, load_settings
from engine.pipelines import common, preprocess
from engine.pipelines.add_text import draw_text, font_path
from engine.pipelines.describe import traits
from engine.pipelines.filters import SEPIA
from engine.pipelines.img2img import with_luma
from engine.pipelines.outpaint import extend
from engine.registry import KINDS, IntentError, Registry
from tests.test_pipelines import (  # noqa: F401  (fixtures)
    go,
    models,
    one_thread,
    picture,
    pixels,
    registry,
    settings,
    stripes,
)

# ----- the catalog as configured -----


def test_catalog_has_every_ability_of_the_issue(registry):
    wanted = {
        "text2image",
        "sketch2image",
        "canny2image",
        "depth2image",
        "blend",
        "img2img",
        "variation",
        "instruct_edit",
        "inpaint",
        "remove_object",
        "replace_object",
        "change_background",
        "outpaint",
        "pan",
        "upscale",
        "remove_background",
        "colorize",
        "adjust",
        "transform",
        "filter",
        "add_text",
        "vqa",
        "describe",
        "chat",
    }
    assert wanted <= set(KINDS)
    enabled = registry.enabled_ids()
    assert {registry.instances[i].kind for i in enabled} == wanted
    styles = [i for i in enabled if registry.instances[i].kind == "img2img"]
    assert len(styles) >= 3  # several instances of one kind


def test_descriptions_are_distinct_and_short(registry):
    descriptions = [registry.description(i) for i in registry.enabled_ids()]
    assert len(set(descriptions)) == len(descriptions)
    assert max(len(d) for d in descriptions) <= 80


def test_catalog_text_hides_tuning_and_configured_inputs(registry):
    lines = {line.split("(")[0][2:]: line for line in registry.catalog_text().splitlines()}
    assert lines["text2image"].startswith("- text2image(prompt, width?, height?):")
    assert "steps" not in registry.catalog_text() and "guidance" not in registry.catalog_text()
    # a style instance's configured style is not offered again; the kind's own is
    assert "style?" not in lines["style_anime"] and "style?" in lines["img2img"]
    # ... but tuning inputs stay accepted, within bounds, in the schema
    ok = registry.validate({"intent": "inpaint", "params": {"target": "a", "prompt": "b", "steps": 5}})
    assert ok.inputs.steps == 5
    schema = registry.output_schema()
    text = str(schema)
    assert "x-tuning" not in text and "'steps'" in text


def test_style_instance_needs_no_params_and_uses_its_style(registry, go, picture):
    valid = registry.validate({"intent": "style_watercolor", "params": {}})
    assert valid.inputs.style.startswith("watercolor")
    with pytest.raises(IntentError, match="prompt or a style"):
        registry.validate({"intent": "img2img", "params": {}})
    a = go("style_watercolor", {"steps": 3}).images[0]
    b = go("style_anime", {"steps": 3}).images[0]
    assert not np.array_equal(pixels(a), pixels(b))  # same seed, other style prompt


def test_new_instance_from_config_is_offered_everywhere(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        DEFAULT_CONFIG.read_text() + '\n[[pipelines]]\nid = "remove_text"\nkind = "inpaint"\n'
        'description = "Erase lettering and watermarks."\n'
        'defaults = { target = "the text", prompt = "clean background" }\n'
    )
    registry = Registry.from_settings(load_settings(cfg))
    assert "remove_text" in registry.enabled_ids()
    assert "- remove_text(): Erase lettering and watermarks." in registry.catalog_text()
    branch = next(b for b in registry.output_schema()["anyOf"] if b["properties"]["intent"]["const"] == "remove_text")
    assert "required" not in branch["properties"]["params"]  # the config covers target and prompt
    valid = registry.validate({"intent": "remove_text", "params": {}})
    assert (valid.inputs.target, valid.inputs.prompt, valid.kind) == ("the text", "clean background", "inpaint")
    # the bounds of the kind still hold
    with pytest.raises(IntentError):
        registry.validate({"intent": "remove_text", "params": {"target": ""}})


# ----- masks: pixels outside the promised region are the input's own -----

BLOB = (slice(20, 36), slice(24, 44))  # rows, columns the stand-in segmenter selects


@pytest.fixture
def blob(monkeypatch):
    """A segmenter that finds "the cat" in one rectangle. The tiny random CLIPSeg selects
    scattered pixels all over the picture, whose bounding box is the whole picture; the
    kinds that work with boxes need a compact object to show what they keep."""

    def probabilities(models, name, image, text):
        p = np.zeros((image.height, image.width), dtype=np.float32)
        p[BLOB] = 1.0
        return p

    monkeypatch.setattr(common, "text_probabilities", probabilities)


def _mask(models, picture, text: str) -> np.ndarray:
    return np.asarray(common.text_mask(models, "clipseg", picture, text)) > 0


@pytest.mark.parametrize("intent", ["replace_object", "remove_object"])
def test_object_kinds_change_only_the_objects_box(blob, go, models, picture, intent):
    params = {"target": "the cat", "steps": 2, **({"prompt": "a dog"} if intent == "replace_object" else {})}
    out = pixels(go(intent, params).images[0])
    mask = _mask(models, picture, "the cat")
    ys, xs = np.nonzero(mask)
    outside = np.ones_like(mask)
    outside[max(0, ys.min() - 2) : ys.max() + 3, max(0, xs.min() - 2) : xs.max() + 3] = False
    assert outside.mean() > 0.7
    assert ys.max() - ys.min() >= 15  # the blob, dilated
    assert np.array_equal(out[outside], pixels(picture)[outside])
    assert not np.array_equal(out[mask], pixels(picture)[mask])


def test_change_background_keeps_the_subject(blob, go, models, picture):
    out = pixels(go("change_background", {"prompt": "a beach", "subject": "the cat", "steps": 2}).images[0])
    subject = _mask(models, picture, "the cat")
    assert 0 < subject.sum() < subject.size
    assert np.array_equal(out[subject], pixels(picture)[subject])
    assert not np.array_equal(out[~subject], pixels(picture)[~subject])


def test_outpaint_keeps_the_picture_in_the_middle(go, picture):
    out = go("outpaint", {"zoom": 1.5, "steps": 2}).images[0]
    assert out.size == (96, 96)
    arr = pixels(out)
    assert np.array_equal(arr[16:80, 16:80], pixels(picture))
    assert not np.array_equal(arr[:16], np.zeros_like(arr[:16]))


@pytest.mark.parametrize(
    "direction,size,box",
    [("left", (96, 64), (32, 0)), ("right", (96, 64), (0, 0)), ("up", (64, 80), (0, 16)), ("down", (64, 80), (0, 0))],
)
def test_pan_extends_one_side(go, picture, direction, size, box):
    amount = 0.5 if direction in ("left", "right") else 0.25
    out = go("pan", {"direction": direction, "amount": amount, "steps": 2}).images[0]
    assert out.size == size
    x, y = box
    assert np.array_equal(pixels(out)[y : y + 64, x : x + 64], pixels(picture))


def test_outpaint_fits_the_output_limit(registry, settings, picture):
    from engine.models import ModelCache
    from tests.test_pipelines import run

    small = settings.model_copy(update={"limits": settings.limits.model_copy(update={"max_output_side": 80})})
    out = run(registry, ModelCache(small), small, "outpaint", {"zoom": 2.0, "steps": 1}, image=picture)
    assert max(out.images[0].size) <= 80


def test_extend_masks_only_the_new_margin(picture):
    canvas, mask = extend(picture, 3, 0, 5, 2)
    assert canvas.size == mask.size == (72, 66)
    m = np.asarray(mask)
    assert (m[:64, 3:67] == 0).all() and (m[:, :3] == 255).all() and (m[64:] == 255).all()


# ----- cut-outs -----


def test_remove_background_is_a_transparent_cutout(blob, go, models, picture):
    out = go("remove_background", {"subject": "the cat"}).images[0]
    assert out.mode == "RGBA" and out.size == picture.size
    alpha = np.asarray(out)[..., 3]
    mask = _mask(models, picture, "the cat")
    assert (alpha[~mask] == 0).all() and (alpha[mask] > 0).all() and (alpha == 255).any()
    rgb = np.asarray(out)[..., :3].astype(np.int16)
    assert np.array_equal(rgb[alpha > 0], pixels(picture)[alpha > 0])
    assert (rgb[alpha == 0] == 255).all()  # white under full transparency


# ----- colour -----


def test_colorize_keeps_brightness_and_adds_colour(go):
    grey = Image.fromarray(np.tile(np.linspace(20, 235, 64, dtype=np.uint8), (64, 1)), mode="L").convert("RGB")
    out = go("colorize", {"steps": 3}, image=grey).images[0]
    assert out.mode == "RGB" and out.size == grey.size
    luma_in = np.asarray(grey.convert("YCbCr"))[..., 0].astype(int)
    luma_out = np.asarray(out.convert("YCbCr"))[..., 0].astype(int)
    # the same brightness, up to rounding, except where a strong colour at a very dark or
    # bright grey falls outside the RGB gamut and is clipped
    diff = np.abs(luma_in - luma_out)
    assert np.median(diff) <= 1 and (diff <= 2).mean() > 0.9
    assert np.asarray(out.convert("HSV"))[..., 1].mean() > 1  # some colour came in


def test_with_luma_reference():
    colours = Image.new("RGB", (4, 4), (200, 40, 40))
    grey = Image.new("RGB", (4, 4), (100, 100, 100))
    out = with_luma(colours, grey).getpixel((0, 0))
    assert out[0] > out[1] and abs(np.dot(out, [0.299, 0.587, 0.114]) - 100) < 2


# ----- blend -----


def test_blend_mixes_both_pictures(go, picture, stripes):
    a = pixels(go("blend", {"image2": "#2", "mix": 0.0, "strength": 0.3, "steps": 4}).images[0])
    b = pixels(go("blend", {"image2": "#2", "mix": 1.0, "strength": 0.3, "steps": 4}).images[0])
    half = pixels(go("blend", {"image2": "#2", "mix": 0.5, "strength": 0.3, "steps": 4}).images[0])
    assert not np.array_equal(a, b) and not np.array_equal(half, a) and not np.array_equal(half, b)


def test_blend_needs_a_second_picture(go, picture):
    with pytest.raises(ValueError, match="image2"):
        go("blend", {"image2": "#2", "steps": 2}, images={})


# ----- ControlNet preprocessing -----


def _square() -> Image.Image:
    img = Image.new("RGB", (64, 64), "black")
    img.paste((255, 255, 255), (16, 16, 48, 48))
    return img


def test_canny_finds_the_outline_only():
    edges = np.asarray(preprocess.canny(_square()).convert("L")) > 0
    assert edges.any()
    ys, xs = np.nonzero(edges)
    # thin edges on the square's border, none in the flat inside or outside
    assert ys.min() >= 12 and ys.max() <= 51 and xs.min() >= 12 and xs.max() <= 51
    assert not edges[24:40, 24:40].any() and not edges[:8].any()
    assert edges.sum() < 4 * 32 * 3
    assert not preprocess.canny(Image.new("RGB", (32, 32), "gray")).getbbox()


def test_canny_thresholds_select_fewer_edges():
    soft = Image.fromarray(np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (64, 1)), mode="L")
    img = Image.merge("RGB", [soft] * 3)
    img.paste((255, 255, 255), (40, 10, 60, 30))
    many = (np.asarray(preprocess.canny(img, 5, 10).convert("L")) > 0).sum()
    few = (np.asarray(preprocess.canny(img, 100, 200).convert("L")) > 0).sum()
    assert many > few > 0


@pytest.mark.parametrize("paper,ink", [("white", "black"), ("black", "white")])
def test_scribble_is_white_strokes_on_black_either_way(paper, ink):
    drawing = Image.new("RGB", (32, 32), paper)
    drawing.paste(Image.new("RGB", (20, 1), ink), (6, 16))
    out = np.asarray(preprocess.scribble(drawing).convert("L"))
    assert out[16, 15] == 255 and out[2, 2] == 0 and out[15, 15] == 255  # the stroke, widened


def test_depth_map_spans_the_range(models, picture):
    depth = preprocess.depth_map(models, "depth", picture)
    arr = np.asarray(depth)
    assert depth.size == picture.size and depth.mode == "RGB"
    assert arr.min() == 0 and arr.max() == 255
    assert np.array_equal(arr, np.asarray(preprocess.depth_map(models, "depth", picture)))


# ----- classical ops against references -----


@pytest.mark.parametrize("angle", [90, -90, 180, 270])
def test_transform_rotate_right_angles_are_exact(go, picture, angle):
    out = pixels(go("transform", {"operation": "rotate", "angle": angle}).images[0])
    assert np.array_equal(out, np.rot90(pixels(picture), k=angle // 90))


def test_transform_rotate_other_angles_grow_the_canvas(go, picture):
    out = go("transform", {"operation": "rotate", "angle": 45}).images[0]
    assert out.size[0] > 64 and out.getpixel((0, 0)) == (255, 255, 255)


def test_transform_flip_resize_crop(go, picture):
    arr = pixels(picture)
    assert np.array_equal(pixels(go("transform", {"operation": "flip_horizontal"}).images[0]), arr[:, ::-1])
    assert np.array_equal(pixels(go("transform", {"operation": "flip_vertical"}).images[0]), arr[::-1])
    assert go("transform", {"operation": "resize", "scale": 0.5}).images[0].size == (32, 32)
    wide = picture.resize((80, 40))
    crop = go("transform", {"operation": "crop", "aspect": "1:1"}, image=wide).images[0]
    assert np.array_equal(pixels(crop), pixels(wide)[:, 20:60])
    tall = go("transform", {"operation": "crop", "aspect": "16:9"}).images[0]
    assert tall.size == (64, 36) and np.array_equal(pixels(tall), arr[14:50])


def test_transform_crop_to_a_named_region(blob, go, models, picture):
    out = go("transform", {"operation": "crop", "region": "the cat"}).images[0]
    box = common.text_mask(models, "clipseg", picture, "the cat").getbbox()
    assert out.size == (box[2] - box[0], box[3] - box[1])
    assert np.array_equal(pixels(out), pixels(picture)[box[1] : box[3], box[0] : box[2]])


def test_transform_refuses_bad_requests(registry, go, settings):
    with pytest.raises(IntentError, match="aspect or a region"):
        registry.validate({"intent": "transform", "params": {"operation": "crop"}})
    big = Image.new("RGB", (settings.limits.max_output_side, 8))
    with pytest.raises(IntentError, match="limit"):
        go("transform", {"operation": "resize", "scale": 2}, image=big)


def _sepia_reference(arr: np.ndarray) -> np.ndarray:
    r, g, b = (arr[..., i].astype(np.float64) for i in range(3))
    out = np.stack(
        [0.393 * r + 0.769 * g + 0.189 * b, 0.349 * r + 0.686 * g + 0.168 * b, 0.272 * r + 0.534 * g + 0.131 * b],
        axis=-1,
    )
    return np.clip(np.round(out), 0, 255).astype(np.int16)


def test_filters_match_references(go, picture):
    arr = pixels(picture)
    grey = pixels(go("filter", {"filter": "grayscale"}).images[0])
    wide = arr.astype(np.int64)
    luma = (wide[..., 0] * 299 + wide[..., 1] * 587 + wide[..., 2] * 114 + 500) // 1000
    assert np.abs(grey[..., 0] - luma).max() <= 1 and (grey[..., 0] == grey[..., 2]).all()
    assert np.abs(pixels(go("filter", {"filter": "sepia"}).images[0]) - _sepia_reference(arr)).max() <= 1
    assert np.array_equal(pixels(go("filter", {"filter": "invert"}).images[0]), 255 - arr)
    post = pixels(go("filter", {"filter": "posterize", "strength": 1.0}).images[0])
    assert np.array_equal(post, arr & 0b10000000)  # one bit per channel
    blur = pixels(go("filter", {"filter": "blur", "strength": 0.2}).images[0])
    assert np.array_equal(blur, pixels(picture.filter(ImageFilter.GaussianBlur(2.5))))
    sharp = pixels(go("filter", {"filter": "sharpen"}).images[0])
    assert sharp.std() > arr.std() and np.array_equal(sharp, pixels(picture.filter(ImageFilter.UnsharpMask(2, 200, 2))))
    assert SEPIA.shape == (3, 3)


def test_filter_in_a_region_only(go, models, picture):
    out = pixels(go("filter", {"filter": "invert", "region": "the cat"}).images[0])
    weight = np.asarray(common.feather(common.text_mask(models, "clipseg", picture, "the cat")))
    assert np.array_equal(out[weight == 0], pixels(picture)[weight == 0])
    assert np.array_equal(out[weight == 255], 255 - pixels(picture)[weight == 255])


def test_add_text_meme_writes_only_in_its_band(go):
    plain = Image.new("RGB", (128, 96), (90, 120, 150))
    out = pixels(go("add_text", {"text": "hello there", "position": "top"}, image=plain).images[0])
    changed = np.nonzero((out != pixels(plain)).any(axis=-1))
    assert changed[0].size and changed[0].max() < 96 // 3 + 8  # the top third, with the outline
    colours = {tuple(c) for c in out.reshape(-1, 3)}
    assert (255, 255, 255) in colours and (0, 0, 0) in colours  # white letters, black outline
    bottom = pixels(go("add_text", {"text": "hello there"}, image=plain).images[0])
    assert np.nonzero((bottom != pixels(plain)).any(axis=-1))[0].min() > 96 // 2


def test_add_text_caption_adds_a_band(go, picture):
    out = go("add_text", {"text": "a caption", "style": "caption"}).images[0]
    assert out.width == 64 and out.height > 64
    arr = pixels(out)
    assert np.array_equal(arr[:64], pixels(picture))
    band = arr[64:]
    assert (band == 255).all(axis=-1).mean() > 0.5 and (band < 100).all(axis=-1).any()
    top = pixels(go("add_text", {"text": "a caption", "style": "caption", "position": "top"}).images[0])
    assert np.array_equal(top[-64:], pixels(picture))


def test_add_text_font_ships_with_a_package():
    assert font_path().is_file()
    long = draw_text(Image.new("RGB", (64, 64), "gray"), "many words " * 8, "center", "meme")
    assert long.size == (64, 64)


# ----- describe and variation -----


def test_describe_gives_a_prompt(go, picture):
    out = go("describe", {})
    assert out.images == [] and out.text and out.text == go("describe", {}, seed=5).text
    assert out.text.endswith(", ".join(traits(picture)))


def test_describe_traits():
    assert traits(Image.new("RGB", (64, 32), (128, 128, 128)))[:2] == ["landscape format", "black and white"]
    assert "vivid colours" in traits(Image.new("RGB", (32, 64), (255, 0, 0)))
    assert "low-key dark lighting" in traits(Image.new("RGB", (32, 32), (10, 10, 10)))


def test_variation_uses_the_prompt_when_given(go):
    captioned = pixels(go("variation", {"steps": 3}).images[0])
    prompted = pixels(go("variation", {"prompt": "a lighthouse", "steps": 3}).images[0])
    assert not np.array_equal(captioned, prompted)


# ----- bad defaults and instance defaults -----


def test_kind_defaults_are_checked_field_by_field(models):
    inst = PipelineInstance(id="bad_style", kind="img2img", defaults={"style": "x" * 200})
    with pytest.raises(ValueError, match="'style'"):
        KINDS["img2img"](inst, models)
    KINDS["img2img"](PipelineInstance(id="ok_style", kind="img2img", defaults={"strength": 0.3}), models)
