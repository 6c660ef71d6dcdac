"""The ``boxes`` grounder: boxes from a per-image JSON list or COCO-format annotations."""

from __future__ import annotations

import json
from pathlib import Path, PurePath
from typing import Literal, Sequence

import numpy as np
from pydantic import Field

from discover_core.errors import InputError
from discover_core.interfaces import Grounder, ImageMeta, Options, PATH_OPTION, Region, normalize_label


def _bad(path: Path, why: str) -> InputError:
    return InputError(f"box file {path}: {why}",
                      "see `discover plugins show boxes` for the two accepted formats")


def parse_box_file(path: Path, fmt: str = "auto") -> dict[str, list[Region]]:
    """Regions per image file name.

    ``list`` format: ``{"image.png": [{"box": [x0, y0, x1, y1], "label": "cat", "score": 0.9}, ...]}``.
    ``coco`` format: COCO instance annotations (``images``, ``annotations`` with ``bbox`` = x, y, w, h,
    ``categories``); an optional ``score`` per annotation is kept.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"box file not found: {path}", "fix `grounder.options.file`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"not readable JSON ({exc})") from None
    if fmt == "auto":
        fmt = "coco" if isinstance(data, dict) and "annotations" in data and "images" in data else "list"
    try:
        return _parse_coco(data) if fmt == "coco" else _parse_list(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(path, f"not valid {fmt} format ({type(exc).__name__}: {exc})") from None


def _region(box, label, score) -> Region:
    x0, y0, x1, y1 = (float(v) for v in box)
    if not (x1 > x0 and y1 > y0):
        raise ValueError(f"empty box {list(box)} for '{label}'")
    return Region((x0, y0, x1, y1), str(label), float(score))


def _parse_list(data) -> dict[str, list[Region]]:
    if not isinstance(data, dict):
        raise TypeError("expected a mapping from image file name to a list of boxes")
    return {str(name): [_region(r["box"], r["label"], r.get("score", 1.0)) for r in items]
            for name, items in data.items()}


def _parse_coco(data) -> dict[str, list[Region]]:
    cats = {c["id"]: c["name"] for c in data["categories"]}
    names = {img["id"]: PurePath(img["file_name"]).name for img in data["images"]}
    out: dict[str, list[Region]] = {name: [] for name in names.values()}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        out[names[ann["image_id"]]].append(_region((x, y, x + w, y + h), cats[ann["category_id"]],
                                                   ann.get("score", 1.0)))
    return out


class BoxesGrounder(Grounder):
    """Regions read from a JSON file: per-image lists or COCO annotations (the oracle grounder)."""

    name = "boxes"

    class Options(Options):
        file: str = Field(description="JSON file of boxes (per-image lists or COCO format); "
                                      "relative to the pipeline file", json_schema_extra=PATH_OPTION)
        format: Literal["auto", "list", "coco"] = Field("auto", description="file format; auto looks at its keys")
        min_score: float = Field(0.0, ge=0.0, le=1.0, description="drop boxes scored below this")
        filter_labels: bool = Field(True, description="keep only boxes whose label is a candidate label "
                                                      "(case-insensitive)")
        missing: Literal["error", "empty"] = Field(
            "error", description="what to do with an image the file does not list: stop, or give no regions")

    def __init__(self, options=None, context=None):
        super().__init__(options, context)
        self.path = self.context.resolve(self.options.file)
        self.table = parse_box_file(self.path, self.options.format)

    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta) -> list[Region]:
        regions = self.table.get(meta.name)
        if regions is None:
            regions = self.table.get(PurePath(meta.name).stem)
        if regions is None:
            if self.options.missing == "empty":
                return []
            raise InputError(f"box file {self.path} lists no image '{meta.name}'",
                             "add it to the file, or set `grounder.options.missing: empty`")
        h, w = image.shape[:2]
        wanted = {normalize_label(lab): lab for lab in labels}
        out = []
        for r in regions:
            if r.score < self.options.min_score:
                continue
            label = r.label
            if self.options.filter_labels:
                if normalize_label(r.label) not in wanted:
                    continue
                label = wanted[normalize_label(r.label)]
            x0, y0, x1, y1 = r.box
            box = (max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1))
            if box[2] > box[0] and box[3] > box[1]:
                out.append(Region(box, label, r.score))
        return out
