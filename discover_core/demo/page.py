"""The demo's HTML page (one section per pipeline), and the notes it shares with summary.md."""

from __future__ import annotations

import html
from pathlib import Path

from .loop import Run
from .tables import _fmt, _summary_columns, comparisons_markdown, detail_table, md_to_html


def timing_text(run: Run) -> str:
    g = run.ground_s()
    text = (f"Building the pipeline's models took {run.build_s:.1f} s and the first calls (warm-up) "
            f"{run.warmup_s:.1f} s, once")
    if g:
        text += f"; grounding took {g['median']:.2f} s per image (median; mean {g['mean']:.2f} s)"
    text += ". encode_s (grounding included) and decode_s are per image"
    if run.side_by_side > 1:
        text += (f", wall-clock with {run.side_by_side} pipelines sharing the cores (discover demo --workers 1 "
                 "times each pipeline alone)")
    return text + "."


def set_text(run: Run) -> str:
    """What the figures of set-scored heads are, and the heads on the originals."""
    if not run.set_heads:
        return ""
    heads = ", ".join(run.set_heads)
    text = (f"{heads}: COCO box AP over the whole set of photos at once (not a mean of per-photo APs). "
            "agreement[…] is AP@[.5:.95] of the detections on each picture against the head's own detections "
            "on the original (those above its reference_threshold) as ground truth, agreement_ap50 at IoU 0.5; "
            "ap[…] / ap50[…] are against the demo annotations (COCO-80 categories only). In the per-photo "
            "table, agree[…] is that photo's own agreement AP.")
    for name, s in run.original.items():
        text += (f" On the original photos {name} reaches AP {_fmt(s.get('ap', float('nan')))}, "
                 f"AP50 {_fmt(s.get('ap50', float('nan')))} against the annotations.")
    return text


def _agreement_text(run: Run) -> str:
    if run.set_heads:
        return ("Agreement: the COCO AP of the detections on the picture against the detections on the original, "
                "over all photos at once; AP: against the demo annotations.")
    return "Agreement: the task head's top-1 on the picture equals its top-1 on the original."


def section(run: Run, bd: str = "") -> str:
    """One pipeline's part of the page; ``bd``: its table of Bjøntegaard figures (HTML, from the report's tables)."""
    e = html.escape
    base = f"{run.folder}/" if run.folder else ""
    per_photo = run.photos
    found = sum(p["subject_found"] for p in per_photo.values())

    def region_text(p: dict) -> str:
        return ", ".join("{} ({:.2f})".format(r["label"], r["score"]) for r in p["regions"]) or "—"

    photo_rows = "".join(
        f"<tr><td>{e(name)}</td><td>{e(p['subject'])}</td><td>{e(region_text(p))}</td>"
        f"<td>{'yes' if p['subject_found'] else 'no'}</td>"
        f"<td>{e(', '.join(f'{k}: {v}' for k, v in p['reference_top1'].items()))}</td>"
        f"<td>{p['ground_s']:.2f}</td></tr>"
        for name, p in per_photo.items())
    cols = _summary_columns(run.summary)
    sum_rows = "".join("<tr>" + "".join(f"<td>{e(_fmt(x.get(c, float('nan'))))}</td>" for c in cols) + "</tr>"
                       for x in run.summary)
    pictures = "".join(
        f"<h4>{e(name)}</h4><img src='{e(base)}pictures/{e(Path(name).stem)}-side-by-side.png'>"
        for name in per_photo)
    sets = f"<p>{e(set_text(run))}</p>" if run.set_heads else ""
    return f"""<h2>{e(run.name)}: pipeline '{e(run.pipeline_name)}', task '{e(run.task)}'</h2>
<p>Each photo is encoded once per quality point. <b>task-only</b> is the task's part of the stream
(<code>discover extract --task {e(run.task)}</code>), <b>full</b> the whole stream; whole-image
AVIF and JPEG are coded at the bpp closest to the task-only stream, and AVIF again at the lowest quality with the
same PSNR inside the task regions. {e(_agreement_text(run))} Streams and pictures are in
<code>{e(base)}streams/</code> and <code>{e(base)}pictures/</code>.</p>
<p>{e(timing_text(run))}</p>{sets}
<h3>Means over {len(per_photo)} photos</h3><table><tr>{''.join(f'<th>{e(c)}</th>' for c in cols)}</tr>
{sum_rows}</table>
<p><img src="{e(base)}rate-agreement.png"></p>
<h3>Rate at equal agreement</h3>{md_to_html(comparisons_markdown(run.comparisons, bd=False))}
<h3>Bjøntegaard figures against whole-image AVIF</h3>
<p>As <code>discover report</code> tables them: BD-rate of the task metrics and of PSNR (inside the task regions
and over the whole picture; negative: fewer bits for the same figure), BD-PSNR in dB (positive: higher PSNR at the
same bpp). Where a task metric saturates, the bpp at which each method first reaches AVIF's best value, as a
ratio to AVIF's bpp there.</p>{bd or "<p>No BD figures: the run has no AVIF curve.</p>"}
<h3>Grounding</h3><p>The grounder found a region on the true subject in {found} of {len(per_photo)} photos.</p>
<table><tr><th>photo</th><th>subject</th><th>regions (score)</th><th>subject found</th><th>on the original</th>
<th>grounding s</th></tr>
{photo_rows}</table>
<h3>Pictures (middle quality point)</h3>
<p>Red: grounded regions; blue: the annotated subject.</p>{pictures}
<h3>Every photo, quality point and method</h3>{md_to_html(detail_table(run.rows))}"""


def page(runs: list[Run], bd: dict[str, str] | None = None) -> str:
    """The demo page; ``bd``: per run name, its table of Bjøntegaard figures (HTML)."""
    nav = " · ".join(f"{html.escape(r.name)} ({html.escape(r.pipeline_name)})" for r in runs)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>discover demo</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:3px 6px;font-size:13px}}img{{max-width:100%}}td.n{{text-align:right;font-variant-numeric:tabular-nums}}
caption{{text-align:left;font-weight:bold;padding:4px 0}}.links,.note{{font-size:12px}}</style></head><body>
<h1>discover demo</h1><p>Pipelines: {nav}.</p>
{''.join(section(r, (bd or {}).get(r.name, "")) for r in runs)}
<p>All figures: <a href="results.json">results.json</a>, <a href="summary.md">summary.md</a>; the quality
points as <code>discover report</code> shows them (results stores in <code>evaluate/</code>):
<a href="report/index.html">report/index.html</a>.</p></body></html>"""
