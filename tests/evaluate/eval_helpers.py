"""Test components (a counting grounder, a head that records how it is scored) and small datasets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image
from pydantic import Field

from discover_core.hookspecs import hookimpl
from discover_core.interfaces import Grounder, ImageMeta, Options, Region, TaskHead


class CountingGrounder(Grounder):
    """One region (the middle half of the image) with the first candidate label; counts its calls."""

    name = "counting-grounder"
    calls: list[str] = []

    class Options(Options):
        fraction: float = Field(0.5, gt=0, le=1, description="side of the box relative to the image")

    def ground(self, image: np.ndarray, labels: Sequence[str], meta: ImageMeta) -> list[Region]:
        type(self).calls.append(meta.name)
        h, w = image.shape[:2]
        f = self.options.fraction
        x0, y0 = w * (1 - f) / 2, h * (1 - f) / 2
        return [Region((x0, y0, w - x0, h - y0), labels[0], 0.9)]


class MeanHead(TaskHead):
    """Predicts the image's mean grey level; scores record their inputs (to check one dataset-level call)."""

    name = "mean-head"
    task = "classification"
    scored: list[dict] = []

    class Options(Options):
        tolerance: float = Field(2.0, ge=0, description="agreement when within this many grey levels")

    def predict(self, image: np.ndarray) -> Any:
        return {"mean": float(image.mean())}

    def score(self, predictions, references=None, targets=None) -> dict[str, float]:
        type(self).scored.append({"n": len(predictions), "predictions": list(predictions),
                                  "targets": None if targets is None else list(targets)})
        out = {}
        if references is not None:
            out["agreement"] = float(np.mean([abs(p["mean"] - r["mean"]) <= self.options.tolerance
                                              for p, r in zip(predictions, references)]))
        if targets is not None:
            out["top1"] = float(np.mean([p["mean"] > t for p, t in zip(predictions, targets)]))
        return out


class TestPlugin:
    @hookimpl
    def register_grounders(self, register):
        register(CountingGrounder)

    @hookimpl
    def register_task_heads(self, register):
        register(MeanHead)


def registry():
    from discover_core.plugins import Registry

    reg = Registry().load_entry_points()
    reg.add_plugin(TestPlugin(), name="evaltest")
    return reg


def pipeline_dict(quality: int = 50, heads: bool = True) -> dict:
    return {
        "schema_version": 2, "name": "evaltest",
        "tasks": [{"name": "things", "label_source": {"plugin": "static", "options": {"labels": ["thing"]}},
                   "task_heads": [{"plugin": "mean-head"}] if heads else []}],
        "grounders": [{"plugin": "counting-grounder"}],
        "entropy_model": {"plugin": "roi-image", "options": {"codec": "jpeg", "region_quality": quality,
                                                             "background_scale": 0.25}},
        "composer": {"plugin": "paste", "options": {}},
    }


def image(w: int, h: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + y) % 256], -1).astype(np.uint8)
    noise = rng.integers(0, 30, (h, w, 3), dtype=np.uint8)
    return (base // 2 + noise).astype(np.uint8)


SIZES = [(96, 64), (64, 48), (128, 96)]


def image_folder(folder: Path, sizes=SIZES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(image(w, h, i)).save(folder / f"img{i}.png")
    return folder


def coco_folder(folder: Path, sizes=SIZES) -> Path:
    image_folder(folder, sizes)
    data = {"images": [{"id": 10 + i, "file_name": f"img{i}.png", "width": w, "height": h}
                       for i, (w, h) in enumerate(sizes)],
            "annotations": [{"id": 1, "image_id": 10, "category_id": 17, "bbox": [4, 4, 20, 10], "iscrowd": 0},
                            {"id": 2, "image_id": 12, "category_id": 1, "bbox": [1, 2, 30, 40], "iscrowd": 0,
                             "segmentation": [[1, 2, 31, 2, 31, 42, 1, 42]]}],
            "categories": [{"id": 1, "name": "person"}, {"id": 17, "name": "cat"}]}
    (folder / "ann.json").write_text(json.dumps(data))
    return folder / "ann.json"
