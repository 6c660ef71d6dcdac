"""One pipeline of the demo: its quality points as an evaluate run over the ``demo`` dataset, plus the baselines."""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
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
from ..photos import Photo
from ..pictures import draw_mask, draw_regions, side_by_side
from .sets import SetScores, scored_over_set
from .stats import AGREEMENT_LEVELS, DETECTION_LEVELS, Row, comparisons, summarise

DEFAULT_QUALITIES = (30, 50, 70, 90)
PNG_LEVEL = 1
"""zlib level of the demo's pictures: lossless either way; level 1 codes them several times faster than
Pillow's default 6, for somewhat larger files."""
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
    side_by_side: int = 1
    """Pipelines that ran at once, sharing the cores (its times are wall-clock, so longer than alone)."""

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


def demo_dataset(photos: list[Photo]):
    """The ``demo`` dataset of :mod:`..evaluate.datasets`, restricted to ``photos`` (in their order)."""
    import hashlib

    from ..evaluate.datasets import Dataset, open_dataset

    full = open_dataset("demo")
    by_name = {i.name: i for i in full.items}
    names = [p.name for p in photos]
    if names == [i.name for i in full.items]:
        return full
    h = hashlib.sha256(full.fingerprint.encode() + "\0".join(names).encode())
    return Dataset(f"demo ({', '.join(names)})", full.kind, [by_name[n] for n in names], "sha256:" + h.hexdigest(),
                   full.categories)


class _Outputs:
    """``on_stream`` of the runner: the demo's streams and pictures under its own names; the middle point's
    reconstructions for the side-by-side panels."""

    def __init__(self, run_dir: Path, task: str, quality_of: dict[str, int], middle: int):
        self.run_dir, self.task, self.quality_of, self.middle = run_dir, task, quality_of, middle
        self.panels: dict[str, list] = {}

    def __call__(self, cell, item, stream: str, data: bytes, recon: np.ndarray) -> None:
        q = self.quality_of[cell.name]
        stem = Path(item.name).stem
        method = "full" if stream == "full" else "task-only"
        suffix = "" if stream == "full" else f"-{self.task}"
        atomic_write_bytes(self.run_dir / "streams" / f"{stem}-q{q}{suffix}.dscv", data)
        atomic_save_image(self.run_dir / "pictures" / f"{stem}-q{q}-{method}.png", recon, compress_level=PNG_LEVEL)
        if q == self.middle:
            h, w = recon.shape[:2]
            self.panels.setdefault(item.name, []).append(
                (method, f"{method} q{q} {bpp(len(data), w, h):.3f} bpp", Image.fromarray(recon)))


def run_pipeline(name: str, folder: str, pipeline: Pipeline, photos: list[Photo], qualities, out_dir: Path,
                 bar=None, photo_threads: int = 1) -> Run:
    """Every photo at every quality point through ``pipeline``; streams and pictures go to ``out_dir/folder``.

    The quality points are cells of :func:`..evaluate.run_cells` over the ``demo`` dataset (results store in
    ``<folder>/evaluate/``, so ``discover report`` reads it too); the demo adds the whole-image AVIF / JPEG
    baselines at the task-only stream's bpp and at its PSNR inside the regions.

    ``qualities``: the entropy model's region / rest quality points (default :data:`DEFAULT_QUALITIES`); a
    pipeline whose entropy model has no such option runs once at its own settings (quality 0).
    ``photo_threads``: photos whose baselines are worked out at once (threads).
    """
    import shutil
    from contextlib import nullcontext

    from ..evaluate.heads import head_key, head_paths
    from ..evaluate.runner import Cell, analyzer_key, image_hash, run_cells
    from ..evaluate.settings import RunSettings
    from ..evaluate.store import Store

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
    for sub in ("streams", "pictures"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    cells = [Cell(f"q{q}", pipeline.variant(entropy_model={k: q for k in knobs}) if knobs else pipeline,
                  overrides={f"entropy_model.options.{k}": q for k in knobs}, position=i)
             for i, q in enumerate(qualities)]
    quality_of = {c.name: q for c, q in zip(cells, qualities)}
    outputs = _Outputs(run_dir, task, quality_of, qualities[len(qualities) // 2])
    dataset = demo_dataset(photos)
    shutil.rmtree(run_dir / "evaluate", ignore_errors=True)  # a demo run starts afresh
    store = Store(run_dir / "evaluate")
    store.set_meta("kind", "demo")
    store.set_meta("ablation", {"name": name, "rate": None, "anchor": None})
    try:
        run_cells(cells, dataset, store, RunSettings(save_pictures=0, on_stream=outputs),
                  progress=(lambda: nullcontext(bar)) if bar else None)
        rows_of = {(r["cell_id"], r["image_id"], r["stream"]): r for r in store.rows()}
        aggregates = store.aggregates()
        ids = [c.cell_id(dataset) for c in cells]
        regions_of = {item.id: store.cached_regions(analyzer_key(cells[0], image_hash(photo.image)))
                      for photo, item in zip(photos, dataset.items)}
    finally:
        store.close()
    names = {head_key(pipeline, path): head for (path, _, _), head in zip(head_paths(pipeline), heads)}
    sets = SetScores(heads, photos)
    over_set: dict = {}
    for q, cid in zip(qualities, ids):
        for method, stream in (("task-only", f"task:{task}"), ("full", "full")):
            agg = aggregates.get(cid, {}).get(stream, {})
            over_set[(q, method)] = {
                head.name: {"photos": agg.get("images", 0),
                            **{k[len(key) + 1:]: v for k, v in agg.items() if k.startswith(f"{key}/")}}
                for key, head in names.items() if scored_over_set(head)}
    rows: list[Row] = []
    per_photo: dict[str, dict[str, Any]] = {}

    def one_photo(index: int, photo: Photo, item) -> tuple[list[Row], dict[str, Any]]:
        """The rows of one photo (its streams' rows, the baselines at every point) and its figures."""
        rows: list[Row] = []
        stem = Path(photo.name).stem
        image = photo.image
        h, w = image.shape[:2]
        cached = regions_of[item.id]
        regions = [Region(tuple(r["box"]), r["label"], r["score"]) for r in cached[0]]
        ground_s = cached[2]
        first = rows_of[(ids[0], item.id, "full")]["heads"]
        refs = [first[key]["reference"] for key in names]
        for head, ref in zip(heads, refs):
            if scored_over_set(head):
                sets.reference(head, index, ref)
        evaluate = _Heads(heads, sets, index, photo, refs)
        boxes = [r.box for r in regions]
        mask = region_mask(w, h, boxes)
        psnr_in_of: dict[int, float] = {}  # AVIF quality -> PSNR in the regions: shared by the searches below
        entry = {
            "size": [w, h], "ground_s": ground_s, "subject": photo.subject,
            "regions": [{"box": list(r.box), "label": r.label, "score": r.score} for r in regions],
            "subject_found": _overlaps_subject(regions, photo.subject_boxes),
            "reference_top1": {hd.name: (ref.get("labels") or [None])[0] if isinstance(ref, dict) else None
                               for hd, ref in zip(heads, refs)},
        }
        panels = [("original + regions", draw_regions(image, regions, photo.subject_boxes))]
        panels += [(f"{head.name} on the original", draw_mask(image, ref["mask"])) for head, ref in zip(heads, refs)
                   if isinstance(ref, dict) and isinstance(ref.get("mask"), dict)]  # a segmenter's mask
        panels += [(title, picture) for _, title, picture in sorted(outputs.panels.get(photo.name, []),
                                                                     key=lambda p: p[0] != "task-only")]
        for q, cid in zip(qualities, ids):
            part = rows_of[(cid, item.id, f"task:{task}")]
            for method, r in (("task-only", part), ("full", rows_of[(cid, item.id, "full")])):
                agree, correct = _row_heads(r, names)
                metrics = {k: v for k, v in r["quality"].items() if k != "regions"}
                rows.append(Row(photo.name, q, method, r["bytes"], r["bpp"], metrics, agree, correct,
                                {k: v for k, v in r["chunks"].items() if k != "(container)" or method == "full"},
                                r["timings"]["encode_s"] + ground_s if method == "full" else None,
                                r["timings"]["decode_s"]))
            task_psnr_in = rows[-2].metrics["psnr_in"]
            middle = q == outputs.middle
            for codec in ("avif", "jpeg"):
                cq, data = closest_bpp(image, codec, part["bytes"])
                recon = decode_still(data, codec, (w, h))
                method = f"{codec} (same bpp)"
                agree, correct = evaluate(recon, q, method)
                rows.append(Row(photo.name, q, method, len(data), bpp(len(data), w, h),
                                quality_report(image, recon, boxes), agree, correct, {codec: len(data)}))
                if middle and codec == "avif":
                    panels.append((f"AVIF q{cq} {bpp(len(data), w, h):.3f} bpp", Image.fromarray(recon)))
            if mask.any() and np.isfinite(task_psnr_in):
                cq, data = matched_quality(image, "avif",
                                           lambda d: psnr(image, decode_still(d, "avif", (w, h)), mask),
                                           task_psnr_in, known=psnr_in_of)
                recon = decode_still(data, "avif", (w, h))
                method = "avif (same PSNR in regions)"
                agree, correct = evaluate(recon, q, method)
                rows.append(Row(photo.name, q, method, len(data), bpp(len(data), w, h),
                                quality_report(image, recon, boxes), agree, correct, {"avif": len(data)}))
        atomic_save_image(run_dir / "pictures" / f"{stem}-side-by-side.png", side_by_side(panels),
                          compress_level=PNG_LEVEL)
        return rows, entry

    # The photos' baselines side by side (``photo_threads``): AVIF coding and torch release the GIL, so a
    # pipeline left running alone still uses every core.
    with ThreadPoolExecutor(max(1, photo_threads)) as pool:
        for photo, (photo_rows, entry) in zip(photos, pool.map(one_photo, range(len(photos)), photos,
                                                                  dataset.items)):
            rows += photo_rows
            per_photo[photo.name] = entry
    over_set.update(sets.score())
    summary = summarise(rows, per_photo, qualities, over_set)
    levels = {h.name: DETECTION_LEVELS if scored_over_set(h) else AGREEMENT_LEVELS for h in heads}
    return Run(name, folder, pipeline.config.model_dump(mode="json"), pipeline.config.name or "", task, qualities,
               build_s, warmup_s, per_photo, rows, summary, comparisons(summary, levels),
               [h.name for h in sets.heads], sets.original())


def _row_heads(row: dict, names: dict[str, TaskHead]) -> tuple[dict, dict]:
    """A runner row's per-head figures as the demo's: agreement (a set-scored head's own AP, else same top-1)
    and top-1 correctness (None without an ImageNet class)."""
    agree, correct = {}, {}
    for key, head in names.items():
        entry = row["heads"].get(key)
        if entry is None:
            continue
        m = entry["metrics"]
        if scored_over_set(head):
            agree[head.name], correct[head.name] = float(m.get("agreement", float("nan"))), None
        else:
            agree[head.name] = bool(m.get("agreement", float("nan")) == 1.0)
            correct[head.name] = bool(m["top1"] == 1.0) if "top1" in m else None
    return agree, correct
