"""``discover demo``: the default pipeline on real photos that ship with installed packages.

For every photo and quality point it encodes the full stream, cuts out the
task's part, decodes both, and compares them with whole-image AVIF and JPEG
at the same bpp: bytes per chunk, bpp, PSNR / SSIM inside and outside the
task regions, MS-SSIM, and whether each task head still gives the same
answer (agreement). It writes streams, pictures, a table (Markdown, JSON), a
rate-agreement plot and an HTML page that shows it all.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import ExtraMissingError
from .images import atomic_save_image, atomic_write_bytes, from_array
from .interfaces import ImageMeta, Region
from .metrics import bpp, psnr, quality_report, region_mask
from .pipeline import Pipeline, load_pipeline
from .stills import decode_still, encode_still

DEFAULT_QUALITIES = (30, 50, 70, 90)
QUALITY_OPTIONS = ("region_quality", "rest_quality")
"""Entropy-model options that a demo quality point sets (those the model has)."""
ANNOTATIONS = "data/demo/annotations.json"


def default_pipeline_path() -> Path:
    return Path(str(resources.files("discover_core").joinpath("data/default.yaml")))


@dataclass
class Photo:
    name: str
    image: np.ndarray
    subject_boxes: list[tuple[float, float, float, float]]
    classes: list[int]
    subject: str


def _load_photo(file_name: str) -> np.ndarray:
    stem = Path(file_name).stem
    if file_name == "grace_hopper.jpg":
        from matplotlib import cbook

        with cbook.get_sample_data("grace_hopper.jpg") as f, Image.open(f) as img:
            return from_array(np.asarray(img.convert("RGB")))
    from skimage import data

    if stem == "stereo_motorcycle":  # the left view of the stereo pair
        return from_array(data.stereo_motorcycle()[0])
    return from_array(getattr(data, stem)())


def demo_photos(names: list[str] | None = None) -> list[Photo]:
    """The demo photos (scikit-image's data module, matplotlib's sample data) with their annotations.

    ``names`` picks some of them by file name or stem (``chelsea.png`` or ``chelsea``).
    """
    for module, extra in (("skimage", "demo"), ("matplotlib", "demo")):
        import importlib.util

        if importlib.util.find_spec(module) is None:
            raise ExtraMissingError(f"the demo photos come with {module}, which is not installed",
                                    f"pip install 'discover-codec[{extra}]'")
    coco = json.loads(resources.files("discover_core").joinpath(ANNOTATIONS).read_text(encoding="utf-8"))
    cats = {c["id"]: c["name"] for c in coco["categories"]}
    images = coco["images"]
    if names:
        known = {i["file_name"]: i for i in images} | {Path(i["file_name"]).stem: i for i in images}
        unknown = [n for n in names if n not in known]
        if unknown:
            from .errors import InputError

            raise InputError(f"no demo photo named {', '.join(unknown)}",
                             f"demo photos: {', '.join(i['file_name'] for i in images)}")
        images = list({id(known[n]): known[n] for n in names}.values())
    photos = []
    for img in images:
        subject = img.get("subject", "")
        boxes = [(a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2], a["bbox"][1] + a["bbox"][3])
                 for a in coco["annotations"] if a["image_id"] == img["id"] and cats[a["category_id"]] == subject]
        photos.append(Photo(img["file_name"], _load_photo(img["file_name"]), boxes,
                            list(img.get("imagenet_classes", [])), subject))
    return photos


def matched_quality(image: np.ndarray, codec: str, accept: Callable[[bytes], bool]) -> tuple[int, bytes]:
    """Smallest quality (1-100) whose whole-image still satisfies ``accept`` (assumed monotone), by bisection."""
    lo, hi = 1, 100
    best = (100, encode_still(image, codec, 100))
    while lo <= hi:
        mid = (lo + hi) // 2
        data = encode_still(image, codec, mid)
        if accept(data):
            best, hi = (mid, data), mid - 1
        else:
            lo = mid + 1
    return best


def closest_bpp(image: np.ndarray, codec: str, target_bytes: int) -> tuple[int, bytes]:
    """The whole-image still whose size is closest to ``target_bytes``."""
    q, data = matched_quality(image, codec, lambda d: len(d) > target_bytes)
    if q > 1:
        below = encode_still(image, codec, q - 1)
        if abs(len(below) - target_bytes) <= abs(len(data) - target_bytes):
            return q - 1, below
    return q, data


def _boxes(regions: list[Region]) -> list[tuple[float, float, float, float]]:
    return [r.box for r in regions]


def _overlaps_subject(regions: list[Region], subject: list, threshold: float = 0.25) -> bool:
    if not regions or not subject:
        return False
    import torch
    from torchvision.ops import box_iou

    iou = box_iou(torch.tensor(_boxes(regions), dtype=torch.float32), torch.tensor(subject, dtype=torch.float32))
    return bool((iou >= threshold).any())


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


@dataclass
class Row:
    photo: str
    quality: int
    method: str
    bytes: int
    bpp: float
    metrics: dict[str, float]
    agreement: dict[str, bool] = field(default_factory=dict)
    top1_correct: dict[str, bool | None] = field(default_factory=dict)
    chunks: dict[str, int] = field(default_factory=dict)
    encode_s: float | None = None
    decode_s: float | None = None


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
        from .errors import DiscoverError

        raise DiscoverError(f"entropy model '{pipeline.config.entropy_model.plugin}' has none of the options "
                            f"{', '.join(QUALITY_OPTIONS)} that --quality sets",
                            "leave out --quality to run the pipeline at its own settings")
    qualities = tuple(qualities or DEFAULT_QUALITIES) if knobs else (0,)
    photos = demo_photos(photos)
    task = pipeline.task.name
    t0 = time.perf_counter()  # build the models once, so the per-image times below are per image
    _ = pipeline.labels, pipeline.grounder, pipeline.entropy_model, pipeline.composer, pipeline.task_heads
    build_s = time.perf_counter() - t0
    rows: list[Row] = []
    per_photo: dict[str, dict[str, Any]] = {}
    for sub in ("streams", "pictures"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)

    from contextlib import nullcontext

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


def summarise(rows: list[Row], per_photo: dict, qualities) -> list[dict]:
    """Mean figures per method and quality point."""
    out = []
    methods = list(dict.fromkeys(r.method for r in rows))
    for q in qualities:
        for m in methods:
            sel = [r for r in rows if r.quality == q and r.method == m]
            if not sel:
                continue
            heads = sorted({k for r in sel for k in r.agreement})
            entry = {
                "quality": q, "method": m, "photos": len(sel),
                "bpp": float(np.mean([r.bpp for r in sel])),
                "bytes": float(np.mean([r.bytes for r in sel])),
            }
            for key in ("psnr", "psnr_in", "psnr_out", "ms_ssim", "ssim_in", "ssim_out"):
                vals = [r.metrics[key] for r in sel if np.isfinite(r.metrics[key])]
                entry[key] = float(np.mean(vals)) if vals else float("nan")
            for hname in heads:
                entry[f"agreement[{hname}]"] = float(np.mean([r.agreement[hname] for r in sel]))
                graded = [r.top1_correct[hname] for r in sel if r.top1_correct.get(hname) is not None]
                entry[f"top1[{hname}]"] = float(np.mean(graded)) if graded else float("nan")
            enc = [r.encode_s for r in sel if r.encode_s is not None]
            entry["encode_s"] = float(np.mean(enc)) if enc else float("nan")
            dec = [r.decode_s for r in sel if r.decode_s is not None]
            entry["decode_s"] = float(np.mean(dec)) if dec else float("nan")
            out.append(entry)
    return out


AGREEMENT_LEVELS = (0.8, 1.0)


def comparisons(summary: list[dict]) -> dict[str, Any]:
    """Rate at equal agreement, and Bjøntegaard delta rate of PSNR inside the regions against whole-image AVIF.

    ``bpp_at_agreement[method][head][level]``: the lowest measured bpp at which the method's mean agreement
    reaches ``level`` (``None`` if no quality point does). ``bd_rate_psnr_in``: the ``bjontegaard``
    package's BD-rate (percent; negative = fewer bits for the same PSNR inside the task regions) of each
    method against "avif (same bpp)", where both curves have the same number (>= 4) of points.
    """
    methods = list(dict.fromkeys(e["method"] for e in summary))
    heads = sorted({k[len("agreement["):-1] for e in summary for k in e if k.startswith("agreement[")})
    at: dict[str, dict] = {}
    for m in methods:
        pts = sorted((e["bpp"], e) for e in summary if e["method"] == m)
        at[m] = {h: {str(level): next((b for b, e in pts if e[f"agreement[{h}]"] >= level - 1e-9), None)
                     for level in AGREEMENT_LEVELS} for h in heads}
    bd_rates: dict[str, float | None] = {}
    anchor = sorted((e["bpp"], e["psnr_in"]) for e in summary if e["method"] == "avif (same bpp)")
    for m in methods:
        test = sorted((e["bpp"], e["psnr_in"]) for e in summary if e["method"] == m)
        bd_rates[m] = None
        if m == "avif (same bpp)" or len(anchor) < 4 or len(test) != len(anchor):
            continue
        if not all(np.isfinite(v) for pair in anchor + test for v in pair):
            continue
        import bjontegaard

        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = float(bjontegaard.bd_rate([a[0] for a in anchor], [a[1] for a in anchor],
                                                  [t[0] for t in test], [t[1] for t in test], method="pchip"))
            except Exception:  # noqa: BLE001 - curves the package cannot compare have no BD-rate
                value = None
        # Curves that overlap too little in PSNR give an extrapolated number: report none instead.
        bd_rates[m] = None if any("overlap" in str(w.message) for w in caught) else value
    return {"bpp_at_agreement": at, "bd_rate_psnr_in": bd_rates}


def comparisons_markdown(comp: dict[str, Any]) -> str:
    lines = ["| method | " + " | ".join(f"bpp at agreement ≥ {lv} ({h})" for h in
                                          next(iter(comp["bpp_at_agreement"].values()), {})
                                          for lv in AGREEMENT_LEVELS) + " | BD-rate of PSNR in regions vs AVIF |"]
    ncols = lines[0].count("|") - 1
    lines.append("|" + "---|" * ncols)
    for m, per_head in comp["bpp_at_agreement"].items():
        cells = [_fmt(v) if v is not None else "not reached" for lv_map in per_head.values() for v in lv_map.values()]
        bd = comp["bd_rate_psnr_in"].get(m)
        lines.append("| " + " | ".join([m, *cells, "—" if bd is None else f"{bd:+.1f} %"]) + " |")
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    if isinstance(v, float):
        return "—" if not np.isfinite(v) else f"{v:.4f}" if abs(v) < 10 else f"{v:.2f}"
    return str(v)


SUMMARY_COLUMNS = ("quality", "method", "bpp", "psnr_in", "psnr_out", "ms_ssim")


def _summary_columns(summary: list[dict]) -> list[str]:
    extra = sorted({k for e in summary for k in e if k.startswith(("agreement[", "top1["))})
    return [*SUMMARY_COLUMNS, *extra, "encode_s", "decode_s"]


def print_summary(console, summary: list[dict]) -> None:
    from rich.table import Table

    if not console.is_terminal:  # a log file or a pipe: the Markdown table reads better than a wrapped grid
        console.print(markdown_table(summary), markup=False)
        return

    cols = _summary_columns(summary)
    table = Table(*cols, title="demo: means over the photos", title_justify="left")
    for e in summary:
        table.add_row(*(_fmt(e.get(c, float("nan"))) for c in cols))
    console.print(table)


def markdown_table(summary: list[dict]) -> str:
    cols = _summary_columns(summary)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(e.get(c, float("nan"))) for c in cols) + " |" for e in summary]
    return "\n".join(lines) + "\n"


def detail_table(rows: list[Row]) -> str:
    """Every photo, quality point and method: bytes per chunk, bpp, fidelity inside / outside the regions."""
    heads = sorted({k for r in rows for k in r.agreement})
    cols = ["photo", "quality", "method", "bytes", "bpp", "psnr_in", "psnr_out", "ms_ssim",
            *[f"agree[{h}]" for h in heads], "bytes per chunk"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = [r.photo, str(r.quality), r.method, str(r.bytes), _fmt(r.bpp), _fmt(r.metrics["psnr_in"]),
                 _fmt(r.metrics["psnr_out"]), _fmt(r.metrics["ms_ssim"]),
                 *["yes" if r.agreement.get(h) else "no" for h in heads],
                 ", ".join(f"{k} {v}" for k, v in r.chunks.items())]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    heads = sorted({k for e in summary for k in e if k.startswith("agreement[")})
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for m in dict.fromkeys(e["method"] for e in summary):
        pts = sorted((e["bpp"], e) for e in summary if e["method"] == m)
        xs = [p[0] for p in pts]
        for hk in heads:
            axes[0].plot(xs, [p[1][hk] for p in pts], marker="o", label=f"{m} {hk[len('agreement'):]}")
        axes[1].plot(xs, [p[1]["psnr_in"] for p in pts], marker="o", label=m)
    axes[0].set(xlabel="bpp", ylabel="agreement (top-1 same as on the original)", title="rate - agreement",
                ylim=(-0.05, 1.05))
    axes[1].set(xlabel="bpp", ylabel="PSNR inside task regions (dB)", title="rate - region fidelity")
    if not heads:
        axes[0].text(0.5, 0.5, "the pipeline has no task heads", ha="center", transform=axes[0].transAxes)
    for ax in axes:
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _md_to_html(md: str) -> str:
    lines = [ln.strip().strip("|").split(" | ") for ln in md.strip().splitlines() if not ln.startswith("|---")]
    head, body = lines[0], lines[1:]
    return ("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in body)
            + "</table>")


def write_reports(out_dir: Path, pipeline: Pipeline, rows: list[Row], per_photo: dict, summary: list[dict],
                  comp: dict, qualities, build_s: float = float("nan")) -> None:
    results = {
        "pipeline": pipeline.config.model_dump(mode="json"),
        "qualities": list(qualities),
        "build_s": build_s,
        "photos": per_photo,
        "rows": [r.__dict__ for r in rows],
        "summary": summary,
        "comparisons": comp,
    }
    atomic_write_bytes(out_dir / "results.json", json.dumps(results, indent=1, default=float).encode())
    table = markdown_table(summary)
    details = detail_table(rows)
    comp_md = comparisons_markdown(results["comparisons"])
    atomic_write_bytes(out_dir / "summary.md",
                       f"# Means over the photos\n\n{table}\n# Rate at equal agreement\n\n{comp_md}\n"
                       f"# Every photo\n\n{details}".encode())
    plot(summary, out_dir / "rate-agreement.png")
    found = sum(p["subject_found"] for p in per_photo.values())

    def region_text(p: dict) -> str:
        return ", ".join("{} ({:.2f})".format(r["label"], r["score"]) for r in p["regions"]) or "—"

    photo_rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(p['subject'])}</td>"
        f"<td>{html.escape(region_text(p))}</td>"
        f"<td>{'yes' if p['subject_found'] else 'no'}</td>"
        f"<td>{html.escape(', '.join(f'{k}: {v}' for k, v in p['reference_top1'].items()))}</td></tr>"
        for name, p in per_photo.items())
    cols = _summary_columns(summary)
    sum_rows = "".join("<tr>" + "".join(f"<td>{html.escape(_fmt(e.get(c, float('nan'))))}</td>" for c in cols)
                       + "</tr>" for e in summary)
    pictures = "".join(
        f"<h3>{html.escape(name)}</h3><img src='pictures/{html.escape(Path(name).stem)}-side-by-side.png'>"
        for name in per_photo)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>discover demo</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:3px 6px;font-size:13px}}img{{max-width:100%}}</style></head><body>
<h1>discover demo: pipeline '{html.escape(pipeline.config.name or '')}', task '{html.escape(pipeline.task.name)}'</h1>
<p>Each photo is encoded once per quality point. <b>task-only</b> is the task's part of the stream
(<code>discover extract --task {html.escape(pipeline.task.name)}</code>), <b>full</b> the whole stream; whole-image
AVIF and JPEG are coded at the bpp closest to the task-only stream, and AVIF again at the lowest quality with the
same PSNR inside the task regions. Agreement: the task head's top-1 on the picture equals its top-1 on the original.</p>
<p>Building the pipeline's models took {build_s:.1f} s (once); encode_s (grounding included) and decode_s are
per image.</p>
<h2>Means over {len(per_photo)} photos</h2><table><tr>{''.join(f'<th>{html.escape(c)}</th>' for c in cols)}</tr>
{sum_rows}</table>
<p><img src="rate-agreement.png"></p>
<h2>Rate at equal agreement</h2>{_md_to_html(comp_md)}
<p>BD-rate: Bjøntegaard delta rate of the PSNR inside the task regions against whole-image AVIF (negative: fewer
bits for the same fidelity where the task looks).</p>
<h2>Grounding</h2><p>The grounder found a region on the true subject in {found} of {len(per_photo)} photos.</p>
<table><tr><th>photo</th><th>subject</th><th>regions (score)</th><th>subject found</th><th>top-1 on original</th></tr>
{photo_rows}</table>
<h2>Pictures (middle quality point)</h2>
<p>Red: grounded regions; blue: the annotated subject.</p>{pictures}
<h2>Every photo, quality point and method</h2>{_md_to_html(details)}
<p>All figures: <a href="results.json">results.json</a>, <a href="summary.md">summary.md</a>; streams in
<code>streams/</code>.</p></body></html>"""
    atomic_write_bytes(out_dir / "index.html", page.encode())
