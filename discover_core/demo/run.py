"""The demo loop: ground, encode at each quality point, extract the task's part, decode, measure, compare."""

from __future__ import annotations

import time
from contextlib import nullcontext
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import DiscoverError
from ..images import atomic_save_image, atomic_write_bytes
from ..interfaces import ImageMeta, Region
from ..metrics import bpp, psnr, quality_report, region_mask
from ..pipeline import Pipeline, load_pipeline
from ..stills import decode_still
from .baselines import closest_bpp, matched_quality
from .photos import demo_photos
from .pictures import draw_regions, side_by_side
from .report import write_reports
from .stats import Row, comparisons, summarise
from .tables import comparisons_markdown, print_summary

DEFAULT_QUALITIES = (30, 50, 70, 90)
QUALITY_OPTIONS = ("region_quality", "rest_quality")
"""Entropy-model options that a demo quality point sets (those the model has)."""


def default_pipeline_path() -> Path:
    return Path(str(resources.files("discover_core").joinpath("data/default.yaml")))


def _boxes(regions: list[Region]) -> list[tuple[float, float, float, float]]:
    return [r.box for r in regions]


def _overlaps_subject(regions: list[Region], subject: list, threshold: float = 0.25) -> bool:
    if not regions or not subject:
        return False
    import torch
    from torchvision.ops import box_iou

    iou = box_iou(torch.tensor(_boxes(regions), dtype=torch.float32), torch.tensor(subject, dtype=torch.float32))
    return bool((iou >= threshold).any())


def _heads_eval(pipeline: Pipeline, image: np.ndarray, refs: list, classes: list[int]) -> tuple[dict, dict]:
    agree, correct = {}, {}
    for head, ref in zip(pipeline.task_heads, refs):
        pred = head.predict(image)
        agree[head.name] = bool(head.score([pred], references=[ref]).get("agreement", float("nan")) == 1.0)
        if classes:
            correct[head.name] = bool(head.score([pred], targets=[classes]).get("top1", 0.0) == 1.0)
        else:
            correct[head.name] = None
    return agree, correct


def run_demo(out_dir: Path, pipeline_file: Path | None = None, qualities=None, device: str = "cpu",
             console=None, progress=None, photos: list[str] | None = None) -> Path:
    """Run the demo and write everything to ``out_dir``; returns the HTML page's path."""
    out_dir = Path(out_dir)
    pipeline = load_pipeline(pipeline_file or default_pipeline_path(), device=device)
    knobs = [k for k in QUALITY_OPTIONS if k in type(pipeline.resolved.options["entropy_model"]).model_fields]
    if not knobs and qualities:
        raise DiscoverError(f"entropy model '{pipeline.config.entropy_model.plugin}' has none of the options "
                            f"{', '.join(QUALITY_OPTIONS)} that --quality sets",
                            "leave out --quality to run the pipeline at its own settings")
    qualities = tuple(qualities or DEFAULT_QUALITIES) if knobs else (0,)
    photos = demo_photos(photos)
    task = pipeline.task.name
    t0 = time.perf_counter()  # build the models once, so the per-image times below are per image
    pipeline.build_all()
    build_s = time.perf_counter() - t0
    rows: list[Row] = []
    per_photo: dict[str, dict[str, Any]] = {}
    for sub in ("streams", "pictures"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)

    bar = progress() if progress else nullcontext()
    with bar as b:
        job = b.add_task("demo", total=len(photos) * len(qualities)) if b else None
        for photo in photos:
            stem = Path(photo.name).stem
            meta = ImageMeta(name=photo.name)
            image = photo.image
            h, w = image.shape[:2]
            t0 = time.perf_counter()
            regions = pipeline.ground(image, meta)
            ground_s = time.perf_counter() - t0
            refs = [head.predict(image) for head in pipeline.task_heads]
            boxes = _boxes(regions)
            mask = region_mask(w, h, boxes)
            per_photo[photo.name] = {
                "size": [w, h], "ground_s": ground_s, "subject": photo.subject,
                "regions": [{"box": list(r.box), "label": r.label, "score": r.score} for r in regions],
                "subject_found": _overlaps_subject(regions, photo.subject_boxes),
                "reference_top1": {hd.name: (ref.get("labels") or [None])[0] if isinstance(ref, dict) else None
                                   for hd, ref in zip(pipeline.task_heads, refs)},
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
                atomic_write_bytes(out_dir / "streams" / f"{stem}-q{q}.dscv", full_bytes)
                atomic_write_bytes(out_dir / "streams" / f"{stem}-q{q}-{task}.dscv", part_bytes)
                chunks = {c.name: len(c.payload) for c in full.chunks}
                chunks["(container)"] = full.header_bytes()
                for method, stream, data in (("task-only", part, part_bytes), ("full", full, full_bytes)):
                    t0 = time.perf_counter()
                    recon = var.decode(stream)
                    decode_s = time.perf_counter() - t0
                    agree, correct = _heads_eval(pipeline, recon, refs, photo.classes)
                    rows.append(Row(photo.name, q, method, len(data), bpp(len(data), w, h),
                                    quality_report(image, recon, boxes), agree, correct,
                                    chunks if method == "full" else {c.name: len(c.payload) for c in stream.chunks},
                                    encode_s if method == "full" else None, decode_s))
                    atomic_save_image(out_dir / "pictures" / f"{stem}-q{q}-{method}.png", recon)
                    if q == qualities[len(qualities) // 2]:
                        panels.append((f"{method} q{q} {bpp(len(data), w, h):.3f} bpp", Image.fromarray(recon)))
                task_psnr_in = rows[-2].metrics["psnr_in"]
                for codec in ("avif", "jpeg"):
                    cq, data = closest_bpp(image, codec, len(part_bytes))
                    recon = decode_still(data, codec, (w, h))
                    agree, correct = _heads_eval(pipeline, recon, refs, photo.classes)
                    rows.append(Row(photo.name, q, f"{codec} (same bpp)", len(data), bpp(len(data), w, h),
                                    quality_report(image, recon, boxes), agree, correct, {codec: len(data)}))
                    if q == qualities[len(qualities) // 2] and codec == "avif":
                        panels.append((f"AVIF q{cq} {bpp(len(data), w, h):.3f} bpp", Image.fromarray(recon)))
                if mask.any() and np.isfinite(task_psnr_in):
                    cq, data = matched_quality(image, "avif", lambda d: psnr(
                        image, decode_still(d, "avif", (w, h)), mask) >= task_psnr_in)
                    recon = decode_still(data, "avif", (w, h))
                    agree, correct = _heads_eval(pipeline, recon, refs, photo.classes)
                    rows.append(Row(photo.name, q, "avif (same PSNR in regions)", len(data), bpp(len(data), w, h),
                                    quality_report(image, recon, boxes), agree, correct, {"avif": len(data)}))
                if b:
                    b.advance(job)
            atomic_save_image(out_dir / "pictures" / f"{stem}-side-by-side.png", side_by_side(panels))
    summary = summarise(rows, per_photo, qualities)
    comp = comparisons(summary)
    write_reports(out_dir, pipeline, rows, per_photo, summary, comp, qualities, build_s)
    if console is not None:
        print_summary(console, summary)
        console.print("\nrate at equal agreement (lowest measured bpp), BD-rate of PSNR in regions vs AVIF:")
        console.print(comparisons_markdown(comp), markup=False)
        found = sum(p["subject_found"] for p in per_photo.values())
        console.print(f"the grounder found a region on the annotated subject in {found} of {len(per_photo)} photos")
    return out_dir / "index.html"
