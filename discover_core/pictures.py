"""Pictures of results: regions drawn on a photo, panels side by side."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .interfaces import Region


def draw_regions(image: np.ndarray, regions: list[Region], subject: list | None = None) -> Image.Image:
    img = Image.fromarray(image).convert("RGB")
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(12, img.height // 28))
    for box in subject or []:
        d.rectangle(box, outline=(80, 160, 255), width=2)
    for i, r in enumerate(regions):
        d.rectangle(r.box, outline=(255, 60, 60), width=3)
        d.text((r.box[0] + 4, r.box[1] + 2 + i * font.size), f"{r.label} {r.score:.2f}", fill=(255, 255, 0),
               font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return img


def side_by_side(panels: list[tuple[str, Image.Image]], height: int = 256) -> Image.Image:
    scaled = [(t, p.resize((max(1, round(p.width * height / p.height)), height), Image.Resampling.LANCZOS))
              for t, p in panels]
    width = sum(p.width for _, p in scaled) + 8 * (len(scaled) - 1)
    canvas = Image.new("RGB", (width, height + 18), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    x = 0
    for title, p in scaled:
        canvas.paste(p, (x, 18))
        d.text((x + 2, 2), title, fill=(0, 0, 0), font=ImageFont.load_default(size=13))
        x += p.width + 8
    return canvas
