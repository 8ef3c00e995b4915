"""Control images for the ControlNet kinds, made here rather than by extra packages:
Canny edges and scribble maps in numpy, depth maps with a transformers depth estimator.

Every function returns an "RGB" picture the size of its input with white structure on
black, the convention of the SD 1.5 ControlNets (lllyasviel/sd-controlnet-*).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFilter

if TYPE_CHECKING:
    from engine.models import ModelCache

_SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)


def _convolve3(a: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    padded = np.pad(a, 1, mode="edge")
    h, w = a.shape
    return sum(kernel[i, j] * padded[i : i + h, j : j + w] for i in range(3) for j in range(3))


def canny(image: Image.Image, low: int = 100, high: int = 200) -> Image.Image:
    """Canny edges (as OpenCV's ``Canny(img, low, high)`` on the grey picture): Gaussian
    smoothing, Sobel gradients, non-maximum suppression along the gradient direction,
    and hysteresis (weak edges count only where connected to a strong one)."""
    grey = np.asarray(image.convert("L").filter(ImageFilter.GaussianBlur(1)), dtype=np.float32)
    gx, gy = _convolve3(grey, _SOBEL_X), _convolve3(grey, _SOBEL_X.T)
    magnitude = np.hypot(gx, gy)
    # direction quantized to 0, 45, 90, 135 degrees: compare with the two neighbours along it
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    sector = (np.round(angle / 45.0).astype(int)) % 4
    padded = np.pad(magnitude, 1)
    h, w = magnitude.shape
    shifted = {(dy, dx): padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)}
    offsets = {0: (0, 1), 1: (1, 1), 2: (1, 0), 3: (1, -1)}
    keep = np.zeros_like(magnitude, dtype=bool)
    for s, (dy, dx) in offsets.items():
        here = sector == s
        keep |= here & (magnitude >= shifted[(dy, dx)]) & (magnitude >= shifted[(-dy, -dx)])
    thin = np.where(keep, magnitude, 0.0)
    strong, weak = thin >= high, thin >= low
    edges = strong
    while True:  # grow strong edges into 8-connected weak ones until nothing changes
        grown = np.asarray(Image.fromarray(edges.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(3))) > 0
        grown &= weak
        if np.array_equal(grown, edges):
            break
        edges = grown
    return Image.fromarray(edges.astype(np.uint8) * 255, mode="L").convert("RGB")


def scribble(image: Image.Image, threshold: int = 128) -> Image.Image:
    """A scribble map: the strokes of a drawing as white lines on black, whichever way the
    drawing was made (dark strokes on paper, or light strokes on a dark ground)."""
    grey = np.asarray(image.convert("L"), dtype=np.uint8)
    strokes = grey < threshold if grey.mean() >= 128 else grey >= threshold
    lines = Image.fromarray(strokes.astype(np.uint8) * 255, mode="L")
    # the ControlNet was trained on thick strokes: thin pen lines are widened a little
    lines = lines.filter(ImageFilter.MaxFilter(3))
    return lines.convert("RGB")


def depth_map(models: ModelCache, model_name: str, image: Image.Image) -> Image.Image:
    """Relative depth of ``image`` as a grey picture of its size, near bright and far dark
    (the DPT / Depth Anything convention), stretched to the full 0-255 range."""
    import torch
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    model = models.transformers(model_name, AutoModelForDepthEstimation)
    processor = models.transformers(model_name, AutoImageProcessor)
    batch = processor(images=image.convert("RGB"), return_tensors="pt")
    pixels = batch["pixel_values"].to(model.device, model.dtype)
    with torch.inference_mode():
        depth = model(pixel_values=pixels).predicted_depth
    depth = (
        torch.nn.functional.interpolate(
            depth.reshape(1, 1, *depth.shape[-2:]).float(),
            size=(image.height, image.width),
            mode="bicubic",
            align_corners=False,
        )[0, 0]
        .cpu()
        .numpy()
    )
    low, high = float(depth.min()), float(depth.max())
    scaled = (depth - low) / (high - low) if high > low else np.zeros_like(depth)
    grey = (scaled * 255.0).round().clip(0, 255).astype(np.uint8)
    return Image.fromarray(grey, mode="L").convert("RGB")
