"""Dataset-level figures of one cell, from its rows in the store (the paper's protocol).

- ``bpp``: total bits of all streams / total pixels of the dataset (not a mean of per-image bpp);
- head metrics: every head scores all its predictions at once, in image-id order, with the references
  and (when every image has one) the targets: COCO AP over the dataset, accuracy over the dataset;
- image quality: means over the images (``nan`` entries, e.g. an empty region mask, left out).
"""

from __future__ import annotations

import math
from typing import Any

from ..pipeline import Pipeline
from .datasets import Dataset
from .heads import head_paths, target_for
from .store import Store


def _mean(values: list[float]) -> float:
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def aggregate_cell(store: Store, cell_id: str, pipeline: Pipeline, dataset: Dataset) -> dict[str, dict]:
    items = {i.id: i for i in dataset.items}
    rows = [r for r in store.rows(cell_id) if r["image_id"] in items]
    by_stream: dict[str, list[dict]] = {}
    for r in rows:
        by_stream.setdefault(r["stream"], []).append(r)
    heads = {}
    for (path, _, _), head in zip(head_paths(pipeline), pipeline.task_heads):
        heads[path] = head
    out: dict[str, dict] = {}
    for stream, rs in by_stream.items():
        rs.sort(key=lambda r: r["image_id"])
        pixels = sum(r["width"] * r["height"] for r in rs)
        total = sum(r["bytes"] for r in rs)
        m: dict[str, Any] = {"images": len(rs), "pixels": pixels, "bytes": total, "bpp": total * 8.0 / pixels}
        for key in sorted({k for r in rs for k in r["quality"]}):
            m[key] = _mean([r["quality"].get(key, float("nan")) for r in rs])
        for key in ("ground_s", "encode_s", "decode_s"):
            m[f"total_{key}"] = sum(r["timings"].get(key, 0.0) for r in rs)
        names = sorted({k for r in rs for k in r["heads"]})
        for name in names:
            entries = [r["heads"].get(name) for r in rs]
            if any(e is None for e in entries):
                continue
            head = heads[entries[0]["path"]]
            targets = [target_for(head, items[r["image_id"]]) for r in rs]
            scored = head.score([e["prediction"] for e in entries], references=[e["reference"] for e in entries],
                                targets=targets if all(t is not None for t in targets) else None)
            for k, v in scored.items():
                m[f"{name}/{k}"] = float(v)
        feats = store.features(cell_id, stream)
        if feats["real"] and len(feats["real"]) == len(rs):
            from .perception import Features, dataset_scores

            m.update(dataset_scores(feats["real"], feats["fake"], Features(feats["extractor"][0])))
        out[stream] = m
    store.write_aggregates(cell_id, out)
    return out
