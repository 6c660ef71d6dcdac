"""Still-image coding through Pillow (AVIF, WebP, JPEG), with bounded, format-checked decoding."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

FORMATS = {"avif": "AVIF", "webp": "WEBP", "jpeg": "JPEG"}
MAX_SIDE = {"avif": 65536, "webp": 16383, "jpeg": 65535}
"""The largest width or height each format can hold."""


def encode_still(pixels: np.ndarray, codec: str, quality: int, *, threads: int = 1,
                 speed: int = 6, subsampling: str = "4:2:0") -> bytes:
    """Code an RGB array; the same input and settings give the same bytes."""
    h, w = pixels.shape[:2]
    if max(w, h) > MAX_SIDE.get(codec, 1 << 30):
        from .errors import InputError

        raise InputError(f"a {w}x{h} picture is too large for {codec} (at most {MAX_SIDE[codec]} pixels a side)",
                         "choose another codec (avif, jpeg) or split the image")
    img = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
    buf = io.BytesIO()
    if codec == "avif":
        img.save(buf, format="AVIF", quality=quality, speed=speed, subsampling=subsampling,
                 max_threads=threads)
    elif codec == "webp":
        img.save(buf, format="WEBP", quality=quality, method=6, exact=True)
    elif codec == "jpeg":
        img.save(buf, format="JPEG", quality=quality, optimize=True,
                 subsampling={"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}[subsampling])
    else:  # options validation makes this unreachable from a pipeline
        raise ValueError(f"unknown codec {codec!r}")
    return buf.getvalue()


def decode_still(data: bytes, codec: str, size: tuple[int, int]) -> np.ndarray:
    """Decode a still of the declared format and exact ``(width, height)``; anything else is an error."""
    with Image.open(io.BytesIO(data), formats=[FORMATS[codec]]) as img:
        if img.size != tuple(size):
            raise ValueError(f"{codec} image is {img.size[0]}x{img.size[1]}, the header says {size[0]}x{size[1]}")
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
