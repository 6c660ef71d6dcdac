"""The ``paste`` composer: upsample the coarse content, paste every region that arrived."""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field
from scipy.ndimage import distance_transform_cdt

from discover_core.interfaces import Composer, Decoded, Options, Patch

from .codec import resize

TILE = 256
"""Side of the tiles a patch is feathered in: work and memory stay linear in the patch, whatever its size."""


def _edge_distance(mask: np.ndarray, open_sides: tuple[bool, bool, bool, bool]) -> np.ndarray:
    """Chessboard distance of each mask pixel to the nearest pixel outside the mask (0 outside it).

    Beyond the patch, ``open_sides`` (left, top, right, bottom) count as outside the mask (they face the
    rest of the image); closed sides (the image border) do not. ``-1`` where nothing is outside.
    """
    left, top, right, bottom = open_sides
    padded = np.pad(mask, 1, mode="edge")
    if left:
        padded[:, 0] = False
    if right:
        padded[:, -1] = False
    if top:
        padded[0] = False
    if bottom:
        padded[-1] = False
    return distance_transform_cdt(padded, metric="chessboard")[1:-1, 1:-1]


def feather_paste(region: np.ndarray, p: Patch, feather: int, open_sides: tuple[bool, bool, bool, bool]) -> None:
    """Paste ``p`` into ``region`` (its place on the canvas), blending over ``feather`` pixels at open edges.

    Weights rise linearly from the region's edge: ``d / (feather + 1)`` at (chessboard) distance ``d``;
    pixels deeper than ``feather`` are copied. The patch is done in tiles of :data:`TILE` pixels, each
    with ``feather + 1`` pixels of context; a tile with no edge within reach is copied outright. The work
    is linear in the patch area and the memory is a few tiles, so any canvas and feather are bounded work.
    """
    h, w = p.pixels.shape[:2]
    left, top, right, bottom = open_sides
    if p.mask is None and not any(open_sides):
        region[...] = p.pixels
        return
    mask = p.mask if p.mask is not None else np.ones((h, w), bool)
    ctx = feather + 1
    for y in range(0, h, TILE):
        for x in range(0, w, TILE):
            y1, x1 = min(h, y + TILE), min(w, x + TILE)
            ylo, yhi, xlo, xhi = max(0, y - ctx), min(h, y1 + ctx), max(0, x - ctx), min(w, x1 + ctx)
            # Tile edges inside the patch are not patch edges: only the patch's own sides can be open.
            sides = (left and xlo == 0, top and ylo == 0, right and xhi == w, bottom and yhi == h)
            near = mask[ylo:yhi, xlo:xhi]
            dst, src = region[y:y1, x:x1], p.pixels[y:y1, x:x1]
            if not any(sides) and near.all():  # no edge within reach: all interior
                dst[...] = src
                continue
            d = _edge_distance(near, sides)[y - ylo:y1 - ylo, x - xlo:x1 - xlo]
            np.copyto(dst, src, where=((d > feather) | (d < 0))[:, :, None])
            ys, xs = np.nonzero((d >= 1) & (d <= feather))
            if len(ys):
                a = (d[ys, xs].astype(np.float32) / ctx)[:, None]
                blended = a * src[ys, xs].astype(np.float32) + (1.0 - a) * dst[ys, xs].astype(np.float32)
                dst[ys, xs] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)


class Paste(Composer):
    """Upsample the coarse global content and paste every region that arrived on top."""

    name = "paste"
    accepts = frozenset({"pixels"})

    class Options(Options):
        upsample: Literal["nearest", "bilinear", "bicubic", "lanczos"] = Field(
            "bicubic", description="filter that brings the coarse content to full size")
        feather: int = Field(0, ge=0, le=64, description="pixels over which region edges blend into the "
                                                         "background (0: hard edges)")
        fill: tuple[int, int, int] = Field((128, 128, 128), description="colour where no content arrived at all")

    def compose(self, decoded: Decoded) -> np.ndarray:
        w, h = decoded.size
        if decoded.coarse is not None:
            canvas = resize(decoded.coarse, (w, h), self.options.upsample).copy()
        else:
            canvas = np.empty((h, w, 3), np.uint8)
            canvas[:] = self.options.fill
        feather = self.options.feather
        # Patches may be decoded one at a time as they are asked for: hold only the current one.
        for p in decoded.patches:
            x0, y0, x1, y1 = p.box
            if feather == 0:  # hard edges: copy the pixels, no arithmetic
                p.paste_onto(canvas)
            else:
                feather_paste(canvas[y0:y1, x0:x1], p, feather, (x0 > 0, y0 > 0, x1 < w, y1 < h))
            del p
        return canvas
