"""The demo's output files: results.json, summary.md, the rate-agreement plot and the HTML page."""

from __future__ import annotations

import html
import io
import json
from pathlib import Path

from ..images import atomic_write_bytes
from ..pipeline import Pipeline
from .stats import Row
from .tables import _fmt, _summary_columns, comparisons_markdown, detail_table, markdown_table, md_to_html


def plot(summary: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
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
<h2>Rate at equal agreement</h2>{md_to_html(comp_md)}
<p>BD-rate: Bjøntegaard delta rate of the PSNR inside the task regions against whole-image AVIF (negative: fewer
bits for the same fidelity where the task looks).</p>
<h2>Grounding</h2><p>The grounder found a region on the true subject in {found} of {len(per_photo)} photos.</p>
<table><tr><th>photo</th><th>subject</th><th>regions (score)</th><th>subject found</th><th>top-1 on original</th></tr>
{photo_rows}</table>
<h2>Pictures (middle quality point)</h2>
<p>Red: grounded regions; blue: the annotated subject.</p>{pictures}
<h2>Every photo, quality point and method</h2>{md_to_html(details)}
<p>All figures: <a href="results.json">results.json</a>, <a href="summary.md">summary.md</a>; streams in
<code>streams/</code>.</p></body></html>"""
    atomic_write_bytes(out_dir / "index.html", page.encode())
