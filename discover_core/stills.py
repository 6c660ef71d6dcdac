"""Still-image coding through Pillow (AVIF, WebP, JPEG), with bounded, format-checked decoding."""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image

from .errors import PayloadError

FORMATS = {"avif": "AVIF", "webp": "WEBP", "jpeg": "JPEG"}
MAX_SIDE = {"avif": 65536, "webp": 16383, "jpeg": 65500}
"""The largest width or height each format can hold (WebP: 16383; libjpeg: 65500)."""

_JPEG_SEQUENTIAL = (0xC0, 0xC1)
"""Start-of-frame markers of the JPEGs :func:`encode_still` writes: baseline and extended sequential Huffman."""


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


def _jpeg_frame(data: bytes) -> int | None:
    """The start-of-frame marker of a JPEG (``0xC0`` baseline ...), or ``None`` if there is none."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
        elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return marker
        else:
            i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def check_still(img: Image.Image, data: bytes, codec: str, size: tuple[int, int]) -> None:
    """Check what a still's own header says (before its pixels are decoded) against the stream's header.

    The dimensions must be the declared ones; a JPEG must be sequential Huffman-coded (what
    :func:`encode_still` writes) and hold at least the 2 bits every 8x8 block of such a JPEG costs
    (a DC and an end-of-block code), so a payload claiming a large picture it does not hold is refused
    instead of decoding to grey.
    """
    w, h = size
    if img.size != (w, h):
        raise PayloadError(f"the {codec} payload is {img.size[0]}x{img.size[1]}, the stream header says {w}x{h}",
                           "the stream is damaged or was crafted; encode the image again")
    if codec == "jpeg":
        frame = _jpeg_frame(data)
        if frame not in _JPEG_SEQUENTIAL:
            raise PayloadError("the jpeg payload is not a sequential Huffman-coded JPEG "
                               f"(frame marker {'none' if frame is None else hex(frame)})",
                               "the stream was not written by discover; encode the image again")
        least = -(-w // 8) * -(-h // 8) * 2 // 8
        if len(data) < least:
            raise PayloadError(f"the jpeg payload holds {len(data)} bytes, too few for a {w}x{h} picture "
                               f"(at least {least})", "the stream is damaged or was crafted; encode it again")


def probe_still(data: bytes, codec: str, size: tuple[int, int]) -> None:
    """Check a still's own header against the declared format and size without decoding its pixels."""
    _read(data, codec, size, decode=False)


def decode_still(data: bytes, codec: str, size: tuple[int, int]) -> np.ndarray:
    """Decode a still of the declared format and exact ``(width, height)``; anything else is a PayloadError.

    The dimensions are checked from the still's own header before any pixel is decoded.
    """
    return _read(data, codec, size, decode=True)


def _read(data: bytes, codec: str, size: tuple[int, int], decode: bool) -> np.ndarray | None:
    if codec not in FORMATS:
        raise PayloadError(f"unknown still codec {codec!r}", f"one of {', '.join(FORMATS)}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked below
            with Image.open(io.BytesIO(data), formats=[FORMATS[codec]]) as img:
                check_still(img, data, codec, size)
                if not decode:
                    return None
                return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except (PayloadError, MemoryError):
        raise
    except Exception as exc:  # whatever the image library raises on data it cannot read
        raise PayloadError(f"the {codec} payload cannot be read ({type(exc).__name__}: {exc})",
                           "the stream is damaged; encode the image again") from None
