import io
import struct
import zlib

import pytest
from PIL import Image

from engine.imageio import ImageRejected, decode_image, encode_png

LIMITS = dict(max_bytes=1_000_000, max_pixels=512 * 512)


def png(size=(32, 16), color=(200, 10, 10)) -> bytes:
    return encode_png(Image.new("RGB", size, color))


def test_valid_png_decodes_to_rgb():
    img = decode_image(png(), **LIMITS)
    assert img.mode == "RGB" and img.size == (32, 16)
    assert img.getpixel((0, 0)) == (200, 10, 10)


def test_rgba_and_palette_images_become_rgb():
    buf = io.BytesIO()
    Image.new("RGBA", (8, 8), (1, 2, 3, 4)).save(buf, format="WEBP")
    assert decode_image(buf.getvalue(), **LIMITS).mode == "RGB"


def test_oversized_file_is_refused_before_decoding():
    with pytest.raises(ImageRejected, match="too large"):
        decode_image(b"\x89PNG" + b"0" * 2_000_000, **LIMITS)


def test_non_image_is_refused():
    with pytest.raises(ImageRejected, match="not an image"):
        decode_image(b"%PDF-1.7 hello", **LIMITS)


def test_empty_file_is_refused():
    with pytest.raises(ImageRejected, match="empty"):
        decode_image(b"", **LIMITS)


def test_truncated_png_is_refused():
    data = png((64, 64))
    with pytest.raises(ImageRejected, match="corrupt"):
        decode_image(data[: len(data) // 2], **LIMITS)


def _bomb_png(width: int, height: int) -> bytes:
    """A tiny file whose header claims a huge image (the IDAT holds almost nothing)."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_from_its_header():
    bomb = _bomb_png(60_000, 60_000)
    assert len(bomb) < 2000
    with pytest.raises(ImageRejected, match="pixels"):
        decode_image(bomb, **LIMITS)


def test_image_over_pixel_limit_is_refused():
    with pytest.raises(ImageRejected, match="1024x1024"):
        decode_image(png((1024, 1024)), **LIMITS)


def test_unaccepted_format_is_refused():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="TIFF")
    with pytest.raises(ImageRejected, match="TIFF"):
        decode_image(buf.getvalue(), **LIMITS)
