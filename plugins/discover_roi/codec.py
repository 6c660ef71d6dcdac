"""The ``roi-image`` entropy model: a classical region-of-interest codec.

* one side chunk ``background``: the whole image downscaled by
  ``background_scale`` and coded at ``background_quality`` (coarse global content);
* one content chunk per group of overlapping task regions: the group's
  bounding rectangle coded at ``region_quality``. Pixels of the rectangle that
  no region covers are filled with the upscaled background before coding, so
  they cost almost nothing and are never pasted; overlapping regions share one
  chunk, so no pixel is paid for twice;
* with ``code_rest``, one more content chunk ``rest`` with no labels: the
  whole image outside the regions at ``rest_quality`` (region pixels filled
  likewise). The full stream then carries the whole picture; a task's part
  (``extract``) leaves ``rest`` out.
"""

from __future__ import annotations

from typing import Any, Literal, Sequence

import numpy as np
from PIL import Image
from pydantic import Field

from discover_core.interfaces import Chunk, Decoded, Encoded, EntropyModel, Options, Patch, Region

from .layout import bounds, group_regions, mask_of
from discover_core.stills import decode_still, encode_still

RESAMPLE = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR,
            "bicubic": Image.Resampling.BICUBIC, "lanczos": Image.Resampling.LANCZOS,
            "box": Image.Resampling.BOX}
Resample = Literal["nearest", "bilinear", "bicubic", "lanczos", "box"]


def resize(pixels: np.ndarray, size: tuple[int, int], method: str) -> np.ndarray:
    """Resize an RGB array to ``(width, height)`` with a Pillow filter."""
    if pixels.shape[1] == size[0] and pixels.shape[0] == size[1]:
        return pixels
    return np.asarray(Image.fromarray(pixels, "RGB").resize(size, RESAMPLE[method]), dtype=np.uint8)


def background_size(width: int, height: int, scale: float) -> tuple[int, int]:
    return max(1, round(width * scale)), max(1, round(height * scale))


class RoiImage(EntropyModel):
    """Classical ROI codec: a low-resolution whole image plus task regions coded with AVIF, WebP or JPEG."""

    name = "roi-image"
    produces = "pixels"
    decoder_options = ("codec",)

    class Options(Options):
        codec: Literal["avif", "webp", "jpeg"] = Field("avif", description="still-image codec of every chunk")
        region_quality: int = Field(70, ge=1, le=100, description="codec quality of the task regions (1-100)")
        background_quality: int = Field(50, ge=1, le=100, description="codec quality of the coarse background")
        background_scale: float = Field(0.125, gt=0.0, le=1.0,
                                        description="size of the coded background relative to the image")
        downscale: Resample = Field("lanczos", description="filter that makes the background")
        align: int = Field(8, ge=1, le=256, description="region boxes grow outwards to multiples of this (pixels)")
        margin: int = Field(0, ge=0, le=1024, description="pixels of context added around every region")
        subsampling: Literal["4:2:0", "4:2:2", "4:4:4"] = Field("4:2:0", description="chroma subsampling (AVIF, JPEG)")
        speed: int = Field(6, ge=0, le=10, description="AVIF encoder speed (0 slowest and smallest, 10 fastest)")
        code_rest: bool = Field(True, description="also code everything outside the regions as a 'rest' chunk, "
                                                  "so the full stream carries the whole picture")
        rest_quality: int = Field(50, ge=1, le=100, description="codec quality of the 'rest' chunk")
        threads: int = Field(1, ge=1, le=64, description="AVIF encoder threads; the bytes depend on it, "
                                                         "so keep it fixed for reproducible streams")

    def _code(self, pixels: np.ndarray, quality: int) -> bytes:
        o = self.options
        return encode_still(pixels, o.codec, quality, threads=o.threads, speed=o.speed, subsampling=o.subsampling)

    def encode(self, image: np.ndarray, regions: Sequence[Region]) -> Encoded:
        o = self.options
        h, w = image.shape[:2]
        bg_size = background_size(w, h, o.background_scale)
        background = self._code(resize(image, bg_size, o.downscale), o.background_quality)
        chunks = [Chunk("side", "background", background)]
        groups = group_regions(regions, w, h, o.align, o.margin)
        if groups or o.code_rest:
            # What a decoder has where a chunk's pixels are not pasted: the decoded, upscaled background.
            fill = resize(decode_still(background, o.codec, bg_size), (w, h), "bicubic")
        for i, g in enumerate(groups):
            x0, y0, x1, y1 = rect = g.bounds
            tile = np.where(mask_of(g.boxes, rect)[:, :, None], image[y0:y1, x0:x1], fill[y0:y1, x0:x1])
            chunks.append(Chunk("content", f"region-{i}", self._code(tile, o.region_quality),
                                labels=g.labels, boxes=g.boxes))
        if o.code_rest:
            covered = mask_of([b for g in groups for b in g.boxes], (0, 0, w, h))
            if not covered.all():
                tile = np.where(covered[:, :, None], fill, image)
                chunks.append(Chunk("content", "rest", self._code(tile, o.rest_quality)))
        return Encoded(chunks, params={"background_size": list(bg_size)})

    def decode(self, size: tuple[int, int], params: dict[str, Any], chunks: Sequence[Chunk]) -> Decoded:
        codec = self.options.codec
        sides = [c for c in chunks if c.kind == "side" and c.name == "background"]
        if len(sides) != 1:
            raise ValueError(f"expected one 'background' side chunk, found {len(sides)}")
        bw, bh = params["background_size"]
        coarse = decode_still(sides[0].payload, codec, (int(bw), int(bh)))
        patches = []
        w, h = size
        for c in chunks:
            if c.kind != "content":
                continue
            if c.name == "rest":
                # Everything outside the regions (inside them it holds the upscaled background),
                # so it goes first and the regions that arrived are pasted on top.
                pixels = decode_still(c.payload, codec, (w, h))
                patches.insert(0, Patch((0, 0, w, h), pixels, (), None))
                continue
            if not c.boxes:
                raise ValueError(f"content chunk '{c.name}' carries no boxes")
            rect = bounds(c.boxes)
            pixels = decode_still(c.payload, codec, (rect[2] - rect[0], rect[3] - rect[1]))
            patches.append(Patch(rect, pixels, c.labels, mask_of(c.boxes, rect)))
        return Decoded(size=tuple(size), representation="pixels", coarse=coarse, patches=patches)
