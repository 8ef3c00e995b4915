"""Decoding untrusted image bytes safely, and encoding outputs.

Every image that enters the system (a user's attachment, a stored image read back by a
worker) goes through ``decode_image``: the size of the file and the pixel count from the
header are checked *before* pixels are decoded, so a decompression bomb is refused without
allocating its memory.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, UnidentifiedImageError

ACCEPTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"BM": "BMP"}


def sniff_format(data: bytes) -> str | None:
    """The accepted format the leading bytes claim ("PNG", "JPEG", ...), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for sig, fmt in _SIGNATURES.items() if data.startswith(sig)), None)


class ImageRejected(ValueError):
    """The bytes are not an acceptable image; the message says why, for the user."""


def _human_bytes(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB"


def decode_image(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Return the image as RGB, or raise ImageRejected with a reason a person understands."""
    if len(data) > max_bytes:
        raise ImageRejected(
            f"the file is too large ({_human_bytes(len(data))}; the limit is {_human_bytes(max_bytes)})"
        )
    if not data:
        raise ImageRejected("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        claimed = sniff_format(data)
        if claimed:
            raise ImageRejected(f"the file looks like a {claimed} image but is corrupt") from None
        raise ImageRejected(
            "the file is not an image I can read (accepted: " + ", ".join(ACCEPTED_FORMATS) + ")"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageRejected("the image has far too many pixels (a decompression bomb?)") from None
    except Exception as err:  # PIL raises assorted errors for malformed headers
        raise ImageRejected(f"the file is corrupt ({err.__class__.__name__})") from None
    if img.format not in ACCEPTED_FORMATS:
        raise ImageRejected(f"{img.format} images are not accepted (accepted: {', '.join(ACCEPTED_FORMATS)})")
    width, height = img.size
    if width * height > max_pixels:
        raise ImageRejected(f"the image is {width}x{height} pixels; the limit is {max_pixels:,} pixels in all")
    try:
        img.load()  # first frame only for animations
        return img.convert("RGB")
    except Exception as err:
        raise ImageRejected(f"the file is corrupt or truncated ({err.__class__.__name__})") from None


def encode_png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
