"""Entropy model ``template-png``: a minimal, lossless region-of-interest codec.

* side chunk ``coarse``: the whole image downscaled by ``scale``, as a PNG;
* one content chunk per region: the region's pixels (its box rounded out to
  whole pixels, grown by ``margin``, clipped to the image), as a PNG.

Each chunk decodes on its own, so any subset of the content chunks decodes.
Regions are lossless; a region with no pixels in the image gets no chunk.
A payload that is not the PNG its chunk says raises ``PayloadError`` (the
pipeline reports it as a damaged stream); anything else raised in ``decode``
would be reported as a bug of this plugin.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import numpy as np
from PIL import Image
from pydantic import Field

from discover_core import Chunk, Decoded, Encoded, EntropyModel, Options, Patch, Region
from discover_core.errors import PayloadError


def to_png(pixels: np.ndarray, level: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels), "RGB").save(buf, format="PNG", compress_level=level)
    return buf.getvalue()


def from_png(data: bytes, size: tuple[int, int], what: str) -> np.ndarray:
    """Decode a PNG of exactly ``size == (width, height)``; anything else is a :class:`PayloadError`."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as img:
            if img.size != tuple(size):  # checked before any pixel is decoded
                raise PayloadError(f"{what} is a {img.size[0]}x{img.size[1]} PNG, expected {size[0]}x{size[1]}")
            return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()
    except (PayloadError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - Pillow's many ways of saying "not a (complete) PNG"
        raise PayloadError(f"{what} is not a readable PNG ({type(exc).__name__}: {exc})") from exc


class TemplatePng(EntropyModel):
    """Lossless PNG regions over a downscaled PNG of the whole image (a minimal ROI codec)."""

    name = "template-png"
    produces = "pixels"
    decoder_options = ()
    """The decoder needs no option: sizes travel in the params and the chunk boxes."""

    class Options(Options):
        scale: float = Field(0.25, gt=0.0, le=1.0,
                             description="size of the coarse side chunk relative to the image")
        margin: int = Field(0, ge=0, le=1024, description="pixels of context added around every region")
        compress_level: int = Field(6, ge=0, le=9, description="zlib level of every PNG (0 fastest, 9 smallest)")

    def encode(self, image: np.ndarray, regions: Sequence[Region]) -> Encoded:
        o = self.options
        h, w = image.shape[:2]
        coarse_size = (max(1, round(w * o.scale)), max(1, round(h * o.scale)))
        coarse = np.asarray(Image.fromarray(image, "RGB").resize(coarse_size, Image.Resampling.BOX))
        chunks = [Chunk("side", "coarse", to_png(coarse, o.compress_level))]
        for region in regions:
            x0, y0, x1, y1 = region.int_box(w, h)
            if x1 <= x0 or y1 <= y0:  # nothing of it is in the image
                continue
            m = o.margin
            box = (max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m))
            tile = image[box[1]:box[3], box[0]:box[2]]
            chunks.append(Chunk("content", f"region-{len(chunks) - 1}", to_png(tile, o.compress_level),
                                labels=(region.label,), boxes=(box,)))
        return Encoded(chunks, params={"coarse_size": list(coarse_size)})

    def decode(self, size: tuple[int, int], params: dict[str, Any], chunks: Sequence[Chunk],
               format_version: int) -> Decoded:
        """Any subset of the content chunks; ``missing`` marks the image outside the regions that arrived.

        ``format_version`` is that of the encoder (always 1 here: bump ``format_version`` and read both when
        the payloads or params change)."""
        w, h = int(size[0]), int(size[1])
        sides = [c for c in chunks if c.kind == "side" and c.name == "coarse"]
        if len(sides) != 1:
            raise PayloadError(f"expected one 'coarse' side chunk, found {len(sides)}")
        try:
            cw, ch = (int(v) for v in params["coarse_size"])
        except (KeyError, TypeError, ValueError):
            raise PayloadError(f"params {params!r} do not give the coarse size") from None
        patches = []
        missing = np.ones((h, w), bool)
        for c in chunks:
            if c.kind != "content":
                continue
            if len(c.boxes) != 1:
                raise PayloadError(f"content chunk '{c.name}' must carry exactly one box, has {len(c.boxes)}")
            x0, y0, x1, y1 = c.boxes[0]
            patches.append(Patch((x0, y0, x1, y1), from_png(c.payload, (x1 - x0, y1 - y0), f"chunk '{c.name}'"),
                                 c.labels))
            missing[y0:y1, x0:x1] = False
        return Decoded(size=(w, h), representation="pixels",
                       coarse=from_png(sides[0].payload, (cw, ch), "the coarse chunk"), patches=patches,
                       missing=missing if missing.any() else None)
