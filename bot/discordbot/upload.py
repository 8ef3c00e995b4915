"""Images for upload: the stored PNG when it fits Discord's limit, else re-encoded (JPEG,
lower quality, then smaller) until it does. CPU work: call it in a thread."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

QUALITIES = (90, 80, 70, 60)


def fit_for_upload(path: Path, limit: int) -> tuple[bytes, str]:
    """(bytes, extension) of the image at ``path``, at most ``limit`` bytes."""
    data = path.read_bytes()
    if len(data) <= limit:
        return data, path.suffix.lstrip(".") or "png"
    with Image.open(path) as img:
        img = img.convert("RGB")
    while True:
        for quality in QUALITIES:
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=quality, optimize=True)
            if buf.tell() <= limit:
                return buf.getvalue(), "jpg"
        if min(img.size) <= 16:
            raise ValueError(f"cannot fit {path.name} into {limit} bytes")
        img = img.resize((max(1, img.width * 3 // 4), max(1, img.height * 3 // 4)), Image.LANCZOS)
