"""One pipeline of the demo: ground, encode at each quality point, extract the task's part, decode, measure."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import DiscoverError
from ..images import atomic_save_image, atomic_write_bytes
from ..interfaces import ImageMeta, Region, TaskHead
from ..metrics import bpp, psnr, quality_report, region_mask
from ..pipeline import Pipeline
from ..stills import decode_still
from .baselines import closest_bpp, matched_quality
from .photos import Photo
from .pictures import draw_regions, side_by_side
from .sets import SetScores, scored_over_set
from .stats import AGREEMENT_LEVELS, DETECTION_LEVELS, Row, comparisons, summarise

DEFAULT_QUALITIES = (30, 50, 70, 90)
QUALITY_OPTIONS = ("region_quality", "rest_quality")
"""Entropy-model options that a demo quality point sets (those the model has)."""


@dataclass
class Run:
    """The figures of one pipeline over the demo photos."""

    name: str
    folder: str
    """Where its streams, pictures and plot go, relative to the output folder ("" = the folder itself)."""
    pipeline: dict
    pipeline_name: str
    task: str
    qualities: tuple[int, ...]
    build_s: float
    warmup_s: float
    photos: dict[str, dict[str, Any]]
    rows: list[Row]
    summary: list[dict]
    comparisons: dict[str, Any]
    set_heads: list[str] = field(default_factory=list)
    """Heads scored over the whole set of photos (their summary figures are not means of per-photo ones)."""
    original: dict[str, dict[str, float]] = field(default_factory=dict)
    """Set-scored heads on the original photos (AP against the annotations)."""

    def ground_s(self) -> dict[str, float]:
        times = [p["ground_s"] for p in self.photos.values()]
        return {"mean": float(np.mean(times)), "median": float(statistics.median(times))} if times else {}


def quality_knobs(pipeline: Pipeline, qualities) -> list[str]:
    knobs = [k for k in QUALITY_OPTIONS if k in type(pipeline.resolved.options["entropy_model"]).model_fields]
    if not knobs and qualities:
        raise DiscoverError(f"entropy model '{pipeline.config.entropy_model.plugin}' has none of the options "
                            f"{', '.join(QUALITY_OPTIONS)} that --quality sets",
                            "leave out --quality to run the pipeline at its own settings")
    return knobs


def _overlaps_subject(regions: list[Region], subject: list, threshold: float = 0.25) -> bool:
    if not regions or not subject:
        return False
    import torch
    from torchvision.ops import box_iou

    iou = box_iou(torch.tensor([r.box for r in regions], dtype=torch.float32),
                  torch.tensor(subject, dtype=torch.float32))
    return bool((iou >= threshold).any())


class _Heads:
    """The pipeline's task heads on one photo: agreement (and correctness) of each picture's predictions."""

    def __init__(self, heads: list[TaskHead], sets: SetScores, index: int, photo: Photo, refs: list):
        self.heads, self.sets, self.index, self.photo, self.refs = heads, sets, index, photo, refs

    def __call__(self, image: np.ndarray, quality: int, method: str) -> tuple[dict, dict]:
        agree, correct = {}, {}
        for head, ref in zip(self.heads, self.refs):
            pred = head.predict(image)
            if scored_over_set(head):  # per photo: its own AP (detail only); the summary scores the set
                self.sets.add(quality, method, head, self.index, pred)
                agree[head.name] = float(head.score([pred], references=[ref]).get("agreement", float("nan")))
                correct[head.name] = None
                continue
            agree[head.name] = bool(head.score([pred], references=[ref]).get("agreement", float("nan")) == 1.0)
            classes = self.photo.classes
            correct[head.name] = bool(head.score([pred], targets=[classes]).get("top1", 0.0) == 1.0) if classes \
                else None
        return agree, correct


def run_pipeline(name: str, folder: str, pipeline: Pipeline, photos: list[Photo], qualities, out_dir: Path,
                 bar=None) -> Run:
    """Every photo at every quality point through ``pipeline``; streams and pictures go to ``out_dir/folder``.

    ``qualities``: the entropy model's region / rest quality points (default :data:`DEFAULT_QUALITIES`); a
    pipeline whose entropy model has no such option runs once at its own settings (quality 0).
    """
    knobs = quality_knobs(pipeline, qualities)
    qualities = tuple(qualities or DEFAULT_QUALITIES) if knobs else (0,)
    run_dir = out_dir / folder if folder else out_dir
    task = pipeline.task.name
    t0 = time.perf_counter()  # build the models once, so the per-image times below are per image
    pipeline.build_all()
    build_s = time.perf_counter() - t0
    heads = pipeline.task_heads
    t0 = time.perf_counter()  # first calls of a model are slow (allocation, kernel choice): not an image's time
    if photos:
        pipeline.ground(photos[0].image, ImageMeta(name=photos[0].name))
        for head in heads:
            head.predict(photos[0].image)
    warmup_s = time.perf_counter() - t0
    sets = SetScores(heads, photos)
    rows: list[Row] = []
    per_photo: dict[str, dict[str, Any]] = {}
    for sub in ("streams", "pictures"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    job = bar.add_task(name, total=len(photos) * len(qualities)) if bar else None
    for index, photo in enumerate(photos):
        stem = Path(photo.name).stem
        meta = ImageMeta(name=photo.name)
        image = photo.image
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        regions = pipeline.ground(image, meta)
        ground_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        refs = [head.predict(image) for head in heads]
        predict_s = time.perf_counter() - t0
        for head, ref in zip(heads, refs):
            if scored_over_set(head):
                sets.reference(head, index, ref)
        evaluate = _Heads(heads, sets, index, photo, refs)
        boxes = [r.box for r in regions]
        mask = region_mask(w, h, boxes)
        per_photo[photo.name] = {
            "size": [w, h], "ground_s": ground_s, "predict_s": predict_s, "subject": photo.subject,
            "regions": [{"box": list(r.box), "label": r.label, "score": r.score} for r in regions],
            "subject_found": _overlaps_subject(regions, photo.subject_boxes),
            "reference_top1": {hd.name: (ref.get("labels") or [None])[0] if isinstance(ref, dict) else None
                               for hd, ref in zip(heads, refs)},
        }
        panels = [("original + regions", draw_regions(image, regions, photo.subject_boxes))]
        for q in qualities:
            var = pipeline.variant(entropy_model={k: q for k in knobs}) if knobs else pipeline
            t0 = time.perf_counter()
            full = var.encode(image, meta, regions=regions)
            encode_s = time.perf_counter() - t0 + ground_s
            full_bytes = full.to_bytes()
            part = full.extract(task=task)  # side chunks only where the task found nothing
            part_bytes = part.to_bytes()
            atomic_write_bytes(run_dir / "streams" / f"{stem}-q{q}.dscv", full_bytes)
            atomic_write_bytes(run_dir / "streams" / f"{stem}-q{q}-{task}.dscv", part_bytes)
            chunks = {c.name: len(c.payload) for c in full.chunks}
            chunks["(container)"] = full.header_bytes()
            middle = q == qualities[len(qualities) // 2]
            for method, stream, data in (("task-only", part, part_bytes), ("full", full, full_bytes)):
                t0 = time.perf_counter()
                recon = var.decode(stream)
                decode_s = time.perf_counter() - t0
                agree, correct = evaluate(recon, q, method)
                rows.append(Row(photo.name, q, method, len(data), bpp(len(data), w, h),
                                quality_report(image, recon, boxes), agree, correct,
                                chunks if method == "full" else {c.name: len(c.payload) for c in stream.chunks},
                                encode_s if method == "full" else None, decode_s))
                atomic_save_image(run_dir / "pictures" / f"{stem}-q{q}-{method}.png", recon)
                if middle:
                    panels.append((f"{method} q{q} {bpp(len(data), w, h):.3f} bpp", Image.fromarray(recon)))
            task_psnr_in = rows[-2].metrics["psnr_in"]
            for codec in ("avif", "jpeg"):
                cq, data = closest_bpp(image, codec, len(part_bytes))
                recon = decode_still(data, codec, (w, h))
                method = f"{codec} (same bpp)"
                agree, correct = evaluate(recon, q, method)
                rows.append(Row(photo.name, q, method, len(data), bpp(len(data), w, h),
                                quality_report(image, recon, boxes), agree, correct, {codec: len(data)}))
                if middle and codec == "avif":
                    panels.append((f"AVIF q{cq} {bpp(len(data), w, h):.3f} bpp", Image.fromarray(recon)))
            if mask.any() and np.isfinite(task_psnr_in):
                cq, data = matched_quality(image, "avif", lambda d: psnr(
                    image, decode_still(d, "avif", (w, h)), mask) >= task_psnr_in)
                recon = decode_still(data, "avif", (w, h))
                method = "avif (same PSNR in regions)"
                agree, correct = evaluate(recon, q, method)
                rows.append(Row(photo.name, q, method, len(data), bpp(len(data), w, h),
                                quality_report(image, recon, boxes), agree, correct, {"avif": len(data)}))
            if bar:
                bar.advance(job)
        atomic_save_image(run_dir / "pictures" / f"{stem}-side-by-side.png", side_by_side(panels))
    over_set = sets.score()
    summary = summarise(rows, per_photo, qualities, over_set)
    levels = {h.name: DETECTION_LEVELS if scored_over_set(h) else AGREEMENT_LEVELS for h in heads}
    return Run(name, folder, pipeline.config.model_dump(mode="json"), pipeline.config.name or "", task, qualities,
               build_s, warmup_s, per_photo, rows, summary, comparisons(summary, levels),
               [h.name for h in sets.heads], sets.original())
