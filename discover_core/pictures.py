"""Pictures of results: regions drawn on a photo, panels side by side, figures written atomically."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

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


def draw_mask(image: np.ndarray, rle: dict, colour: tuple[int, int, int] = (255, 0, 160)) -> Image.Image:
    """A COCO RLE mask (a segmentation head's prediction) tinted onto the image, half transparent."""
    from .coco_ap import mask_api

    counts = rle["counts"]
    rle = {"size": rle["size"], "counts": counts.encode() if isinstance(counts, str) else counts}
    mask = np.asarray(mask_api().decode(rle), bool).reshape(image.shape[:2])
    out = image.astype(np.float32)
    out[mask] = out[mask] * 0.5 + np.asarray(colour, np.float32) * 0.5
    return Image.fromarray(out.round().astype(np.uint8))


def wrap(text: str, font, width: float) -> list[str]:
    """``text`` in lines no wider than ``width`` pixels in ``font`` (words split where one alone is wider)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if font.getlength(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            while font.getlength(word) > width and len(word) > 1:
                cut = 1
                while cut < len(word) and font.getlength(word[:cut + 1]) <= width:
                    cut += 1
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        lines.append(line)
    return lines


def picture_grid(rows: list[tuple[str, list[tuple[str, Image.Image]]]], height: int = 180,
                 font_size: int = 13) -> Image.Image:
    """Rows of pictures scaled to ``height``: each row under its heading, each picture under its caption;
    headings and captions wrap to the width they have (nothing is cut or drawn over a neighbour)."""
    font = ImageFont.load_default(size=font_size)
    bold = ImageFont.load_default(size=font_size + 1)
    line_h, gap = font_size + 4, 8
    laid = []
    for heading, panels in rows:
        scaled = [(t, p.resize((max(1, round(p.width * height / p.height)), height), Image.Resampling.LANCZOS))
                  for t, p in panels]
        captions = [wrap(t, font, p.width - 4) for t, p in scaled]
        laid.append((heading, scaled, captions, max((len(c) for c in captions), default=0)))
    width = max((sum(p.width for _, p in s) + gap * (len(s) - 1) for _, s, _, _ in laid), default=1)
    headings = [wrap(h, bold, width) if h else [] for h, _, _, _ in laid]
    total = sum(len(hd) * line_h + n * line_h + height + gap for hd, (_, _, _, n) in zip(headings, laid))
    canvas = Image.new("RGB", (width, max(1, total - gap)), (255, 255, 255))
    d = ImageDraw.Draw(canvas)
    y = 0
    for hd, (_, scaled, captions, n) in zip(headings, laid):
        for line in hd:
            d.text((2, y), line, fill=(0, 0, 0), font=bold)
            y += line_h
        x = 0
        for (_, p), caption in zip(scaled, captions):
            for i, line in enumerate(caption):
                d.text((x + 2, y + i * line_h), line, fill=(40, 40, 40), font=font)
            canvas.paste(p, (x, y + n * line_h))
            x += p.width + gap
        y += n * line_h + height + gap
    return canvas


def side_by_side(panels: list[tuple[str, Image.Image]], height: int = 256) -> Image.Image:
    """One row of captioned pictures."""
    return picture_grid([("", panels)], height)


def save_figure(fig, path: str | Path, formats: Sequence[str] = ("png",), dpi: int = 150) -> list[Path]:
    """Write a matplotlib figure atomically once per format (``path`` with that suffix); no dates embedded,
    so the same figure gives the same PDF and SVG bytes. Returns the paths written."""
    from .images import atomic_write_bytes

    written = []
    for fmt in formats:
        buf = io.BytesIO()
        metadata = {"Software": None} if fmt == "png" else {"Date": None} if fmt == "svg" else \
            {"CreationDate": None, "ModDate": None} if fmt == "pdf" else None
        fig.savefig(buf, format=fmt, dpi=dpi, metadata=metadata)
        target = Path(path).with_suffix("." + fmt)
        atomic_write_bytes(target, buf.getvalue())
        written.append(target)
    return written
