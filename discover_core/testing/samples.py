"""Deterministic synthetic inputs for tests: an image with structure, its regions, a box file.

The sample image is not noise: a smooth colour gradient with three objects a
codec, a grounder or a classifier can tell apart: a flat ``square``, a shaded
``disc`` and a patch of fine vertical ``stripes``. :func:`sample_regions`
returns the boxes of those objects, scaled to any image size, so a region
always covers what its label says.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from ..interfaces import Decoded, ImageMeta, Patch, Region

SAMPLE_SIZE = (96, 64)
"""Default ``(width, height)`` of the sample image."""

SAMPLE_LABELS = ("square", "disc", "stripes")
"""Labels of the objects in the sample image, in the order of :func:`sample_regions`."""

SAMPLE_NAME = "sample.png"
"""The file name the sample image goes by (``ImageMeta.name``, keys of box files)."""

ODD_SIZES = ((1, 1), (7, 5), (33, 17), (2, 31))
"""``(width, height)`` of awkward images every component must handle."""

# Object boxes as fractions of the image (x0, y0, x1, y1), and their scores.
_BOXES = {
    "square": ((0.06, 0.10, 0.38, 0.55), 0.92),
    "disc": ((0.55, 0.06, 0.94, 0.62), 0.81),
    "stripes": ((0.14, 0.66, 0.86, 0.94), 0.67),
}


def _pixel_box(frac: Sequence[float], width: int, height: int) -> tuple[int, int, int, int]:
    """A fractional box in whole pixels, never empty, inside the image."""
    x0 = min(width - 1, int(np.floor(frac[0] * width)))
    y0 = min(height - 1, int(np.floor(frac[1] * height)))
    x1 = max(x0 + 1, min(width, int(np.ceil(frac[2] * width))))
    y1 = max(y0 + 1, min(height, int(np.ceil(frac[3] * height))))
    return x0, y0, x1, y1


def sample_image(width: int = SAMPLE_SIZE[0], height: int = SAMPLE_SIZE[1], seed: int = 0) -> np.ndarray:
    """A deterministic ``(height, width, 3)`` uint8 RGB image with a gradient and three objects.

    ``seed`` changes the colours (and so the mean brightness), never the layout.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be at least 1x1, got {width}x{height}")
    rng = np.random.default_rng(seed)
    tint = rng.uniform(-60.0, 60.0, size=3)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = (x + 0.5) / width, (y + 0.5) / height
    img = np.empty((height, width, 3), np.float64)
    img[..., 0] = 60 + 120 * u
    img[..., 1] = 70 + 110 * v
    img[..., 2] = 130 + 50 * np.sin(2 * np.pi * (u + 0.5 * v))
    img += tint * 0.5

    x0, y0, x1, y1 = _pixel_box(_BOXES["square"][0], width, height)
    img[y0:y1, x0:x1] = np.clip(np.array([200.0, 40.0, 40.0]) + tint, 0, 255)

    x0, y0, x1, y1 = _pixel_box(_BOXES["disc"][0], width, height)
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2, (y1 - y0) / 2
    d = ((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2
    inside = d <= 1.0
    shade = (1.0 - 0.5 * d)[..., None] * (np.array([50.0, 190.0, 90.0]) + tint)
    img = np.where(inside[..., None], shade, img)

    x0, y0, x1, y1 = _pixel_box(_BOXES["stripes"][0], width, height)
    stripes = ((np.arange(x0, x1) // 2) % 2).astype(np.float64)
    img[y0:y1, x0:x1] = (30 + 200 * stripes)[None, :, None] + np.zeros(3)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def sample_regions(width: int = SAMPLE_SIZE[0], height: int = SAMPLE_SIZE[1]) -> list[Region]:
    """The regions of the objects in :func:`sample_image` of the same size (boxes never empty)."""
    out = []
    for label in SAMPLE_LABELS:
        frac, score = _BOXES[label]
        box = tuple(float(c) for c in _pixel_box(frac, width, height))
        out.append(Region(box, label, score))  # type: ignore[arg-type]
    return out


def awkward_regions(width: int, height: int) -> list[Region]:
    """Regions that a careful entropy model must survive: partly or wholly outside the image,
    degenerate (no area), fractional, duplicated and overlapping."""
    w, h = float(width), float(height)
    return [
        Region((-10.0, -10.0, max(1.0, w / 3), max(1.0, h / 3)), "corner", 0.9),      # partly outside
        Region((w * 0.5, h * 0.5, w + 25.0, h + 40.0), "edge", 0.8),                 # partly outside
        Region((w + 5.0, h + 5.0, w + 50.0, h + 50.0), "beyond", 0.7),              # wholly outside
        Region((-60.0, -60.0, -20.0, -5.0), "before", 0.6),                         # wholly outside
        Region((float(width // 4), h * 0.25, float(width // 4), h * 0.75), "flat", 0.5),  # no area
        Region((0.3, 0.2, max(0.7, w * 0.6 + 0.3), max(0.9, h * 0.4 + 0.7)), "fraction", 0.4),
        Region((0.3, 0.2, max(0.7, w * 0.6 + 0.3), max(0.9, h * 0.4 + 0.7)), "fraction", 0.4),  # duplicate
        Region((-5.0, -5.0, w + 5.0, h + 5.0), "everything", 0.3),                  # covers all
    ]


def sample_meta(name: str = SAMPLE_NAME) -> ImageMeta:
    return ImageMeta(name=name)


def write_box_file(path: str | Path, regions_by_image: dict[str, Sequence[Region]] | None = None) -> Path:
    """Write a box file in the ``boxes`` grounder's list format (default: the sample regions)."""
    path = Path(path)
    if regions_by_image is None:
        regions_by_image = {SAMPLE_NAME: sample_regions()}
    data = {name: [{"box": list(r.box), "label": r.label, "score": r.score} for r in regions]
            for name, regions in regions_by_image.items()}
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


def tiny_pipeline_dict(box_file: str | Path, task: str = "shapes") -> dict:
    """A small schema 2 pipeline mapping of built-ins only (static labels, the boxes grounder, roi-image, paste)."""
    return {
        "schema_version": 2,
        "name": "tiny",
        "tasks": [{"name": task, "description": "keep the square, the disc and the stripes",
                   "label_source": {"plugin": "static", "options": {"labels": list(SAMPLE_LABELS)}}}],
        "grounders": [{"plugin": "boxes", "options": {"file": str(box_file), "missing": "empty"}}],
        "entropy_model": {"plugin": "roi-image", "options": {"codec": "webp", "background_scale": 0.25,
                                                             "align": 4}},
        "composer": {"plugin": "paste", "options": {}},
    }


def synthetic_pixel_decodes() -> list[tuple[str, Decoded]]:
    """Hand-made ``"pixels"`` decodes: partial patches, masks, no coarse content, a ``missing`` mask, tasks
    and labels, tiny and odd sizes."""
    def img(w: int, h: int, seed: int = 0) -> np.ndarray:
        return sample_image(w, h, seed)

    def mask(w: int, h: int) -> np.ndarray:
        m = np.zeros((h, w), bool)
        m[: max(1, h // 2), :] = True
        m[:, : max(1, w // 3)] = True
        return m

    W, H = SAMPLE_SIZE
    return [
        ("coarse + masked and plain patches", Decoded(
            size=(W, H), coarse=img(W // 8, H // 8),
            patches=[Patch((8, 8, 40, 32), img(32, 24, 1), ("square",), mask(32, 24)),
                     Patch((50, 4, 90, 40), img(40, 36, 2), ("disc",)),
                     Patch((0, 0, W, H), img(W, H, 3), (), None)][::-1],
            tasks=("shapes",), labels=("disc", "square"))),
        ("coarse only", Decoded(size=(W, H), coarse=img(12, 8))),
        ("coarse at full size", Decoded(size=(W, H), coarse=img(W, H))),
        ("coarse with another aspect", Decoded(size=(W, H), coarse=img(5, 17))),
        ("coarse, one patch, the rest missing", Decoded(
            size=(W, H), coarse=img(12, 8), patches=[Patch((8, 8, 40, 32), img(32, 24, 1), ("square",))],
            missing=~mask(W, H), tasks=("shapes",), labels=("square",))),
        ("patches at the corners, no coarse", Decoded(
            size=(W, H), patches=[Patch((0, 0, 3, 2), img(3, 2)), Patch((W - 5, H - 7, W, H), img(5, 7))])),
        ("nothing at all", Decoded(size=(W, H), missing=np.ones((H, W), bool))),
        ("1x1", Decoded(size=(1, 1), coarse=img(1, 1), patches=[Patch((0, 0, 1, 1), img(1, 1, 4))])),
        ("7x5, patch over everything", Decoded(size=(7, 5), coarse=img(1, 1),
                                               patches=[Patch((0, 0, 7, 5), img(7, 5), ("x",), mask(7, 5))])),
        ("33x17", Decoded(size=(33, 17), coarse=img(4, 2), patches=[Patch((30, 1, 33, 17), img(3, 16))])),
    ]


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """PSNR in dB between two uint8 images, over ``mask`` if given (``inf`` when identical)."""
    from discover_core.metrics import psnr as _psnr

    return _psnr(a, b, mask)